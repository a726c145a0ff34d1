"""2.1: sample images of each class; which classes are alike in raw pixels, and the best models' confusions."""
from typing import NamedTuple

import numpy as np

from mlp.data import CLASS_NAMES, DATASETS, load_dataset
from store import StoreError

from .. import figures
from .. import queries as q
from ..findings import Findings, pair_names
from ..section import Drawing, SectionSpec

SPEC = SectionSpec("2.1", "Sample images and look-alike classes",
                   "Which classes look alike in their raw pixels, and how might that affect the model?",
                   stage=3)  # it reads the best model of each dataset: after 2.8 and 2.10 train them
PER_CLASS = 5  # sample images per class
N_PAIRS = 3  # most alike / most confused class pairs named
N_SIMILAR_SHOWN = 8  # class pairs drawn in the raw-similarity figure

SIMILAR_AND_CONFUSED = (
    "An MLP sees an image only as a vector of pixel intensities, so two classes whose ink falls in the same places "
    "lie close together in its input space: it has to learn the few pixels where they differ, and an unusual "
    "writer or garment tips an image across that boundary. That is what happens here: the pairs most alike in raw "
    "pixels are also among the trained models' most frequent confusions, and Fashion-MNIST, whose most alike "
    "pair scores {fashion_top} against MNIST's {mnist_top}, is the harder dataset.")
SIMILAR_NOT_CONFUSED = (
    "An MLP sees an image only as a vector of pixel intensities, so raw similarity is where one expects errors; "
    "here the trained models' confusions are not the pairs most alike in raw pixels, so training has learned "
    "features that separate those pairs better than a mean image does.")


class DatasetFacts(NamedTuple):
    dataset: str
    names: list  # class names
    images: np.ndarray  # (classes, PER_CLASS, 784): the first training images of each class
    counts: list  # training images per class
    alike: list  # [(a, b, score)] class pairs by raw similarity, most alike first (queries.class_similarity)
    model: dict = None  # the best run on the dataset by test F1 (None without one or its weights)
    confused: list = None  # its test confusions [(a, b, count)], most first


class Facts(NamedTuple):
    datasets: list  # one DatasetFacts per dataset


def facts(inputs):
    return Facts([_dataset_facts(inputs, dataset) for dataset in DATASETS])


def _dataset_facts(inputs, dataset):
    data = load_dataset(dataset, inputs.data_dir, dtype=np.float32)
    n_classes = len(CLASS_NAMES[dataset])
    images = np.stack([data.X_train[np.flatnonzero(data.y_train == c)[:PER_CLASS]] for c in range(n_classes)])
    counts = np.bincount(data.y_train, minlength=n_classes).tolist()
    found = DatasetFacts(dataset, CLASS_NAMES[dataset], images, counts, q.class_similarity(dataset, inputs.data_dir))
    try:  # the models are a bonus: without a store, a run or its weights the pixels still answer
        run = q.best_run(inputs.store, dataset=dataset)
        if run is None:
            return found
        weights = q.weights_file(inputs.store, run, inputs.weights_copies)
    except (StoreError, q.SectionError):
        return found
    matrix = q.confusions(run, weights, 0, inputs.data_dir)["matrix"]
    return found._replace(model=run, confused=[(a, b, int(c)) for a, b, c in q.ranked_pairs(matrix)])


def say(facts):
    notes, tops, overlaps, alike_names = Findings(), {}, [], {}
    for d in facts.datasets:
        tops[d.dataset] = d.alike[0][2]
        alike_names[d.dataset] = [name for name, _ in pair_names(d.alike, d.names, N_PAIRS)]
        notes.add("In {dataset} the class pairs most alike in raw pixels, by the share of their training images "
                  "lying nearer the other class's mean image, are {pairs}.", prefix=f"{d.dataset}.similar",
                  dataset=d.dataset, pairs=pair_names(d.alike, d.names, N_PAIRS))
        if d.model is not None:
            alike = {(a, b) for a, b, _ in d.alike[:N_PAIRS]}
            overlaps.append(len(alike & {(a, b) for a, b, _ in d.confused[:N_PAIRS]}))
            notes.add("The best {dataset} model in the store (run {run_id}) most often confuses {confused} on the "
                      "test images (mistakes in both directions); {k} of its {n} most confused pairs are among the "
                      "{n} most alike.", prefix=f"{d.dataset}.model", dataset=d.dataset, run_id=d.model["id"],
                      confused=pair_names(d.confused, d.names, N_PAIRS), k=overlaps[-1], n=N_PAIRS)
        low, high = int(np.argmin(d.counts)), int(np.argmax(d.counts))
        notes.detail("{dataset}: the first {per_class} training images of each of its {classes} classes, from a "
                     "training split of {n} images.", prefix=d.dataset, dataset=d.dataset, per_class=PER_CLASS,
                     classes=len(d.names), n=sum(d.counts))
        if d.counts[low] == d.counts[high]:
            notes.detail("Every class of {dataset} has {count} training images.", prefix=f"{d.dataset}.balanced",
                         dataset=d.dataset, count=d.counts[low])
        else:
            notes.detail("The rarest class of {dataset} is {low_class} with {low} training images, the commonest "
                         "{high_class} with {high}.", prefix=f"{d.dataset}.range", dataset=d.dataset,
                         low_class=d.names[low], low=d.counts[low], high_class=d.names[high], high=d.counts[high])
    notes.lead("The classes most alike in raw pixels are {mnist} among the digits and {fashion_mnist} among the "
               "clothes" + ("; these are also the pairs the trained models confuse most." if overlaps and all(overlaps)
                            else "."), prefix="alike", **alike_names)
    if overlaps and all(overlaps):
        notes.add(SIMILAR_AND_CONFUSED, prefix="why", fashion_top=tops["fashion_mnist"], mnist_top=tops["mnist"])
    elif overlaps:
        notes.add(SIMILAR_NOT_CONFUSED)
    return notes


def draw(facts):
    figs, counts_table, similar_table = {}, [], []
    for d in facts.datasets:
        figs[f"samples_{d.dataset}"] = figures.image_grid(
            d.images, f"{d.dataset}: the first {PER_CLASS} training images of each class", "sample", "class",
            row_labels=d.names)
        figs[f"similar_{d.dataset}"] = figures.bars(
            [name for name, _ in pair_names(d.alike, d.names, N_SIMILAR_SHOWN)],
            {"raw similarity": [v for _, _, v in d.alike[:N_SIMILAR_SHOWN]]},
            f"{d.dataset}: class pairs most alike in raw pixels", "class pair",
            "share nearer the other class's mean image")
        counts_table += [{"dataset": d.dataset, "class": n, "images": c} for n, c in zip(d.names, d.counts)]
        similar_table += [{"dataset": d.dataset, "pair": f"{d.names[a]}–{d.names[b]}", "score": v}
                          for a, b, v in d.alike]
    return Drawing(figs, {"class_counts": counts_table, "raw_similarity": similar_table})
