"""The ten analyses of SPEC section 7, one function each: train what the store lacks, query, draw, phrase.

A section writes nothing itself: it returns a Section (figures, findings,
tables) that build.make_report publishes and logs whole, so a section that
fails leaves no half-written part behind. The numbers in its sentences are
facts returned by reports.queries, kept beside the text.
"""
import numpy as np

from mlp.activations import SATURATED, sigmoid, sigmoid_backward
from mlp.data import CLASS_NAMES, DATASETS, load_dataset
from mlp.optimizers import OPTIMIZERS
from runner.sweep_file import expand
from store import StoreError, config_hash

from . import answers, figures
from . import queries as q
from .context import Findings, Section, SectionError, describe, label

PER_CLASS = 5  # sample images per class (2.1)
FIRST_EPOCHS = 5  # the optimizers are compared over this many epochs (2.3)
GRADIENT_SMOOTHING = 25  # steps in the moving average of gradient norms (2.4)
OVERFIT_QUANTILE = 0.9  # a run overfits when its train-test gap is above this quantile of all gaps (2.7)
N_WORST = 3  # overfitting runs named in the text (2.7)
GALLERY_COLUMNS, GALLERY_SIZE = 6, 12  # most confident mistakes shown (2.8)
N_PAIRS = 3  # most alike / most confused class pairs named (2.1, 2.8)
N_SIMILAR_SHOWN = 8  # class pairs drawn in the raw-similarity figure (2.1)
N_TOP = 10  # best search runs whose common choices are named (2.2)
PROFILE_KEYS = ("optimizer", "activation", "weight_init", "num_layers", "hidden_size", "batch_size")
EARLY_STEPS = 100  # "early in training" for the gradient-norm ratio (2.4)
DEAD_MANY = 0.25  # a dead fraction from which the dead neurons explain a stall (2.5)
N_FASHION = 3  # MNIST configurations retrained on Fashion-MNIST (2.10)
FASHION_SWEEP, FASHION_DATASET = "fashion", "fashion_mnist"
# 2.10's tie: 12 of the 6,000 validation images, far above the last-bit noise of float32 across CPUs.
TIE = 0.002
SIMPLEST = ("num_layers", "learning_rate", "weight_decay", "augment", "epochs")  # tied runs ordered by these
# How 2.10 adapts an MNIST configuration to clothing, chosen on Fashion-MNIST *validation* accuracy
# (docs/experiments.md).
FASHION_EPOCH_FACTOR = 5
FASHION_ADAPTATION = {"augment": 1, "flip": 0, "dropout": 0.0}


def census(notes, store, sweep):
    """The sentence counting a sweep's runs by status."""
    counts = q.status_counts(store, sweep)
    parts = ", ".join(f"{{{status}}} {status}" for status in counts)
    notes.detail("Sweep {sweep} holds {total} runs: " + parts + ".", prefix="runs", sweep=sweep,
              total=sum(counts.values()), **counts)


def open_sweep(ctx, name):
    """The common start of a sweep's section: train what sweeps/<name>.yaml lacks, then its evaluated
    runs, the store, the sweep's name, and findings that open with the sweep's census."""
    spec = ctx.spec(name)
    runs = ctx.scored(spec)
    notes = Findings()
    census(notes, ctx.store, spec["name"])
    return runs, ctx.store, spec["name"], notes


def epoch_series(store, runs, metric, keys, upto=None, names=None):
    """One series per run of a per-epoch metric, named by ``keys`` (or ``names``): colour by the first key,
    dash by the last."""
    styles = figures.style_by([(q.scalar(r["config"][keys[0]]), q.scalar(r["config"][keys[-1]])) for r in runs])
    names = names or [label(r["config"], keys) for r in runs]
    series = []
    for run, style, name in zip(runs, styles, names):
        x, y = q.curve(store, run["id"], metric, upto)
        series.append({"label": name, "x": x, "y": y, "style": style})
    return series


def _model_confusions(ctx, dataset):
    """The best finished ``dataset`` run's test confusions ranked by pair, or None without a store, a run or
    its weights."""
    try:
        store = ctx.store
        run = q.best_run(store, dataset=dataset)
        if run is None:
            return None
        weights = q.weights_file(store, run, ctx.weights_copies)
    except (StoreError, SectionError):
        return None
    return {"run": run, "pairs": q.ranked_pairs(q.confusions(run, weights, 0, ctx.data_dir)["matrix"])}


def pair_names(pairs, names, n):
    return [(f"{names[a]}–{names[b]}", score) for a, b, score in pairs[:n]]


def samples(ctx):
    """2.1: sample images of each class; which classes are alike in raw pixels, and the best models' confusions."""
    notes, figs, counts_table, similar_table, tops, overlaps, alike_names = Findings(), {}, [], [], {}, [], {}
    for dataset in DATASETS:
        data = q.class_samples(dataset, PER_CLASS, ctx.data_dir)
        names, counts = CLASS_NAMES[dataset], data["counts"]
        figs[f"samples_{dataset}"] = figures.image_grid(
            data["images"], f"{dataset}: the first {PER_CLASS} training images of each class",
            "sample", "class", row_labels=names)
        pairs = q.class_similarity(dataset, ctx.data_dir)
        tops[dataset] = pairs[0][2]
        alike_names[dataset] = [name for name, _ in pair_names(pairs, names, N_PAIRS)]
        notes.add("In {dataset} the class pairs most alike in raw pixels, by the share of their training images "
                  "lying nearer the other class's mean image, are {pairs}.", prefix=f"{dataset}.similar",
                  dataset=dataset, pairs=pair_names(pairs, names, N_PAIRS))
        model = _model_confusions(ctx, dataset)
        if model is not None:
            alike = {(a, b) for a, b, _ in pairs[:N_PAIRS]}
            confused = [(a, b, int(c)) for a, b, c in model["pairs"][:N_PAIRS]]
            overlaps.append(len(alike & {(a, b) for a, b, _ in confused}))
            notes.add("The best {dataset} model in the store (run {run_id}) most often confuses {confused} on the "
                      "test images (mistakes in both directions); {k} of its {n} most confused pairs are among the "
                      "{n} most alike.", prefix=f"{dataset}.model", dataset=dataset, run_id=model["run"]["id"],
                      confused=pair_names(confused, names, N_PAIRS), k=overlaps[-1], n=N_PAIRS)
        low, high = int(np.argmin(counts)), int(np.argmax(counts))
        notes.detail("{dataset}: the first {per_class} training images of each of its {classes} classes, from a "
                     "training split of {n} images.", prefix=dataset, dataset=dataset, per_class=PER_CLASS,
                     classes=len(names), n=sum(counts))
        if counts[low] == counts[high]:
            notes.detail("Every class of {dataset} has {count} training images.", prefix=f"{dataset}.balanced",
                         dataset=dataset, count=counts[low])
        else:
            notes.detail("The rarest class of {dataset} is {low_class} with {low} training images, the commonest "
                         "{high_class} with {high}.", prefix=f"{dataset}.range", dataset=dataset,
                         low_class=names[low], low=counts[low], high_class=names[high], high=counts[high])
        counts_table += [{"dataset": dataset, "class": n, "images": c} for n, c in zip(names, counts)]
        similar_table += [{"dataset": dataset, "pair": f"{names[a]}–{names[b]}", "score": v} for a, b, v in pairs]
        figs[f"similar_{dataset}"] = figures.bars(
            [name for name, _ in pair_names(pairs, names, N_SIMILAR_SHOWN)],
            {"raw similarity": [v for _, _, v in pairs[:N_SIMILAR_SHOWN]]},
            f"{dataset}: class pairs most alike in raw pixels", "class pair",
            "share nearer the other class's mean image")
    notes.lead("The classes most alike in raw pixels are {mnist} among the digits and {fashion_mnist} among the "
               "clothes" + ("; these are also the pairs the trained models confuse most." if overlaps and all(overlaps)
                            else "."), prefix="alike", **alike_names)
    if overlaps and all(overlaps):
        notes.add(answers.SIMILAR_AND_CONFUSED, prefix="why", fashion_top=tops["fashion_mnist"], mnist_top=tops["mnist"])
    elif overlaps:
        notes.add(answers.SIMILAR_NOT_CONFUSED)
    return Section("2.1", figs, notes,
                   {"class_counts": counts_table, "raw_similarity": similar_table})


def search(ctx):
    """2.2: the search, as parallel coordinates coloured by validation accuracy, what mattered most, and how the
    search spent its epochs."""
    runs, store, sweep, notes = open_sweep(ctx, "search")
    table = q.sweep_table(store, sweep)
    best = q.best_run(store, "val_acc", dataset=None, sweep=sweep)
    if len(runs) < 2 or not table["names"] or best is None:
        raise SectionError(f"sweep {sweep} needs a finished run and at least 2 evaluated runs that differ; "
                           "`make report-2.2` trains them")
    importance = q.hyperparameter_importance(store, sweep)
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
    notes.add("The best configuration of the {n} evaluated runs (finished, or stopped early by hyperband) is run "
              "{run_id}, at validation accuracy {val_acc}: {config}.", prefix="best", n=len(runs),
              val_acc=best["val_acc"], run_id=best["id"], config=describe(best["config"]))
    story = q.search_story(store, sweep)
    notes.add("The search trained {epochs} epochs over {runs} runs, which came from {proposed}; early termination "
              "stopped {stopped} of them, at {rungs}.", prefix="how", epochs=story["epochs"], runs=story["runs"],
              proposed=story["proposed"], stopped=story["stopped"], rungs=story["rungs"] or "no epoch")
    profile = q.top_profile(store, sweep, N_TOP, [k for k in PROFILE_KEYS if k in table["names"]])
    notes.add("Among the {n} best runs the commonest choices are {profile}.", prefix="top", n=profile[0]["of"],
              profile=[(f"{r['parameter']} {r['value']}", f"{r['count']} of {r['of']}") for r in profile])
    notes.add(answers.WHY_IMPORTANT[top["parameter"]])
    notes.detail("Permutation importance of every varying hyperparameter: {ranking}.", prefix="ranking",
                 ranking=[(r["parameter"], r["importance"]) for r in importance])
    columns = {**table["columns"], "val_acc": q.axis_values(table["val_acc"])}
    name = "permutation importance"
    figs = {
        "parallel_coordinates": figures.parallel_coordinates(
            columns, table["val_acc"], f"Sweep {sweep}: {len(runs)} runs coloured by validation accuracy",
            "validation accuracy"),
        "importance": figures.bars(
            [r["parameter"] for r in importance], {name: [r["importance"] for r in importance]},
            "Hyperparameter importance for validation accuracy (random forest)", "hyperparameter",
            "mean score drop when shuffled", errors={name: [r["std"] for r in importance]}),
    }
    return Section("2.2", figs, notes,
                   {"parallel_coordinates_input": table["rows"], "importance": importance})


def optimizers(ctx):
    """2.3: the six optimizers on one network over the first epochs."""
    runs, store, sweep, notes = open_sweep(ctx, "optimizers")
    race = q.optimizer_race(store, sweep, FIRST_EPOCHS)
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
    notes.add(answers.WHY_FAST[OPTIMIZERS[fastest["optimizer"]].adaptive])
    for r in race:
        notes.detail("{optimizer} at learning rate {lr}: training loss {first_loss} after the first epoch, {loss} "
                     "after epoch {epoch} (run {run_id}).", prefix=f"run{r['run_id']}", optimizer=r["optimizer"],
                     lr=r["learning_rate"], first_loss=r["first_loss"], loss=r["loss"], epoch=r["epoch"],
                     run_id=r["run_id"])
    keys, net = ("optimizer", "learning_rate"), label(runs[0]["config"], ("num_layers", "hidden_size", "activation"))
    figs = {
        "train_loss": figures.lines([("", epoch_series(store, runs, "train_loss", keys, FIRST_EPOCHS))],
                                    f"Training loss of each optimizer, {net}", "epoch",
                                    "training loss (mean over the epoch)", log_y=True),
        "val_acc": figures.lines([("", epoch_series(store, runs, "val_acc", keys, FIRST_EPOCHS))],
                                 f"Validation accuracy of each optimizer, {net}", "epoch", "validation accuracy"),
    }
    return Section("2.3", figs, notes, {"race": race})


def gradients(ctx):
    """2.4: how much gradient reaches the first hidden layer, sigmoid against ReLU, at several depths."""
    runs, store, sweep, notes = open_sweep(ctx, "gradients")
    rows = q.gradient_norms(store, sweep, EARLY_STEPS)
    by = {act: [r for r in rows if r["activation"] == act] for act in ("sigmoid", "relu")}
    if not by["sigmoid"] or not by["relu"]:
        raise SectionError(f"sweep {sweep} needs sigmoid and relu runs; `make report-2.4` trains them")
    notes.add("Early in training (the median over the first {steps} steps), the ratio of the first hidden layer's "
              "weight-gradient norm to the last hidden layer's is {sigmoid} for sigmoid at {depths} hidden "
              "layers, and {relu} for ReLU.", steps=rows[0]["early_steps"], depths=[r["num_layers"] for r in by["sigmoid"]],
              sigmoid=[r["ratio"] for r in by["sigmoid"]], relu=[r["ratio"] for r in by["relu"]])
    notes.add("The first layer's own norm is {sigmoid_first} with sigmoid against {relu_first} with ReLU at the same "
              "depths. Over the last {steps} of {total} steps sigmoid's ratio is {sigmoid_late}.", prefix="late",
              sigmoid_first=[r["first"] for r in by["sigmoid"]], relu_first=[r["first"] for r in by["relu"]],
              steps=rows[0]["early_steps"], total=rows[0]["steps"], sigmoid_late=[r["late_ratio"] for r in by["sigmoid"]])
    shallow, deep = by["sigmoid"][0], by["sigmoid"][-1]
    relu_deep = by["relu"][-1]
    vanishing = deep["ratio"] < shallow["ratio"] and deep["ratio"] < relu_deep["ratio"]
    accuracy = {r["id"]: r["val_acc"] for r in runs}
    notes.lead(answers.LEAD_VANISHING if vanishing else answers.LEAD_NOT_VANISHING)
    notes.add(answers.VANISHING if vanishing else answers.NOT_VANISHING, prefix="why",
              max_slope=float(sigmoid_backward(np.ones(1), sigmoid(np.zeros(1)))[0]), sigmoid_acc=accuracy[deep["run_id"]],
              relu_acc=accuracy[relu_deep["run_id"]])
    for r in rows:
        notes.detail("{activation}, {layers} hidden layers: median norm over the first {steps} steps {first} at the "
                     "first hidden layer, {last} at the last (ratio {ratio}); validation accuracy {val_acc}.",
                     prefix=f"run{r['run_id']}", activation=r["activation"], layers=r["num_layers"],
                     steps=r["early_steps"], first=r["first"], last=r["last"], ratio=r["ratio"],
                     val_acc=accuracy[r["run_id"]])
    styles = figures.style_by([(r["activation"], r["num_layers"]) for r in rows])
    series = [{"label": f"{r['activation']}, {r['num_layers']} hidden layers", "x": np.arange(1, r["steps"] + 1),
               "y": r["norms"][:, 0], "style": s} for r, s in zip(rows, styles)]
    figs = {"grad_norm": figures.lines([("", series)], f"First hidden layer's gradient norm ({GRADIENT_SMOOTHING}-"
                                       "step moving average)", "step", "L2 norm of the weight gradient", log_y=True,
                                       smooth=GRADIENT_SMOOTHING),
            "layer_ratio": figures.bars([str(r["num_layers"]) for r in by["sigmoid"]],
                                        {act: [r["ratio"] for r in by[act]] for act in by},
                                        f"First / last hidden layer gradient norm, first {rows[0]['early_steps']} "
                                        "steps", "hidden layers", "ratio of medians per step")}
    table = [{k: r[k] for k in ("run_id", "activation", "num_layers", "early_steps", "first", "last", "ratio")}
             for r in rows]
    series_log = {f"grad_norm_first_layer/{r['activation']}_{r['num_layers']}_layers": r["norms"][:, 0] for r in rows}
    return Section("2.4", figs, notes, {"ratios": table},
                   series=series_log)


def dead_neurons(ctx):
    """2.5: activation distributions, dead neurons and gradients, ReLU at a high learning rate against tanh."""
    _, store, sweep, notes = open_sweep(ctx, "dead_neurons")
    rows = q.dead_neurons(store, sweep)
    relus = [r for r in rows if r["config"]["activation"] == "relu"]
    if not relus:
        raise SectionError(f"sweep {sweep} has no relu run; `make report-2.5` trains them")
    stalled = min(relus, key=lambda r: (r["val_acc"], r["run_id"]))
    partner = next((r for r in rows if r["config"]["activation"] == "tanh"
                    and r["config"]["optimizer"] == stalled["config"]["optimizer"]), None)
    name = {r["run_id"]: label(r["config"], ("activation", "optimizer", "learning_rate")) for r in rows}
    notes.add("A ReLU neuron counts as dead when it outputs zero on every one of the {n_images} validation images "
              "probed after training; a tanh neuron when its output is beyond plus or minus {saturated} on every "
              "one of them (saturated, slope below {slope}). Either way it passes no gradient back.",
              n_images=rows[0]["n_images"], saturated=SATURATED, slope=float(1 - SATURATED ** 2))
    notes.add("The ReLU run that stalled worst, {name}, reached validation accuracy {val_acc} (per epoch: {curve}); "
              "the fraction of dead neurons in its hidden layers is {fractions}, and over its last epoch the median "
              "weight-gradient norm of those layers was {grads}.", prefix="relu", name=name[stalled["run_id"]],
              val_acc=stalled["val_acc"], curve=stalled["val_curve"], fractions=stalled["fractions"],
              grads=stalled["last_grads"])
    if partner is not None:
        notes.add("With tanh instead, {name} reached {val_acc} with dead fractions {fractions} and gradient norms "
                  "{grads}.", prefix="tanh", name=name[partner["run_id"]], val_acc=partner["val_acc"],
                  fractions=partner["fractions"], grads=partner["last_grads"])
    dead_many = max(stalled["fractions"]) >= DEAD_MANY
    notes.lead(answers.LEAD_DEAD if dead_many else answers.LEAD_NOT_DEAD)
    notes.add(answers.DEAD_RELU if dead_many else answers.NO_DEAD_RELU)
    if partner is not None and max(partner["fractions"]) >= DEAD_MANY:
        others = [r for r in rows if r["config"]["optimizer"] != stalled["config"]["optimizer"]]
        notes.add(answers.TANH_SATURATED, prefix="others",
                  others=[(name[r["run_id"]], r["val_acc"]) for r in others])
    elif partner is not None:
        notes.add(answers.TANH_RECOVERS)
    for r in rows:
        notes.detail("{name}: dead fraction per hidden layer {fractions} ({dead} neurons); last-epoch gradient norms "
                     "{grads}; validation accuracy {val_acc}.", prefix=f"run{r['run_id']}", name=name[r["run_id"]],
                     fractions=r["fractions"], dead=r["dead"], grads=r["last_grads"], val_acc=r["val_acc"])
    panels = [(name[r["run_id"]], [{"label": f"layer {i + 1}", "x": (r["edges"][:-1] + r["edges"][1:]) / 2, "y": h}
                                   for i, h in enumerate(r["hist"])]) for r in rows]
    n_layers = max(len(r["fractions"]) for r in rows)
    by_layer = {f"layer {i + 1}": [r["fractions"][i] if i < len(r["fractions"]) else 0.0 for r in rows]
                for i in range(n_layers)}
    shown = [r for r in (stalled, partner) if r is not None]
    grad_panels = [(name[r["run_id"]], [{"label": f"layer {i + 1}", "x": np.arange(1, len(r["norms"]) + 1),
                                         "y": r["norms"][:, i]} for i in range(r["norms"].shape[1])]) for r in shown]
    figs = {"activations": figures.lines(panels, "Hidden-layer activations on validation images after training",
                                         "activation value", "count", log_y=True),
            "dead_neurons": figures.bars([name[r["run_id"]] for r in rows], by_layer, "Dead neurons per hidden layer",
                                         "run", "fraction of the layer's neurons dead"),
            "grad_norms": figures.lines(grad_panels, "Weight-gradient norm of each hidden layer during training",
                                        "step", "L2 norm", log_y=True, smooth=GRADIENT_SMOOTHING)}
    table = [{"run_id": r["run_id"], "run": name[r["run_id"]], "layer": i + 1, "dead": d, "width": w,
              "last_epoch_grad_norm": g}
             for r in rows for i, (d, w, g) in enumerate(zip(r["dead"], r["widths"], r["last_grads"]))]
    series_log = {f"grad_norm/{name[r['run_id']]}/layer {i + 1}": r["norms"][:, i]
                  for r in shown for i in range(r["norms"].shape[1])}
    return Section("2.5", figs, notes, {"dead_neurons": table}, series=series_log)


def losses(ctx):
    """2.6: mean squared error against cross-entropy, same network, per optimizer: which converges faster."""
    runs, store, sweep, notes = open_sweep(ctx, "losses")
    keys = ("loss", "optimizer")
    faster_each = []
    for optimizer in sorted({r["config"]["optimizer"] for r in runs}):
        pair = {r["config"]["loss"]: r for r in runs if r["config"]["optimizer"] == optimizer}
        if set(pair) != {"cross_entropy", "mean_squared_error"}:
            continue
        target, (ce, mse) = q.convergence(store, [pair["cross_entropy"], pair["mean_squared_error"]])
        faster_each.append((ce["reached"], ce["first"]) < (mse["reached"], mse["first"]))
        notes.add("With {optimizer}, cross-entropy reached validation accuracy {target} (the lower of the two final "
                  "accuracies) at epoch {ce_epoch}, mean squared error at epoch {mse_epoch}; after the first epoch "
                  "they stood at {ce_first} and {mse_first}, after the last at {ce_last} and {mse_last}.",
                  prefix=optimizer, optimizer=optimizer, target=target, ce_epoch=ce["reached"],
                  mse_epoch=mse["reached"], ce_first=ce["first"], mse_first=mse["first"], ce_last=ce["values"][-1],
                  mse_last=mse["values"][-1])
    if faster_each and all(faster_each):
        notes.lead(answers.LEAD_CROSS_ENTROPY)
        notes.add(answers.WHY_CROSS_ENTROPY)
    elif faster_each:
        notes.lead(answers.LEAD_LOSS_MIXED)
        notes.add(answers.MSE_NOT_SLOWER)
    for run in runs:
        notes.detail("{name}: validation accuracy {val_acc} after {epochs} epochs (test accuracy {test_acc}).",
                     prefix=f"run{run['id']}", name=label(run["config"], keys), val_acc=run["val_acc"],
                     epochs=run["epochs_done"], test_acc=run["test_acc"])
    figs = {"train_loss": figures.lines([("", epoch_series(store, runs, "train_loss", keys))],
                                        "Training loss: mean squared error vs cross-entropy", "epoch",
                                        "training loss (each on its own scale)", log_y=True),
            "val_acc": figures.lines([("", epoch_series(store, runs, "val_acc", keys))],
                                     "Validation accuracy: mean squared error vs cross-entropy", "epoch",
                                     "validation accuracy")}
    table = [{"run_id": r["id"], "loss": r["config"]["loss"], "optimizer": r["config"]["optimizer"],
              "val_acc": r["val_acc"], "test_acc": r["test_acc"]} for r in runs]
    return Section("2.6", figs, notes, {"final": table})


def overfitting(ctx):
    """2.7: train against test accuracy of every evaluated run in the store, overfitting ones marked."""
    store = ctx.store
    result = q.overfitting(store, OVERFIT_QUANTILE)
    rows = result["runs"]
    if not rows:
        raise SectionError(f"no evaluated runs in {store.path}; `make report` trains the sweeps")
    marked = [r for r in rows if r["overfit"]]
    notes = Findings()
    notes.add("Across the store's {n} evaluated runs, the train-test accuracy gap's {quantile} quantile is "
              "{threshold}; the {n_marked} runs above it (and above zero) are marked as overfitting.",
              n=len(rows), quantile=OVERFIT_QUANTILE, threshold=result["threshold"], n_marked=len(marked))
    if marked:
        worst = marked[0]
        notes.add("The largest gap is run {run_id} of sweep {sweep}: train accuracy {train_acc}, test accuracy "
                  "{test_acc}, gap {gap}. The marked runs trained for {marked_epochs} epochs at the median against "
                  "{other_epochs} for the others, and come from the sweeps {sweeps}.", prefix="worst",
                  run_id=worst["run_id"], sweep=worst["sweep"], train_acc=worst["train_acc"],
                  test_acc=worst["test_acc"], gap=worst["gap"], marked_epochs=result["marked_epochs"],
                  other_epochs=result["other_epochs"], sweeps=list(result["marked_sweeps"].items()))
    notes.add(answers.OVERFITTING)
    longest = marked and result["marked_epochs"] > result["other_epochs"]
    if marked:
        notes.add(answers.OVERFIT_LONGEST if longest else answers.OVERFIT_NOT_LONGEST)
    notes.lead(("The runs that overfit are mostly the ones trained longest: " if longest else
                "Overfitting here is not a matter of training time alone: " if marked else
                "No run overfits by this measure: ") + "{n_marked} of the {n} runs stand out.",
               n=len(rows), n_marked=len(marked))
    for i, r in enumerate(marked[:N_WORST]):
        notes.detail("Run {run_id} ({sweep}): train accuracy {train_acc}, test accuracy {test_acc}, gap {gap}.",
                     prefix=f"worst{i + 1}", run_id=r["run_id"], sweep=r["sweep"], train_acc=r["train_acc"],
                     test_acc=r["test_acc"], gap=r["gap"])
    fig = figures.scatter_marked([r["train_acc"] for r in rows], [r["test_acc"] for r in rows],
                                 [r["overfit"] for r in rows], f"Train vs test accuracy of {len(rows)} runs",
                                 "train accuracy", "test accuracy",
                                 f"overfitting: gap above its {OVERFIT_QUANTILE} quantile", "other runs")
    return Section("2.7", {"train_vs_test": fig}, notes, {"gaps": rows})


def best_model(ctx):
    """2.8: the best run by test F1 in the whole store: its confusion matrix and its most confident mistakes."""
    ctx.train_missing(ctx.spec("best"))
    store = ctx.store
    run = q.best_run(store)
    if run is None:
        raise SectionError(f"no finished MNIST run in {store.path}; `make report-2.8` trains sweep best")
    errors = q.confusions(run, q.weights_file(store, run, ctx.weights_copies), GALLERY_SIZE, ctx.data_dir)
    names = CLASS_NAMES[run["config"]["dataset"]]
    ranked = q.ranked_pairs(errors["matrix"] - np.diag(np.diag(errors["matrix"])))  # mistakes only
    confused = pair_names(ranked, names, N_PAIRS)
    notes = Findings()
    notes.add("The best run by test macro-F1 among the finished {dataset} runs of every sweep is run {run_id} of "
              "sweep {sweep}: {config}.", prefix="best", dataset=run["config"]["dataset"], run_id=run["id"],
              sweep=run["sweep"], config=describe(run["config"]))
    notes.add("It misclassifies {n_mistakes} of {n_test} test images; its most confused pairs (mistakes in both "
              "directions) are {pairs}, and the single most frequent mistake is {true} taken for {predicted}, "
              "{count} times.", prefix="errors", n_mistakes=errors["n_mistakes"], n_test=errors["n_test"],
              pairs=confused, true=names[errors["pair"][0]], predicted=names[errors["pair"][1]], count=errors["pair"][2])
    alike = q.class_similarity(run["config"]["dataset"], ctx.data_dir)[:N_PAIRS]
    shared = len({(a, b) for a, b, _ in ranked[:N_PAIRS]} & {(a, b) for a, b, _ in alike})
    notes.add("{k} of these {n} pairs are among the {n} most alike in raw pixels.", prefix="raw", k=shared, n=N_PAIRS)
    notes.lead("The best model's few mistakes fall mostly between " + ("classes that look alike in raw pixels"
               if shared else "classes that are not the most alike in raw pixels") + ": {pairs}.", prefix="errors",
               pairs=confused)
    notes.add(answers.CONFUSIONS if shared else answers.CONFUSIONS_NOT_RAW)
    notes.detail("Its stored test accuracy is {test_acc} and macro-F1 {test_f1}; its weights file evaluated again "
                 "gives accuracy {accuracy} and F1 {f1}.", prefix="scores", test_acc=run["test_acc"],
                 test_f1=run["test_f1"], accuracy=errors["accuracy"], f1=errors["f1"])
    figs = {"confusion": figures.confusion(errors["matrix"], names, f"Confusion matrix of run {run['id']} "
                                                                     "on the test split")}
    gallery = errors["gallery"]
    columns = min(GALLERY_COLUMNS, len(gallery))
    shown = gallery[:columns * (len(gallery) // columns)] if gallery else []
    if shown:
        notes.detail("The gallery shows its {k} most confident mistakes, with confidence from {high} down to {low}.",
                     prefix="gallery", k=len(shown), high=shown[0]["confidence"], low=shown[-1]["confidence"])
        captions = [f"{names[m['true']]} as {names[m['predicted']]}\n{m['confidence']:.3f}" for m in shown]
        figs["mistakes"] = figures.image_grid(
            errors["images"][:len(shown)].reshape(-1, columns, errors["images"].shape[1]),
            f"Most confident mistakes of run {run['id']} (true as predicted, confidence)", "mistake, most confident "
            "first", "", captions=[captions[i:i + columns] for i in range(0, len(shown), columns)])
    return Section("2.8", figs, notes, {"mistakes": gallery})


def init(ctx):
    """2.9: zeros against Xavier initialisation: do the neurons of a layer ever become different?"""
    _, store, sweep, notes = open_sweep(ctx, "init")
    rows = q.neuron_gradients(store, sweep)
    names = {r["run_id"]: label(r["config"], ("weight_init", "activation")) for r in rows}
    by_init = {init: [r for r in rows if r["config"]["weight_init"] == init] for init in ("zeros", "xavier")}
    if not by_init["zeros"] or not by_init["xavier"]:
        raise SectionError(f"sweep {sweep} needs zeros and xavier runs; `make report-2.9` trains them")
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
              zeros=max(r["spread"] for r in by_init["zeros"]), zeros_runs=[names[r["run_id"]] for r in by_init["zeros"]],
              xavier=[r["spread"] for r in by_init["xavier"]], xavier_runs=[names[r["run_id"]] for r in by_init["xavier"]])
    notes.add(answers.SYMMETRY)
    if any(r["mean"] == 0 and r["config"]["activation"] == "relu" for r in by_init["zeros"]):
        notes.add(answers.RELU_ZEROS)
    notes.add(answers.WHY_RANDOM)
    for r in rows:
        notes.detail("{name}: the neurons' gradient norms " + ("are identical at every iteration" if r["spread"] == 0
                     else "differ by at most {spread} at any iteration") + " (mean norm {mean}).",
                     prefix=f"run{r['run_id']}", name=names[r["run_id"]], spread=r["spread"],
                     mean=r["mean"])
    panels = [(names[r["run_id"]], [{"label": f"neuron {j + 1}", "x": np.arange(1, r["steps"] + 1),
                                     "y": r["grads"][:, j]} for j in range(r["neurons"])]) for r in rows]
    fig = figures.lines(panels, "Gradient norms of first-hidden-layer neurons, first iterations", "iteration",
                        "L2 norm of the neuron's weight gradient")
    table = [{"run_id": r["run_id"], "run": names[r["run_id"]], "spread": r["spread"], "mean": r["mean"]}
             for r in rows]
    series_log = {f"neuron_grad/{names[r['run_id']]}/neuron {j + 1}": r["grads"][:, j]
                  for r in rows for j in range(r["neurons"])}
    return Section("2.9", {"neuron_grads": fig}, notes, {"spread": table}, series=series_log)


def fashion_ranking(store):
    """2.10's order of the MNIST results: distinct finished configurations by validation accuracy, where runs
    within ``TIE`` of the best count as tied and come simplest first (``SIMPLEST``), so float noise in the last
    bits cannot reorder them."""
    ranked = q.top_distinct(store, None)
    if not ranked:
        return []
    tied = [r for r in ranked if r["val_acc"] >= ranked[0]["val_acc"] - TIE]
    tied.sort(key=lambda r: (*(q.scalar(r["config"][k]) for k in SIMPLEST), r["config_hash"]))
    return tied + [r for r in ranked if r["val_acc"] < ranked[0]["val_acc"] - TIE]


def fashion_options(config):
    """An MNIST configuration adapted for clothing by 2.10's rule: the same network on fashion_mnist,
    ``FASHION_EPOCH_FACTOR`` times longer, with ``FASHION_ADAPTATION``."""
    return {**config, "dataset": "fashion_mnist", "epochs": round(config["epochs"] * FASHION_EPOCH_FACTOR),
            **FASHION_ADAPTATION}


def fashion_choice(ctx, ranked):
    """The sweep of 2.10 and its first ``N_FASHION`` (source run, configuration) pairs in ``ranked`` order whose
    adapted configurations differ (two sources may adapt to the same one).

    Each configuration passes through ``ctx.prepare`` as a one-run spec, so it is validated
    (and shrunk by the tests' transform) like every sweep file's.
    """
    chosen, seen = [], set()
    for run in ranked:
        options = fashion_options(run["config"])
        one = {"name": FASHION_SWEEP, "method": "grid", "parameters": {k: {"value": v} for k, v in options.items()}}
        config = expand(ctx.prepare(one))[0]
        if config_hash(config) not in seen and len(chosen) < N_FASHION:
            seen.add(config_hash(config))
            chosen.append((run, config))
    spec = {"name": FASHION_SWEEP, "method": "grid", "metric": {"name": "val_acc", "goal": "maximize"},
            "description": "the best distinct MNIST configurations retrained on fashion_mnist",
            "parameters": {"dataset": {"value": "fashion_mnist"}}}
    return spec, chosen


def fashion(ctx):
    """2.10: the best MNIST configurations, by a stated rule, retrained on Fashion-MNIST."""
    store = ctx.store
    ranked = fashion_ranking(store)
    spec, chosen = fashion_choice(ctx, ranked)
    if len(chosen) < N_FASHION:
        raise SectionError(f"section 2.10 needs {N_FASHION} finished MNIST runs that adapt to distinct "
                           f"configurations in {store.path}, found {len(chosen)}; `make report` trains them")
    sources, configs = [s for s, _ in chosen], [c for _, c in chosen]
    ctx.train_missing(spec, configs)
    runs = q.runs_by_hash(store, FASHION_SWEEP, [store.key(c) for c in configs])
    if None in runs:
        raise SectionError(f"the Fashion-MNIST runs of sweep {FASHION_SWEEP} are not in {store.path}; "
                           "`make report-2.10` trains them")
    notes = Findings()
    shift, dropout = FASHION_ADAPTATION["augment"], FASHION_ADAPTATION["dropout"]
    adaptation = ", ".join(["shifts of at most {shift} px" if shift else "no shifts",
                            "mirroring" if FASHION_ADAPTATION["flip"] else "no mirroring",
                            "dropout {dropout}" if dropout else "no dropout"])
    notes.add("Rule, from the MNIST results alone: take the {n} distinct finished MNIST configurations with the "
              "highest validation accuracy, counting accuracies within {tie} of the best as tied (single-precision "
              "results differ in their last bits from one CPU to another, enough to reorder runs that close) and "
              "taking tied ones simplest first (fewer layers, then lower learning rate, then less weight decay). "
              "Train each on Fashion-MNIST (sweep {sweep}) with the same network, {factor} times the epochs, "
              + adaptation + ", skipping a configuration whose adapted form repeats one already taken. The "
              "epochs, depth, shifts, mirroring and dropout were chosen on Fashion-MNIST validation accuracy in "
              "trials outside this store (docs/experiments.md), never on test accuracy.", n=N_FASHION, tie=TIE,
              sweep=FASHION_SWEEP, factor=FASHION_EPOCH_FACTOR,
              **({"shift": shift} if shift else {}), **({"dropout": dropout} if dropout else {}))
    for i, (source, run) in enumerate(zip(sources, runs)):
        notes.add("Configuration {rank}, {config} (MNIST run {source}: validation accuracy {mnist_val}, test "
                  "accuracy {mnist_test}), reaches Fashion-MNIST validation accuracy {val_acc} and test accuracy "
                  "{test_acc} (macro-F1 {test_f1}, run {run_id}).", prefix=f"run{run['id']}", rank=i + 1,
                  config=describe(source["config"]), source=source["id"], mnist_val=source["val_acc"],
                  mnist_test=source["test_acc"], val_acc=run["val_acc"], test_acc=run["test_acc"],
                  test_f1=run["test_f1"], run_id=run["id"])
    best_val = max(r["val_acc"] for r in ranked)
    notes.detail("The best MNIST validation accuracy is {best}; the distinct configurations within {tie} of it, "
                 "simplest first: {tied}.", prefix="tied", best=best_val, tie=TIE,
                 tied=[(f"run {r['id']}", r["val_acc"]) for r in ranked if r["val_acc"] >= best_val - TIE])
    winner = max(range(len(runs)), key=lambda i: (runs[i]["test_acc"], -runs[i]["id"]))
    mnist_winner = max(range(len(sources)), key=lambda i: (sources[i]["val_acc"], -sources[i]["id"]))
    by_val = max(range(len(runs)), key=lambda i: (runs[i]["val_acc"], -runs[i]["id"]))
    notes.lead("The best on Fashion-MNIST test accuracy is configuration {rank}, at {test_acc}; the MNIST winner by "
              "validation accuracy, configuration {mnist_rank}, " + ("also won there" if winner == mnist_winner
                                                                     else "reached {mnist_winner_acc} there") +
              ". By Fashion-MNIST validation accuracy the best is configuration {val_rank}, at {val_acc}.",
              prefix="best", rank=winner + 1, test_acc=runs[winner]["test_acc"],
              mnist_rank=mnist_winner + 1, val_rank=by_val + 1, val_acc=runs[by_val]["val_acc"],
              **({} if winner == mnist_winner else {"mnist_winner_acc": runs[mnist_winner]["test_acc"]}))
    n_test = len(load_dataset(FASHION_DATASET, ctx.data_dir).y_test)
    p = runs[winner]["test_acc"]
    spread, error = p - min(r["test_acc"] for r in runs), float(np.sqrt(p * (1 - p) / n_test))
    notes.add("The three test accuracies span {spread}, against a standard error of {error} for one accuracy near "
              "{p} on {n} test images" + (": on clothing they are as good as tied." if spread < 2 * error else "."),
              prefix="noise", spread=spread, error=error, p=p, n=n_test)
    notes.add(answers.FASHION)
    categories = [f"configuration {i + 1}" for i in range(len(sources))]
    accuracies = {"MNIST": [s["test_acc"] for s in sources], "Fashion-MNIST": [r["test_acc"] for r in runs]}
    series = epoch_series(store, runs, "val_acc", ("num_layers", "learning_rate"),
                          names=[f"configuration {i + 1} (MNIST run {s['id']})" for i, s in enumerate(sources)])
    figs = {"test_acc": figures.bars(categories, accuracies, "Test accuracy of the chosen configurations",
                                     "configuration", "test accuracy"),
            "val_acc": figures.lines([("", series)], "Fashion-MNIST validation accuracy per epoch", "epoch",
                                     "validation accuracy")}
    table = [{"mnist_run": s["id"], "fashion_run": r["id"], "mnist_val_acc": s["val_acc"],
              "mnist_test_acc": s["test_acc"], "fashion_val_acc": r["val_acc"], "fashion_test_acc": r["test_acc"],
              "fashion_test_f1": r["test_f1"]} for s, r in zip(sources, runs)]
    return Section("2.10", figs, notes, {"configurations": table})


SECTIONS = {"2.1": samples, "2.2": search, "2.3": optimizers, "2.4": gradients, "2.5": dead_neurons,
            "2.6": losses, "2.7": overfitting, "2.8": best_model, "2.9": init, "2.10": fashion}
# `all` builds the analyses of the whole store last (2.1 reads the best models), so they see every run.
BUILD_ORDER = ("2.2", "2.3", "2.4", "2.5", "2.6", "2.9", "2.8", "2.10", "2.1", "2.7")
