"""Sweep files in the W&B sweep YAML schema: validation and expansion into configs.

The same file works with ``wandb sweep`` online. Supported: ``method``
(grid, random, bayes), ``metric`` {name, goal}, ``run_cap``, ``early_terminate``
{type: hyperband|median, min_iter, eta}, and per parameter ``value``,
``values``, or ``min``/``max`` with a ``distribution`` (uniform, int_uniform,
log_uniform_values, log_uniform, q_uniform). Random draws are seeded by the
sweep name, so a rerun proposes the same configurations and resumes. Three
extensions are ours, and W&B's schema refuses them: ``early_terminate`` of type
``median``; ``warm_start: true`` (``method: bayes`` then learns from the
store's earlier runs in the same space too); ``fidelity: budgets`` (each value of ``epochs`` is a budget,
a run of its own promoted from the one below: runner.budgets); and ``keep_weights`` (which runs keep their files:
runner.retention). The W&B backend leaves the last three out.
"""
import hashlib
import itertools
import math
from pathlib import Path

import yaml

from mlp.errors import InputError
from mlp.options import RUN_OPTIONS, ConfigError, resolve_config
from store import METRICS

from .budgets import FIDELITIES
from .retention import DEFAULT as DEFAULT_POLICY
from .retention import POLICIES

DISTRIBUTIONS = ("uniform", "int_uniform", "log_uniform_values", "log_uniform", "q_uniform")
OUR_KEYS = {"warm_start", "fidelity", "keep_weights"}  # not in W&B's schema, which refuses keys it does not know
TOP_LEVEL_KEYS = {"name", "description", "program", "method", "metric", "parameters", "run_cap",
                  "early_terminate", "command", "project", "entity"} | OUR_KEYS
_OPTIONS = {o.name: o for o in RUN_OPTIONS}


class SweepError(InputError, ValueError):
    """A malformed or meaningless sweep file; the message names the key and the fix."""


def load_sweep(path):
    """Read and validate a sweep file -> spec dict with ``name`` filled in."""
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise SweepError(f"sweep file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SweepError(f"sweep file {path} is not valid YAML: {first_line}") from None
    if not isinstance(spec, dict):
        raise SweepError(f"sweep file {path} must be a mapping with method and parameters")
    spec.setdefault("name", path.stem)
    validate(spec)
    return spec


def validate(spec):
    unknown = sorted(set(spec) - TOP_LEVEL_KEYS)
    if unknown:
        raise SweepError(f"unknown top-level key(s) {', '.join(unknown)}; known: {', '.join(sorted(TOP_LEVEL_KEYS))}")
    methods = _methods()
    if spec.get("method") not in methods:
        raise SweepError(f"method must be one of {', '.join(methods)}; got {spec.get('method')!r}")
    method = methods[spec["method"]]
    params = spec.get("parameters")
    if not isinstance(params, dict) or not params:
        raise SweepError("parameters must be a mapping of train.py option names to {value|values|min/max}")
    for name, rule in params.items():
        _validate_parameter(name, rule)
    metric = spec.get("metric", {"name": "val_acc", "goal": "maximize"})
    if not isinstance(metric, dict) or metric.get("name") not in METRICS or \
            metric.get("goal", "maximize") not in ("maximize", "minimize"):
        raise SweepError(f"metric must be {{name: one of {', '.join(METRICS)}, goal: maximize|minimize}}; got {metric!r}")
    if metric["name"].startswith("test_"):
        raise SweepError("metric must not be a test metric: the test split never guides a sweep; use val_acc")
    cap = spec.get("run_cap")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise SweepError(f"run_cap must be a positive integer; got {cap!r}")
    if method.needs_run_cap and cap is None:
        raise SweepError(f"method {spec['method']} needs run_cap (how many runs to make)")
    if not method.takes_ranges and any(_is_range(r) for r in params.values()):
        raise SweepError(f"method {spec['method']} needs value or values for every parameter, not min/max")
    _validate_early_terminate(spec.get("early_terminate"))
    _validate_fidelity(spec, method)
    _validate_keep_weights(spec.get("keep_weights", DEFAULT_POLICY))
    if "warm_start" in spec and (spec["warm_start"] not in (True, False) or not method.warm_start):
        raise SweepError(f"warm_start must be true or false, and needs method "
                         f"{' or '.join(m for m in methods if methods[m].warm_start)}; got {spec['warm_start']!r} "
                         f"with method {spec['method']}")
    # Every configuration the sweep can make must be valid (e.g. hidden_size against num_layers): a method's
    # whole expansion, or draws from its distributions.
    _resolve_all(method.drafts(spec))


def _methods():
    """The registry of sweep methods (runner.methods), which builds on this module's readers."""
    from .methods import METHODS  # noqa: PLC0415 - runner.methods imports this module

    return METHODS


def _is_range(rule):
    return "min" in rule or "max" in rule


def _validate_parameter(name, rule):
    option = _OPTIONS.get(name)
    if option is None:
        raise SweepError(f"parameter {name!r} is not a train.py option; known: {', '.join(_OPTIONS)}")
    if not isinstance(rule, dict) or not ({"value", "values"} & set(rule) or _is_range(rule)):
        raise SweepError(f"parameter {name} needs value, values, or min and max; got {rule!r}")
    try:
        if "value" in rule:
            option.check(rule["value"])
        elif "values" in rule:
            if not isinstance(rule["values"], list) or not rule["values"]:
                raise SweepError(f"parameter {name}: values must be a non-empty list")
            for v in rule["values"]:
                option.check(v)
        else:
            if "min" not in rule or "max" not in rule:
                raise SweepError(f"parameter {name} needs both min and max")
            dist = rule.get("distribution", "uniform")
            if dist not in DISTRIBUTIONS:
                raise SweepError(f"parameter {name}: distribution must be one of {', '.join(DISTRIBUTIONS)}; got {dist!r}")
            low, high = rule["min"], rule["max"]
            if dist != "log_uniform":  # log_uniform's bounds are exponents
                low, high = option.check(low), option.check(high)
            if not float(low) < float(high):
                raise SweepError(f"parameter {name}: min must be below max; got {rule['min']!r} and {rule['max']!r}")
            if dist == "log_uniform_values" and float(low) <= 0:
                raise SweepError(f"parameter {name}: log_uniform_values needs min > 0")
    except ConfigError as exc:
        raise SweepError(f"parameter {exc}") from None


def _validate_early_terminate(block):
    if block is None:
        return
    if not isinstance(block, dict) or block.get("type") not in ("hyperband", "median"):
        raise SweepError(f"early_terminate.type must be hyperband or median; got {block!r}")
    min_iter, eta = block.get("min_iter", 3), block.get("eta", 3)
    if not isinstance(min_iter, int) or min_iter < 1:
        raise SweepError(f"early_terminate.min_iter must be a positive integer; got {min_iter!r}")
    if not isinstance(eta, (int, float)) or eta <= 1:
        raise SweepError(f"early_terminate.eta must be a number > 1; got {eta!r}")


def _validate_fidelity(spec, method):
    fidelity = spec.get("fidelity", "epochs")
    if fidelity not in FIDELITIES:
        raise SweepError(f"fidelity must be one of {', '.join(FIDELITIES)}; got {fidelity!r}")
    if fidelity != "budgets":
        return
    epochs = spec["parameters"].get("epochs", {})
    if method.expands or (spec.get("early_terminate") or {}).get("type") != "hyperband" or \
            len(set(epochs.get("values", []))) < 2:
        raise SweepError("fidelity: budgets needs a method that proposes as it goes (bayes), early_terminate of type "
                         "hyperband (its eta: the share promoted) and epochs: {values: [...]} with at least two "
                         "budgets")


def _validate_keep_weights(policy):
    best = policy.get("best") if isinstance(policy, dict) and set(policy) == {"best"} else None
    if policy not in POLICIES and (isinstance(best, bool) or not isinstance(best, int) or best < 1):
        raise SweepError(f"keep_weights must be one of {', '.join(POLICIES)} or {{best: N}} with N a positive "
                         f"integer; got {policy!r}")


def datasets(spec):
    """The datasets a sweep's runs train on (mnist unless the spec names others)."""
    rule = spec["parameters"].get("dataset", {"value": "mnist"})
    return rule.get("values", [rule.get("value")])


def sweep_seed(spec):
    return int(hashlib.sha256(spec["name"].encode()).hexdigest()[:8], 16)


def sample_parameter(name, rule, rng):
    """One draw of parameter ``name`` from its rule; ranges default to the option's own type."""
    if "value" in rule:
        return rule["value"]
    if "values" in rule:
        return rule["values"][rng.integers(len(rule["values"]))]
    low, high = rule["min"], rule["max"]
    dist = rule.get("distribution", "int_uniform" if _OPTIONS[name].type is int else "uniform")
    if dist == "int_uniform":
        return int(rng.integers(low, high + 1))
    if dist == "log_uniform_values":
        return float(math.exp(rng.uniform(math.log(low), math.log(high))))
    if dist == "log_uniform":
        return float(math.exp(rng.uniform(low, high)))
    if dist == "q_uniform":
        q = rule.get("q", 1)
        return float(round(rng.uniform(low, high) / q) * q)
    return float(rng.uniform(low, high))


def grid_configs(spec):
    params = spec["parameters"]
    names = list(params)
    choices = [params[n]["values"] if "values" in params[n] else [params[n]["value"]] for n in names]
    combos = [dict(zip(names, values)) for values in itertools.product(*choices)]
    return combos[: spec.get("run_cap") or len(combos)]


def random_configs(spec, count, rng):
    return [{n: sample_parameter(n, r, rng) for n, r in spec["parameters"].items()} for _ in range(count)]


def expand(spec):
    """A sweep whose method expands it (grid, random) -> its full, deterministic list of resolved configs
    (duplicates dropped)."""
    method = _methods()[spec["method"]]
    if not method.expands:
        raise SweepError(f"method {spec['method']} proposes its runs as it goes; it has no fixed list to expand")
    return _resolve_all(method.drafts(spec))


def _resolve_all(raw):
    """Raw parameter dicts -> resolved configs, duplicates dropped; an invalid one is a SweepError."""
    configs, seen = [], set()
    for values in raw:
        try:
            config = resolve_config(values)
        except ConfigError as exc:
            raise SweepError(f"parameters give an invalid config {values}: {exc}") from None
        key = repr(sorted(config.items()))
        if key not in seen:
            seen.add(key)
            configs.append(config)
    return configs
