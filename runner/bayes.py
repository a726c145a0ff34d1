"""Bayesian proposals for ``method: bayes``: a random forest over finished runs.

Candidates are drawn from the sweep's own distributions; the forest's mean
plus its spread across trees (an upper confidence bound) picks the ones
worth running next. Until enough runs exist, proposals are random.
"""
import numpy as np
from sklearn.ensemble import RandomForestRegressor

from .sweep_file import random_configs

N_RANDOM_START = 8
N_CANDIDATES = 500
EXPLORATION = 1.0


def _scalar(value):
    """hidden_size resolves to a list; a list of one repeated width encodes as that width."""
    if isinstance(value, list) and len(set(value)) == 1:
        return value[0]
    return value


def features(parameters, values):
    """Raw parameter values -> a feature vector: one-hot for lists of values, scaled ranges."""
    features = []
    for name, rule in parameters.items():
        v = _scalar(values[name])
        if "values" in rule:
            features.extend(float(v == choice) for choice in rule["values"])
        elif "min" in rule:
            low, high = float(rule["min"]), float(rule["max"])
            if rule.get("distribution") == "log_uniform_values":
                low, high, v = np.log(low), np.log(high), np.log(v)
            elif rule.get("distribution") == "log_uniform":
                v = np.log(v)
            features.append((float(v) - low) / (high - low))
    return features


def propose(spec, history, count, rng):
    """``history``: [(config, metric)] of finished runs -> ``count`` raw parameter dicts."""
    if len(history) < max(N_RANDOM_START, count):
        return random_configs(spec, count, rng)
    params = spec["parameters"]
    sign = -1.0 if spec.get("metric", {}).get("goal") == "minimize" else 1.0
    X = np.array([features(params, config) for config, _ in history])
    y = sign * np.array([metric for _, metric in history])
    forest = RandomForestRegressor(n_estimators=64, min_samples_leaf=2, random_state=int(rng.integers(2**31)))
    forest.fit(X, y)
    candidates = random_configs(spec, N_CANDIDATES, rng)
    C = np.array([features(params, c) for c in candidates])
    per_tree = np.stack([tree.predict(C) for tree in forest.estimators_])
    score = per_tree.mean(axis=0) + EXPLORATION * per_tree.std(axis=0)
    return [candidates[i] for i in np.argsort(-score)[:count]]
