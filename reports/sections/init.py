"""2.9: zeros against Xavier initialisation: do the neurons of a layer ever become different?"""
from typing import NamedTuple

import numpy as np

from .. import figures
from .. import panels as p
from .. import queries as q
from ..findings import Findings, label
from ..section import Drawing, SectionSpec

SWEEP = "init"
SPEC = SectionSpec("2.9", "Zeros vs Xavier initialisation",
                   "With all weights zero at the start, do the neurons of a layer ever become different? Why must "
                   "initialisation break symmetry?", sweep=SWEEP, probes=("neuron_grads",),
                   panels=(p.report_run(p.Series("gradient norm of 5 first-layer neurons per iteration")),))

SYMMETRY = (
    "If every weight starts at zero, every neuron of a layer computes the same output, receives the same error "
    "and gets the same update, so the neurons stay copies of each other for ever and the layer works like a "
    "single neuron, however wide.")
WHY_RANDOM = (
    "Random starting weights such as Xavier's make each neuron compute something different from the first step, "
    "which is what lets them specialise; Xavier also scales them so the signal keeps its size from layer to layer.")
RELU_ZEROS = (
    "With ReLU it is worse still: zero inputs give zero slope, so no gradient reaches the hidden layers at all "
    "(their gradient norms stay exactly zero).")


class Facts(NamedTuple):
    sweep: str
    counts: dict  # {status: runs}
    # Per run: its name and configuration, the gradient norms of the tracked first-layer neurons (grads: steps x
    # neurons), their widest spread at any step and their mean.
    rows: list


def facts(inputs):
    rows = []
    for run in q.evaluated(inputs.store, SWEEP):
        grads = q.probe(inputs.store, run, SPEC.probes)["neuron_grads"]
        rows.append({"run_id": run["id"], "config": run["config"], "grads": grads,
                     "name": label(run["config"], ("weight_init", "activation")),
                     "steps": grads.shape[0], "neurons": grads.shape[1],
                     "spread": float(np.ptp(grads, axis=1).max()), "mean": float(grads.mean())})
    if not {"zeros", "xavier"} <= {r["config"]["weight_init"] for r in rows}:
        raise q.SectionError(f"sweep {SWEEP} needs zeros and xavier runs; `make report-2.9` trains them")
    return Facts(SWEEP, q.status_counts(inputs.store, SWEEP), rows)


def say(facts):
    notes, rows = Findings(), facts.rows
    notes.census(facts.sweep, facts.counts)
    by_init = {init: [r for r in rows if r["config"]["weight_init"] == init] for init in ("zeros", "xavier")}
    identical = all(r["spread"] == 0 for r in by_init["zeros"])
    notes.lead("No: with all weights zero, the neurons of a layer stay identical copies of each other, while Xavier's "
               "random start makes them differ from the first step." if identical else
               "They do become different here, although with all weights zero the neurons of a layer start as "
               "copies of each other; Xavier's random start makes them differ from the first step.")
    notes.add(("The incoming-weight gradient norms of {neurons} neurons of the first hidden layer are identical at "
               "every one of the first {steps} iterations with zeros initialisation ({zeros_runs}), so the neurons "
               "get identical updates" if identical else
               "Over the first {steps} iterations the incoming-weight gradient norms of {neurons} neurons of the "
               "first hidden layer differ from each other by at most {zeros} with zeros initialisation ({zeros_runs})")
              + "; with Xavier initialisation they differ by up to {xavier} ({xavier_runs}).",
              steps=rows[0]["steps"], neurons=rows[0]["neurons"],
              zeros=max(r["spread"] for r in by_init["zeros"]), zeros_runs=[r["name"] for r in by_init["zeros"]],
              xavier=[r["spread"] for r in by_init["xavier"]], xavier_runs=[r["name"] for r in by_init["xavier"]])
    notes.add(SYMMETRY)
    if any(r["mean"] == 0 and r["config"]["activation"] == "relu" for r in by_init["zeros"]):
        notes.add(RELU_ZEROS)
    notes.add(WHY_RANDOM)
    for r in rows:
        notes.detail("{name}: the neurons' gradient norms " + ("are identical at every iteration" if r["spread"] == 0
                     else "differ by at most {spread} at any iteration") + " (mean norm {mean}).",
                     prefix=f"run{r['run_id']}", name=r["name"], spread=r["spread"], mean=r["mean"])
    return notes


def draw(facts):
    rows = facts.rows
    panels = [(r["name"], [{"label": f"neuron {j + 1}", "x": np.arange(1, r["steps"] + 1), "y": r["grads"][:, j]}
                           for j in range(r["neurons"])]) for r in rows]
    fig = figures.lines(panels, "Gradient norms of first-hidden-layer neurons, first iterations", "iteration",
                        "L2 norm of the neuron's weight gradient")
    table = [{"run_id": r["run_id"], "run": r["name"], "spread": r["spread"], "mean": r["mean"]} for r in rows]
    series_log = {f"neuron_grad/{r['name']}/neuron {j + 1}": r["grads"][:, j]
                  for r in rows for j in range(r["neurons"])}
    return Drawing({"neuron_grads": fig}, {"spread": table}, series_log)
