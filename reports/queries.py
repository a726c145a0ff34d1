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
from store import FINAL, Status

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


class SectionError(InputError, RuntimeError):
    """A section's input is not at hand (its runs, their probes or weights); the message names the command
    that fills it in."""


def _train_again(run):
    if run["sweep"] == JobContext.sweep:
        return "train.py with its flags trains it again"
    return f"`python -m runner sweeps/{run['sweep']}.yaml --rerun` trains its sweep again"


def probe(store, run):
    """The arrays recorded during the run by runner.probes (grad_norm, neuron_grads, act_hist, ...)."""
    path = run["probe_path"]  # resolved by the store
    if path is None or not Path(path).is_file():
        raise SectionError(f"run {run['id']} of sweep {run['sweep']} has no probe file in {store.folder}; "
                           f"{_train_again(run)}")
    with np.load(path) as arrays:
        return {key: arrays[key] for key in arrays.files}


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
def class_samples(dataset, per_class, data_dir=None):
    """The first ``per_class`` training images of each class (C, per_class, 784) and the class counts."""
    data = load_dataset(dataset, data_dir, dtype=np.float32)
    n_classes = len(CLASS_NAMES[dataset])
    images = np.stack([data.X_train[np.flatnonzero(data.y_train == c)[:per_class]] for c in range(n_classes)])
    return {"images": images, "counts": np.bincount(data.y_train, minlength=n_classes).tolist()}


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


# -- 2.2: the search ---------------------------------------------------------------------------
def axis_values(values, log=False):
    """One hyperparameter's values -> positions in [0, 1] and tick (position, text) pairs.

    Text and few-valued numbers become evenly spaced ordered categories; other
    numbers are scaled linearly (or on a log axis) between their min and max.
    """
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if not numeric or len(set(values)) <= MAX_ORDINAL:
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
    runs = [r for r in scored_runs(store, sweep) if r[metric] is not None]
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


def top_profile(store, sweep, n, keys, metric="val_acc"):
    """Among the sweep's ``n`` best scored runs by ``metric``: for each of ``keys`` its commonest value and how
    many of the ``n`` runs have it. -> [{parameter, value, count}] (ties: the value sorted first)."""
    runs = sorted((r for r in scored_runs(store, sweep) if r[metric] is not None), key=lambda r: (-r[metric], r["id"]))
    top = runs[:n]
    rows = []
    for key in keys:
        values = [str(scalar(r["config"][key])) for r in top]
        value = min(set(values), key=lambda v: (-values.count(v), v))
        rows.append({"parameter": key, "value": value, "count": values.count(value), "of": len(top)})
    return rows


# How each recorded reason (the store's ``proposal``) reads in the report, by its opening words.
PROPOSED_BY = (("default:", "the trainer's default configuration, tried first"),
               ("model:", "the search's model of the runs before it"),
               ("random start", "random draws before the model had runs to learn from"),
               ("a plain draw", "random draws between the model's proposals"),
               ("random:", "the sweep's random expansion"),
               ("grid:", "the sweep's grid"))
UNRECORDED = "choices the store does not record"


def search_story(store, sweep):
    """How a search spent its training: its final runs and their epochs, how many runs each way of proposing
    gave (in PROPOSED_BY's order; runs with no recorded reason last), and the runs early termination stopped
    at each epoch. -> {runs, epochs, proposed: [(how, count)], stopped, rungs: [(epoch, count)]}"""
    runs = store.runs(sweep=sweep, status=FINAL)
    kinds = [next((how for start, how in PROPOSED_BY if (r["proposal"] or "").startswith(start)), UNRECORDED)
             for r in runs]
    order = [how for _, how in PROPOSED_BY] + [UNRECORDED]
    stopped = [r["epochs_done"] for r in runs if r["status"] == Status.STOPPED]
    return {"runs": len(runs), "epochs": sum(r["epochs_done"] or 0 for r in runs),
            "proposed": [(how, kinds.count(how)) for how in order if how in kinds],
            "stopped": len(stopped), "rungs": [(f"epoch {e}", stopped.count(e)) for e in sorted(set(stopped))]}


# -- 2.3 to 2.9: per-sweep analyses ---------------------------------------------------------------
def optimizer_race(store, sweep, upto):
    """Each optimizer at its best learning rate: training loss at the last epoch <= ``upto``, lowest first."""
    best = {}
    for run in scored_runs(store, sweep):
        epochs, losses = curve(store, run["id"], "train_loss", upto)
        row = {"optimizer": run["config"]["optimizer"], "learning_rate": run["config"]["learning_rate"],
               "epoch": epochs[-1], "loss": losses[-1], "first_loss": losses[0], "run_id": run["id"]}
        if row["optimizer"] not in best or row["loss"] < best[row["optimizer"]]["loss"]:
            best[row["optimizer"]] = row
    return sorted(best.values(), key=lambda r: r["loss"])


def gradient_norms(store, sweep, early_steps):
    """Per run, by activation and depth: each hidden layer's weight-gradient norm at every step (steps, layers),
    and over the first ``early_steps`` steps the medians of the first and the last hidden layer's norm and of
    their ratio (first / last: below 1 when less gradient reaches the layer nearest the input); ``late_ratio``
    the same ratio over the last ``early_steps`` steps."""
    rows = []
    for run in scored_runs(store, sweep):
        norms = probe(store, run)["grad_norms"]
        early, late = norms[:early_steps], norms[-early_steps:]
        rows.append({"run_id": run["id"], "activation": run["config"]["activation"],
                     "num_layers": run["config"]["num_layers"], "norms": norms, "steps": len(norms),
                     "early_steps": len(early), "first": float(np.median(early[:, 0])),
                     "last": float(np.median(early[:, -1])), "ratio": float(np.median(early[:, 0] / early[:, -1])),
                     "late_ratio": float(np.median(late[:, 0] / late[:, -1]))})
    return sorted(rows, key=lambda r: (r["activation"], r["num_layers"]))


def dead_neurons(store, sweep):
    """Per run: activation histograms per hidden layer, the fraction of dead neurons (runner.probes.DEAD_WHEN),
    the validation curve, and each hidden layer's median weight-gradient norm over the last epoch's steps."""
    rows = []
    for run in scored_runs(store, sweep):
        arrays = probe(store, run)
        dead, widths = arrays["dead"].tolist(), arrays["widths"].tolist()
        norms = arrays["grad_norms"]
        last_epoch = norms[-(len(norms) // run["epochs_done"]):]
        epochs, val_acc = curve(store, run["id"], "val_acc")
        rows.append({"run_id": run["id"], "config": run["config"], "val_acc": run["val_acc"], "val_curve": val_acc,
                     "epochs": epochs, "hist": arrays["act_hist"], "edges": arrays["act_edges"], "dead": dead,
                     "widths": widths, "fractions": [d / w for d, w in zip(dead, widths)],
                     "n_images": int(arrays["act_hist"][0].sum() // widths[0]), "norms": norms,
                     "last_grads": np.median(last_epoch, axis=0).tolist()})
    return rows


def convergence(store, runs, metric="val_acc"):
    """Per run: its per-epoch ``metric`` and the first epoch at which it reaches ``target`` (the lowest final
    value among ``runs``, which every run reaches). -> (target, [{run_id, epochs, values, first, reached}])."""
    curves = [(run, *curve(store, run["id"], metric)) for run in runs]
    target = min(values[-1] for _, _, values in curves)
    rows = [{"run_id": run["id"], "epochs": epochs, "values": values, "first": values[0],
             "reached": next(e for e, v in zip(epochs, values) if v >= target)} for run, epochs, values in curves]
    return target, rows


def neuron_gradients(store, sweep):
    """Per run: gradient norms of the tracked neurons (steps, neurons) and their widest spread at any step."""
    rows = []
    for run in scored_runs(store, sweep):
        grads = probe(store, run)["neuron_grads"]
        rows.append({"run_id": run["id"], "config": run["config"], "grads": grads,
                     "steps": grads.shape[0], "neurons": grads.shape[1],
                     "spread": float(np.ptp(grads, axis=1).max()), "mean": float(grads.mean())})
    return rows


def overfitting(store, quantile):
    """Every scored run's train-test accuracy gap; runs above the gaps' ``quantile`` (and above 0) overfit.

    -> {threshold, runs: [{run_id, sweep, train_acc, test_acc, gap, overfit}] largest gap first,
    marked_epochs and other_epochs (median epochs trained), marked_sweeps {sweep: marked runs}, most first}.
    """
    runs = scored_runs(store)
    if not runs:
        return {"threshold": None, "runs": []}
    gaps = np.array([r["train_acc"] - r["test_acc"] for r in runs])
    threshold = float(np.quantile(gaps, quantile))
    marked = (gaps > threshold) & (gaps > 0)
    rows = [{"run_id": r["id"], "sweep": r["sweep"], "train_acc": r["train_acc"], "test_acc": r["test_acc"],
             "gap": float(g), "overfit": bool(m)} for r, g, m in zip(runs, gaps, marked)]
    epochs = np.array([r["epochs_done"] for r in runs])
    sweeps = {}
    for r in sorted((r for r, m in zip(runs, marked) if m), key=lambda r: r["sweep"]):
        sweeps[r["sweep"]] = sweeps.get(r["sweep"], 0) + 1
    return {"threshold": threshold, "runs": sorted(rows, key=lambda r: (-r["gap"], r["run_id"])),
            "marked_epochs": float(np.median(epochs[marked])) if marked.any() else None,
            "other_epochs": float(np.median(epochs[~marked])) if (~marked).any() else None,
            "marked_sweeps": dict(sorted(sweeps.items(), key=lambda kv: (-kv[1], kv[0])))}


# -- 2.8: the best model's errors ------------------------------------------------------------------
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
