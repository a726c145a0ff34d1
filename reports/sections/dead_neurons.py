"""2.5: activation distributions, dead neurons and gradients, ReLU at a high learning rate against tanh."""
from typing import NamedTuple

import numpy as np

from mlp.activations import SATURATED

from .. import figures
from .. import panels as p
from .. import queries as q
from ..findings import Findings, label
from ..section import Drawing, SectionSpec

SWEEP = "dead_neurons"
SPEC = SectionSpec("2.5", "Activations and dead neurons",
                   "At a high learning rate, does a ReLU network lose neurons for good, and how do its activations "
                   "and gradients differ from tanh's?", sweep=SWEEP,
                   probes=("dead", "widths", "grad_norms", "act_hist", "act_edges"),
                   panels=(p.Grid(p.sweep(SWEEP), (p.Curves(),)),
                           p.report_run(p.Series("hidden layers' gradient norm per step", log_y=True))))
DEAD_MANY = 0.25  # a dead fraction from which the dead neurons explain a stall

LEAD_DEAD = ("Yes: at this high learning rate a ReLU network loses most of its neurons for good and stops learning, "
             "with its activations piled at zero and no gradient left in its layers; tanh's neurons saturate at plus "
             "or minus one instead.")
LEAD_NOT_DEAD = ("No: at this high learning rate the ReLU network stalls, but few of its neurons die; what differs "
                 "from tanh is where the activations pile up, not whether the units pass gradient back.")
DEAD_RELU = (
    "A large step can push a ReLU unit's weights and bias so far that its input is negative for every image; "
    "from then on its output and its slope are zero, no gradient reaches its weights, and nothing can revive it. "
    "The gradients show it: the layers with the most dead units receive the least gradient, and a network whose "
    "units have mostly died stops learning.")
TANH_RECOVERS = (
    "A tanh unit that overshoots saturates instead; its slope becomes small but never exactly zero and its output "
    "still carries a sign, so it keeps learning, if slowly.")
TANH_SATURATED = (
    "Tanh fared no better here: the same steps drove its units to plus or minus one on every image, where its "
    "slope is almost zero, so it stalled too, by saturation rather than death. The difference is one of degree: "
    "a saturated tanh unit's slope is tiny but not exactly zero, so it can in principle recover, while a dead ReLU "
    "unit cannot. The culprit is the size of the steps: the other runs at the same learning rate, with another "
    "optimizer, keep their units and train well ({others}).")
NO_DEAD_RELU = (
    "The textbook failure, ReLU units pushed by a large step to output zero on every input, is not what stalled "
    "this run: few of its units are dead. A ReLU unit with zero output also has zero slope and gets no gradient, "
    "which is why dead units never recover, but here the plateau comes from the size of the steps themselves, "
    "which throw the weights back and forth across the minimum.")


class Facts(NamedTuple):
    sweep: str
    counts: dict  # {status: runs}
    # Per run: its name, activation histograms per hidden layer, dead neurons (by its activation's dead_when)
    # per layer and as fractions, the validation curve, and each hidden layer's gradient norms at every step
    # and their median over the last epoch's steps.
    rows: list
    stalled: dict  # the ReLU run with the lowest validation accuracy
    partner: dict  # the tanh run with the stalled run's optimizer (None without one)
    saturated: float  # beyond plus or minus this a tanh unit counts as saturated


def facts(inputs):
    rows = []
    for run in q.evaluated(inputs.store, SWEEP):
        arrays = q.probe(inputs.store, run, SPEC.probes)
        dead, widths = arrays["dead"].tolist(), arrays["widths"].tolist()
        norms = arrays["grad_norms"]
        last_epoch = norms[-(len(norms) // run["epochs_done"]):]
        _, val_curve = q.curve(inputs.store, run["id"], "val_acc")
        rows.append({"run_id": run["id"], "config": run["config"], "val_acc": run["val_acc"],
                     "name": label(run["config"], ("activation", "optimizer", "learning_rate")),
                     "val_curve": val_curve, "hist": arrays["act_hist"], "edges": arrays["act_edges"], "dead": dead,
                     "widths": widths, "fractions": [d / w for d, w in zip(dead, widths)],
                     "n_images": int(arrays["act_hist"][0].sum() // widths[0]), "norms": norms,
                     "last_grads": np.median(last_epoch, axis=0).tolist()})
    relus = [r for r in rows if r["config"]["activation"] == "relu"]
    if not relus:
        raise q.SectionError(f"sweep {SWEEP} has no relu run; `make report-2.5` trains them")
    stalled = min(relus, key=lambda r: (r["val_acc"], r["run_id"]))
    partner = next((r for r in rows if r["config"]["activation"] == "tanh"
                    and r["config"]["optimizer"] == stalled["config"]["optimizer"]), None)
    return Facts(SWEEP, q.status_counts(inputs.store, SWEEP), rows, stalled, partner, SATURATED)


def say(facts):
    notes, rows, stalled, partner = Findings(), facts.rows, facts.stalled, facts.partner
    notes.census(facts.sweep, facts.counts)
    notes.add("A ReLU neuron counts as dead when it outputs zero on every one of the {n_images} validation images "
              "probed after training; a tanh neuron when its output is beyond plus or minus {saturated} on every "
              "one of them (saturated, slope below {slope}). Either way it passes no gradient back.",
              n_images=rows[0]["n_images"], saturated=facts.saturated, slope=float(1 - facts.saturated ** 2))
    notes.add("The ReLU run that stalled worst, {name}, reached validation accuracy {val_acc} (per epoch: {curve}); "
              "the fraction of dead neurons in its hidden layers is {fractions}, and over its last epoch the median "
              "weight-gradient norm of those layers was {grads}.", prefix="relu", name=stalled["name"],
              val_acc=stalled["val_acc"], curve=stalled["val_curve"], fractions=stalled["fractions"],
              grads=stalled["last_grads"])
    if partner is not None:
        notes.add("With tanh instead, {name} reached {val_acc} with dead fractions {fractions} and gradient norms "
                  "{grads}.", prefix="tanh", name=partner["name"], val_acc=partner["val_acc"],
                  fractions=partner["fractions"], grads=partner["last_grads"])
    dead_many = max(stalled["fractions"]) >= DEAD_MANY
    notes.lead(LEAD_DEAD if dead_many else LEAD_NOT_DEAD)
    notes.add(DEAD_RELU if dead_many else NO_DEAD_RELU)
    if partner is not None and max(partner["fractions"]) >= DEAD_MANY:
        others = [r for r in rows if r["config"]["optimizer"] != stalled["config"]["optimizer"]]
        notes.add(TANH_SATURATED, prefix="others", others=[(r["name"], r["val_acc"]) for r in others])
    elif partner is not None:
        notes.add(TANH_RECOVERS)
    for r in rows:
        notes.detail("{name}: dead fraction per hidden layer {fractions} ({dead} neurons); last-epoch gradient norms "
                     "{grads}; validation accuracy {val_acc}.", prefix=f"run{r['run_id']}", name=r["name"],
                     fractions=r["fractions"], dead=r["dead"], grads=r["last_grads"], val_acc=r["val_acc"])
    return notes


def draw(facts):
    rows = facts.rows
    panels = [(r["name"], [{"label": f"layer {i + 1}", "x": (r["edges"][:-1] + r["edges"][1:]) / 2, "y": h}
                           for i, h in enumerate(r["hist"])]) for r in rows]
    n_layers = max(len(r["fractions"]) for r in rows)
    by_layer = {f"layer {i + 1}": [r["fractions"][i] if i < len(r["fractions"]) else 0.0 for r in rows]
                for i in range(n_layers)}
    shown = [r for r in (facts.stalled, facts.partner) if r is not None]
    grad_panels = [(r["name"], [{"label": f"layer {i + 1}", "x": np.arange(1, len(r["norms"]) + 1),
                                 "y": r["norms"][:, i]} for i in range(r["norms"].shape[1])]) for r in shown]
    figs = {"activations": figures.lines(panels, "Hidden-layer activations on validation images after training",
                                         "activation value", "count", log_y=True),
            "dead_neurons": figures.bars([r["name"] for r in rows], by_layer, "Dead neurons per hidden layer",
                                         "run", "fraction of the layer's neurons dead"),
            "grad_norms": figures.lines(grad_panels, "Weight-gradient norm of each hidden layer during training",
                                        "step", "L2 norm", log_y=True, smooth=figures.GRADIENT_SMOOTHING)}
    table = [{"run_id": r["run_id"], "run": r["name"], "layer": i + 1, "dead": d, "width": w,
              "last_epoch_grad_norm": g}
             for r in rows for i, (d, w, g) in enumerate(zip(r["dead"], r["widths"], r["last_grads"]))]
    series_log = {f"grad_norm/{r['name']}/layer {i + 1}": r["norms"][:, i]
                  for r in shown for i in range(r["norms"].shape[1])}
    return Drawing(figs, {"dead_neurons": table}, series_log)
