"""Named queries: every number in the report's text comes from one of these.

Each takes the run store (or, for the data itself, a dataset name) and returns
plain rows or values, so a section can draw and phrase them and a test can ask
the same question again. Reads only: nothing here writes to the store.
"""

from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestRegressor
from sklearn.inspection import permutation_importance
from sklearn.metrics import confusion_matrix

from mlp import NeuralNetwork
from mlp.activations import softmax
from mlp.command_line import InputError
from mlp.data import CLASS_NAMES, load_dataset
from mlp.files import file_sha256
from mlp.metrics import evaluate
from mlp.model_io import load_weights
from mlp.options import RUN_OPTION_NAMES
from runner.job import JobContext
from store import Status

SCORED = (Status.FINISHED, Status.STOPPED)  # evaluated at their end: they have train, val and test metrics
LOG_SCALE = {"learning_rate"}  # hyperparameters compared on a log axis
MAX_ORDINAL = 8  # a numeric hyperparameter with at most this many values is drawn as ordered categories


# -- runs and their files --------------------------------------------------------------------
def scalar(value):
    """A hidden_size list with one width for every layer -> that width; other lists -> '64-32'."""
    if isinstance(value, list):
        return value[0] if len(set(value)) == 1 else "-".join(map(str, value))
    return value


def _on(dataset):
    return {"dataset": dataset} if dataset else None


def scored_runs(store, sweep=None, dataset=None):
    """Runs evaluated at their end (finished, or stopped early by the sweep's rule), oldest first."""
    return store.runs(sweep=sweep, status=SCORED, match=_on(dataset))


def evaluated(store, sweep):
    """The sweep's scored runs; none is an error that names the command that trains them."""
    runs = scored_runs(store, sweep)
    if not runs:
        raise SectionError(f"no evaluated runs of sweep {sweep} in {store.path}; "
                           f"`python -m runner sweeps/{sweep}.yaml` trains them")
    return runs


def status_counts(store, sweep):
    """{status: number of runs} of one sweep."""
    return {status: n for (_, status), n in store.status_counts(sweep).items()}


def runs_by_hash(store, sweep, hashes):
    """The sweep's scored run of each config hash, in the given order (None where there is none)."""
    by_hash = {r["config_hash"]: r for r in scored_runs(store, sweep)}
    return [by_hash.get(h) for h in hashes]


def curve(store, run_id, metric, upto=None):
    """(epochs, values) of one per-epoch metric of a run, epochs <= ``upto``."""
    rows = [e for e in store.epochs(run_id) if upto is None or e["epoch"] <= upto]
    return [e["epoch"] for e in rows], [e[metric] for e in rows]


def curves(store, runs, metrics, upto=None):
    """Per run, {"epoch": [...], metric: [...] for each of ``metrics``}, epochs <= ``upto``."""
    rows = [[e for e in store.epochs(run["id"]) if upto is None or e["epoch"] <= upto] for run in runs]
    return [{name: [e[name] for e in epochs] for name in ("epoch", *metrics)} for epochs in rows]


class SectionError(InputError, RuntimeError):
    """A section's input is not at hand (its runs, their probes or weights); the message names the command
    that fills it in."""


def _train_again(run):
    if run["sweep"] == JobContext.sweep:
        return "train.py with its flags trains it again"
    return f"`python -m runner sweeps/{run['sweep']}.yaml --rerun` trains its sweep again"


def probe(store, run, names):
    """The arrays ``names`` recorded during the run by runner.probes (grad_norms, neuron_grads, act_hist, ...)."""
    path = run["probe_path"]  # resolved by the store
    if path is None or not Path(path).is_file():
        raise SectionError(f"run {run['id']} of sweep {run['sweep']} has no probe file in {store.folder}; "
                           f"{_train_again(run)}")
    with np.load(path) as arrays:
        lacking = [name for name in names if name not in arrays.files]
        if lacking:
            raise SectionError(f"the probe file of run {run['id']} lacks {', '.join(lacking)}; {_train_again(run)}")
        return {name: arrays[name] for name in names}


def weights_file(store, run, copies=()):
    """Where the run's weights are: its own file, else one of ``copies`` (the exported best_model.npy travels
    where the runs folder does not). A file must have the SHA-256 recorded with the run; only the run's own
    file of a store older than the hashes is taken without one."""
    own = run["weights_path"]
    if own and Path(own).is_file():
        if run["weights_sha256"] in (None, file_sha256(own)):
            return own
        raise SectionError(f"weights file {own} of run {run['id']} is not the file the run recorded (its SHA-256 "
                           f"differs); {_train_again(run)}")
    for copy in copies:
        if run["weights_sha256"] and Path(copy).is_file() and file_sha256(copy) == run["weights_sha256"]:
            return str(copy)
    raise SectionError(f"the weights of run {run['id']} are not in {store.folder}, and no copy of them is at hand; "
                       f"{_train_again(run)}")


def best_run(store, metric="test_f1", dataset="mnist", sweep=None):
    """The finished run with the highest ``metric`` among runs on ``dataset`` (store.best plus a dataset filter:
    F1 on Fashion-MNIST and on MNIST are not comparable)."""
    return store.best(metric, sweep=sweep, match=_on(dataset))


def top_distinct(store, n, metric="val_acc", dataset="mnist"):
    """The ``n`` (None: all) finished runs with the highest ``metric`` on ``dataset``, one per distinct configuration."""
    rows, seen = [], set()
    for run in store.runs(status=Status.FINISHED, match=_on(dataset), has=metric, sort=metric, descending=True):
        if run["config_hash"] not in seen:
            seen.add(run["config_hash"])
            rows.append(run)
        if len(rows) == n:
            break
    return rows


# -- the data ----------------------------------------------------------------------------------
def class_similarity(dataset, data_dir=None):
    """How alike the classes' raw training images are: nearest-centroid confusion.

    Each training image goes to the class whose mean image is nearest (Euclidean,
    raw pixels); a pair's score is the mean of the two shares of a class's images that
    go to the other class of the pair. -> pairs [(a, b, score)] most alike first.
    """
    data = load_dataset(dataset, data_dir)
    n_classes = len(CLASS_NAMES[dataset])
    X, y = data.X_train, data.y_train
    centroids = np.stack([X[y == c].mean(axis=0) for c in range(n_classes)])
    distances = (X * X).sum(axis=1, keepdims=True) - 2 * X @ centroids.T + (centroids * centroids).sum(axis=1)
    matrix = confusion_matrix(y, distances.argmin(axis=1), labels=np.arange(n_classes))
    return [(a, b, score / 2) for a, b, score in ranked_pairs(matrix / matrix.sum(axis=1, keepdims=True))]


def ranked_pairs(matrix):
    """Off-diagonal mass of a (true x predicted) matrix summed over both directions of each class pair:
    [(a, b, value)] with a < b, largest first (ties by class index)."""
    matrix = np.asarray(matrix, dtype=float)
    both = matrix + matrix.T
    pairs = [(a, b, float(both[a, b])) for a in range(len(both)) for b in range(a + 1, len(both))]
    return sorted(pairs, key=lambda p: (-p[2], p[0], p[1]))


# -- a sweep's hyperparameters (2.2) --------------------------------------------------------------
def _numeric(values):
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def is_categorical(values):
    """Drawn as ordered categories: text, or few values."""
    return not _numeric(values) or len(set(values)) <= MAX_ORDINAL


def axis_values(values, log=False):
    """One hyperparameter's values -> positions in [0, 1] and tick (position, text) pairs.

    Text and few-valued numbers become evenly spaced ordered categories; other
    numbers are scaled linearly (or on a log axis) between their min and max.
    """
    numeric = _numeric(values)
    if is_categorical(values):
        categories = sorted(set(values), key=lambda v: (not numeric, v if numeric else str(v)))
        step = 1 / max(len(categories) - 1, 1)
        where = {c: (i * step if len(categories) > 1 else 0.5) for i, c in enumerate(categories)}
        return {"codes": [where[v] for v in values], "ticks": [(where[c], f"{c:.3g}" if numeric else str(c))
                                                                for c in categories]}
    x = np.log10(values) if log else np.asarray(values, dtype=float)
    low, high = float(x.min()), float(x.max())
    return {"codes": ((x - low) / (high - low)).tolist(),
            "ticks": [(0.0, f"{min(values):.3g}"), (1.0, f"{max(values):.3g}")]}


def sweep_table(store, sweep, metric="val_acc"):
    """The hyperparameters that vary across the sweep's scored runs, encoded per run, with ``metric``."""
    return table_of([r for r in scored_runs(store, sweep) if r[metric] is not None], metric)


def table_of(runs, metric="val_acc"):
    """sweep_table of ``runs`` (each with its id, config and ``metric``)."""
    values = {k: [scalar(r["config"][k]) for r in runs] for k in RUN_OPTION_NAMES}
    names = [k for k in RUN_OPTION_NAMES if len(set(values[k])) > 1]  # hidden_size by width, not layer count
    return {"names": names, "columns": {k: axis_values(values[k], log=k in LOG_SCALE) for k in names},
            metric: [r[metric] for r in runs],
            "rows": [{"run_id": r["id"], **{k: values[k][i] for k in names}, metric: r[metric]}
                     for i, r in enumerate(runs)]}


def hyperparameter_importance(store, sweep, metric="val_acc", seed=0):
    """Permutation importance of each varying hyperparameter in a random forest fitted to -> ``metric``.

    Rows {parameter, importance, std}, most important first. Fitted and scored on
    the sweep's own runs: it ranks what explains the sweep, not a forecast.
    """
    table = sweep_table(store, sweep, metric)
    X = np.column_stack([table["columns"][k]["codes"] for k in table["names"]])
    y = np.asarray(table[metric])
    forest = RandomForestRegressor(n_estimators=100, random_state=seed).fit(X, y)
    result = permutation_importance(forest, X, y, n_repeats=10, random_state=seed)
    rows = [{"parameter": k, "importance": float(m), "std": float(s)}
            for k, m, s in zip(table["names"], result.importances_mean, result.importances_std)]
    return sorted(rows, key=lambda r: -r["importance"])


# -- a model's errors (2.1, 2.8) ------------------------------------------------------------------
def confusions(run, weights_path, n_gallery, data_dir=None):
    """The run's weights on its test split: confusion matrix, most frequent confusion, and the
    ``n_gallery`` mistakes made with the highest confidence (softmax probability of the wrong class)."""
    model = NeuralNetwork(run["config"])
    model.set_weights(load_weights(weights_path))
    data = load_dataset(run["config"]["dataset"], data_dir, dtype=model.dtype)
    scores = evaluate(model, data.X_test, data.y_test)
    probabilities = softmax(scores["logits"])
    predicted, y = probabilities.argmax(axis=1), data.y_test
    matrix = confusion_matrix(y, predicted, labels=np.arange(probabilities.shape[1]))
    off = matrix - np.diag(np.diag(matrix))
    true, wrong_as = np.unravel_index(off.argmax(), off.shape)
    mistakes = np.flatnonzero(predicted != y)
    gallery = mistakes[np.argsort(-probabilities[mistakes].max(axis=1), kind="stable")][:n_gallery]
    return {"matrix": matrix, "accuracy": scores["accuracy"], "f1": scores["f1"], "n_test": len(y),
            "n_mistakes": len(mistakes), "pair": (int(true), int(wrong_as), int(off[true, wrong_as])),
            "gallery": [{"index": int(i), "true": int(y[i]), "predicted": int(predicted[i]),
                         "confidence": float(probabilities[i].max())} for i in gallery],
            "images": data.X_test[gallery]}
