"""The reports: every section builds from a small real store, its figures exist, its numbers are the store's.

One module-scoped store is filled by building every section with its sweep made
tiny (500 training images, at most 2 epochs and 2 layers of 16 neurons, the
search cut to 8 runs). Each section's facts are then recomputed here straight
from the store's rows, epochs and probe files, and every number in its
sentences must be one of them, written in the HTML page.
"""
import copy
import hashlib
import html
import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.image import imread
from sklearn.metrics import confusion_matrix
from sklearn.neighbors import NearestCentroid

from mlp import NeuralNetwork
from mlp.activations import ACTIVATIONS
from mlp.data import CLASS_NAMES, DATASETS, load_dataset
from mlp.metrics import evaluate
from reports import queries as q
from reports import sections as S
from reports.build import make_report
from reports.context import BuildContext, describe, fmt, label
from reports.export import export
from reports.wandb_log import log_section
from runner.job import JobContext
from runner.sweep_file import expand
from store import RunStore
from conftest import as_record

ROOT = Path(__file__).resolve().parent.parent
QUICK = {"train_size": 500, "dtype": "float32", "hidden_size": 16}
CAPS = {"epochs": 2, "num_layers": 2}
SEARCH_RUNS = 8


def quick(spec):
    """A sweep made tiny: few images, epochs, layers and neurons; a random search cut to 8 runs."""
    spec = copy.deepcopy(spec)
    params = spec["parameters"]
    params.update({name: {"value": value} for name, value in QUICK.items()})
    for name, cap in CAPS.items():
        rule = params.get(name, {"value": cap})
        capped = sorted({min(v, cap) for v in rule.get("values", [rule.get("value")])})
        params[name] = {"values": capped} if len(capped) > 1 else {"value": capped[0]}
    if "run_cap" in spec:
        spec["run_cap"] = min(spec["run_cap"], SEARCH_RUNS)
    return spec


@pytest.fixture(scope="module")
def built(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("reports")
    ctx = BuildContext(out=root / "report", db=str(root / "runs.db"),
                       job=JobContext(runs_dir=str(root / "runs"), wandb_mode="disabled"), jobs=1, transform=quick,
                       progress=False)
    sections = {section.id: section for section, _ in make_report(ctx, S.BUILD_ORDER)}
    return SimpleNamespace(ctx=ctx, sections=sections, out=root / "report", store=RunStore(ctx.db, create=False),
                           page=(root / "report" / "index.html").read_text())


# -- the facts, recomputed from the store's rows, epochs and probe files --------------------------------
def scored(store, sweep=None):
    return store.runs(sweep=sweep, status=("finished", "stopped"))


def census(store, sweep):
    counts = dict(store.db.execute("SELECT status, COUNT(*) FROM runs WHERE sweep = ? GROUP BY status", [sweep]))
    return {"runs.sweep": sweep, "runs.total": sum(counts.values()), **{f"runs.{s}": n for s, n in counts.items()}}


def probe(run):
    return np.load(run["probe_path"])


def curve(store, run_id, metric):
    return [v for (v,) in store.db.execute(f"SELECT {metric} FROM epochs WHERE run_id = ? ORDER BY epoch", [run_id])]


def pairs_of(matrix):
    """Class pairs by their off-diagonal mass in both directions, largest first."""
    both = np.asarray(matrix, dtype=float) + np.asarray(matrix, dtype=float).T
    return sorted(((a, b, both[a, b]) for a in range(len(both)) for b in range(a + 1, len(both))),
                  key=lambda p: (-p[2], p[0], p[1]))


def named(pairs, names):
    return [(f"{names[a]}–{names[b]}", v) for a, b, v in pairs[:S.N_PAIRS]]


def best_of(store, dataset):
    rows = store.runs(status="finished", match={"dataset": dataset}, sort="test_f1", descending=True, limit=1)
    return rows[0] if rows else None


def predictions_of(run):
    model = NeuralNetwork(run["config"])
    model.set_weights(np.load(run["weights_path"], allow_pickle=True).item())
    data = load_dataset(run["config"]["dataset"], dtype=model.dtype)
    return data, evaluate(model, data.X_test, data.y_test)


def facts_2_1(store):
    facts, overlaps, tops = {}, [], {}
    for dataset in DATASETS:
        data, names = load_dataset(dataset), CLASS_NAMES[dataset]
        counts = np.bincount(data.y_train)
        predicted = NearestCentroid().fit(data.X_train, data.y_train).predict(data.X_train)
        rates = confusion_matrix(data.y_train, predicted, normalize="true")
        alike = [(a, b, v / 2) for a, b, v in pairs_of(rates)]
        tops[dataset] = alike[0][2]
        facts |= {f"{dataset}.similar.dataset": dataset, f"{dataset}.similar.pairs": named(alike, names),
                  f"alike.{dataset}": [name for name, _ in named(alike, names)]}
        run = best_of(store, dataset)
        if run is not None:
            _, scores = predictions_of(run)
            matrix = confusion_matrix(data.y_test, scores["logits"].argmax(axis=1))
            np.fill_diagonal(matrix, 0)
            confused = [(a, b, int(c)) for a, b, c in pairs_of(matrix)]
            overlaps.append(len({(a, b) for a, b, _ in alike[:S.N_PAIRS]} & {(a, b) for a, b, _ in confused[:S.N_PAIRS]}))
            facts |= {f"{dataset}.model.dataset": dataset, f"{dataset}.model.run_id": run["id"],
                      f"{dataset}.model.confused": named(confused, names), f"{dataset}.model.k": overlaps[-1],
                      f"{dataset}.model.n": S.N_PAIRS}
        facts |= {f"{dataset}.dataset": dataset, f"{dataset}.per_class": S.PER_CLASS,
                  f"{dataset}.classes": len(names), f"{dataset}.n": int(counts.sum())}
        if counts.min() == counts.max():
            facts |= {f"{dataset}.balanced.dataset": dataset, f"{dataset}.balanced.count": int(counts[0])}
        else:
            facts |= {f"{dataset}.range.dataset": dataset, f"{dataset}.range.low": int(counts.min()),
                      f"{dataset}.range.low_class": names[counts.argmin()],
                      f"{dataset}.range.high": int(counts.max()),
                      f"{dataset}.range.high_class": names[counts.argmax()]}
    if overlaps and all(overlaps):
        facts |= {"why.fashion_top": tops["fashion_mnist"], "why.mnist_top": tops["mnist"]}
    return facts


def facts_2_2(store):
    best = store.best("val_acc", sweep="search")
    importance = q.hyperparameter_importance(store, "search")
    runs = sorted(scored(store, "search"), key=lambda r: (-r["val_acc"], r["id"]))[:S.N_TOP]
    varying = {k for k in S.PROFILE_KEYS if len({str(q.scalar(r["config"][k])) for r in scored(store, "search")}) > 1}
    profile = []
    for key in (k for k in S.PROFILE_KEYS if k in varying):
        values = [str(q.scalar(r["config"][key])) for r in runs]
        value = sorted(set(values), key=lambda v: (-values.count(v), v))[0]
        profile.append((f"{key} {value}", f"{values.count(value)} of {len(runs)}"))
    final = store.db.execute("SELECT status, epochs_done, proposal FROM runs WHERE sweep = 'search' AND status IN "
                             "('finished', 'stopped', 'diverged') ORDER BY id").fetchall()
    phrases = {"default:": "the trainer's default configuration, tried first",
               "model:": "the search's model of the runs before it",
               "random start": "random draws before the model had runs to learn from",
               "a plain draw": "random draws between the model's proposals"}
    kinds = [next(p for start, p in phrases.items() if reason.startswith(start)) for _, _, reason in final]
    stops = [epochs for status, epochs, _ in final if status == "stopped"]
    how = {"how.epochs": sum(epochs for _, epochs, _ in final), "how.runs": len(final),
           "how.proposed": [(p, kinds.count(p)) for p in phrases.values() if p in kinds],
           "how.stopped": len(stops), "how.rungs": [(f"epoch {e}", stops.count(e)) for e in sorted(set(stops))]
           or "no epoch"}
    return census(store, "search") | how | {
        "importance.parameter": importance[0]["parameter"], "importance.k": len(importance),
        "importance.importance": importance[0]["importance"], "importance.second": importance[1]["importance"],
        "importance.second_parameter": importance[1]["parameter"],
        "best.n": len(scored(store, "search")), "best.val_acc": best["val_acc"], "best.run_id": best["id"],
        "best.config": describe(best["config"]), "top.n": len(runs), "top.profile": profile,
        "ranking.ranking": [(r["parameter"], r["importance"]) for r in importance]}


def facts_2_3(store):
    rows = store.db.execute(
        "SELECT e.epoch, e.train_loss, r.config, r.id, (SELECT train_loss FROM epochs WHERE run_id = r.id AND epoch = 1) "
        "FROM runs r JOIN epochs e ON e.run_id = r.id "
        "WHERE r.sweep = 'optimizers' AND r.status IN ('finished', 'stopped') AND e.epoch = "
        "(SELECT MAX(epoch) FROM epochs WHERE run_id = r.id AND epoch <= ?) ORDER BY e.train_loss, r.id",
        [S.FIRST_EPOCHS]).fetchall()
    race = {}
    for epoch, loss, config, run_id, first in rows:
        config = json.loads(config)
        race.setdefault(config["optimizer"], (epoch, loss, config["learning_rate"], first, run_id))
    ranking = list(race.items())
    facts = census(store, "optimizers")
    for which, (name, (epoch, loss, lr, first, _)) in (("fastest", ranking[0]), ("slowest", ranking[-1])):
        facts |= {f"{which}.epoch": epoch, f"{which}.optimizer": name, f"{which}.lr": lr, f"{which}.loss": loss}
    facts |= {"fastest.first_loss": ranking[0][1][3], "fastest.second": ranking[1][0],
              "fastest.second_loss": ranking[1][1][1], "fastest.slowest": ranking[-1][0],
              "slowest.ranking": [(name, loss) for name, (_, loss, *_) in ranking]}
    for name, (epoch, loss, lr, first, run_id) in ranking:
        facts |= {f"run{run_id}.optimizer": name, f"run{run_id}.lr": lr, f"run{run_id}.first_loss": first,
                  f"run{run_id}.loss": loss, f"run{run_id}.epoch": epoch, f"run{run_id}.run_id": run_id}
    return facts


def facts_2_4(store):
    facts, rows = census(store, "gradients"), []
    for run in scored(store, "gradients"):
        early = probe(run)["grad_norms"][:S.EARLY_STEPS]
        rows.append((run["config"]["activation"], run["config"]["num_layers"], run, early))
        facts |= {f"run{run['id']}.activation": run["config"]["activation"],
                  f"run{run['id']}.layers": run["config"]["num_layers"], f"run{run['id']}.steps": len(early),
                  f"run{run['id']}.first": float(np.median(early[:, 0])),
                  f"run{run['id']}.last": float(np.median(early[:, -1])),
                  f"run{run['id']}.ratio": float(np.median(early[:, 0] / early[:, -1])),
                  f"run{run['id']}.val_acc": run["val_acc"]}
    rows.sort(key=lambda r: r[:2])
    by = {act: [r for r in rows if r[0] == act] for act in ("sigmoid", "relu")}
    ratio = {r[2]["id"]: facts[f"run{r[2]['id']}.ratio"] for r in rows}
    facts |= {"steps": len(rows[0][3]), "depths": [r[1] for r in by["sigmoid"]],
              "sigmoid": [ratio[r[2]["id"]] for r in by["sigmoid"]], "relu": [ratio[r[2]["id"]] for r in by["relu"]],
              "late.sigmoid_first": [float(np.median(r[3][:, 0])) for r in by["sigmoid"]],
              "late.relu_first": [float(np.median(r[3][:, 0])) for r in by["relu"]], "late.steps": len(rows[0][3]),
              "late.total": len(probe(by["sigmoid"][0][2])["grad_norms"]),
              "late.sigmoid_late": [float(np.median(g[:, 0] / g[:, -1])) for g in
                                    (probe(r[2])["grad_norms"][-S.EARLY_STEPS:] for r in by["sigmoid"])],
              "why.max_slope": 0.25, "why.sigmoid_acc": by["sigmoid"][-1][2]["val_acc"],
              "why.relu_acc": by["relu"][-1][2]["val_acc"]}
    return facts


def facts_2_5(store):
    facts, rows = census(store, "dead_neurons"), []
    for run in scored(store, "dead_neurons"):
        arrays = probe(run)
        dead, widths, norms = arrays["dead"], arrays["widths"], arrays["grad_norms"]
        per_epoch = len(norms) // run["epochs_done"]
        name = label(run["config"], ("activation", "optimizer", "learning_rate"))
        row = {"name": name, "fractions": (dead / widths).tolist(), "grads": np.median(norms[-per_epoch:], axis=0).tolist(),
               "val_acc": run["val_acc"]}
        rows.append((run, row))
        facts["n_images"] = int(arrays["act_hist"][0].sum()) // int(widths[0])
        facts |= {f"run{run['id']}.{k}": v for k, v in row.items()} | {f"run{run['id']}.dead": dead.tolist()}
    stalled, worst = min(((r, row) for r, row in rows if r["config"]["activation"] == "relu"),
                         key=lambda pair: (pair[0]["val_acc"], pair[0]["id"]))
    facts |= {"saturated": 0.99, "slope": 1 - 0.99 ** 2, "relu.curve": curve(store, stalled["id"], "val_acc"),
              **{f"relu.{k}": v for k, v in worst.items()}}
    partner = [(r, row) for r, row in rows if r["config"]["activation"] == "tanh"
               and r["config"]["optimizer"] == stalled["config"]["optimizer"]]
    if partner:
        facts |= {f"tanh.{k}": v for k, v in partner[0][1].items()}
        if max(partner[0][1]["fractions"]) >= S.DEAD_MANY:
            facts["others.others"] = [(row["name"], r["val_acc"]) for r, row in rows
                                      if r["config"]["optimizer"] != stalled["config"]["optimizer"]]
    return facts


def facts_2_6(store):
    facts, runs = census(store, "losses"), scored(store, "losses")
    for optimizer in sorted({r["config"]["optimizer"] for r in runs}):
        ce, mse = (next(r for r in runs if r["config"]["optimizer"] == optimizer and r["config"]["loss"] == loss)
                   for loss in ("cross_entropy", "mean_squared_error"))
        ce_curve, mse_curve = curve(store, ce["id"], "val_acc"), curve(store, mse["id"], "val_acc")
        target = min(ce_curve[-1], mse_curve[-1])
        facts |= {f"{optimizer}.optimizer": optimizer, f"{optimizer}.target": target,
                  f"{optimizer}.ce_epoch": 1 + next(i for i, v in enumerate(ce_curve) if v >= target),
                  f"{optimizer}.mse_epoch": 1 + next(i for i, v in enumerate(mse_curve) if v >= target),
                  f"{optimizer}.ce_first": ce_curve[0], f"{optimizer}.mse_first": mse_curve[0],
                  f"{optimizer}.ce_last": ce_curve[-1], f"{optimizer}.mse_last": mse_curve[-1]}
    for run in runs:
        epochs = store.db.execute("SELECT COUNT(*) FROM epochs WHERE run_id = ?", [run["id"]]).fetchone()[0]
        facts |= {f"run{run['id']}.name": label(run["config"], ("loss", "optimizer")),
                  f"run{run['id']}.val_acc": run["val_acc"], f"run{run['id']}.epochs": epochs,
                  f"run{run['id']}.test_acc": run["test_acc"]}
    return facts


def facts_2_7(store):
    rows = store.db.execute("SELECT id, sweep, train_acc, test_acc, epochs_done FROM runs "
                            "WHERE status IN ('finished', 'stopped') ORDER BY id").fetchall()
    gaps = np.array([train - test for _, _, train, test, _ in rows])
    threshold = float(np.quantile(gaps, S.OVERFIT_QUANTILE))
    is_marked = [g > threshold and g > 0 for g in gaps]
    marked = sorted((r for r, m in zip(rows, is_marked) if m), key=lambda r: (r[3] - r[2], r[0]))
    facts = {"n": len(rows), "quantile": S.OVERFIT_QUANTILE, "threshold": threshold, "n_marked": len(marked)}
    if marked:
        run_id, sweep, train, test, _ = marked[0]
        sweeps = {}
        for r in marked:
            sweeps[r[1]] = sweeps.get(r[1], 0) + 1
        facts |= {"worst.run_id": run_id, "worst.sweep": sweep, "worst.train_acc": train, "worst.test_acc": test,
                  "worst.gap": train - test,
                  "worst.marked_epochs": float(np.median([r[4] for r, m in zip(rows, is_marked) if m])),
                  "worst.other_epochs": float(np.median([r[4] for r, m in zip(rows, is_marked) if not m])),
                  "worst.sweeps": sorted(sweeps.items(), key=lambda kv: (-kv[1], kv[0]))}
    for i, (run_id, sweep, train, test, _) in enumerate(marked[:S.N_WORST]):
        facts |= {f"worst{i + 1}.run_id": run_id, f"worst{i + 1}.sweep": sweep, f"worst{i + 1}.train_acc": train,
                  f"worst{i + 1}.test_acc": test, f"worst{i + 1}.gap": train - test}
    return facts


def best_mnist(store):
    return best_of(store, "mnist")


def facts_2_8(store):
    run = best_mnist(store)
    data, scores = predictions_of(run)
    predicted = scores["logits"].argmax(axis=1)
    off = confusion_matrix(data.y_test, predicted)
    np.fill_diagonal(off, 0)
    true, wrong_as = np.unravel_index(off.argmax(), off.shape)
    logits = scores["logits"] - scores["logits"].max(axis=1, keepdims=True)
    confidence = (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)).max(axis=1)
    shown = np.sort(confidence[predicted != data.y_test])[::-1][:S.GALLERY_SIZE]
    return {"best.dataset": "mnist", "best.run_id": run["id"], "best.sweep": run["sweep"],
            "best.config": describe(run["config"]), "scores.test_acc": run["test_acc"],
            "scores.test_f1": run["test_f1"], "scores.accuracy": run["test_acc"], "scores.f1": run["test_f1"],
            "errors.n_mistakes": int((predicted != data.y_test).sum()), "errors.n_test": len(data.y_test),
            "errors.pairs": [(name, int(v)) for name, v in named(pairs_of(off), CLASS_NAMES["mnist"])],
            "errors.true": str(true), "errors.predicted": str(wrong_as), "errors.count": int(off.max()),
            "gallery.k": len(shown), "gallery.high": float(shown[0]), "gallery.low": float(shown[-1]),
            "raw.k": len({(a, b) for a, b, _ in pairs_of(off)[:S.N_PAIRS]} & raw_alike("mnist")), "raw.n": S.N_PAIRS}


def raw_alike(dataset):
    data = load_dataset(dataset)
    predicted = NearestCentroid().fit(data.X_train, data.y_train).predict(data.X_train)
    return {(a, b) for a, b, _ in pairs_of(confusion_matrix(data.y_train, predicted, normalize="true"))[:S.N_PAIRS]}


def facts_2_9(store):
    facts, spreads = census(store, "init"), {"zeros": [], "xavier": []}
    for run in scored(store, "init"):
        grads = probe(run)["neuron_grads"]
        name = label(run["config"], ("weight_init", "activation"))
        spread = float((grads.max(axis=1) - grads.min(axis=1)).max())
        spreads[run["config"]["weight_init"]].append((name, spread))
        facts |= {"steps": grads.shape[0], "neurons": grads.shape[1], f"run{run['id']}.name": name,
                  f"run{run['id']}.spread": spread, f"run{run['id']}.mean": float(grads.mean())}
    return facts | {"zeros": max(s for _, s in spreads["zeros"]), "zeros_runs": [n for n, _ in spreads["zeros"]],
                    "xavier": [s for _, s in spreads["xavier"]], "xavier_runs": [n for n, _ in spreads["xavier"]]}


def fashion_choice(store):
    """The rule of 2.10 written out: distinct configurations by validation accuracy, those within the tie of the
    best simplest first; the first three whose adapted (and test-shrunk) configurations differ."""
    ranked, seen = [], set()
    for run in store.runs(status="finished", match={"dataset": "mnist"}, sort="val_acc", descending=True):
        if run["config_hash"] not in seen:
            seen.add(run["config_hash"])
            ranked.append(run)
    tied = [r for r in ranked if r["val_acc"] >= ranked[0]["val_acc"] - S.TIE]
    simplest = sorted(tied, key=lambda r: (r["config"]["num_layers"], r["config"]["learning_rate"],
                                           r["config"]["weight_decay"], r["config"]["augment"],
                                           r["config"]["epochs"], r["config_hash"]))
    chosen, keys = [], set()
    tied_facts = {"tied.best": ranked[0]["val_acc"], "tied.tie": S.TIE,
                  "tied.tied": [(f"run {r['id']}", r["val_acc"]) for r in simplest]}
    for source in simplest + [r for r in ranked if r not in tied]:
        options = S.fashion_options(source["config"])
        assert options["dataset"] == "fashion_mnist" and options["epochs"] > source["config"]["epochs"]
        assert options["hidden_size"] == source["config"]["hidden_size"]
        spec = {"name": "fashion", "method": "grid", "parameters": {k: {"value": v} for k, v in options.items()}}
        key = store.key(expand(quick(spec))[0])
        if key not in keys and len(chosen) < S.N_FASHION:
            keys.add(key)
            chosen.append((source, key))
    return chosen, tied_facts


def facts_2_10(store):
    chosen, tied_facts = fashion_choice(store)
    sources = [source for source, _ in chosen]
    facts = {"n": S.N_FASHION, "tie": S.TIE, "sweep": "fashion", "factor": S.FASHION_EPOCH_FACTOR}
    if S.FASHION_ADAPTATION["augment"]:
        facts["shift"] = S.FASHION_ADAPTATION["augment"]
    if S.FASHION_ADAPTATION["dropout"]:
        facts["dropout"] = S.FASHION_ADAPTATION["dropout"]
    results, val_results = [], []
    for rank, (source, key) in enumerate(chosen, 1):
        (run,) = store.runs(sweep="fashion", key=key)
        results.append((run["test_acc"], -run["id"], rank))
        val_results.append((run["val_acc"], run["id"], rank))
        facts |= {f"run{run['id']}.rank": rank, f"run{run['id']}.config": describe(source["config"]),
                  f"run{run['id']}.source": source["id"], f"run{run['id']}.mnist_val": source["val_acc"],
                  f"run{run['id']}.mnist_test": source["test_acc"], f"run{run['id']}.val_acc": run["val_acc"],
                  f"run{run['id']}.test_acc": run["test_acc"], f"run{run['id']}.test_f1": run["test_f1"],
                  f"run{run['id']}.run_id": run["id"]}
    test_acc, _, rank = max(results)
    mnist_rank = 1 + max(range(len(sources)), key=lambda i: (sources[i]["val_acc"], -sources[i]["id"]))
    val_acc, _, val_rank = max((run_acc, -run_id, r) for run_acc, run_id, r in val_results)
    facts |= {"best.rank": rank, "best.test_acc": test_acc, "best.mnist_rank": mnist_rank, **tied_facts,
              "best.val_rank": val_rank, "best.val_acc": val_acc}
    n_test = len(load_dataset("fashion_mnist").y_test)
    facts |= {"noise.spread": test_acc - min(acc for acc, _, _ in results), "noise.p": test_acc, "noise.n": n_test,
              "noise.error": float(np.sqrt(test_acc * (1 - test_acc) / n_test))}
    if rank != mnist_rank:
        facts["best.mnist_winner_acc"] = next(acc for acc, _, r in results if r == mnist_rank)
    return facts


EXPECTED = {"2.1": facts_2_1, "2.2": facts_2_2, "2.3": facts_2_3, "2.4": facts_2_4, "2.5": facts_2_5,
            "2.6": facts_2_6, "2.7": facts_2_7, "2.8": facts_2_8, "2.9": facts_2_9, "2.10": facts_2_10}


# -- the tests ----------------------------------------------------------------------------------------------
def test_every_section_builds_with_real_png_figures(built):
    assert set(built.sections) == set(S.SECTIONS)
    for section_id, section in built.sections.items():
        part = json.loads((built.out / "sections" / f"{section_id}.json").read_text())
        assert part["figures"], f"section {section_id} has no figures"
        for name in part["figures"]:
            image = imread(built.out / name)
            assert image.shape[0] > 100 and image.shape[1] > 100 and image.std() > 0, name


def test_page_references_only_files_that_exist(built):
    targets = re.findall(r'(?:src|href)="([^"#][^"]*)"', built.page)
    assert len(targets) == sum(len(s.figures) for s in built.sections.values())
    assert all((built.out / html.unescape(t)).is_file() for t in targets)
    for section in built.sections.values():
        assert f"{section.id} {html.escape(section.title)}" in built.page


@pytest.mark.parametrize("section_id", list(EXPECTED))
def test_every_number_in_the_text_is_the_stores(built, section_id):
    section, expected = built.sections[section_id], EXPECTED[section_id](built.store)
    found = section.findings.facts
    assert found.keys() == expected.keys()
    for name, value in expected.items():  # a float recomputed here may differ in its last bit (BLAS's order)
        assert found[name] == (pytest.approx(value, rel=1e-12) if isinstance(value, float) else value), name
    part = json.loads((built.out / "sections" / f"{section_id}.json").read_text())
    assert part["facts"] == {name: fmt(value) for name, value in expected.items()}
    for template, sentence in zip(section.findings.templates, section.findings.sentences):
        typed = re.sub(r"\{[\w.]+\}", "", template)  # what is left once the facts are taken out
        assert not re.search(r"(?<![A-Za-z])\d", typed), f"a number typed into {template!r}"  # F1 is a name
        assert html.escape(sentence) in built.page


def test_rebuilding_a_section_trains_nothing(built):
    before = built.store.db.execute("SELECT COUNT(*), MAX(ended_at) FROM runs").fetchone()
    (section, _), = make_report(built.ctx, ["2.3"])
    assert built.store.db.execute("SELECT COUNT(*), MAX(ended_at) FROM runs").fetchone() == before
    assert section.findings.sentences == built.sections["2.3"].findings.sentences


def test_export_writes_a_pair_that_inference_scores_exactly(built, tmp_path, inference_module):
    run = export(built.store, tmp_path)
    assert run["id"] == best_mnist(built.store)["id"]
    assert (tmp_path / "best_model.npy").read_bytes() == Path(run["weights_path"]).read_bytes()
    scores = inference_module.main(["--model_path", str(tmp_path / "best_model.npy"),
                                    "--config", str(tmp_path / "best_config.json")])
    for name in ("acc", "f1", "precision", "recall"):
        assert scores["accuracy" if name == "acc" else name] == run[f"test_{name}"]


@pytest.mark.parametrize("case", ["unknown section", "missing store", "export from an empty store"])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, case):
    out = tmp_path / "report"
    if "empty store" in case:
        RunStore(tmp_path / "runs.db").close()
    if case.startswith("export"):
        args = ["reports.export", "--db", tmp_path / "runs.db", "--out_dir", out]
    else:
        args = ["reports", "2.11" if case == "unknown section" else "2.3", "--no-train", "--db", tmp_path / "runs.db",
                "--out", out, "--wandb_mode", "disabled"]
    result = subprocess.run([sys.executable, "-m", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert {"unknown section": "invalid choice", "missing store": "no run store",
            "export from an empty store": "no finished mnist run"}[case] in result.stderr
    assert not out.exists()
    assert (tmp_path / "runs.db").exists() == ("empty store" in case)


def test_a_section_without_its_input_says_so_in_its_place_and_the_others_build(tmp_path):
    """An empty store: 2.1 needs only the images and builds; 2.3 and 2.4 say which command trains their runs."""
    RunStore(tmp_path / "runs.db").close()
    out = tmp_path / "report"
    result = subprocess.run([sys.executable, "-m", "reports", "all", "--no-train", "--db", str(tmp_path / "runs.db"),
                             "--out", str(out), "--wandb_mode", "disabled"], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "python -m reports: error: 9 of 10 sections lack their input (2.2, 2.3, 2.4, 2.5, 2.6, 2.9, 2.8, 2.10, 2.7): "
        "each says in the report what fills it in"]
    page = (out / "index.html").read_text()
    assert "Traceback" not in result.stdout + result.stderr
    for sweep in ("optimizers", "gradients"):
        assert html.escape(f"Not built: no evaluated runs of sweep {sweep} in {tmp_path / 'runs.db'}; "
                           f"`python -m runner sweeps/{sweep}.yaml` trains them") in page
    parts = {p.stem: json.loads(p.read_text()) for p in (out / "sections").glob("*.json")}
    assert len(parts) == 10 and [i for i, p in parts.items() if not p["missing"]] == ["2.1"]
    assert parts["2.1"]["figures"] and all(not p["figures"] for i, p in parts.items() if i != "2.1")
    assert RunStore(tmp_path / "runs.db", create=False).db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0


def test_a_weights_copy_stands_in_for_a_run_only_with_the_runs_hash(built, tmp_path):
    run = dict(best_mnist(built.store))
    copy, other = tmp_path / "best_model.npy", tmp_path / "other.npy"
    copy.write_bytes(Path(run["weights_path"]).read_bytes())
    other.write_bytes(copy.read_bytes()[:-1] + b"\0")
    assert q.weights_file(built.store, run, [other, copy]) == run["weights_path"]  # its own file first
    run["weights_path"] = None  # as in the published store
    assert q.weights_file(built.store, run, [other, copy]) == str(copy)
    with pytest.raises(q.SectionError, match=f"the weights of run {run['id']} are not in .*"
                                             f"`python -m runner sweeps/{run['sweep']}.yaml --rerun`"):
        q.weights_file(built.store, run, [other])


def test_wandb_gets_the_same_panels_and_tables(built, tmp_path):
    section = built.sections["2.2"]
    paths = [built.out / "figures" / f"2.2_{stem}.png" for stem in section.figures]
    log_section(section, paths, SimpleNamespace(wandb_mode="offline", wandb_project="mlp-sweeps-test", wandb_entity=None),
                dir=str(tmp_path))
    (media,) = tmp_path.glob("wandb/offline-run-*/files/media")
    assert sorted(p.name.split("_0_")[0] for p in media.glob("images/2.2/*.png")) == sorted(p.stem for p in paths)
    assert sorted(p.name.split("_0_")[0] for p in media.glob("table/2.2/*.table.json")) == sorted(section.tables)


# -- the W&B report, the published copy, and 2.10's rule ------------------------------------------------
def test_wandb_report_offline_has_every_section_with_its_text_and_panels(built):
    from wandb_workspaces.expr import expr_to_filters

    result = subprocess.run([sys.executable, "-m", "reports.wandb_report", "--out", str(built.out), "--db", built.ctx.db,
                             "--wandb_mode", "offline"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "wandb login" in result.stdout
    plain = json.loads((built.out / "wandb_report.json").read_text())
    assert [s["id"] for s in plain["sections"]] == sorted(S.SECTIONS, key=lambda i: [int(p) for p in i.split(".")])
    for entry in plain["sections"]:
        section = built.sections[entry["id"]]
        assert entry["heading"] == f"{section.id} {section.title}" and entry["question"] == section.question
        assert entry["text"] == " ".join(section.findings.of_kind("answer")) and entry["text"]
        assert entry["panels"], f"section {entry['id']} has no panel"
        for panel in entry["panels"]:
            assert expr_to_filters(panel["runset"]) is not None and panel["runs"] >= 1
    (coordinates,) = [p for p in plain["sections"][1]["panels"] if p["type"] == "ParallelCoordinatesPlot"]
    assert coordinates["runs"] == len(scored(built.store, "search"))
    assert "val_acc" in json.dumps(coordinates["spec"]["columns"][-1])
    lines = [p for s in plain["sections"] if s["id"] in ("2.3", "2.4", "2.6", "2.9") for p in s["panels"]
             if p["type"] == "LinePlot"]
    assert {s["id"] for s in plain["sections"] for p in s["panels"] if p in lines} == {"2.3", "2.4", "2.6", "2.9"}
    series = [p for p in lines if p["runset"].startswith("Name = 'report-2.4'")]
    assert series and series[0]["spec"]["y"] == [f"2.4/{key}" for key in built.sections["2.4"].series]


def test_wandb_report_object_builds_offline(built):
    from reports.html import read_parts
    from reports.wandb_report import build

    report, plain = build(read_parts(built.out), "mlp-sweeps", "someone", built.store)
    headings = [b.text for b in report.blocks if type(b).__name__ == "H2"]
    assert headings == [s["heading"] for s in plain["sections"]] and len(headings) == len(S.SECTIONS)
    grids = [b for b in report.blocks if type(b).__name__ == "PanelGrid"]
    assert sum(len(g.panels) for g in grids) == sum(len(s["panels"]) for s in plain["sections"])


def publish(built, docs, model):
    return subprocess.run([sys.executable, "-m", "reports.publish", "--out", str(built.out), "--db", built.ctx.db,
                           "--docs", str(docs), "--model", str(model)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_publish_refuses_a_best_model_that_is_not_the_stores_best_run(built, tmp_path):
    run = export(built.store, tmp_path)
    worse = min(built.store.runs(status="finished", match={"dataset": "mnist"}, has="test_f1"),
                key=lambda r: r["test_f1"])
    (tmp_path / "best_model.npy").write_bytes(Path(worse["weights_path"]).read_bytes())
    result = publish(built, tmp_path / "docs", tmp_path / "best_model.npy")
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        f"python -m reports.publish: error: {tmp_path / 'best_model.npy'} is not the weights of run {run['id']}, the "
        f"best of {Path(built.ctx.db).resolve()} by test F1; export it with `make best` (same MLP_DB) before publishing"]
    assert not (tmp_path / "docs").exists() and not list(tmp_path.glob(".report-*"))


def test_publish_copies_the_report_its_store_and_probes_without_weights_under_fifteen_megabytes(built, tmp_path):
    docs = tmp_path / "docs" / "report"
    run = export(built.store, tmp_path)
    result = publish(built, docs, tmp_path / "best_model.npy")
    assert result.returncode == 0, result.stderr
    assert (docs / "index.html").read_text() == built.page
    assert {p.name for p in (docs / "figures").iterdir()} == {p.name for p in (built.out / "figures").iterdir()}
    assert sum(p.stat().st_size for p in docs.rglob("*") if p.is_file()) < 15 * 1024 * 1024
    assert {json.loads(p.read_text())["store"] for p in (docs / "sections").glob("*.json")} == {"runs.db"}
    assert not list(docs.glob("runs.db-*"))  # one self-contained file, no WAL beside it
    shipped = (docs / "runs.db").read_bytes()
    queried = subprocess.run([sys.executable, "-m", "store", "--db", str(docs / "runs.db"), "sweeps"], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
    assert queried.returncode == 0 and (docs / "runs.db").read_bytes() == shipped  # a query leaves git clean
    copy = RunStore(docs / "runs.db", create=False)
    assert copy.db.execute("SELECT COUNT(*) FROM runs").fetchone() == built.store.db.execute(
        "SELECT COUNT(*) FROM runs").fetchone()
    assert copy.db.execute("SELECT COUNT(*) FROM runs WHERE weights_path IS NOT NULL").fetchone()[0] == 0
    assert copy.get(run["id"])["weights_sha256"] == hashlib.sha256((tmp_path / "best_model.npy").read_bytes()).hexdigest()
    probed = [r for r in built.store.runs() if r["probe_path"]]
    assert probed and [(r["id"], Path(r["probe_path"]).read_bytes()) for r in copy.runs() if r["probe_path"]] == [
        (r["id"], Path(r["probe_path"]).read_bytes()) for r in probed]  # each probe file beside the copy
    assert all(Path(r["probe_path"]).parent == docs / "probes" for r in copy.runs() if r["probe_path"])
    listed = subprocess.run([sys.executable, "-m", "store", "--db", str(docs / "runs.db"), "list", "--sweep", "fashion"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and listed.stdout.count("fashion") == S.N_FASHION


def test_fashion_rule_ignores_last_bit_noise_among_near_ties(tmp_path):
    """Runs within the tie of the best are taken simplest first, so float32 noise cannot reorder them."""
    def store_with(noise):
        store = RunStore(tmp_path / f"rule{noise}.db")
        accuracies = {(4, 0.002): 0.9931, (3, 0.002): 0.9929, (4, 0.001): 0.9925, (3, 0.001): 0.9922,
                      (2, 0.001): 0.9890}
        for i, ((layers, lr), acc) in enumerate(accuracies.items()):
            config = {"dataset": "mnist", "num_layers": layers, "learning_rate": lr, "weight_decay": 0.0,
                      "augment": 0, "epochs": 40}
            store.record("best", as_record(config, {"status": "finished", "val_acc": acc + noise * (-1) ** i, "epochs": []}))
        return store

    picks = [[(r["config"]["num_layers"], r["config"]["learning_rate"]) for r in S.fashion_ranking(store_with(noise))[:3]]
             for noise in (0.0, 0.0002, -0.0002)]
    assert picks[0] == [(3, 0.001), (3, 0.002), (4, 0.001)]  # the tied four, simplest first; the 0.989 run is out
    assert picks[1] == picks[0] == picks[2]


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_a_dead_unit_is_one_that_passes_almost_no_gradient(activation):
    """2.5's definition per activation: where its ``dead_when`` holds the slope is below 0.02 (0 for ReLU),
    elsewhere not."""
    function, backward, dead_when = ACTIVATIONS[activation]
    A = function(np.linspace(-12, 12, 24001))  # in place: the array becomes the activations
    slope, dead = backward(np.ones_like(A), A).astype(float), dead_when(A)
    assert dead.any() and (~dead).any()
    assert slope[dead].max() < 0.02 and slope[~dead].min() > (0 if activation == "relu" else 0.009)
    if activation == "relu":
        assert slope[dead].max() == 0 and np.all(A[dead] == 0)
