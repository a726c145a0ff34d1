"""2.6: mean squared error against cross-entropy, same network, per optimizer: which converges faster."""
from typing import NamedTuple

from .. import figures
from .. import panels as p
from .. import queries as q
from ..findings import Findings, label
from ..section import Drawing, SectionSpec

SWEEP = "losses"
SPEC = SectionSpec("2.6", "Mean squared error vs cross-entropy",
                   "Which loss, mean squared error or cross-entropy, converges faster, by how much, and why?",
                   sweep=SWEEP, panels=(p.Grid(p.sweep(SWEEP), (p.Curves("training loss per epoch (each loss on its "
                                                                          "own scale)"),)), p.REPORT_RUN_GRID))
KEYS = ("loss", "optimizer")  # what names a run
LOSSES = ("cross_entropy", "mean_squared_error")

LEAD_CROSS_ENTROPY = "Cross-entropy converges faster than mean squared error, with every optimizer tried."
WHY_CROSS_ENTROPY = (
    "With softmax outputs, cross-entropy's gradient with respect to the logits is just the predicted "
    "probabilities minus the one-hot target, as large as the error itself. Mean squared error multiplies that "
    "error by the softmax's own slope, which is small exactly when the network is confidently wrong, and its "
    "penalty for a wrong class is bounded while cross-entropy's grows without limit as the true class's "
    "probability goes to zero. So cross-entropy pushes hardest where the model is most wrong, and MSE learns "
    "slowly from its worst mistakes.")
LEAD_LOSS_MIXED = ("Not with every optimizer: cross-entropy does not converge faster than mean squared error in "
                   "every pair.")
MSE_NOT_SLOWER = (
    "That disagrees with the textbook expectation for every optimizer here: cross-entropy's gradient, the "
    "predicted probabilities minus the target, should push harder than MSE's, which the softmax's slope "
    "shrinks when the network is confidently wrong. An adaptive optimizer rescales the gradient per weight, "
    "which can erase much of that difference.")


class Pair(NamedTuple):
    """One optimizer's two runs, cross-entropy and MSE: the lower of their final validation accuracies (the
    target), and for each run the epoch it first reached the target, its first and its last accuracy."""

    optimizer: str
    target: float
    ce: dict  # {reached, first, last}
    mse: dict


class Facts(NamedTuple):
    sweep: str
    counts: dict  # {status: runs}
    runs: list  # every evaluated run
    curves: list  # each run's train_loss and val_acc per epoch (queries.curves)
    pairs: list  # one Pair per optimizer that has both losses, by optimizer name


def facts(inputs):
    runs = q.evaluated(inputs.store, SWEEP)
    curves = q.curves(inputs.store, runs, ("train_loss", "val_acc"))
    by_run = {run["id"]: curve for run, curve in zip(runs, curves)}
    pairs = []
    for optimizer in sorted({r["config"]["optimizer"] for r in runs}):
        pair = {r["config"]["loss"]: by_run[r["id"]] for r in runs if r["config"]["optimizer"] == optimizer}
        if set(pair) != set(LOSSES):
            continue
        target = min(pair[loss]["val_acc"][-1] for loss in LOSSES)
        ce, mse = ({"reached": next(e for e, v in zip(c["epoch"], c["val_acc"]) if v >= target),
                    "first": c["val_acc"][0], "last": c["val_acc"][-1]} for c in (pair[loss] for loss in LOSSES))
        pairs.append(Pair(optimizer, target, ce, mse))
    return Facts(SWEEP, q.status_counts(inputs.store, SWEEP), runs, curves, pairs)


def say(facts):
    notes, faster_each = Findings(), []
    notes.census(facts.sweep, facts.counts)
    for pair in facts.pairs:
        ce, mse = pair.ce, pair.mse
        faster_each.append((ce["reached"], ce["first"]) < (mse["reached"], mse["first"]))
        notes.add("With {optimizer}, cross-entropy reached validation accuracy {target} (the lower of the two final "
                  "accuracies) at epoch {ce_epoch}, mean squared error at epoch {mse_epoch}; after the first epoch "
                  "they stood at {ce_first} and {mse_first}, after the last at {ce_last} and {mse_last}.",
                  prefix=pair.optimizer, optimizer=pair.optimizer, target=pair.target, ce_epoch=ce["reached"],
                  mse_epoch=mse["reached"], ce_first=ce["first"], mse_first=mse["first"], ce_last=ce["last"],
                  mse_last=mse["last"])
    if faster_each and all(faster_each):
        notes.lead(LEAD_CROSS_ENTROPY)
        notes.add(WHY_CROSS_ENTROPY)
    elif faster_each:
        notes.lead(LEAD_LOSS_MIXED)
        notes.add(MSE_NOT_SLOWER)
    for run in facts.runs:
        notes.detail("{name}: validation accuracy {val_acc} after {epochs} epochs (test accuracy {test_acc}).",
                     prefix=f"run{run['id']}", name=label(run["config"], KEYS), val_acc=run["val_acc"],
                     epochs=run["epochs_done"], test_acc=run["test_acc"])
    return notes


def draw(facts):
    def lines(metric):
        return [("", figures.epoch_series(facts.runs, facts.curves, metric, KEYS))]

    figs = {"train_loss": figures.lines(lines("train_loss"), "Training loss: mean squared error vs cross-entropy",
                                        "epoch", "training loss (each on its own scale)", log_y=True),
            "val_acc": figures.lines(lines("val_acc"), "Validation accuracy: mean squared error vs cross-entropy",
                                     "epoch", "validation accuracy")}
    table = [{"run_id": r["id"], "loss": r["config"]["loss"], "optimizer": r["config"]["optimizer"],
              "val_acc": r["val_acc"], "test_acc": r["test_acc"]} for r in facts.runs]
    return Drawing(figs, {"final": table})
