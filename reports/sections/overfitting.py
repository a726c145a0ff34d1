"""2.7: train against test accuracy of every evaluated run in the store, overfitting ones marked."""
from typing import NamedTuple

import numpy as np

from .. import figures
from .. import panels as p
from .. import queries as q
from ..findings import Findings
from ..section import Drawing, SectionSpec

SPEC = SectionSpec("2.7", "Train vs test accuracy",
                   "Which runs overfit (train accuracy well above test accuracy), by how much, and what do they "
                   "share?", stage=4,  # it reads every run in the store: last
                   panels=(p.Grid(p.ALL_RUNS, (p.Scatter("train vs test accuracy of every run", "train_acc",
                                                         "test_acc"),)), p.REPORT_RUN_GRID))
OVERFIT_QUANTILE = 0.9  # a run overfits when its train-test gap is above this quantile of all gaps
N_WORST = 3  # overfitting runs named in the text

OVERFITTING = (
    "Training accuracy keeps rising as a network fits (and eventually memorises) its own training images, while "
    "test accuracy measures only what transfers to new ones; the gap between them is that memorisation.")
OVERFIT_LONGEST = (
    "The widest gaps belong to the runs trained longest: every extra epoch over the same images is more time to "
    "memorise them, which augmentation (shifted images) and weight decay slow down but do not stop. Most runs "
    "sit near the diagonal because a few epochs leave little time to memorise.")
OVERFIT_NOT_LONGEST = (
    "Here the widest gaps do not come from the longest runs, so training time alone does not explain them; the "
    "runs listed below show which configurations open them.")


class Facts(NamedTuple):
    quantile: float
    threshold: float  # the gaps' quantile
    runs: list  # [{run_id, sweep, train_acc, test_acc, gap, overfit}] of every scored run, largest gap first
    marked_epochs: float  # median epochs trained of the overfitting runs (None without any)
    other_epochs: float  # and of the others
    marked_sweeps: dict  # {sweep: overfitting runs}, most first


def facts(inputs):
    """Every scored run's train-test accuracy gap; runs above the gaps' OVERFIT_QUANTILE (and above 0) overfit."""
    runs = q.scored_runs(inputs.store)
    if not runs:
        raise q.SectionError(f"no evaluated runs in {inputs.store.path}; `make report` trains the sweeps")
    gaps = np.array([r["train_acc"] - r["test_acc"] for r in runs])
    threshold = float(np.quantile(gaps, OVERFIT_QUANTILE))
    marked = (gaps > threshold) & (gaps > 0)
    rows = [{"run_id": r["id"], "sweep": r["sweep"], "train_acc": r["train_acc"], "test_acc": r["test_acc"],
             "gap": float(g), "overfit": bool(m)} for r, g, m in zip(runs, gaps, marked)]
    epochs = np.array([r["epochs_done"] for r in runs])
    sweeps = {}
    for r in sorted((r for r, m in zip(runs, marked) if m), key=lambda r: r["sweep"]):
        sweeps[r["sweep"]] = sweeps.get(r["sweep"], 0) + 1
    return Facts(OVERFIT_QUANTILE, threshold, sorted(rows, key=lambda r: (-r["gap"], r["run_id"])),
                 float(np.median(epochs[marked])) if marked.any() else None,
                 float(np.median(epochs[~marked])) if (~marked).any() else None,
                 dict(sorted(sweeps.items(), key=lambda kv: (-kv[1], kv[0]))))


def say(facts):
    notes, rows = Findings(), facts.runs
    marked = [r for r in rows if r["overfit"]]
    notes.add("Across the store's {n} evaluated runs, the train-test accuracy gap's {quantile} quantile is "
              "{threshold}; the {n_marked} runs above it (and above zero) are marked as overfitting.",
              n=len(rows), quantile=facts.quantile, threshold=facts.threshold, n_marked=len(marked))
    if marked:
        worst = marked[0]
        notes.add("The largest gap is run {run_id} of sweep {sweep}: train accuracy {train_acc}, test accuracy "
                  "{test_acc}, gap {gap}. The marked runs trained for {marked_epochs} epochs at the median against "
                  "{other_epochs} for the others, and come from the sweeps {sweeps}.", prefix="worst",
                  run_id=worst["run_id"], sweep=worst["sweep"], train_acc=worst["train_acc"],
                  test_acc=worst["test_acc"], gap=worst["gap"], marked_epochs=facts.marked_epochs,
                  other_epochs=facts.other_epochs, sweeps=list(facts.marked_sweeps.items()))
    notes.add(OVERFITTING)
    longest = marked and facts.marked_epochs > facts.other_epochs
    if marked:
        notes.add(OVERFIT_LONGEST if longest else OVERFIT_NOT_LONGEST)
    notes.lead(("The runs that overfit are mostly the ones trained longest: " if longest else
                "Overfitting here is not a matter of training time alone: " if marked else
                "No run overfits by this measure: ") + "{n_marked} of the {n} runs stand out.",
               n=len(rows), n_marked=len(marked))
    for i, r in enumerate(marked[:N_WORST]):
        notes.detail("Run {run_id} ({sweep}): train accuracy {train_acc}, test accuracy {test_acc}, gap {gap}.",
                     prefix=f"worst{i + 1}", run_id=r["run_id"], sweep=r["sweep"], train_acc=r["train_acc"],
                     test_acc=r["test_acc"], gap=r["gap"])
    return notes


def draw(facts):
    rows = facts.runs
    fig = figures.scatter_marked([r["train_acc"] for r in rows], [r["test_acc"] for r in rows],
                                 [r["overfit"] for r in rows], f"Train vs test accuracy of {len(rows)} runs",
                                 "train accuracy", "test accuracy",
                                 f"overfitting: gap above its {facts.quantile} quantile", "other runs")
    return Drawing({"train_vs_test": fig}, {"gaps": rows})
