"""A run's epochs into the store as they end, written by the worker that trains it, so the dashboard draws the runs
in flight.

Only where the worker shares the runner's disk (this process, or loky processes here): a cluster's workers may not
see the store, and their runs' epochs arrive with the result. A live epoch is a view, not the record: a write that
fails (a full disk, a lock held too long) ends that run's live view, never the run, and the runner's record of the
result writes every epoch again.
"""
from dataclasses import dataclass

from store import RunStore, StoreError


@dataclass(frozen=True)
class LiveEpochs:
    """Where one run's epochs go while it trains: picklable, sent with its job."""

    store_path: str
    run_id: int


class LiveWriter:
    """Writes each epoch's metrics of ``target`` (a LiveEpochs, or None for no live view) until one write fails or
    the run is no longer running."""

    def __init__(self, target):
        self.target, self.store, self.ended = target, None, target is None

    def __call__(self, metrics):
        if self.ended:
            return
        try:
            if self.store is None:
                self.store = RunStore(self.target.store_path, create=False)
            self.ended = not self.store.record_epoch(self.target.run_id, metrics)
        except StoreError:
            self.ended = True

    def close(self):
        if self.store is not None:
            self.store.close()
