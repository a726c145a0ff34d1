"""``fidelity: budgets`` (our sweep-file key): the values of ``epochs`` are budgets, each a run of its own.

A learning-rate schedule spans its run, so epoch 5 of a 45-epoch cosine run, still at a high rate, says little
about how that run ends, and a rung bar built from shorter runs would stop exactly the runs that end best. So,
as in Hyperband and BOHB, a budget is a whole run with its schedule fitted to it, and runs are only compared with
runs of the same budget: a configuration starts at the smallest budget, and one whose result ranks in the top
1/eta of the runs that ended at its budget (asynchronous successive halving) is promoted, trained again from
scratch at the next budget. Nothing is stopped mid-run.
"""
import math
from dataclasses import dataclass

FIDELITIES = ("epochs", "budgets")  # the sweep file's ``fidelity``: rungs inside each run (W&B's), or budgets


def budgets(spec):
    """The sweep's budgets, smallest first, or None when its fidelity is the epochs inside each run."""
    if spec.get("fidelity", "epochs") != "budgets":
        return None
    return sorted(spec["parameters"]["epochs"]["values"])


def in_run_rule(spec):
    """The ``early_terminate`` block a job judges itself by while it trains: none when budgets are runs."""
    return None if budgets(spec) else spec.get("early_terminate")


@dataclass
class Result:
    """A run of the sweep that ended: its id, configuration, budget and metric (None: it diverged, the worst)."""

    run_id: int
    config: dict
    budget: int
    value: float = None


@dataclass
class Promotion:
    """A run earning the next budget: its rank among the ``peers`` that ended at its budget, of which the best
    ``cut`` go on."""

    result: Result
    budget: int
    rank: int
    peers: int
    cut: int

    def reason(self, metric):
        return (f"promoted: run {self.result.run_id} ranked {self.rank} of {self.peers} at {self.result.budget} "
                f"epochs by {metric} ({self.result.value:.4f}; the best {self.cut} go on), now at {self.budget} "
                f"epochs")


def promotions(results, ladder, eta, goal="maximize"):
    """Of ``results``, those in the top 1/eta of the runs that ended at their budget (every budget but the last),
    each with the budget it earns: the largest budgets first (the nearest to a result), best first within one. A
    run that diverged ranks last and is never promoted."""
    sign = -1 if goal == "maximize" else 1
    chosen = []
    for rung in reversed(range(len(ladder) - 1)):
        peers = [r for r in results if r.budget == ladder[rung]]
        ranked = sorted(peers, key=lambda r: math.inf if r.value is None else sign * r.value)
        cut = int(len(peers) // eta)
        chosen += [Promotion(r, ladder[rung + 1], rank, len(peers), cut)
                   for rank, r in enumerate(ranked[:cut], start=1) if r.value is not None]
    return chosen
