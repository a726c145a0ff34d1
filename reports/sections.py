"""The ten analyses of SPEC section 7, one function each: train what the store lacks, query, draw, phrase.

A section writes nothing itself: it returns a Section (figures, findings,
tables) that build.make_report publishes and logs whole, so a section that
fails leaves no half-written part behind. The numbers in its sentences are
facts returned by reports.queries, kept beside the text.
"""
import numpy as np

from mlp.data import CLASS_NAMES, DATASETS
from runner.sweep import expand

from . import figures
from . import queries as q
from .context import Findings, Section, SectionError, describe, label

PER_CLASS = 5  # sample images per class (2.1)
FIRST_EPOCHS = 5  # the optimizers are compared over this many epochs (2.3)
GRADIENT_SMOOTHING = 25  # steps in the moving average of gradient norms (2.4)
OVERFIT_QUANTILE = 0.9  # a run overfits when its train-test gap is above this quantile of all gaps (2.7)
N_WORST = 3  # overfitting runs named in the text (2.7)
GALLERY_COLUMNS, GALLERY_SIZE = 6, 12  # most confident mistakes shown (2.8)
N_FASHION = 3  # MNIST configurations retrained on Fashion-MNIST (2.10)
FASHION_SWEEP = "fashion"
# How 2.10 adapts an MNIST configuration to clothing, chosen on Fashion-MNIST *validation* accuracy:
# 1.5x the epochs and shifts of at most 1 pixel (60 epochs: shift 1 gave 0.905, shift 2 0.898).
FASHION_EPOCH_FACTOR, FASHION_MAX_SHIFT = 1.5, 1


def census(notes, store, sweep):
    """The sentence counting a sweep's runs by status."""
    counts = q.status_counts(store, sweep)
    parts = ", ".join(f"{{{status}}} {status}" for status in counts)
    notes.add("Sweep {sweep} holds {total} runs: " + parts + ".", prefix="runs", sweep=sweep,
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


def samples(ctx):
    """2.1: the first training images of each class, for each dataset; nothing to train."""
    notes, figs, counts_table = Findings(), {}, []
    for dataset in DATASETS:
        data = q.class_samples(dataset, PER_CLASS, ctx.data_dir)
        names, counts = CLASS_NAMES[dataset], data["counts"]
        figs[f"samples_{dataset}"] = figures.image_grid(
            data["images"], f"{dataset}: the first {PER_CLASS} training images of each class",
            "sample", "class", row_labels=names)
        low, high = int(np.argmin(counts)), int(np.argmax(counts))
        notes.add("{dataset}: the first {per_class} training images of each of its {classes} classes, from a training "
                  "split of {n} images.", prefix=dataset, dataset=dataset, per_class=PER_CLASS, classes=len(names),
                  n=sum(counts))
        if counts[low] == counts[high]:
            notes.add("Every class of {dataset} has {count} training images.", prefix=f"{dataset}.balanced",
                      dataset=dataset, count=counts[low])
        else:
            notes.add("The rarest class of {dataset} is {low_class} with {low} training images, the commonest "
                      "{high_class} with {high}.", prefix=f"{dataset}.range", dataset=dataset, low_class=names[low],
                      low=counts[low], high_class=names[high], high=counts[high])
        counts_table += [{"dataset": dataset, "class": n, "images": c} for n, c in zip(names, counts)]
    return Section("2.1", "Sample images per class", figs, notes, {"class_counts": counts_table})


def search(ctx):
    """2.2: the random search, as parallel coordinates coloured by validation accuracy, and what mattered most."""
    runs, store, sweep, notes = open_sweep(ctx, "search")
    table = q.sweep_table(store, sweep)
    best = q.best_run(store, "val_acc", dataset=None, sweep=sweep)
    if len(runs) < 2 or not table["names"] or best is None:
        raise SectionError(f"sweep {sweep} needs a finished run and at least 2 evaluated runs that differ; "
                           f"build section 2.2 without --no-train")
    importance = q.hyperparameter_importance(store, sweep)
    notes.add("Of its {n} evaluated runs (finished, or stopped early) the best validation accuracy, {val_acc}, "
              "is run {run_id}: {config}.", prefix="best", n=len(runs), val_acc=best["val_acc"],
              run_id=best["id"], config=describe(best["config"]))
    notes.add("Permutation importance in a random forest fitted from the {k} varying hyperparameters to validation "
              "accuracy (mean drop of the forest's score when one is shuffled) ranks them: {ranking}.",
              prefix="importance", k=len(importance), ranking=[(r["parameter"], r["importance"]) for r in importance])
    columns = {**table["columns"], "val_acc": q.encode(table["val_acc"])}
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
    return Section("2.2", "Hyperparameter search", figs, notes,
                   {"parallel_coordinates_input": table["rows"], "importance": importance})


def optimizers(ctx):
    """2.3: the six optimizers on one network over the first epochs."""
    runs, store, sweep, notes = open_sweep(ctx, "optimizers")
    race = q.optimizer_race(store, sweep, FIRST_EPOCHS)
    for which, row in (("fastest", race[0]), ("slowest", race[-1])):
        notes.add("The " + which + " optimizer by training loss after epoch {epoch} is {optimizer} "
                  "(learning rate {lr}), at {loss}.", prefix=which, epoch=row["epoch"],
                  optimizer=row["optimizer"], lr=row["learning_rate"], loss=row["loss"])
    notes.add("Each optimizer at its best learning rate, by training loss after epoch {epoch}: {ranking}.",
              prefix="all", epoch=race[0]["epoch"], ranking=[(r["optimizer"], r["loss"]) for r in race])
    keys, net = ("optimizer", "learning_rate"), label(runs[0]["config"], ("num_layers", "hidden_size", "activation"))
    figs = {
        "train_loss": figures.lines([("", epoch_series(store, runs, "train_loss", keys, FIRST_EPOCHS))],
                                    f"Training loss of each optimizer, {net}", "epoch",
                                    "training loss (mean over the epoch)", log_y=True),
        "val_acc": figures.lines([("", epoch_series(store, runs, "val_acc", keys, FIRST_EPOCHS))],
                                 f"Validation accuracy of each optimizer, {net}", "epoch", "validation accuracy"),
    }
    return Section("2.3", "Optimizers over the first epochs", figs, notes, {"race": race})


def gradients(ctx):
    """2.4: how much gradient reaches the first hidden layer, sigmoid against ReLU, at several depths."""
    _, store, sweep, notes = open_sweep(ctx, "gradients")
    rows = q.gradient_norms(store, sweep)
    for r in rows:
        notes.add("{activation} with {layers} hidden layers: median first-layer gradient norm {median} over "
                  "{steps} steps.", prefix=f"run{r['run_id']}", activation=r["activation"],
                  layers=r["num_layers"], median=r["median"], steps=r["steps"])
    styles = figures.style_by([(r["activation"], r["num_layers"]) for r in rows])
    series = [{"label": f"{r['activation']}, {r['num_layers']} hidden layers", "x": np.arange(1, r["steps"] + 1),
               "y": r["norms"], "style": s} for r, s in zip(rows, styles)]
    fig = figures.lines([("", series)], f"First hidden layer's gradient norm ({GRADIENT_SMOOTHING}-step moving "
                        "average)", "step", "L2 norm of the weight gradient", log_y=True, smooth=GRADIENT_SMOOTHING)
    table = [{k: r[k] for k in ("run_id", "activation", "num_layers", "steps", "median")} for r in rows]
    return Section("2.4", "Vanishing gradients: sigmoid vs ReLU", {"grad_norm": fig}, notes, {"medians": table})


def dead_neurons(ctx):
    """2.5: activation distributions and dead neurons, ReLU at a high learning rate against tanh."""
    _, store, sweep, notes = open_sweep(ctx, "dead_neurons")
    rows = q.dead_neurons(store, sweep)
    names = [label(r["config"], ("activation", "optimizer", "learning_rate")) for r in rows]
    notes.add("A neuron counts as dead when it outputs zero or less on every one of the {n_images} validation "
              "images probed after training.", n_images=rows[0]["n_images"])
    for name, r in zip(names, rows):
        notes.add("{name}: dead fraction per hidden layer {fractions} ({dead} neurons); validation accuracy "
                  "{val_acc}.", prefix=f"run{r['run_id']}", name=name, fractions=r["fractions"],
                  dead=r["dead"], val_acc=r["val_acc"])
    panels = [(name, [{"label": f"layer {i + 1}", "x": (r["edges"][:-1] + r["edges"][1:]) / 2, "y": h}
                      for i, h in enumerate(r["hist"])]) for name, r in zip(names, rows)]
    n_layers = max(len(r["fractions"]) for r in rows)
    by_layer = {f"layer {i + 1}": [r["fractions"][i] if i < len(r["fractions"]) else 0.0 for r in rows]
                for i in range(n_layers)}
    figs = {"activations": figures.lines(panels, "Hidden-layer activations on validation images after training",
                                         "activation value", "count", log_y=True),
            "dead_neurons": figures.bars(names, by_layer, "Dead neurons per hidden layer", "run",
                                         "fraction of the layer's neurons never positive")}
    table = [{"run_id": r["run_id"], "run": n, "layer": i + 1, "dead": d, "width": w}
             for n, r in zip(names, rows) for i, (d, w) in enumerate(zip(r["dead"], r["widths"]))]
    return Section("2.5", "Activations and dead neurons", figs, notes, {"dead_neurons": table})


def losses(ctx):
    """2.6: mean squared error against cross-entropy, same network and optimizers."""
    runs, store, sweep, notes = open_sweep(ctx, "losses")
    keys = ("loss", "optimizer")
    for run in runs:
        notes.add("{name}: validation accuracy {val_acc} after {epochs} epochs (test accuracy {test_acc}).",
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
    return Section("2.6", "Mean squared error vs cross-entropy", figs, notes, {"final": table})


def overfitting(ctx):
    """2.7: train against test accuracy of every evaluated run in the store, overfitting ones marked."""
    store = ctx.store
    result = q.overfitting(store, OVERFIT_QUANTILE)
    rows = result["runs"]
    if not rows:
        raise SectionError(f"no evaluated runs in {store.path}; build the sweep sections first")
    marked = [r for r in rows if r["overfit"]]
    notes = Findings()
    notes.add("Across the store's {n} evaluated runs the train-test accuracy gap has {quantile} quantile "
              "{threshold}; the {n_marked} runs above it (and above zero) are marked as overfitting.",
              n=len(rows), quantile=OVERFIT_QUANTILE, threshold=result["threshold"], n_marked=len(marked))
    for i, r in enumerate(marked[:N_WORST]):
        notes.add("Run {run_id} ({sweep}): train accuracy {train_acc}, test accuracy {test_acc}, gap {gap}.",
                  prefix=f"worst{i + 1}", run_id=r["run_id"], sweep=r["sweep"], train_acc=r["train_acc"],
                  test_acc=r["test_acc"], gap=r["gap"])
    fig = figures.scatter_marked([r["train_acc"] for r in rows], [r["test_acc"] for r in rows],
                                 [r["overfit"] for r in rows], f"Train vs test accuracy of {len(rows)} runs",
                                 "train accuracy", "test accuracy",
                                 f"overfitting: gap above its {OVERFIT_QUANTILE} quantile", "other runs")
    return Section("2.7", "Train vs test accuracy", {"train_vs_test": fig}, notes, {"gaps": rows})


def best_model(ctx):
    """2.8: the best run by test F1 in the whole store: its confusion matrix and its most confident mistakes."""
    ctx.train_missing(ctx.spec("best"))
    store = ctx.store
    run = q.best_run(store)
    if run is None:
        raise SectionError(f"no finished MNIST run in {store.path}; build section 2.8 without --no-train")
    errors = q.confusions(store, run, GALLERY_SIZE, ctx.data_dir)
    names = CLASS_NAMES[run["config"]["dataset"]]
    notes = Findings()
    notes.add("The best run by test macro-F1 among the finished {dataset} runs of every sweep is run {run_id} of "
              "sweep {sweep}: {config}.", prefix="best", dataset=run["config"]["dataset"], run_id=run["id"],
              sweep=run["sweep"], config=describe(run["config"]))
    notes.add("Its stored test accuracy is {test_acc} and macro-F1 {test_f1}; its weights file evaluated again gives "
              "accuracy {accuracy} and F1 {f1}.", prefix="scores", test_acc=run["test_acc"], test_f1=run["test_f1"],
              accuracy=errors["accuracy"], f1=errors["f1"])
    true, predicted, count = errors["pair"]
    notes.add("It misclassifies {n_mistakes} of {n_test} test images; the most frequent confusion is {true} taken "
              "for {predicted}, {count} times.", prefix="errors", n_mistakes=errors["n_mistakes"],
              n_test=errors["n_test"], true=names[true], predicted=names[predicted], count=count)
    figs = {"confusion": figures.confusion(errors["matrix"], names, f"Confusion matrix of run {run['id']} "
                                                                     "on the test split")}
    gallery = errors["gallery"]
    columns = min(GALLERY_COLUMNS, len(gallery))
    shown = gallery[:columns * (len(gallery) // columns)] if gallery else []
    if shown:
        notes.add("The gallery shows its {k} most confident mistakes, with confidence from {high} down to {low}.",
                  prefix="gallery", k=len(shown), high=shown[0]["confidence"], low=shown[-1]["confidence"])
        captions = [f"{names[m['true']]} as {names[m['predicted']]}\n{m['confidence']:.3f}" for m in shown]
        figs["mistakes"] = figures.image_grid(
            errors["images"][:len(shown)].reshape(-1, columns, errors["images"].shape[1]),
            f"Most confident mistakes of run {run['id']} (true as predicted, confidence)", "mistake, most confident "
            "first", "", captions=[captions[i:i + columns] for i in range(0, len(shown), columns)])
    return Section("2.8", "The best model and its failures", figs, notes, {"mistakes": gallery})


def init(ctx):
    """2.9: zeros against Xavier initialisation: do the neurons of a layer ever become different?"""
    _, store, sweep, notes = open_sweep(ctx, "init")
    rows = q.neuron_gradients(store, sweep)
    names = [label(r["config"], ("weight_init", "activation")) for r in rows]
    notes.add("Each panel follows the incoming-weight gradient norms of {neurons} neurons of the first hidden layer "
              "over the first {steps} iterations; a spread of zero means the neurons get identical updates and stay "
              "copies of each other.", neurons=rows[0]["neurons"], steps=rows[0]["steps"])
    for name, r in zip(names, rows):
        notes.add("{name}: the neurons' gradient norms differ by at most {spread} at any iteration "
                  "(mean norm {mean}).", prefix=f"run{r['run_id']}", name=name, spread=r["spread"], mean=r["mean"])
    panels = [(name, [{"label": f"neuron {j + 1}", "x": np.arange(1, r["steps"] + 1), "y": r["grads"][:, j]}
                      for j in range(r["neurons"])]) for name, r in zip(names, rows)]
    fig = figures.lines(panels, "Gradient norms of first-hidden-layer neurons, first iterations", "iteration",
                        "L2 norm of the neuron's weight gradient")
    table = [{"run_id": r["run_id"], "run": n, "spread": r["spread"], "mean": r["mean"]} for n, r in zip(names, rows)]
    return Section("2.9", "Zeros vs Xavier initialisation", {"neuron_grads": fig}, notes, {"spread": table})


def fashion_options(config):
    """An MNIST configuration adapted by 2.10's rule: on fashion_mnist, longer, with smaller shifts."""
    return {**config, "dataset": "fashion_mnist", "epochs": round(config["epochs"] * FASHION_EPOCH_FACTOR),
            "augment": min(config["augment"], FASHION_MAX_SHIFT)}


def fashion_configs(ctx, sources):
    """The sweep of 2.10 and its configurations: each source run's options on fashion_mnist.

    Each configuration passes through ``ctx.prepare`` as a one-run spec, so it is validated
    (and shrunk by the tests' transform) like every sweep file's.
    """
    def retargeted(run):
        options = fashion_options(run["config"])
        one = {"name": FASHION_SWEEP, "method": "grid", "parameters": {k: {"value": v} for k, v in options.items()}}
        return expand(ctx.prepare(one))[0]

    spec = {"name": FASHION_SWEEP, "method": "grid", "metric": {"name": "val_acc", "goal": "maximize"},
            "description": "the best distinct MNIST configurations retrained on fashion_mnist",
            "parameters": {"dataset": {"value": "fashion_mnist"}}}
    return spec, [retargeted(run) for run in sources]


def fashion(ctx):
    """2.10: the best MNIST configurations, by a stated rule, retrained on Fashion-MNIST."""
    store = ctx.store
    sources = q.top_distinct(store, N_FASHION)
    if len(sources) < N_FASHION:
        raise SectionError(f"section 2.10 needs {N_FASHION} finished MNIST runs in {store.path}, found "
                           f"{len(sources)}; build sections 2.2 to 2.8 first")
    spec, configs = fashion_configs(ctx, sources)
    ctx.train_missing(spec, configs)
    runs = q.runs_by_hash(store, FASHION_SWEEP, [store.key(c) for c in configs])
    if None in runs:
        raise SectionError(f"the Fashion-MNIST runs of sweep {FASHION_SWEEP} are not in {store.path}; "
                           f"build section 2.10 without --no-train")
    notes = Findings()
    notes.add("Rule: the {n} finished MNIST runs with the highest validation accuracy across all sweeps, one per "
              "distinct configuration, each trained again on Fashion-MNIST (sweep {sweep}) with {factor} times the "
              "epochs and image shifts of at most {shift} pixel, an adaptation chosen on Fashion-MNIST validation "
              "accuracy.", n=N_FASHION, sweep=FASHION_SWEEP, factor=FASHION_EPOCH_FACTOR, shift=FASHION_MAX_SHIFT)
    for source, run in zip(sources, runs):
        notes.add("{config} (MNIST run {source}: validation accuracy {mnist_val}, test accuracy {mnist_test}) reaches "
                  "Fashion-MNIST test accuracy {test_acc} and macro-F1 {test_f1} (run {run_id}).",
                  prefix=f"run{run['id']}", config=describe(source["config"]), source=source["id"],
                  mnist_val=source["val_acc"], mnist_test=source["test_acc"], test_acc=run["test_acc"],
                  test_f1=run["test_f1"], run_id=run["id"])
    top = max(zip(sources, runs), key=lambda pair: (pair[1]["test_acc"], -pair[1]["id"]))
    notes.add("The best on Fashion-MNIST is the configuration of MNIST run {source}, at test accuracy {test_acc}.",
              prefix="best", source=top[0]["id"], test_acc=top[1]["test_acc"])
    categories = [f"MNIST run {s['id']}" for s in sources]
    accuracies = {"MNIST": [s["test_acc"] for s in sources], "Fashion-MNIST": [r["test_acc"] for r in runs]}
    series = epoch_series(store, runs, "val_acc", ("optimizer", "learning_rate"),
                          names=[f"configuration of MNIST run {s['id']}" for s in sources])
    figs = {"test_acc": figures.bars(categories, accuracies, "Test accuracy of the chosen configurations",
                                     "configuration", "test accuracy"),
            "val_acc": figures.lines([("", series)], "Fashion-MNIST validation accuracy per epoch", "epoch",
                                     "validation accuracy")}
    table = [{"mnist_run": s["id"], "fashion_run": r["id"], "mnist_test_acc": s["test_acc"],
              "fashion_test_acc": r["test_acc"], "fashion_test_f1": r["test_f1"]} for s, r in zip(sources, runs)]
    return Section("2.10", "Three MNIST configurations on Fashion-MNIST", figs, notes, {"configurations": table})


SECTIONS = {"2.1": samples, "2.2": search, "2.3": optimizers, "2.4": gradients, "2.5": dead_neurons,
            "2.6": losses, "2.7": overfitting, "2.8": best_model, "2.9": init, "2.10": fashion}
# `all` builds the analyses of the whole store last, so they see the runs every other section trained.
BUILD_ORDER = ("2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.9", "2.8", "2.10", "2.7")
