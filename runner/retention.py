"""``keep_weights`` (our sweep-file key): which runs of a sweep keep their files (runner.run_files).

Three files a run: a sweep of 100,000 would leave 300,000 of them and tens of gigabytes, most from runs that
early termination stopped. Every run keeps its row, scores and epochs in the store whatever the policy; only
files go.
- ``all``: every run that trained to a result (finished or stopped), the old behaviour;
- ``finished``, the default: finished runs only; ``make best`` exports a finished run and the reports read
  finished runs' files;
- ``{best: N}``: the N best finished runs by the sweep's metric; a run that a better one pushes out loses its files
  when that one is recorded. With several runners on one sweep, each keeps the best N of what it has seen.
"""
import heapq
import math

from store import Status

from .run_files import remove_files

POLICIES = ("all", "finished")  # besides {best: N}
DEFAULT = "finished"


class Retention:
    """A sweep's ``keep_weights`` policy, and with {best: N} the runs it keeps files for so far."""

    def __init__(self, policy=DEFAULT, metric="val_acc", goal="maximize"):
        self.best = policy["best"] if isinstance(policy, dict) else None
        self.policy, self.metric, self.sign = policy, metric, -1 if goal == "minimize" else 1
        self.kept = []  # with {best: N}: a heap of (rank, -run id), the worst kept run first

    @classmethod
    def from_spec(cls, spec):
        metric = spec.get("metric", {})
        return cls(spec.get("keep_weights", DEFAULT), metric.get("name", "val_acc"), metric.get("goal", "maximize"))

    def keeps(self, status):
        """Does a run that ended so get files at all?"""
        return status.keeps_files if self.policy == "all" else status is Status.FINISHED

    def start(self, store, sweep):
        """With {best: N}: take in the sweep's runs that have files, and let all but the best N go."""
        if self.best is None:
            return
        for run in store.iter_runs(sweep=sweep, status=Status.FINISHED, has="weights_path",
                                   fields=("id", self.metric)):
            self._keep(store, run["id"], run[self.metric])

    def recorded(self, store, run_id, record):
        """A run was just recorded with its files: with {best: N}, keep it only among the best N."""
        if self.best is not None and record.weights_path is not None:
            self._keep(store, run_id, record.scores.get(self.metric))

    def _keep(self, store, run_id, value):
        if any(-kept == run_id for _, kept in self.kept):  # trained again (--rerun): its new result counts
            self.kept = [entry for entry in self.kept if -entry[1] != run_id]
            heapq.heapify(self.kept)
        rank = -math.inf if value is None else self.sign * value
        heapq.heappush(self.kept, (rank, -run_id))  # on a tie, the later run goes first
        while len(self.kept) > self.best:
            _, dropped = heapq.heappop(self.kept)
            weights = store.forget_files(-dropped)
            if weights is not None:
                remove_files(weights)
