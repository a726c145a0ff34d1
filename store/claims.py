"""Claims and leases, part of RunStore: several runners share a store by claiming runs with a lease that the
holder renews; a lease that lapses, or whose holder on this machine is gone, can be taken over."""
import json
import os
import socket
import time
import uuid

from mlp.files import pid_alive

from .run import Status


def owner_id():
    """Names a claimer: host, process id (to see at once that a local holder is gone), and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Claims:
    def claim(self, sweep, config, owner, lease_seconds, rerun_before=None, repeat=False, proposal=None,
              promoted_from=None):
        """Take (sweep, config) for ``owner`` as running -> its run id, or None if it is not free.

        Free: never run, failed, or running under a lease that lapsed (or whose holder on this
        machine is gone, or that ``owner`` holds). A final run is free only for an explicit
        rerun (``rerun_before``: a time), and only if it ended before that time. With ``repeat``
        nothing is refused: a configuration that is not free gets a new row, its next repeat.
        ``proposal`` says why the sweep's method proposed it; ``promoted_from``, the run whose rank at a smaller
        budget earned it.
        """
        key, now = self.key(config), time.time()
        with self._immediate():
            row = self._row(sweep, key)
            taken = row is not None and not _free(row, owner, now, rerun_before)
            if taken and not repeat:
                return None
            fields = {"status": Status.RUNNING.value, "claimed_by": owner, "lease_until": now + lease_seconds,
                      "started_at": now, "ended_at": None, "error": None, "traceback": None, "proposal": proposal,
                      "promoted_from": promoted_from}
            if row is None or taken:
                return self.db["runs"].insert({"sweep": sweep, "config": json.dumps(config, sort_keys=True),
                                               "config_hash": key, "attempts": 1,
                                               "repeat": row["repeat"] + 1 if taken else 0, **fields}).last_pk
            self.db["runs"].update(row["id"], {**fields, "attempts": (row["attempts"] or 0) + 1})
            return row["id"]

    def renew(self, owner, lease_seconds):
        """Extend every lease ``owner`` holds (its heartbeat)."""
        with self._immediate():
            self.db.execute("UPDATE runs SET lease_until = ? WHERE claimed_by = ? AND status = ?",
                            [time.time() + lease_seconds, owner, Status.RUNNING.value])

    def release(self, owner, error="interrupted"):
        """Runs ``owner`` still holds become 'failed' (free for anyone, rerun on resume)."""
        with self._immediate():
            self.db.execute("UPDATE runs SET status = ?, error = ?, ended_at = ?, lease_until = NULL "
                            "WHERE claimed_by = ? AND status = ?",
                            [Status.FAILED.value, error, time.time(), owner, Status.RUNNING.value])

    def held_keys(self, sweep):
        """Keys of the sweep's runs being trained now under a live lease (by any runner)."""
        rows = self.db.execute("SELECT config_hash FROM runs WHERE sweep = ? AND status = ? AND lease_until > ?",
                               [sweep, Status.RUNNING.value, time.time()]).fetchall()
        return {r[0] for r in rows}

    def _row(self, sweep, key, run_id=None):
        """The row ``run_id``, else the latest repeat of (sweep, key), as stored; or None."""
        where, args = ("id = ?", [run_id]) if run_id is not None else ("sweep = ? AND config_hash = ?", [sweep, key])
        rows = list(self.db["runs"].rows_where(where, args, order_by="repeat DESC", limit=1))
        return rows[0] if rows else None


def _holder_gone(owner):
    """True when ``owner`` ran on this machine and its process no longer exists."""
    host, _, rest = (owner or "").partition(":")
    pid = rest.partition(":")[0]
    return host == socket.gethostname() and pid.isdigit() and not pid_alive(int(pid))


def _free(row, owner, now, rerun_before):
    """May ``owner`` claim this existing run now? (see Claims.claim)"""
    status = Status(row["status"])
    if status.is_final:
        return status.may_become(Status.RUNNING, rerun=rerun_before is not None) and \
            (row["ended_at"] or 0) < rerun_before
    if status is Status.RUNNING and row["claimed_by"] != owner:
        return (row["lease_until"] or 0) < now or _holder_gone(row["claimed_by"])
    return True
