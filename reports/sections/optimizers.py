"""2.3: the six optimizers on one network over the first epochs."""
from typing import NamedTuple

from mlp.optimizers import OPTIMIZERS

from .. import figures
from .. import panels as p
from .. import queries as q
from ..findings import Findings, label
from ..section import Drawing, SectionSpec

SWEEP = "optimizers"
SPEC = SectionSpec("2.3", "Optimizers over the first epochs",
                   "Which optimizer converges fastest over the first epochs on the same network, and why?",
                   sweep=SWEEP, panels=(p.Grid(p.sweep(SWEEP), (p.Curves(),)), p.REPORT_RUN_GRID))
FIRST_EPOCHS = 5  # the optimizers are compared over this many epochs
KEYS = ("optimizer", "learning_rate")  # what names a run in the figures

WHY_FAST = {  # by the fastest optimizer's ``adaptive`` (mlp.optimizers)
    True: "Adaptive methods divide each weight's step by a running average of its own squared gradients, so "
          "weights whose gradients are small (rarely lit border pixels, the layers far from the output) still "
          "move at a useful rate and one learning rate suits every layer; Adam and Nadam also average the "
          "direction like momentum does, and Nadam takes the step momentum is about to make. Plain SGD "
          "multiplies the raw gradient by one global rate, so it crawls along the flat directions of the loss.",
    False: "Momentum methods add up past gradients, so steps grow along directions the gradient keeps pointing "
           "to and cancel where it oscillates; here that beat the adaptive methods, whose per-weight scaling "
           "did not help this well-conditioned problem at these learning rates.",
}


class Facts(NamedTuple):
    sweep: str
    counts: dict  # {status: runs}
    race: list  # each optimizer at its better learning rate, lowest training loss after FIRST_EPOCHS first
    network: str  # the one network they all train, named
    runs: list  # every evaluated run
    curves: list  # each run's train_loss and val_acc per epoch over the first epochs (queries.curves)


def facts(inputs):
    runs = q.evaluated(inputs.store, SWEEP)
    curves = q.curves(inputs.store, runs, ("train_loss", "val_acc"), FIRST_EPOCHS)
    best = {}
    for run, curve in zip(runs, curves):
        row = {"optimizer": run["config"]["optimizer"], "learning_rate": run["config"]["learning_rate"],
               "epoch": curve["epoch"][-1], "loss": curve["train_loss"][-1], "first_loss": curve["train_loss"][0],
               "run_id": run["id"]}
        if row["optimizer"] not in best or row["loss"] < best[row["optimizer"]]["loss"]:
            best[row["optimizer"]] = row
    return Facts(SWEEP, q.status_counts(inputs.store, SWEEP), sorted(best.values(), key=lambda r: r["loss"]),
                 label(runs[0]["config"], ("num_layers", "hidden_size", "activation")), runs, curves)


def say(facts):
    notes, race = Findings(), facts.race
    notes.census(facts.sweep, facts.counts)
    fastest, slowest = race[0], race[-1]
    notes.add("Over the first {epoch} epochs {optimizer} converged fastest: at its better learning rate, {lr}, its "
              "training loss was {first_loss} after the first epoch and {loss} after epoch {epoch}, ahead of "
              "{second} at {second_loss}.", prefix="fastest", epoch=fastest["epoch"], optimizer=fastest["optimizer"],
              lr=fastest["learning_rate"], first_loss=fastest["first_loss"], loss=fastest["loss"],
              second=race[1]["optimizer"], second_loss=race[1]["loss"])
    notes.add("The slowest, {optimizer} (learning rate {lr}), ended epoch {epoch} at {loss}; the full ranking by "
              "training loss after epoch {epoch}, each optimizer at its better learning rate: {ranking}.",
              prefix="slowest", optimizer=slowest["optimizer"], lr=slowest["learning_rate"], epoch=slowest["epoch"],
              loss=slowest["loss"], ranking=[(r["optimizer"], r["loss"]) for r in race])
    notes.lead("{optimizer} converges fastest over the first epochs, and {slowest} slowest.", prefix="fastest",
               optimizer=fastest["optimizer"], slowest=slowest["optimizer"])
    notes.add(WHY_FAST[OPTIMIZERS[fastest["optimizer"]].adaptive])
    for r in race:
        notes.detail("{optimizer} at learning rate {lr}: training loss {first_loss} after the first epoch, {loss} "
                     "after epoch {epoch} (run {run_id}).", prefix=f"run{r['run_id']}", optimizer=r["optimizer"],
                     lr=r["learning_rate"], first_loss=r["first_loss"], loss=r["loss"], epoch=r["epoch"],
                     run_id=r["run_id"])
    return notes


def draw(facts):
    def lines(metric):
        return [("", figures.epoch_series(facts.runs, facts.curves, metric, KEYS))]

    figs = {"train_loss": figures.lines(lines("train_loss"), f"Training loss of each optimizer, {facts.network}",
                                        "epoch", "training loss (mean over the epoch)", log_y=True),
            "val_acc": figures.lines(lines("val_acc"), f"Validation accuracy of each optimizer, {facts.network}",
                                     "epoch", "validation accuracy")}
    return Drawing(figs, {"race": facts.race})
