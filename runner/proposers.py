"""What to run next: the pending part of a fixed list of configurations, or bayes proposals in batches.

A proposer answers three questions for the pipeline: is anything left (``pending``, which
never fits a model), which configurations to try to claim next (``candidates``; the pipeline
claims them), and how many runs the sweep has and has done (``total``, ``already_done``). "Done" means one thing here: the store's final statuses
(Status.is_final), plus what this invocation recorded.
"""
from collections import deque

import numpy as np

from mlp.options import ConfigError, resolve_config
from store import Status

from . import bayes
from .sweep_file import expand, sweep_seed


class Proposer:
    """The shared part: the sweep's done keys, the queue of proposals, and claiming them."""

    def __init__(self, sweep, store, rerun_before=None, repeat=False):
        """``rerun_before``: a time; final runs that ended before it run again (``--rerun``).
        ``repeat``: claim even what is final or held, as a new repeat (train.py trains every time)."""
        self.sweep, self.store = sweep, store
        self.rerun_before, self.repeat = rerun_before, repeat
        self.recorded = set()  # keys recorded in this invocation: a failure is not retried today
        self.queue = deque()
        self.proposals = {}  # key -> why it was proposed, recorded with the run when it is claimed

    def done_keys(self):
        """Keys needing no run: final runs (for a rerun, those that ended since it began) and ours of today."""
        if self.repeat:
            return set(self.recorded)
        rows = self.store.done_runs(self.sweep)
        if self.rerun_before is not None:
            rows = [r for r in rows if (r["ended_at"] or 0) >= self.rerun_before]
        return {r["config_hash"] for r in rows} | self.recorded

    def candidates(self, flying):
        """The configurations to try to claim now, in order (the pipeline claims them); ``flying``: keys in flight."""
        if not self.queue:
            self.queue.extend(self.next_batch())
        while self.queue:
            config = self.queue.popleft()
            key = self.store.key(config)
            if key not in flying and key not in self.recorded:
                yield config


class FixedProposer(Proposer):
    """A list known up front: a grid or random sweep's expansion, a report's chosen runs, train.py's one run."""

    def __init__(self, sweep, store, configs, method=None, **kwargs):
        """``method``: the sweep file's (grid or random) when ``configs`` is its expansion."""
        super().__init__(sweep, store, **kwargs)
        self.configs = configs
        if method is not None:
            self.proposals = {store.key(c): f"{method}: configuration {i} of {len(configs)} of the sweep's "
                                            f"expansion" for i, c in enumerate(configs, start=1)}

    def total(self):
        return len(self.configs)

    def already_done(self):
        """Of this list only (the sweep may hold others, such as 2.10's runs by an earlier rule or a grid since
        narrowed)."""
        done = self.done_keys()
        return sum(self.store.key(c) in done for c in self.configs)

    def next_batch(self):
        done = self.done_keys()
        return [c for c in self.configs if self.store.key(c) not in done]

    def pending(self):
        return bool(self.next_batch())


class BayesProposer(Proposer):
    """Up to ``run_cap`` runs, proposed ``batch_size`` at a time by a model of every epoch of the runs so far
    (runner.bayes); with ``warm_start`` in the sweep file, the store's earlier runs in the same space too."""

    def __init__(self, spec, store, batch_size, **kwargs):
        super().__init__(spec["name"], store, **kwargs)
        self.spec, self.batch_size = spec, batch_size
        self.rng = np.random.default_rng(sweep_seed(spec))

    def total(self):
        return self.spec["run_cap"]

    def already_done(self):
        return len(self.done_keys())

    def _left(self, taken):
        return self.spec["run_cap"] - len(taken)

    def pending(self):
        """Runs still to train, here or by another runner: counted, with no model fitted."""
        return self._left(self.done_keys()) > 0

    def curves(self):
        """What the model learns from: this sweep's recorded runs, and with ``warm_start`` every other recorded
        run in the store whose configuration lies in this sweep's space (its dataset is one of the options)."""
        metric = self.spec.get("metric", {}).get("name", "val_acc")
        rows = self.store.curves(metric, None if self.spec.get("warm_start") else [self.sweep])
        return [bayes.Curve(r["id"], r["config"], r["values"], r["status"] == Status.DIVERGED) for r in rows
                if r["sweep"] == self.sweep or could_propose(self.spec["parameters"], r["config"])]

    def next_batch(self):
        taken = self.done_keys() | self.store.held_keys(self.sweep)
        left = self._left(taken)
        if left <= 0:
            return []
        def is_new(values):
            try:
                return self.store.key(resolve_config(values)) not in taken
            except ConfigError:  # a draw no validation sample met: skip it, propose again
                return False

        batch = []
        for proposal in bayes.propose(self.spec, self.curves(), min(left, self.batch_size), self.rng, is_new):
            config = resolve_config(proposal.values)
            if config not in batch:
                batch.append(config)
                self.proposals[self.store.key(config)] = proposal.reason
        return batch


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


def proposer_for(spec, store, batch_size, configs=None, rerun_before=None):
    """The proposer of a sweep file's ``method``; ``configs`` replaces its own expansion."""
    if configs is None and spec["method"] == "bayes":
        return BayesProposer(spec, store, batch_size, rerun_before=rerun_before)
    if configs is not None:
        return FixedProposer(spec["name"], store, configs, rerun_before=rerun_before)
    return FixedProposer(spec["name"], store, expand(spec), method=spec["method"], rerun_before=rerun_before)
