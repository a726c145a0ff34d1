"""Early termination judged on validation accuracy against the sweep's recorded runs.

The two rules of the W&B sweep schema's ``early_terminate``:
- ``hyperband`` (min_iter, eta): at epochs min_iter * eta**k, stop a run below the
  (1 - 1/eta) quantile of the other runs' validation accuracy at that epoch;
- ``median`` (our extension, min_iter): from min_iter on, stop a run below the median.
Hyperband judges as soon as a rung holds eta other runs (the fewest a top-1/eta cut can be made among,
as in asynchronous successive halving), so the first runs of a sweep are not all trained to the end;
the median rule waits for MEDIAN_PEERS.
"""
import math
from typing import NamedTuple

MEDIAN_PEERS = 4


class Bar(NamedTuple):
    """The validation accuracy a run must reach at a rule's epoch to go on, and how many runs set it."""

    value: float
    peers: int


class StopTraining(Exception):
    """Raised from an epoch callback: the run is stopped by the rule, not failed."""


class EarlyTermination:
    def __init__(self, kind, min_iter=3, eta=3):
        self.kind, self.min_iter, self.eta = kind, int(min_iter), float(eta)
        self._checks = {}  # epoch -> checks_at(epoch)

    @classmethod
    def from_spec(cls, spec):
        """``early_terminate`` block of a sweep file -> EarlyTermination or None."""
        if not spec:
            return None
        return cls(spec["type"], spec.get("min_iter", 3), spec.get("eta", 3))

    def checks_at(self, epoch):
        """Does the rule judge at ``epoch``? (asked for every epoch of every run a large sweep's ledger reads)"""
        if epoch not in self._checks:
            self._checks[epoch] = self._judges(epoch)
        return self._checks[epoch]

    def _judges(self, epoch):
        if epoch < self.min_iter:
            return False
        if self.kind == "median":
            return True
        ratio = epoch / self.min_iter
        k = round(math.log(ratio) / math.log(self.eta))
        return abs(self.min_iter * self.eta ** k - epoch) < 1e-9

    @property
    def min_peers(self):
        return MEDIAN_PEERS if self.kind == "median" else math.ceil(self.eta)

    def bar(self, epoch, ranked):
        """The Bar a run must clear at ``epoch`` among the other runs' validation accuracies there, ``ranked`` lowest
        first (a large sweep's ledger keeps them so, and a bar then costs no sort), or None where the rule does not
        judge (not one of its epochs, or too few peers). The quantile interpolates between the two nearest ranks,
        as numpy's default does."""
        if not self.checks_at(epoch) or len(ranked) < self.min_peers:
            return None
        position = (len(ranked) - 1) * (0.5 if self.kind == "median" else 1 - 1 / self.eta)
        below = math.floor(position)
        above = min(below + 1, len(ranked) - 1)
        return Bar(float(ranked[below] + (position - below) * (ranked[above] - ranked[below])), len(ranked))
