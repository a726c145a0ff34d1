"""2.2: the search, as parallel coordinates coloured by validation accuracy, what mattered most, and how the
search spent its epochs."""
from typing import NamedTuple

from store import FINAL, Status

from .. import figures
from .. import queries as q
from .. import panels as p
from ..findings import Findings, describe
from ..section import Drawing, SectionSpec

SWEEP = "search"
SPEC = SectionSpec(
    "2.2", "Hyperparameter search",
    "Which hyperparameter matters most for validation accuracy, and which configuration is best?", sweep=SWEEP,
    panels=(p.Grid(p.sweep(SWEEP), (
        p.ParallelCoordinates("search runs coloured by validation accuracy",
                              ("num_layers", "hidden_size", "optimizer", "learning_rate", "weight_decay",
                               "batch_size", "weight_init", "activation", "lr_schedule", "augment", "epochs")),
        p.Importance())), p.REPORT_RUN_GRID))
N_TOP = 10  # best search runs whose common choices are named
PROFILE_KEYS = ("optimizer", "activation", "weight_init", "num_layers", "hidden_size", "batch_size")
# How each recorded reason (the store's ``proposal``) reads in the report, by its opening words.
PROPOSED_BY = (("default:", "the trainer's default configuration, tried first"),
               ("model:", "the search's model of the runs before it"),
               ("promoted:", "promotion of the best third of a budget's runs to the next budget"),
               ("random start", "random draws before the model had runs to learn from"),
               ("a plain draw", "random draws between the model's proposals"),
               ("random:", "the sweep's random expansion"),
               ("grid:", "the sweep's grid"))
UNRECORDED = "choices the store does not record"

# Why the most important hyperparameter matters, by its name.
WHY_IMPORTANT = {
    "learning_rate": "The learning rate sets the size of every step: too small and a few epochs end far from a "
                     "minimum, too large and the loss jumps out of the valley or kills ReLU units (see the "
                     "dead-neuron section). Its good range also depends on the optimizer: adaptive methods want "
                     "small rates, plain SGD larger ones.",
    "optimizer": "The optimizer decides how a gradient becomes a step; with a learning rate drawn over three "
                 "decades, plain SGD barely moves in a few epochs where the adaptive methods, which scale every "
                 "weight's step by its own gradient history, make steady progress at any rate in the range.",
    "activation": "Sigmoid saturates and passes at most a quarter of the gradient through each layer, so deep "
                  "sigmoid networks learn slowly in a few epochs; ReLU passes the gradient unchanged wherever a "
                  "unit is active.",
    "num_layers": "Depth sets how far the gradient must travel: in a few epochs deep networks, especially with "
                  "saturating activations, are still learning when shallow ones have converged.",
    "hidden_size": "Width sets the capacity of each layer: narrow layers cannot hold enough features for the "
                   "harder digits.",
    "batch_size": "The batch size sets how many steps an epoch takes: small batches make many more, noisier "
                  "updates in the same number of epochs, which over a short budget is usually a win.",
    "weight_init": "The initialisation decides whether the signal survives the first passes: tiny random "
                   "weights shrink activations and gradients layer by layer, while Xavier keeps their scale.",
    "weight_decay": "Weight decay pulls every weight towards zero each step: a strong decay fights the data "
                    "term and lowers accuracy over a short budget.",
    "epochs": "More epochs are more steps, and with a schedule that spans the run, a slower and longer descent: "
              "the longest budget is where the best runs end.",
    "lr_schedule": "A cosine schedule ends each run at a hundredth of its learning rate, so its last epochs settle "
                   "into a minimum instead of bouncing around it, as a constant rate keeps doing.",
    "augment": "Shifting the training images by a pixel or two shows the network digits where it has not seen them "
               "before: it cannot memorise pixel positions, so it overfits later and generalises better.",
}
WHY_UNWRITTEN = ("No explanation of this hyperparameter is written here yet; the parallel-coordinates figure shows "
                 "which of its values the best runs share.")  # an option added to the space after these were written


class Story(NamedTuple):
    """How a search spent its training."""

    runs: int  # its final runs
    epochs: int  # the epochs they trained
    proposed: list  # [(how, runs)] in PROPOSED_BY's order, runs with no recorded reason last
    stopped: int  # runs early termination stopped
    rungs: list  # [("epoch e", runs stopped there)]
    budgets: list  # [("e epochs", runs)] of a search whose budgets are runs (some promoted), else []


class Facts(NamedTuple):
    sweep: str
    counts: dict  # {status: runs}
    n_evaluated: int
    table: dict  # queries.sweep_table: the varying hyperparameters, encoded per run
    importance: list  # queries.hyperparameter_importance rows, most important first
    best: dict  # the best run by validation accuracy
    story: Story
    profile: list  # [{parameter, value, count, of}] the commonest choices among the N_TOP best runs


def facts(inputs):
    store = inputs.store
    runs = q.evaluated(store, SWEEP)
    table = q.sweep_table(store, SWEEP)
    best = q.best_run(store, "val_acc", dataset=None, sweep=SWEEP)
    if len(runs) < 2 or not table["names"] or best is None:
        raise q.SectionError(f"sweep {SWEEP} needs a finished run and at least 2 evaluated runs that differ; "
                             "`make report-2.2` trains them")
    return Facts(SWEEP, q.status_counts(store, SWEEP), len(runs), table, q.hyperparameter_importance(store, SWEEP),
                 best, story(store, SWEEP), top_profile(runs, [k for k in PROFILE_KEYS if k in table["names"]]))


def story(store, sweep):
    runs = store.runs(sweep=sweep, status=FINAL)
    kinds = [next((how for start, how in PROPOSED_BY if (r["proposal"] or "").startswith(start)), UNRECORDED)
             for r in runs]
    order = [how for _, how in PROPOSED_BY] + [UNRECORDED]
    stopped = [r["epochs_done"] for r in runs if r["status"] == Status.STOPPED]
    budgets = [r["config"]["epochs"] for r in runs] if any(r["promoted_from"] for r in runs) else []
    return Story(len(runs), sum(r["epochs_done"] or 0 for r in runs),
                 [(how, kinds.count(how)) for how in order if how in kinds], len(stopped),
                 [(f"epoch {e}", stopped.count(e)) for e in sorted(set(stopped))],
                 [(f"{e} epochs", budgets.count(e)) for e in sorted(set(budgets))])


def top_profile(runs, keys, metric="val_acc"):
    """Among the ``N_TOP`` best ``runs`` by ``metric``: for each of ``keys`` its commonest value and how many of
    them have it (ties: the value sorted first)."""
    top = sorted((r for r in runs if r[metric] is not None), key=lambda r: (-r[metric], r["id"]))[:N_TOP]
    rows = []
    for key in keys:
        values = [str(q.scalar(r["config"][key])) for r in top]
        value = min(set(values), key=lambda v: (-values.count(v), v))
        rows.append({"parameter": key, "value": value, "count": values.count(value), "of": len(top)})
    return rows


def say(facts):
    notes = Findings()
    notes.census(facts.sweep, facts.counts)
    importance, best, story = facts.importance, facts.best, facts.story
    top = importance[0]
    notes.add("Of the hyperparameters, {parameter} matters most for validation accuracy, ahead of {second_parameter}. "
              "The measure: a random forest fitted to predict each run's validation accuracy from its {k} varying "
              "hyperparameters "
              "explains {importance} less of the runs' spread in validation accuracy (its R squared drops by that "
              "much, out of at most one) when {parameter} is shuffled across the runs, and {second} less when "
              "{second_parameter} is (permutation importance).", prefix="importance",
              parameter=top["parameter"], k=len(importance), importance=top["importance"],
              second=importance[1]["importance"] if len(importance) > 1 else 0.0,
              second_parameter=importance[1]["parameter"] if len(importance) > 1 else "none")
    notes.add("The best configuration of the {n} evaluated runs (finished, or stopped early) is run "
              "{run_id}, at validation accuracy {val_acc}: {config}.", prefix="best", n=facts.n_evaluated,
              val_acc=best["val_acc"], run_id=best["id"], config=describe(best["config"]))
    if story.budgets:
        notes.add("The search trained {epochs} epochs over {runs} runs, which came from {proposed}. Each budget was "
                  "a run of its own, its learning-rate schedule spanning it, and runs were ranked only against runs "
                  "of the same budget, so none was stopped midway: its runs by budget were {budgets}.", prefix="how",
                  epochs=story.epochs, runs=story.runs, proposed=story.proposed, budgets=story.budgets)
    else:
        notes.add("The search trained {epochs} epochs over {runs} runs, which came from {proposed}; early "
                  "termination stopped {stopped} of them, at {rungs}.", prefix="how", epochs=story.epochs,
                  runs=story.runs, proposed=story.proposed, stopped=story.stopped, rungs=story.rungs or "no epoch")
    notes.add("Among the {n} best runs the commonest choices are {profile}.", prefix="top", n=facts.profile[0]["of"],
              profile=[(f"{r['parameter']} {r['value']}", f"{r['count']} of {r['of']}") for r in facts.profile])
    notes.add(WHY_IMPORTANT.get(top["parameter"], WHY_UNWRITTEN))
    notes.detail("Permutation importance of every varying hyperparameter: {ranking}.", prefix="ranking",
                 ranking=[(r["parameter"], r["importance"]) for r in importance])
    return notes


def draw(facts):
    table, importance = facts.table, facts.importance
    columns = {**table["columns"], "val_acc": q.axis_values(table["val_acc"])}
    name = "permutation importance"
    figs = {
        "parallel_coordinates": figures.parallel_coordinates(
            columns, table["val_acc"], f"Sweep {facts.sweep}: {facts.n_evaluated} runs coloured by validation "
                                       "accuracy", "validation accuracy"),
        "importance": figures.bars(
            [r["parameter"] for r in importance], {name: [r["importance"] for r in importance]},
            "Hyperparameter importance for validation accuracy (random forest)", "hyperparameter",
            "mean score drop when shuffled", errors={name: [r["std"] for r in importance]}),
    }
    return Drawing(figs, {"parallel_coordinates_input": table["rows"], "importance": importance})
