"""2.4: how much gradient reaches the first hidden layer, sigmoid against ReLU, at several depths."""
from typing import NamedTuple

import numpy as np

from mlp.activations import sigmoid, sigmoid_backward

from .. import figures
from .. import panels as p
from .. import queries as q
from ..findings import Findings
from ..section import Drawing, SectionSpec

SWEEP = "gradients"
SPEC = SectionSpec("2.4", "Vanishing gradients: sigmoid vs ReLU",
                   "With Adam, do sigmoid networks suffer vanishing gradients that ReLU networks do not, and how "
                   "does depth change that?", sweep=SWEEP, probes=("grad_norms",),
                   panels=(p.report_run(p.Series("first hidden layer's gradient norm per step", log_y=True)),))
EARLY_STEPS = 100  # "early in training" for the gradient-norm ratio

LEAD_VANISHING = ("Yes: in sigmoid networks less and less gradient reaches the layers near the input, the more so "
                  "the deeper the network, while ReLU networks pass it back almost whole; Adam keeps even the "
                  "deepest sigmoid network training.")
LEAD_NOT_VANISHING = ("Not in this measurement: the gradient reaching a sigmoid network's first layer does not fall "
                      "behind ReLU's as depth grows.")
VANISHING = (
    "Backpropagation multiplies the error by the activation's slope once per layer; "
    "sigmoid's slope is at most {max_slope}, so every sigmoid layer cuts the signal, while ReLU's slope is one "
    "wherever a unit is active. Adam hides much of the cost: it divides each weight's step by the size of that "
    "weight's own recent gradients, so the first layer still takes normal-sized steps, which is why even the "
    "deepest sigmoid network here trains (validation accuracy {sigmoid_acc} against ReLU's {relu_acc}).")
NOT_VANISHING = (
    "So the textbook effect does not show: sigmoid's first-to-last ratio does not fall below ReLU's as depth grows. "
    "Backpropagation multiplies the error by the activation's slope once per layer and "
    "sigmoid's slope is at most {max_slope}, but the weights also multiply it, and at these depths and widths "
    "the sum over many units makes up for the small slopes; Adam, which scales each weight's step by its own "
    "gradient size, would hide the effect on learning anyway (validation accuracy {sigmoid_acc} against ReLU's "
    "{relu_acc} at the greatest depth).")


class Facts(NamedTuple):
    sweep: str
    counts: dict  # {status: runs}
    # Per run, by activation then depth: each hidden layer's weight-gradient norm at every step (norms: steps x
    # layers); over the first EARLY_STEPS steps the medians of the first and the last hidden layer's norm and of
    # their ratio (first / last: below 1 when less gradient reaches the layer nearest the input); late_ratio the
    # same ratio over the last EARLY_STEPS steps; and the run's validation accuracy.
    rows: list
    max_slope: float  # sigmoid's largest slope


def facts(inputs):
    rows = []
    for run in q.evaluated(inputs.store, SWEEP):
        norms = q.probe(inputs.store, run, SPEC.probes)["grad_norms"]
        early, late = norms[:EARLY_STEPS], norms[-EARLY_STEPS:]
        rows.append({"run_id": run["id"], "activation": run["config"]["activation"],
                     "num_layers": run["config"]["num_layers"], "norms": norms, "steps": len(norms),
                     "early_steps": len(early), "first": float(np.median(early[:, 0])),
                     "last": float(np.median(early[:, -1])), "ratio": float(np.median(early[:, 0] / early[:, -1])),
                     "late_ratio": float(np.median(late[:, 0] / late[:, -1])), "val_acc": run["val_acc"]})
    if not any(r["activation"] == "sigmoid" for r in rows) or not any(r["activation"] == "relu" for r in rows):
        raise q.SectionError(f"sweep {SWEEP} needs sigmoid and relu runs; `make report-2.4` trains them")
    return Facts(SWEEP, q.status_counts(inputs.store, SWEEP), sorted(rows, key=lambda r: (r["activation"],
                                                                                          r["num_layers"])),
                 float(sigmoid_backward(np.ones(1), sigmoid(np.zeros(1)))[0]))


def _by_activation(rows):
    return {act: [r for r in rows if r["activation"] == act] for act in ("sigmoid", "relu")}


def say(facts):
    notes, rows = Findings(), facts.rows
    notes.census(facts.sweep, facts.counts)
    by = _by_activation(rows)
    notes.add("Early in training (the median over the first {steps} steps), the ratio of the first hidden layer's "
              "weight-gradient norm to the last hidden layer's is {sigmoid} for sigmoid at {depths} hidden "
              "layers, and {relu} for ReLU.", steps=rows[0]["early_steps"],
              depths=[r["num_layers"] for r in by["sigmoid"]], sigmoid=[r["ratio"] for r in by["sigmoid"]],
              relu=[r["ratio"] for r in by["relu"]])
    notes.add("The first layer's own norm is {sigmoid_first} with sigmoid against {relu_first} with ReLU at the same "
              "depths. Over the last {steps} of {total} steps sigmoid's ratio is {sigmoid_late}.", prefix="late",
              sigmoid_first=[r["first"] for r in by["sigmoid"]], relu_first=[r["first"] for r in by["relu"]],
              steps=rows[0]["early_steps"], total=rows[0]["steps"],
              sigmoid_late=[r["late_ratio"] for r in by["sigmoid"]])
    shallow, deep = by["sigmoid"][0], by["sigmoid"][-1]
    relu_deep = by["relu"][-1]
    vanishing = deep["ratio"] < shallow["ratio"] and deep["ratio"] < relu_deep["ratio"]
    notes.lead(LEAD_VANISHING if vanishing else LEAD_NOT_VANISHING)
    notes.add(VANISHING if vanishing else NOT_VANISHING, prefix="why", max_slope=facts.max_slope,
              sigmoid_acc=deep["val_acc"], relu_acc=relu_deep["val_acc"])
    for r in rows:
        notes.detail("{activation}, {layers} hidden layers: median norm over the first {steps} steps {first} at the "
                     "first hidden layer, {last} at the last (ratio {ratio}); validation accuracy {val_acc}.",
                     prefix=f"run{r['run_id']}", activation=r["activation"], layers=r["num_layers"],
                     steps=r["early_steps"], first=r["first"], last=r["last"], ratio=r["ratio"], val_acc=r["val_acc"])
    return notes


def draw(facts):
    rows, by = facts.rows, _by_activation(facts.rows)
    styles = figures.style_by([(r["activation"], r["num_layers"]) for r in rows])
    series = [{"label": f"{r['activation']}, {r['num_layers']} hidden layers", "x": np.arange(1, r["steps"] + 1),
               "y": r["norms"][:, 0], "style": s} for r, s in zip(rows, styles)]
    smooth = figures.GRADIENT_SMOOTHING
    figs = {"grad_norm": figures.lines([("", series)], f"First hidden layer's gradient norm ({smooth}-step moving "
                                       "average)", "step", "L2 norm of the weight gradient", log_y=True, smooth=smooth),
            "layer_ratio": figures.bars([str(r["num_layers"]) for r in by["sigmoid"]],
                                        {act: [r["ratio"] for r in by[act]] for act in by},
                                        f"First / last hidden layer gradient norm, first {rows[0]['early_steps']} "
                                        "steps", "hidden layers", "ratio of medians per step")}
    table = [{k: r[k] for k in ("run_id", "activation", "num_layers", "early_steps", "first", "last", "ratio")}
             for r in rows]
    series_log = {f"grad_norm_first_layer/{r['activation']}_{r['num_layers']}_layers": r["norms"][:, 0] for r in rows}
    return Drawing(figs, {"ratios": table}, series_log)
