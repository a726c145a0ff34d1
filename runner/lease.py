"""A runner's claims on runs, kept alive by a heartbeat while the runner lives.

Every run this runner trains is claimed in the store under one owner name with a
lease of $MLP_LEASE_SECONDS (default 60). A thread renews the leases every quarter
of that, through a connection of its own (SQLite connections stay in their
thread). When the runner is killed the renewals stop: another runner takes the runs
over once their leases lapse, or at once if it sees on the same machine that the
holder's process is gone. On an orderly exit (Ctrl-C included) the runs still held
are released as failed, to be rerun.
"""
import os
import threading

from store import RunStore, StoreError, owner_id


def lease_seconds():
    return float(os.environ.get("MLP_LEASE_SECONDS", 60))


class Lease:
    def __init__(self, store):
        self.store, self.owner, self.seconds = store, owner_id(), lease_seconds()
        self._stop = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)

    def __enter__(self):
        self._heartbeat.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._heartbeat.join()
        try:
            self.store.release(self.owner)
        except StoreError:  # the store is what failed: the leases lapse by themselves
            pass

    def claim(self, sweep, config, rerun_before=None, repeat=False, proposal=None, promoted_from=None):
        """-> run id, or None when the run is done or held by another live runner (never, with ``repeat``)."""
        return self.store.claim(sweep, config, self.owner, self.seconds, rerun_before, repeat, proposal,
                                promoted_from)

    def _beat(self):
        try:
            store = RunStore(self.store.path, create=False)
        except StoreError:  # no renewals: the leases lapse, as if this runner had died
            return
        try:
            while not self._stop.wait(self.seconds / 4):
                try:
                    store.renew(self.owner, self.seconds)
                except StoreError:  # a renewal missed: the lease may lapse and the run be taken over
                    pass
        finally:
            store.close()
