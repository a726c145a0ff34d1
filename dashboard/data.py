"""What the dashboard's pages show, read from the store through its own API and the report's functions.

Every function takes a RunStore opened read-only and returns JSON-ready values (a Status is a str). A
chart that cannot show every run says how many it shows (``shown`` of ``total``) and how
they were chosen; nothing is dropped silently.
"""
from sklearn.metrics import confusion_matrix

from mlp.weights import N_CLASSES
from reports import queries as q
from store import FINAL, Status

CURVE_LINES = 200  # runs drawn as a line of their own on a sweep's page; the band under them covers every run
PARALLEL_RUNS = 1000  # runs in the parallel coordinates and slice plots, spread over the ranking by the metric
TABLE_RUNS = 50  # the best runs listed on a sweep's page, to pick for comparison
EPOCH_METRICS = ("val_acc", "train_acc", "val_loss", "train_loss")


def origin(proposal):
    """Where a run came from, from the proposer's reason: the default, a random start, the model or a plain draw
    (a grid or random sweep's runs: the grid or the space)."""
    if not proposal:
        return "grid or space"
    head = proposal.split(":", 1)[0]
    return "plain draw" if head.startswith("a plain draw") else head


def sweep_state(store, sweep):
    """What a sweep's page data follows: its runs by status (every claim and result moves them), and the epochs its
    runs in flight have written -> (settled, live), cheap keys for the page's two caches."""
    settled = tuple(sorted(q.status_counts(store, sweep).items()))
    running = store.runs(sweep=sweep, status=Status.RUNNING, fields=("id", "epochs_done"))
    return settled, (settled, tuple((r["id"], r["epochs_done"]) for r in running))


def sweep_settled(store, sweep):
    """What changes only when a run of the sweep ends: the best run, the search's progress, the parallel
    coordinates and the best runs."""
    best = store.best("val_acc", sweep=sweep)
    parallel = parallel_coordinates(store, sweep)
    return {"best": _brief(best) if best else None, "progress": search_progress(store, sweep), "parallel": parallel,
            "best_runs": best_runs(store, sweep, parallel["names"], _total(store, sweep))}


def sweep_live(store, sweep, metric="val_acc"):
    """What moves with every epoch: the runs in flight, and the curves."""
    running = store.runs(sweep=sweep, status=Status.RUNNING,
                         fields=CURVE_FIELDS + ("test_acc", "epochs_done", "proposal"))
    return {"in_flight": [_brief(r) for r in running],
            "curves": sweep_curves(store, sweep, metric, _total(store, sweep), running)}


def _total(store, sweep):
    return sum(q.status_counts(store, sweep).values())


def _brief(run):
    return {"id": run["id"], "status": run["status"], "val_acc": run["val_acc"], "test_acc": run["test_acc"],
            "epochs_done": run["epochs_done"], "origin": origin(run["proposal"])}


CURVE_FIELDS = ("id", "status", "val_acc", "error")


def sweep_curves(store, sweep, metric, total, running):
    """``metric`` by epoch: the best ``CURVE_LINES`` runs and the ``running`` ones as lines (the best run flagged,
    a stopped run marked where its rule stopped it), and the range of all ``total`` runs at each epoch as a band."""
    ranked = store.runs(sweep=sweep, sort="val_acc", descending=True, limit=CURVE_LINES, fields=CURVE_FIELDS)
    drawn = {r["id"] for r in ranked}
    shown = store.curves(metric, runs=ranked + [r for r in running if r["id"] not in drawn])
    best = ranked[0]["id"] if ranked and ranked[0]["val_acc"] is not None else None
    lines = [{"run_id": r["id"], "epoch": e, "value": v, "status": r["status"]}
             for r in shown for e, v in enumerate(r["values"], 1)]
    stops = [{"run_id": r["id"], "epoch": len(r["values"]), "value": r["values"][-1], "why": r["error"]}
             for r in shown if r["status"] == Status.STOPPED and r["values"]]
    return {"metric": metric, "shown": len(shown), "total": total, "best": best, "lines": lines, "stops": stops,
            "band": store.epoch_spread(sweep, metric),
            "chosen": "the best by validation accuracy" + (", and every run in flight" if running else "")}


def search_progress(store, sweep):
    """The best validation accuracy so far, run by run as they ended, against the epochs and the wall time
    spent; with where each run came from."""
    runs = store.runs(sweep=sweep, status=FINAL, sort="ended_at",
                      fields=("id", "started_at", "ended_at", "epochs_done", "val_acc", "proposal"))
    start = min((r["started_at"] for r in runs if r["started_at"]), default=0)
    points, best, epochs = [], None, 0
    for r in runs:
        epochs += r["epochs_done"] or 0
        if r["val_acc"] is not None:
            best = r["val_acc"] if best is None else max(best, r["val_acc"])
        points.append({"run_id": r["id"], "epochs": epochs, "minutes": ((r["ended_at"] or start) - start) / 60,
                       "val_acc": r["val_acc"], "best_so_far": best, "origin": origin(r["proposal"])})
    return points


def parallel_coordinates(store, sweep):
    """The report's table (report 2.2's parallel coordinates) of at most ``PARALLEL_RUNS`` of the sweep's evaluated
    runs, taken at even steps down their ranking by validation accuracy: the axes are those of the runs drawn."""
    ranked = store.runs(sweep=sweep, status=q.SCORED, has="val_acc", sort="val_acc", descending=True,
                        fields=("id",))
    step = max(1, -(-len(ranked) // PARALLEL_RUNS))
    table = q.table_of(store.runs(ids=[r["id"] for r in ranked[::step]], sort="val_acc", descending=True,
                                  fields=("id", "config", "val_acc")))
    names = table["names"]
    rows = [{**row, **{f"{k}_at": table["columns"][k]["codes"][i] for k in names}}
            for i, row in enumerate(table["rows"])]
    return {"names": names, "ticks": {k: table["columns"][k]["ticks"] for k in names},
            "log": [k for k in names if k in q.LOG_SCALE],
            "categorical": [k for k in names if q.is_categorical([r[k] for r in rows])], "rows": rows,
            "shown": len(rows), "total": len(ranked),
            "chosen": "every run" if step == 1 else f"one in {step} down the ranking by validation accuracy"}


def best_runs(store, sweep, varied, total):
    """The sweep's best ``TABLE_RUNS`` runs by validation accuracy, with the options the sweep varies."""
    runs = store.runs(sweep=sweep, has="val_acc", sort="val_acc", descending=True, limit=TABLE_RUNS)
    return {"options": varied, "total": total,
            "runs": [{**_brief(r), **{k: q.scalar(r["config"][k]) for k in varied}} for r in runs]}


IMPORTANCE_METHOD = ("permutation importance of a random forest (100 trees) fitted to the sweep's evaluated runs, "
                     "as report 2.2 computes it")


def importance(store, sweep):
    """Report 2.2's ranking: the same function, so the page and the report agree; with how many runs it saw."""
    counts = q.status_counts(store, sweep)
    scored = sum(counts.get(status.value, 0) for status in q.SCORED)  # counted, not read: the fit reads them
    return {"method": IMPORTANCE_METHOD, "runs": scored,
            "rows": q.hyperparameter_importance(store, sweep) if scored > 1 else []}


def run_page(store, run_id):
    """One run: its configuration, outcome, why it was proposed and stopped, its epochs, files and probes."""
    run = store.get(run_id)
    if run is None:
        return None
    return {"run": {k: v for k, v in run.items() if k != "traceback"}, "origin": origin(run["proposal"]),
            "epochs": store.epochs(run_id), **(probe_charts(store, run) if run["probe_path"] else {})}


def probe_charts(store, run):
    """From the run's probe file: its hidden layers' gradient norms (every step, or an even sample of 500), and its
    confusion matrix on the probe's validation images when the file has their predictions (older ones do not)."""
    try:
        norms = q.probe(store, run, ["grad_norms"])["grad_norms"]
    except q.SectionError as exc:
        return {"grad_norms": {"missing": str(exc)}}
    step = max(1, len(norms) // 500)
    charts = {"grad_norms": {"every": step, "rows": [{"step": i + 1, "layer": layer + 1, "norm": float(v)}
                                                     for i in range(0, len(norms), step)
                                                     for layer, v in enumerate(norms[i])]}}
    try:
        recorded = q.probe(store, run, ["val_labels", "val_predicted"])
    except q.SectionError:
        return charts
    matrix = confusion_matrix(recorded["val_labels"], recorded["val_predicted"], labels=range(N_CLASSES))
    charts["confusion"] = {"images": int(matrix.sum()),
                           "cells": [{"true": t, "predicted": p, "count": int(matrix[t, p])}
                                     for t in range(N_CLASSES) for p in range(N_CLASSES)]}
    return charts


def compare(store, ids):
    """Runs side by side: each option's value per run (``same`` when every run has it equal), their final metrics
    and their curves."""
    runs = [r for r in (store.get(i) for i in ids) if r is not None]
    names = sorted({k for r in runs for k in r["config"]})
    options = [{"option": k, "values": [q.scalar(r["config"].get(k)) for r in runs],
                "same": len({repr(r["config"].get(k)) for r in runs}) == 1} for k in names]
    metrics = ["status", "epochs_done", "seconds", "val_acc", "val_f1", "test_acc", "test_f1"]
    return {"ids": [r["id"] for r in runs], "missing": [i for i in ids if i not in {r["id"] for r in runs}],
            "options": options, "metrics": [{"metric": m, "values": [r[m] for r in runs]} for m in metrics],
            "curves": [{"run_id": r["id"], "epoch": e["epoch"], "metric": m, "value": e[m]}
                       for r in runs for e in store.epochs(r["id"]) for m in EPOCH_METRICS]}
