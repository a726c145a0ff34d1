"""2.8: the best run by test F1 in the whole store: its confusion matrix and its most confident mistakes. Its runs
come from the search of 2.2 (sweeps/search.yaml), whose space holds the training recipe: the model handed in is
the search's."""
from typing import NamedTuple

import numpy as np

from mlp.data import CLASS_NAMES

from .. import figures
from .. import queries as q
from ..findings import Findings, describe, pair_names
from ..section import Drawing, SectionSpec

SPEC = SectionSpec("2.8", "The best model and its failures",
                   "Which classes does the best model confuse, and what do its failures look like?",
                   sweep="search", stage=1)  # the best of the whole store: after the sweeps of stage 0
GALLERY_COLUMNS, GALLERY_SIZE = 6, 12  # most confident mistakes shown
N_PAIRS = 3  # most confused class pairs named

CONFUSIONS = (
    "These are classes whose ink falls in much the same places, as the raw-pixel measure of the first section "
    "shows: the model separates them by a few pixels, and an unusual hand tips an image to the wrong side. The "
    "gallery shows the mistakes the model was surest of, which is where to look for images a person would also "
    "misread, or labels that are themselves doubtful.")
CONFUSIONS_NOT_RAW = (
    "These are not the pairs most alike in raw pixels (first section): the model has learned to separate those, "
    "and its remaining errors come from unusual hands rather than from look-alike classes. The gallery shows the "
    "mistakes the model was surest of, which is where to look for images a person would also misread, or labels "
    "that are themselves doubtful.")


class Facts(NamedTuple):
    run: dict  # the best finished MNIST run by test F1
    names: list  # its dataset's class names
    errors: dict  # queries.confusions of its weights on the test split
    confused: list  # [(a, b, mistakes)] class pairs by mistakes in both directions, most first
    alike: list  # [(a, b, score)] class pairs by raw similarity, most alike first


def facts(inputs):
    store = inputs.store
    run = q.best_run(store)
    if run is None:
        raise q.SectionError(f"no finished MNIST run in {store.path}; `make report-2.8` trains sweep search")
    errors = q.confusions(run, q.weights_file(store, run, inputs.weights_copies), GALLERY_SIZE, inputs.data_dir)
    confused = q.ranked_pairs(errors["matrix"] - np.diag(np.diag(errors["matrix"])))  # mistakes only
    dataset = run["config"]["dataset"]
    return Facts(run, CLASS_NAMES[dataset], errors, confused, q.class_similarity(dataset, inputs.data_dir))


def _gallery(facts):
    """The mistakes shown: whole rows of GALLERY_COLUMNS, most confident first."""
    gallery = facts.errors["gallery"]
    columns = min(GALLERY_COLUMNS, len(gallery))
    return gallery[:columns * (len(gallery) // columns)] if gallery else [], columns


def say(facts):
    run, names, errors = facts.run, facts.names, facts.errors
    confused = pair_names(facts.confused, names, N_PAIRS)
    notes = Findings()
    notes.add("The best run by test macro-F1 among the finished {dataset} runs of every sweep is run {run_id} of "
              "sweep {sweep}: {config}.", prefix="best", dataset=run["config"]["dataset"], run_id=run["id"],
              sweep=run["sweep"], config=describe(run["config"]))
    notes.add("It misclassifies {n_mistakes} of {n_test} test images; its most confused pairs (mistakes in both "
              "directions) are {pairs}, and the single most frequent mistake is {true} taken for {predicted}, "
              "{count} times.", prefix="errors", n_mistakes=errors["n_mistakes"], n_test=errors["n_test"],
              pairs=confused, true=names[errors["pair"][0]], predicted=names[errors["pair"][1]],
              count=errors["pair"][2])
    shared = len({(a, b) for a, b, _ in facts.confused[:N_PAIRS]} & {(a, b) for a, b, _ in facts.alike[:N_PAIRS]})
    notes.add("{k} of these {n} pairs are among the {n} most alike in raw pixels.", prefix="raw", k=shared, n=N_PAIRS)
    notes.lead("The best model's few mistakes fall mostly between " + ("classes that look alike in raw pixels"
               if shared else "classes that are not the most alike in raw pixels") + ": {pairs}.", prefix="errors",
               pairs=confused)
    notes.add(CONFUSIONS if shared else CONFUSIONS_NOT_RAW)
    notes.detail("Its stored test accuracy is {test_acc} and macro-F1 {test_f1}; its weights file evaluated again "
                 "gives accuracy {accuracy} and F1 {f1}.", prefix="scores", test_acc=run["test_acc"],
                 test_f1=run["test_f1"], accuracy=errors["accuracy"], f1=errors["f1"])
    shown, _ = _gallery(facts)
    if shown:
        notes.detail("The gallery shows its {k} most confident mistakes, with confidence from {high} down to {low}.",
                     prefix="gallery", k=len(shown), high=shown[0]["confidence"], low=shown[-1]["confidence"])
    return notes


def draw(facts):
    run, names, errors = facts.run, facts.names, facts.errors
    figs = {"confusion": figures.confusion(errors["matrix"], names, f"Confusion matrix of run {run['id']} "
                                                                     "on the test split")}
    shown, columns = _gallery(facts)
    if shown:
        captions = [f"{names[m['true']]} as {names[m['predicted']]}\n{m['confidence']:.3f}" for m in shown]
        figs["mistakes"] = figures.image_grid(
            errors["images"][:len(shown)].reshape(-1, columns, errors["images"].shape[1]),
            f"Most confident mistakes of run {run['id']} (true as predicted, confidence)", "mistake, most confident "
            "first", "", captions=[captions[i:i + columns] for i in range(0, len(shown), columns)])
    return Drawing(figs, {"mistakes": errors["gallery"]})
