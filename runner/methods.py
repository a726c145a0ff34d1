"""A sweep file's ``method``, one registry entry each: what the file must say for it, the configurations it
makes, and the proposer that runs them. Adding a method is one entry here (and its proposer)."""
from typing import Callable, NamedTuple

import numpy as np

from .proposers import BayesProposer, FixedProposer
from .sweep_file import expand, grid_configs, random_configs, sweep_seed

N_BAYES_CHECKS = 200  # draws of a bayes sweep's distributions that must all make valid configs


class Method(NamedTuple):
    drafts: Callable  # spec -> raw parameter dicts: the whole sweep (expands), or draws that must all be valid
    expands: bool  # the drafts are the sweep's fixed list of configurations
    needs_run_cap: bool  # the file must say how many runs to make
    takes_ranges: bool  # a parameter may be a min/max distribution
    warm_start: bool  # it may learn from the store's other runs
    proposer: Callable  # (spec, store, batch_size) -> the proposer that runs the sweep


def _draws(count):
    """``count(spec)`` draws from the sweep's distributions, seeded by its name (a resumed sweep draws the same)."""
    return lambda spec: random_configs(spec, count(spec), np.random.default_rng(sweep_seed(spec)))


def _fixed(name):
    return lambda spec, store, batch_size: FixedProposer(spec["name"], store, expand(spec), method=name)


METHODS = {
    "grid": Method(grid_configs, expands=True, needs_run_cap=False, takes_ranges=False, warm_start=False,
                   proposer=_fixed("grid")),
    "random": Method(_draws(lambda spec: spec["run_cap"]), expands=True, needs_run_cap=True, takes_ranges=True,
                     warm_start=False, proposer=_fixed("random")),
    "bayes": Method(_draws(lambda spec: N_BAYES_CHECKS), expands=False, needs_run_cap=True, takes_ranges=True,
                    warm_start=True, proposer=BayesProposer),
}


def proposer_for(spec, store, batch_size, configs=None):
    """The proposer of a sweep file's ``method``; ``configs`` replaces its own expansion."""
    if configs is not None:
        return FixedProposer(spec["name"], store, configs)
    return METHODS[spec["method"]].proposer(spec, store, batch_size)
