"""What the dashboard's pages show, read from the store through its own API and the report's functions.

Every function takes a RunStore opened read-only and returns JSON-ready values (a Status is a str). A
chart that cannot show every run says how many it shows (``shown`` of ``total``) and how
they were chosen; nothing is dropped silently.
"""
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


def in_flight(store, sweep):
    """The sweep's runs being trained now, and its best run by validation accuracy so far."""
    best = store.best("val_acc", sweep=sweep)
    return {"sweep": sweep, "best": _brief(best) if best else None,
            "in_flight": [_brief(r) for r in store.runs(sweep=sweep, status=Status.RUNNING)]}


def _brief(run):
    return {"id": run["id"], "status": run["status"], "val_acc": run["val_acc"], "test_acc": run["test_acc"],
            "epochs_done": run["epochs_done"], "origin": origin(run["proposal"])}


def sweep_page(store, sweep, metric="val_acc"):
    """Everything a sweep's page draws, from a few narrow reads however large the sweep is."""
    total = sum(q.status_counts(store, sweep).values())
    scored = store.runs(sweep=sweep, status=q.SCORED, has="val_acc", fields=("id", "config", "val_acc"))
    table = q.table_of(scored)
    return {**in_flight(store, sweep), "curves": sweep_curves(store, sweep, metric, total),
            "progress": search_progress(store, sweep), "parallel": parallel_coordinates(table),
            "best_runs": best_runs(store, sweep, table["names"], total)}


def sweep_curves(store, sweep, metric, total):
    """``metric`` by epoch: the best ``CURVE_LINES`` runs as lines (the best run flagged, a stopped run marked
    where its rule stopped it), and the range of all ``total`` runs at each epoch as a band."""
    shown = store.curves(metric, runs=store.runs(sweep=sweep, sort="val_acc", descending=True, limit=CURVE_LINES,
                                                 fields=("id", "status", "val_acc", "error")))
    best = shown[0]["id"] if shown and shown[0]["val_acc"] is not None else None
    lines = [{"run_id": r["id"], "epoch": e, "value": v, "status": r["status"]}
             for r in shown for e, v in enumerate(r["values"], 1)]
    stops = [{"run_id": r["id"], "epoch": len(r["values"]), "value": r["values"][-1], "why": r["error"]}
             for r in shown if r["status"] == Status.STOPPED and r["values"]]
    return {"metric": metric, "shown": len(shown), "total": total, "best": best, "lines": lines, "stops": stops,
            "band": store.epoch_spread(sweep, metric), "chosen": "the best by validation accuracy"}


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


def parallel_coordinates(table):
    """The report's table of the hyperparameters a sweep varies (report 2.2's parallel coordinates), with at
    most ``PARALLEL_RUNS`` runs taken at even steps down the ranking by validation accuracy."""
    names = table["names"]
    rows = [{**row, **{f"{k}_at": table["columns"][k]["codes"][i] for k in names}}
            for i, row in enumerate(table["rows"])]
    rows.sort(key=lambda r: -r["val_acc"])
    step = max(1, -(-len(rows) // PARALLEL_RUNS))
    kept = rows[::step]
    return {"names": names, "ticks": {k: table["columns"][k]["ticks"] for k in names},
            "log": [k for k in names if k in q.LOG_SCALE],
            "categorical": [k for k in names if q.is_categorical([r[k] for r in rows])], "rows": kept,
            "shown": len(kept), "total": len(rows),
            "chosen": "every run" if step == 1 else f"one in {step} down the ranking by validation accuracy"}


def best_runs(store, sweep, varied, total):
    """The sweep's best ``TABLE_RUNS`` runs by validation accuracy, with the options the sweep varies."""
    runs = store.runs(sweep=sweep, has="val_acc", sort="val_acc", descending=True, limit=TABLE_RUNS)
    return {"options": varied, "total": total,
            "runs": [{**_brief(r), **{k: q.scalar(r["config"][k]) for k in varied}} for r in runs]}


def importance(store, sweep):
    """Report 2.2's ranking: the same function, so the page and the report agree."""
    counts = q.status_counts(store, sweep)
    scored = sum(counts.get(status.value, 0) for status in q.SCORED)  # counted, not read: the fit reads them
    return {"method": "permutation importance of a random forest (100 trees) fitted to the sweep's evaluated runs, "
                      "as report 2.2 computes it",
            "rows": q.hyperparameter_importance(store, sweep) if scored > 1 else []}


def run_page(store, run_id):
    """One run: its configuration, outcome, why it was proposed and stopped, its epochs, files and probes."""
    run = store.get(run_id)
    if run is None:
        return None
    epochs = store.epochs(run_id)
    grads = None
    if run["probe_path"]:
        try:
            norms = q.probe(store, run, ["grad_norms"])["grad_norms"]
            step = max(1, len(norms) // 500)
            grads = {"every": step, "rows": [{"step": i + 1, "layer": layer + 1, "norm": float(v)}
                                             for i in range(0, len(norms), step)
                                             for layer, v in enumerate(norms[i])]}
        except q.SectionError as exc:
            grads = {"missing": str(exc)}
    return {"run": {k: v for k, v in run.items() if k != "traceback"},
            "origin": origin(run["proposal"]), "epochs": epochs, "grad_norms": grads}


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
