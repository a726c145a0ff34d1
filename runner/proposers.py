"""What to run next: the pending part of a fixed list of configurations, or bayes proposals in batches.

A proposer only proposes. Given what is done (the pipeline's bookkeeping: final runs in the store, and what this
invocation recorded), it says whether anything is left (``pending``, which never fits a model), what to try next
(``propose``: Proposals, each carrying its store key, computed once here, and why it was proposed), and how many
runs the sweep has and has done (``total``, ``already_done``). Claims, leases and what is in flight belong to the
pipeline (runner.pipeline); which proposer a sweep file gets is its method's entry (runner.methods).
"""
from typing import NamedTuple

import numpy as np

from mlp.options import ConfigError, resolve_config
from store import Status

from . import bayes
from .budgets import Result, budgets, promotions
from .early_stop import EarlyTermination
from .ledger import Follower
from .sweep_file import sweep_seed


class Proposal(NamedTuple):
    """One configuration to run, its key in the store and why it was proposed (recorded with the run)."""

    config: dict
    key: str
    reason: str = None
    promoted_from: int = None  # the run whose rank at the budget below earned it (runner.budgets)


class FixedProposer:
    """A list known up front: a grid or random sweep's expansion, a report's chosen runs, train.py's one run."""

    def __init__(self, sweep, store, configs, method=None):
        """``method``: the sweep file's (grid or random) when ``configs`` is its expansion."""
        self.sweep = sweep
        self.proposals = [Proposal(c, store.key(c), method and f"{method}: configuration {i} of {len(configs)} of "
                                                               f"the sweep's expansion")
                          for i, c in enumerate(configs, start=1)]

    def total(self):
        return len(self.proposals)

    def already_done(self, done):
        """Of this list only (the sweep may hold others, such as 2.10's runs by an earlier rule or a grid since
        narrowed)."""
        return sum(p.key in done for p in self.proposals)

    def propose(self, done):
        return [p for p in self.proposals if p.key not in done]

    def pending(self, done):
        return any(p.key not in done for p in self.proposals)


class BayesProposer:
    """Up to ``run_cap`` runs, proposed ``batch_size`` at a time by a model of every epoch of the runs so far
    (runner.bayes); with ``warm_start`` in the sweep file, the store's earlier runs in the same space too."""

    def __init__(self, spec, store, batch_size):
        self.sweep, self.spec, self.store, self.batch_size = spec["name"], spec, store, batch_size
        self.rng = np.random.default_rng(sweep_seed(spec))
        self.follower = Follower(store, self.sweep, ("id", "config", "status", "sweep"))
        self.own = {}  # run id -> Curve, of the sweep's final runs as of the last look
        self.borrowed = None  # with warm_start, the other sweeps' runs in this space: read once

    def total(self):
        return self.spec["run_cap"]

    def already_done(self, done):
        return len(done)

    def pending(self, done):
        """Runs still to train, here or by another runner: counted, with no model fitted."""
        return self.spec["run_cap"] - len(done) > 0

    def curves(self):
        """What the model learns from, by run id: this sweep's final runs, followed by what changed since the last
        call, and with ``warm_start`` every other final run in the store whose configuration lies in this sweep's
        space (its dataset is one of the options), read once."""
        changed = self.follower.changed()
        for row in changed:
            self.own.pop(row["id"], None)
        for row in self.store.curves(self.metric, runs=[r for r in changed if Status(r["status"]).is_final]):
            self.own[row["id"]] = _curve(row)
        if self.borrowed is None:
            self.borrowed = [_curve(r) for r in self.store.curves(self.metric) if r["sweep"] != self.sweep
                             and could_propose(self.spec["parameters"], r["config"])] \
                if self.spec.get("warm_start") else []
        return sorted([*self.borrowed, *self.own.values()], key=lambda c: c.run_id)

    @property
    def metric(self):
        return self.spec.get("metric", {}).get("name", "val_acc")

    def propose(self, done):
        """New configurations, none done or held by a runner now, up to what is left of ``run_cap``: with budgets,
        the promotions that are due first, then the model's. ``done`` is read, never copied: a large sweep's."""
        taken = Taken(done, self.store.held_keys(self.sweep) - done)
        room = min(self.spec["run_cap"] - len(done) - len(taken.more), self.batch_size)
        if room <= 0:
            return []
        curves = self.curves()
        batch = self._promotions(curves, taken)[:room]
        wanted = room - len(batch)
        return batch + (self._model_proposals(curves, taken, wanted) if wanted else [])

    def _promotions(self, curves, taken):
        """The sweep's runs whose rank at their budget earns the next one, not yet run there (runner.budgets)."""
        ladder = budgets(self.spec)
        if ladder is None:
            return []
        goal = self.spec.get("metric", {}).get("goal", "maximize")
        results = [Result(c.run_id, c.config, c.config["epochs"], None if c.diverged else c.values[-1])
                   for c in curves if c.sweep == self.sweep and c.ended_at_budget]
        batch = []
        eta = EarlyTermination.from_spec(self.spec["early_terminate"]).eta  # the rule's own default if unsaid
        for promotion in promotions(results, ladder, eta, goal):
            config = {**promotion.result.config, "epochs": promotion.budget}
            key = self.store.key(config)
            if key not in taken:
                taken.more.add(key)
                batch.append(Proposal(config, key, promotion.reason(self.metric), promotion.result.run_id))
        return batch

    def _model_proposals(self, curves, taken, count):
        """``count`` configurations the model proposes, none of them ``taken``."""

        def is_new(values):
            try:
                return self.store.key(resolve_config(values)) not in taken
            except ConfigError:  # a draw no validation sample met: skip it, propose again
                return False

        batch = []
        for proposal in bayes.propose(self.spec, curves, count, self.rng, is_new):
            config = resolve_config(proposal.values)
            if all(config != p.config for p in batch):
                batch.append(Proposal(config, self.store.key(config), proposal.reason))
        return batch


class Taken:
    """Keys a proposal may not take: the ``done`` set it is given, read only, and ``more`` of its own."""

    def __init__(self, done, more):
        self.done, self.more = done, set(more)

    def __contains__(self, key):
        return key in self.done or key in self.more


def _curve(row):
    return bayes.Curve(row["id"], row["config"], row["values"], row["status"] == Status.DIVERGED, row["sweep"])


def could_propose(parameters, config):
    """Is a resolved ``config`` one the sweep could propose: its options in the space, every other at its
    default?"""
    values = {name: bayes.scalar(config.get(name)) for name in parameters}
    if not bayes.in_space(parameters, values):
        return False
    try:
        return resolve_config(values) == config
    except ConfigError:
        return False
