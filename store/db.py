"""The SQLite run store: sweeps, runs and per-epoch metrics, through sqlite-utils.

One row per (sweep, config key) makes resuming an upsert; train.py, which trains every
time it is run, adds repeats 1, 2, ... of a configuration beside it. A run moves
``running -> finished | failed | diverged | stopped``; a failed run may be claimed
again, the other three are final unless a rerun is asked for explicitly. Several
runners share a store by claiming runs with a lease that the holder renews; a
lease that lapses, or whose holder on this machine is gone, can be taken over.
WAL mode and a busy timeout let readers query while runners write; writes that
read first take the lock up front (BEGIN IMMEDIATE) so WAL never refuses them midway.
"""
import contextlib
import errno
import functools
import hashlib
import json
import os
import socket
import sqlite3
import time
import uuid
from pathlib import Path

import sqlite_utils

from mlp.errors import InputError
from mlp.files import pid_alive, refused_write

from .migrations import MIGRATIONS, NAMES, flat_view, locate, relative_to
from .run import FINAL, METRICS, Status

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "runs.db"
# Weights go beside the default store (runs/ at the project root), wherever a command is run from.
DEFAULT_RUNS_DIR = os.environ.get("MLP_RUNS_DIR") or str(DEFAULT_PATH.parent / "runs")
STATUSES = tuple(status.value for status in Status)
PATHS = ("weights_path", "probe_path")
# The runs table as the migrations leave it (a test holds the two together).
RUN_COLUMNS = {
    "id": int, "sweep": str, "config": str, "config_hash": str, "status": str,
    "started_at": float, "ended_at": float, "seconds": float, "epochs_done": int,
    **{m: float for m in METRICS},
    "weights_path": str, "probe_path": str, "wandb_run_id": str, "error": str,
    "claimed_by": str, "lease_until": float, "attempts": int, "repeat": int, "traceback": str,
    "weights_sha256": str, "proposal": str,
}
RECORDED = ("started_at", "ended_at", "seconds", "weights_path", "weights_sha256", "probe_path", "wandb_run_id",
            "error", "traceback")
EPOCH_COLUMNS = {"run_id": int, "epoch": int, "train_loss": float, "train_acc": float,
                 "val_loss": float, "val_acc": float, "val_f1": float,
                 "learning_rate": float, "seconds": float}


class StoreError(InputError, RuntimeError):
    """The store cannot be opened, read or written; the message names the file."""


def store_path(path=None):
    """An explicit path, else $MLP_DB, else runs.db at the project root."""
    return Path(path or os.environ.get("MLP_DB") or DEFAULT_PATH)


def config_hash(config, defaults=None):
    """A stable key of a configuration: sha256 of the canonical JSON of its options that differ
    from ``defaults``, 16 hex digits. An option added later, whose default keeps the old behaviour,
    leaves every key as it was; with no defaults this is the key of the first stores."""
    defaults = defaults or {}
    kept = {k: v for k, v in config.items() if k not in defaults or defaults[k] != v}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def owner_id():
    """Names a claimer: host, process id (to see at once that a local holder is gone), and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _holder_gone(owner):
    """True when ``owner`` ran on this machine and its process no longer exists."""
    host, _, rest = (owner or "").partition(":")
    pid = rest.partition(":")[0]
    return host == socket.gethostname() and pid.isdigit() and not pid_alive(int(pid))


def _plain(value):
    """NumPy scalars would be stored as blobs: turn them into Python numbers first."""
    return value.item() if hasattr(value, "item") else value


def _one_line_errors(method):
    """SQLite errors after opening (a lock held too long, a corrupt page, a full or read-only disk) become
    one-line StoreErrors."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            raise _store_error(self.path, exc) from None
    return wrapper


SQLITE_READONLY, SQLITE_FULL = 8, 13  # primary result codes (sqlite3 names them only from Python 3.11)


def _store_error(path, exc):
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF  # an extended code's low byte is its primary
    if code == SQLITE_FULL or "disk is full" in str(exc):
        return StoreError(refused_write(errno.ENOSPC, path, "run store"))
    if code == SQLITE_READONLY or "readonly database" in str(exc):
        return StoreError(f"run store {path} is read-only; reading it works, but this command must write to it "
                          f"(copy it somewhere writable, or set --db or MLP_DB)")
    return StoreError(f"run store {path}: {exc}")


def _guarded(cls):
    """Every public method of ``cls`` raises one-line StoreErrors. A class decorator rather than one per
    method, so the methods stay plain functions that mutation testing (mutmut skips decorated ones) reaches."""
    for name, method in list(vars(cls).items()):
        if callable(method) and not name.startswith("_"):
            setattr(cls, name, _one_line_errors(method))
    return cls


@_guarded
class RunStore:
    """The store at ``path``, migrated on open; waits up to $MLP_DB_TIMEOUT seconds (default 30) for a lock."""

    def __init__(self, path=None, create=True, key_defaults=None):
        """``key_defaults``: the option defaults that config keys leave out (see ``use_defaults``); a store
        opened without them keys configs as it did when they were last given."""
        self.path = store_path(path)
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a folder; --db or MLP_DB must name a run store file")
        if not create and not self.path.is_file():
            raise StoreError(f"no run store at {self.path}; run a sweep or train.py first, or set MLP_DB")
        self.folder = self.path.resolve().parent
        # A store on a read-only disk (or a file we may not write) is opened read-only and immutable: SQLite
        # then needs no -shm file beside it, which it could not make there. Nothing can write to it meanwhile.
        self.read_only = self.path.is_file() and not (os.access(self.path, os.W_OK) and os.access(self.folder, os.W_OK))
        if self.read_only and create:
            raise StoreError(f"run store {self.path} is read-only; this command must write to it (copy it somewhere "
                             f"writable, or set --db or MLP_DB)")
        try:
            self.db = sqlite_utils.Database(
                sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro&immutable=1", uri=True) if self.read_only
                else self.path)
            self.db.execute(f"PRAGMA busy_timeout = {int(float(os.environ.get('MLP_DB_TIMEOUT', 30)) * 1000)}")
            self.db.execute("PRAGMA foreign_keys = ON")
            if not create and "runs" not in self.db.table_names():
                raise StoreError(f"{self.path} is not a run store (no runs table)")
            self._migrate()
            self.defaults = self._meta("key_defaults", {})
            if key_defaults is not None:
                self.use_defaults(key_defaults)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open run store {self.path}: {exc}") from None

    def _migrate(self):
        """Bring the schema up to this code's version; a store from newer code is refused, not damaged."""
        newer = [m.name for m in MIGRATIONS.applied(self.db) if m.name not in NAMES]
        if newer:
            raise StoreError(f"run store {self.path} was made by newer code (schema {', '.join(newer)}); "
                             f"update this checkout to use it")
        if self.read_only:
            if MIGRATIONS.pending(self.db):
                raise StoreError(f"run store {self.path} is read-only and older than this code (it lacks "
                                 f"{', '.join(m.name for m in MIGRATIONS.pending(self.db))}); copy it somewhere "
                                 f"writable to upgrade it")
            return
        if self.db.journal_mode != "wal":
            self.db.enable_wal()
        if MIGRATIONS.pending(self.db):
            with self._immediate():  # several processes may open an old store at once: one migrates
                MIGRATIONS.apply(self.db)

    @property
    def schema_version(self):
        return len(MIGRATIONS.applied(self.db))

    @contextlib.contextmanager
    def _immediate(self):
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def close(self):
        self.db.close()

    # -- keys --------------------------------------------------------------------------
    def _meta(self, name, default=None):
        rows = self.db.execute("SELECT value FROM meta WHERE name = ?", [name]).fetchall()
        return json.loads(rows[0][0]) if rows else default

    def key(self, config):
        """The key of ``config`` in this store (its options that differ from the store's defaults)."""
        return config_hash(config, self.defaults)

    def use_defaults(self, defaults):
        """Key configs by their differences from ``defaults`` from now on, re-keying the stored runs, and give
        ``runs_flat`` a column per option they name.

        A stored config lacking an option (older than it) ran with the option's default of
        that time, so it is read with the previous defaults filled in before re-keying.
        """
        defaults = json.loads(json.dumps(defaults))
        if defaults == self.defaults:
            return
        with self._immediate():
            previous = self._meta("key_defaults", {})
            if previous != defaults:
                for run_id, config in self.db.execute("SELECT id, config FROM runs").fetchall():
                    key = config_hash({**previous, **json.loads(config)}, defaults)
                    self.db.execute("UPDATE runs SET config_hash = ? WHERE id = ?", [key, run_id])
                self.db["meta"].upsert({"name": "key_defaults", "value": json.dumps(defaults, sort_keys=True)},
                                       pk="name")
                flat_view(self.db, list(defaults))
        self.defaults = defaults

    # -- writes ------------------------------------------------------------------------
    def add_sweep(self, name, spec):
        with self._immediate():
            sweeps = self.db["sweeps"]
            spec_text = json.dumps(spec, sort_keys=True)
            if sweeps.count_where("name = ?", [name]):  # a resume keeps the sweep's creation time
                sweeps.update(name, {"spec": spec_text})
            else:
                sweeps.insert({"name": name, "spec": spec_text, "created_at": time.time()})

    def claim(self, sweep, config, owner, lease_seconds, rerun_before=None, repeat=False, proposal=None):
        """Take (sweep, config) for ``owner`` as running -> its run id, or None if it is not free.

        Free: never run, failed, or running under a lease that lapsed (or whose holder on this
        machine is gone, or that ``owner`` holds). A final run is free only for an explicit
        rerun (``rerun_before``: a time), and only if it ended before that time. With ``repeat``
        nothing is refused: a configuration that is not free gets a new row, its next repeat.
        ``proposal`` says why the sweep's method proposed it.
        """
        key, now = self.key(config), time.time()
        with self._immediate():
            row = self._row(sweep, key)
            taken = row is not None and not _free(row, owner, now, rerun_before)
            if taken and not repeat:
                return None
            fields = {"status": Status.RUNNING.value, "claimed_by": owner, "lease_until": now + lease_seconds,
                      "started_at": now, "ended_at": None, "error": None, "traceback": None, "proposal": proposal}
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

    def record(self, sweep, record, run_id=None):
        """Write how a run ended (a RunRecord) and its epochs in one transaction -> run id, or None if the
        run is already final (another runner recorded it first: a result never overwrites a final one).
        ``run_id`` names the claimed row; else it is the configuration's latest repeat (or a new row)."""
        if not record.status.is_outcome:
            raise ValueError(f"record() takes an outcome ({', '.join(s.value for s in Status if s.is_outcome)}); "
                             f"got {record.status.value!r}")
        key = self.key(record.config)
        fields = {name: _plain(getattr(record, name)) for name in RECORDED}
        fields.update({m: _plain(record.scores.get(m)) for m in METRICS})
        fields.update({p: relative_to(self.folder, fields[p]) for p in PATHS})
        fields.update(config_hash=key, status=record.status.value, lease_until=None, epochs_done=len(record.epochs))
        with self._immediate():
            row = self._row(sweep, key, run_id)
            if row is None:
                run_id = self.db["runs"].insert({"sweep": sweep, "config": json.dumps(record.config, sort_keys=True),
                                                 "attempts": 1, **fields}).last_pk
            elif not Status(row["status"]).may_become(record.status):
                return None
            else:
                run_id = row["id"]
                self.db["runs"].update(run_id, fields)
            self.db.execute("DELETE FROM epochs WHERE run_id = ?", [run_id])
            self.db["epochs"].insert_all([{"run_id": run_id, **{k: _plain(e.get(k)) for k in EPOCH_COLUMNS
                                                                 if k != "run_id"}} for e in record.epochs])
        return run_id

    def record_report(self, title, url):
        """Remember where a published W&B report lives (make wandb-report, online)."""
        with self._immediate():
            self.db["reports"].insert({"title": title, "url": url, "saved_at": time.time()}, pk="url", replace=True)

    # -- reads -------------------------------------------------------------------------
    def _row(self, sweep, key, run_id=None):
        """The row ``run_id``, else the latest repeat of (sweep, key), as stored; or None."""
        where, args = ("id = ?", [run_id]) if run_id is not None else ("sweep = ? AND config_hash = ?", [sweep, key])
        rows = list(self.db["runs"].rows_where(where, args, order_by="repeat DESC", limit=1))
        return rows[0] if rows else None

    def find(self, sweep, config):
        """The latest run of ``config`` in ``sweep``, or None."""
        rows = self.runs(sweep=sweep, key=self.key(config), sort="repeat", descending=True, limit=1)
        return rows[0] if rows else None

    def done_runs(self, sweep):
        """The sweep's runs that need no rerun: finished, diverged or stopped by early termination.

        'running' (interrupted) and 'failed' runs are rerun when the sweep resumes.
        """
        return self.runs(sweep=sweep, status=FINAL)

    def held_keys(self, sweep):
        """Keys of the sweep's runs being trained now under a live lease (by any runner)."""
        rows = self.db.execute("SELECT config_hash FROM runs WHERE sweep = ? AND status = ? AND lease_until > ?",
                               [sweep, Status.RUNNING.value, time.time()]).fetchall()
        return {r[0] for r in rows}

    def runs(self, sweep=None, status=None, match=None, has=None, key=None, sort="id", descending=False,
             limit=None):
        """Runs as dicts with ``config`` parsed and file paths resolved, oldest first unless ``sort`` says.

        ``status``: one Status (or its name) or several; ``match``: {run column or config option: value};
        ``has``: a metric the runs must have; ``sort``: a run column (ties go by id).
        """
        clauses, args = [], []
        if sweep is not None:
            clauses.append("sweep = ?")
            args.append(sweep)
        if status is not None:
            statuses = [Status(status).value] if isinstance(status, str) else [Status(s).value for s in status]
            clauses.append(f"status IN ({', '.join('?' * len(statuses))})")
            args.extend(statuses)
        if key is not None:
            clauses.append("config_hash = ?")
            args.append(key)
        for name, value in (match or {}).items():
            if not _is_name(name):
                raise StoreError(f"cannot match {name!r}: a run column or option name is letters, digits and _")
            if isinstance(value, (list, dict)):  # json_extract gives lists and objects as compact JSON
                value = json.dumps(value, separators=(",", ":"))
            clauses.append(f"{name} = ?" if name in RUN_COLUMNS else "json_extract(config, ?) = ?")
            args.extend([value] if name in RUN_COLUMNS else [f"$.{name}", value])
        if has is not None:
            clauses.append(f"{_column(has)} IS NOT NULL")
        order = f"{_column(sort)} {'DESC' if descending else 'ASC'}, id"
        rows = self.db["runs"].rows_where(" AND ".join(clauses) or None, args, order_by=order, limit=limit)
        return [{**row, "config": json.loads(row["config"]), **{p: self.resolve(row[p]) for p in PATHS}}
                for row in rows]

    def status_counts(self, sweep=None):
        """{(sweep, status): number of runs}, of one sweep or of all."""
        where, args = ("WHERE sweep = ?", [sweep]) if sweep is not None else ("", [])
        rows = self.db.execute(f"SELECT sweep, status, COUNT(*) FROM runs {where} GROUP BY sweep, status "
                               f"ORDER BY sweep, status", args).fetchall()
        return {(sweep, status): n for sweep, status, n in rows}

    def snapshot(self, target, probe_paths=None):
        """Copy this store to ``target`` as one file (SQLite's backup API: consistent while runners write).
        Weights do not travel with it: their paths are cleared, their hashes kept. Probe files travel where
        the caller copied them: ``probe_paths`` maps a run id to its copy's path relative to ``target``'s
        folder; the other runs' probe paths are cleared."""
        copy = sqlite3.connect(target)
        try:
            self.db.conn.backup(copy)
            copy.execute("UPDATE runs SET weights_path = NULL, probe_path = NULL")
            copy.executemany("UPDATE runs SET probe_path = ? WHERE id = ?",
                             [(path, run_id) for run_id, path in (probe_paths or {}).items()])
            copy.commit()
            copy.execute("VACUUM")
            copy.execute("PRAGMA journal_mode = WAL")  # the store's own mode: a query then leaves the file as it is
        finally:
            copy.close()

    def resolve(self, stored):
        return locate(self.folder, stored)

    def get(self, run_id):
        rows = self.runs(match={"id": run_id})
        return rows[0] if rows else None

    def epochs(self, run_id):
        return list(self.db["epochs"].rows_where("run_id = ?", [run_id], order_by="epoch"))

    def val_accs(self, sweep, epochs, exclude_hash=None):
        """{epoch: [validation accuracies]} of the sweep's recorded runs (early-termination peers)."""
        epochs = list(epochs)
        peers = {e: [] for e in epochs}
        if not epochs:
            return peers
        rows = self.db.execute(
            f"SELECT e.epoch, e.val_acc FROM epochs e JOIN runs r ON r.id = e.run_id WHERE r.sweep = ? "
            f"AND e.epoch IN ({', '.join('?' * len(epochs))}) AND r.config_hash != ? AND e.val_acc IS NOT NULL",
            [sweep, *epochs, exclude_hash or ""]).fetchall()
        for epoch, val_acc in rows:
            peers[epoch].append(val_acc)
        return peers

    def curves(self, metric="val_acc", sweeps=None):
        """The final runs (of ``sweeps``, else of all) with ``metric`` at each epoch they reached, in epoch order:
        what a search learns from, the runs early termination stopped included."""
        per_epoch = [m for m in METRICS if m in EPOCH_COLUMNS]
        if metric not in per_epoch:
            raise StoreError(f"{metric!r} is not measured per epoch; choose from {', '.join(per_epoch)}")
        runs = self.runs(status=FINAL) if sweeps is None else \
            sorted((r for sweep in sweeps for r in self.runs(sweep=sweep, status=FINAL)), key=lambda r: r["id"])
        values = {r["id"]: [] for r in runs}
        for run_id, value in self.db.execute(f"SELECT run_id, {metric} FROM epochs WHERE run_id IN "
                                             f"(SELECT value FROM json_each(?)) ORDER BY run_id, epoch",
                                             [json.dumps(list(values))]):  # the epochs of exactly those runs
            values[run_id].append(value)
        return [{**r, "values": values[r["id"]]} for r in runs]

    def best(self, metric="test_f1", sweep=None, lowest=False, match=None):
        """The finished run with the highest (or lowest) ``metric``, among those matching ``match``."""
        if metric not in METRICS:
            raise StoreError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
        rows = self.runs(sweep=sweep, status=Status.FINISHED, match=match, has=metric, sort=metric,
                         descending=not lowest, limit=1)
        return rows[0] if rows else None


def _is_name(name):
    return name.isidentifier() and name.isascii()


def _column(name):
    if name not in RUN_COLUMNS:
        raise StoreError(f"{name!r} is not a run column; choose from {', '.join(RUN_COLUMNS)}")
    return name


def _free(row, owner, now, rerun_before):
    """May ``owner`` claim this existing run now? (see RunStore.claim)"""
    status = Status(row["status"])
    if status.is_final:
        return status.may_become(Status.RUNNING, rerun=rerun_before is not None) and \
            (row["ended_at"] or 0) < rerun_before
    if status is Status.RUNNING and row["claimed_by"] != owner:
        return (row["lease_until"] or 0) < now or _holder_gone(row["claimed_by"])
    return True
