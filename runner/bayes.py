"""``method: bayes``, as this runner reads it: a model of every epoch of every run, stopped runs included.

Multi-fidelity, as BOHB is: a random forest learns the sweep's metric from a configuration and the
epoch it was measured at, so the partial curves of the runs early termination stopped teach it as
much as the finished runs do. The ``epochs`` option is the fidelity, not a choice: every proposal
takes the most epochs the space allows, and early termination cuts the ones that fall behind. With
``fidelity: budgets`` (runner.budgets) a proposal takes the smallest budget instead, promotion takes it
further, and the forest learns, as BOHB's model does, only from the results at the largest budget where
MIN_BUDGET_RUNS runs have ended: what a shift or a schedule does in 5 epochs is not what it does in 60.
Candidates are random draws from the sweep's distributions and one-option changes of the best runs
so far; the forest's prediction at full length plus half its spread across trees (an upper confidence
bound) picks among them, and a share of plain draws keeps it from locking onto one region. A sweep
starts from the trainer's default configuration, then random draws until a few runs have reported. A fit learns
from at most MAX_MODEL_POINTS points, the best runs first, so a large sweep's proposals cost what a small one's do.
"""
import math
from dataclasses import dataclass
from functools import partial

import numpy as np

from mlp.options import resolve_config

from .budgets import budgets
from .sweep_file import random_configs, sample_parameter

FIDELITY = "epochs"
N_RANDOM_START = 6
N_CANDIDATES = 300
N_PARENTS = 5  # the best runs so far, each changed in one option N_CHANGES times
N_CHANGES = 40
EXPLORATION = 0.5  # the weight of the trees' spread; 0.5 and a RANDOM_SHARE of 0.1 ended higher than 1.0 and 0.2
# on bench_search.py --quick (5 seeds: median 0.9615 against 0.9605)
EPSILON = 1e-4
LOG_STEP = 1.0  # a changed log-range option moves by exp(N(0, LOG_STEP)), staying near its parent
RANDOM_SHARE = 0.1  # of the model's proposals, this share are plain draws (as SMAC interleaves them): no lock-in
MIN_BUDGET_RUNS = 8  # with budgets, the model learns from the largest budget with this many results
MAX_MODEL_POINTS = 2_000  # what one fit learns from at most: 64 trees fit on it in under a second (bench_scale.py)


@dataclass
class Curve:
    """What one recorded run says: its configuration and the metric at each epoch it reached."""

    run_id: int
    config: dict
    values: list  # the metric at epochs 1, 2, ...; None where it was not measured (a diverged epoch)
    diverged: bool = False
    sweep: str = None

    @property
    def ended_at_budget(self):
        """Did the run end at its own length (trained it all, or diverged), rather than stopped midway?"""
        return self.diverged or len(self.values) == self.config[FIDELITY]


@dataclass
class Proposal:
    """A configuration's raw option values and why they were proposed (kept beside the run in the store)."""

    values: dict
    reason: str


def scalar(value):
    """hidden_size resolves to a list; a list of one repeated width encodes as that width."""
    if isinstance(value, list) and len(set(value)) == 1:
        return value[0]
    return value


def full_length(parameters):
    """The most epochs the space allows: every proposal trains that long unless early termination stops it."""
    rule = parameters.get(FIDELITY)
    if rule is None:
        return None
    return max(rule["values"]) if "values" in rule else rule.get("value", rule.get("max"))


def _fits(rule, v):
    """Is ``v`` one of the rule's values, or inside its range?"""
    if "value" in rule:
        return v == rule["value"]
    if "values" in rule:
        return v in rule["values"]
    low, high = float(rule["min"]), float(rule["max"])
    if rule.get("distribution") == "log_uniform":  # its bounds are exponents
        low, high = math.exp(low), math.exp(high)
    return isinstance(v, (int, float)) and low <= v <= high


def in_space(parameters, values):
    """Does a configuration's ``values`` lie in the space: each option one of its values or inside its range?"""
    return all(_fits(rule, scalar(values.get(name))) for name, rule in parameters.items())


def default_values(parameters, rng):
    """The trainer's own configuration, as far as the space holds it (an option whose default it does not hold is
    drawn). A sweep tries it first, as SMAC's default initial design does: defaults are chosen to train well, so
    the model starts from one good run instead of waiting for a random draw to find one."""
    defaults, values = resolve_config({}), {}
    for name, rule in parameters.items():
        default = scalar(defaults.get(name))
        values[name] = default if _fits(rule, default) else sample_parameter(name, rule, rng)
    return values


def features(parameters, values):
    """Raw parameter values -> a feature vector: one-hot for lists of values, ranges scaled to [0, 1]."""
    row = []
    for name, rule in parameters.items():
        if name == FIDELITY:
            continue
        v = scalar(values[name])
        if "values" in rule:
            row.extend(float(v == choice) for choice in rule["values"])
        elif "min" in rule:
            low, high = float(rule["min"]), float(rule["max"])
            if rule.get("distribution") == "log_uniform_values":
                low, high, v = np.log(low), np.log(high), np.log(v)
            elif rule.get("distribution") == "log_uniform":
                v = np.log(v)
            row.append((float(v) - low) / (high - low))
    return row


def _at_start(spec, values):
    """A new configuration's length: the smallest budget when budgets are runs, else the most the space allows."""
    ladder = budgets(spec)
    start = ladder[0] if ladder else full_length(spec["parameters"])
    return values if start is None else {**values, FIDELITY: start}


def _changed(parameters, values, rng):
    """``values`` with one option redrawn: a categorical to another value, a log range by a step near it."""
    free = [n for n, r in parameters.items() if n != FIDELITY and "value" not in r
            and not ("values" in r and len(r["values"]) == 1)]
    name = free[rng.integers(len(free))]
    rule, child = parameters[name], dict(values)
    if "values" in rule:
        others = [v for v in rule["values"] if v != scalar(values[name])]
        child[name] = others[rng.integers(len(others))]
    elif rule.get("distribution") == "log_uniform_values":
        step = math.exp(rng.normal(0, LOG_STEP))
        child[name] = float(min(max(values[name] * step, rule["min"]), rule["max"]))
    else:
        child[name] = sample_parameter(name, rule, rng)
    return child, name


def utility(value, goal):
    """What the forest learns: higher is better, and the last points of accuracy count as much as the first (a
    step from 0.95 to 0.975 weighs what one from 0.5 to 0.75 does): -log of the error, or of the loss."""
    return -math.log(max(value if goal == "minimize" else 1.0 - value, EPSILON))


def from_utility(u, goal):
    return math.exp(-u) if goal == "minimize" else 1.0 - math.exp(-u)


def model_budget(spec, curves):
    """With budgets, the budget the model learns from: the largest at which MIN_BUDGET_RUNS runs have ended (the
    smallest until then); None without budgets (every epoch of every run teaches it)."""
    ladder = budgets(spec)
    if ladder is None:
        return None
    ended = [c.config[FIDELITY] for c in curves if c.ended_at_budget]
    return max((b for b in ladder if ended.count(b) >= MIN_BUDGET_RUNS), default=ladder[0])


def bounded(curves, goal, rng, budget=None):
    """At most MAX_MODEL_POINTS points' worth of ``curves`` (each of its epochs a point; with a ``budget``, its last
    only), so a proposal costs no more at 60,000 runs than at 600: the best by their last value fill half, an even
    draw of the rest the other half, so the forest still sees what fails. Below the bound: all, ``rng`` untouched."""
    size = [1 if budget else max(len(c.values), 1) for c in curves]
    if sum(size) <= MAX_MODEL_POINTS:
        return curves
    last = [-math.inf if c.diverged or not c.values or c.values[-1] is None else utility(c.values[-1], goal)
            for c in curves]
    order = sorted(range(len(curves)), key=lambda i: -last[i])
    kept, points = [], 0
    for i in order:
        if points + size[i] > MAX_MODEL_POINTS // 2:
            break
        kept.append(i)
        points += size[i]
    for i in rng.permutation(order[len(kept):]):
        if points + size[i] <= MAX_MODEL_POINTS:
            kept.append(i)
            points += size[i]
    return [curves[i] for i in sorted(kept)]


class Model:
    """The forest over (configuration, log epoch) -> utility of the metric, learnt from a bounded share of the
    ``curves``. ``budget``: learn only the results of the runs of that budget, each at its last epoch (an earlier one
    is midway through its schedule)."""

    def __init__(self, parameters, curves, goal, rng, budget=None):
        self.parameters, self.budget = parameters, budget
        self.longest = full_length(parameters) or max(len(c.values) for c in curves)
        if budget is not None:
            curves = [c for c in curves if c.config[FIDELITY] == budget]
        curves = bounded(curves, goal, rng, budget)
        X, y = [], []
        measured = [utility(v, goal) for c in curves for v in c.values if v is not None]
        worst = min(measured) if measured else 0.0
        for curve in curves:
            row = features(parameters, curve.config)
            for epoch, value in enumerate(curve.values, start=1):
                if value is not None and not (budget and (curve.diverged or epoch < len(curve.values))):
                    X.append(row + [self._fidelity(epoch)])
                    y.append(utility(value, goal))
            if curve.diverged:  # as bad as anything seen, at the epoch it blew up (with a budget: at that budget)
                X.append(row + [self._fidelity(budget or max(len(curve.values), 1))])
                y.append(worst)
        self.points, self.runs = len(y), len(curves)
        from sklearn.ensemble import RandomForestRegressor  # noqa: PLC0415 - 2 s to import: only a bayes fit pays it

        self.forest = RandomForestRegressor(n_estimators=64, min_samples_leaf=2, max_features=0.5,
                                            random_state=int(rng.integers(2**31)))
        self.forest.fit(np.array(X), np.array(y))

    def _fidelity(self, epoch):
        return math.log(epoch) / math.log(self.longest) if self.longest > 1 else 1.0

    def predict(self, configs):
        """-> (mean, spread across trees) of the utility at full length, for each config."""
        C = np.array([features(self.parameters, c) + [1.0] for c in configs])
        per_tree = np.stack([tree.predict(C) for tree in self.forest.estimators_])
        return per_tree.mean(axis=0), per_tree.std(axis=0)


def propose(spec, curves, count, rng, is_new=lambda values: True):
    """``curves``: the Curves the sweep may learn from -> ``count`` Proposals (fewer only if draws repeat) whose
    values ``is_new`` accepts (the caller's: not run, nor running, already)."""
    params = spec["parameters"]
    if len(curves) < N_RANDOM_START or not any(v is not None for c in curves for v in c.values):
        default = _at_start(spec, default_values(params, rng))
        first = [Proposal(default, "default: the trainer's own configuration, tried first")] if is_new(default) else []
        draws = map(partial(_at_start, spec), random_configs(spec, count - len(first), rng))
        return first + [Proposal(values, f"random start: a draw from the space ({len(curves)} of {N_RANDOM_START} "
                                         f"runs reported)") for values in draws if is_new(values)]
    goal = spec.get("metric", {}).get("goal", "maximize")
    model = Model(params, curves, goal, rng, model_budget(spec, curves))
    known = bounded(curves, goal, rng)  # the parents are the best of these
    mean, _ = model.predict([c.config for c in known])
    parents = [known[i] for i in np.argsort(-mean)[:N_PARENTS]]
    candidates = [(values, "a draw from the space") for values in random_configs(spec, N_CANDIDATES, rng)]
    for parent in parents:
        raw = {name: scalar(parent.config[name]) for name in params}
        for _ in range(N_CHANGES):
            child, name = _changed(params, raw, rng)
            candidates.append((child, f"run {parent.run_id} with {name} changed"))
    candidates = [(_at_start(spec, values), origin) for values, origin in candidates]
    mean, spread = model.predict([values for values, _ in candidates])
    score = mean + EXPLORATION * spread
    sources = {False: iter(np.argsort(-score)), True: iter(rng.permutation(N_CANDIDATES))}  # the first are draws
    chosen, seen = [], set()
    while len(chosen) < count:
        plain = bool(rng.random() < RANDOM_SHARE)  # decided once per proposal, whatever is skipped below
        for i in sources[plain]:
            values, origin = candidates[i]
            fingerprint = repr(sorted((k, repr(v)) for k, v in values.items()))
            if fingerprint not in seen and is_new(values):
                break
        else:  # that source ran dry
            break
        seen.add(fingerprint)
        why = "a plain draw from the space" if plain else f"model: {origin}"
        chosen.append(Proposal(values, f"{why}, predicted {from_utility(mean[i], goal):.4f} (at best "
                                       f"{from_utility(score[i], goal):.4f}) at {model.budget or model.longest} "
                                       f"epochs, from "
                                       f"{model.points} epochs of {model.runs} runs"))
    return chosen
