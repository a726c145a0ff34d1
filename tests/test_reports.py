"""The reports: every section builds from a small real store, its figures exist, its numbers are the store's.

One module-scoped store is filled by building every section with its sweep made
tiny (500 training images, at most 2 epochs and 2 layers of 16 neurons, the
search cut to 8 runs). Each section's facts are then recomputed here straight
from the store's rows, epochs and probe files, and every number in its
sentences must be one of them, written in the HTML page.
"""
import copy
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

from mlp import NeuralNetwork
from mlp.data import CLASS_NAMES, DATASETS, load_dataset
from mlp.metrics import evaluate
from reports import queries as q
from reports import sections as S
from reports.build import make_report
from reports.context import BuildContext, describe, fmt, label
from reports.export import export
from reports.wandb_log import log_section
from runner.sweep import expand
from store import RunStore

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
    ctx = BuildContext(out=root / "report", db=str(root / "runs.db"), runs_dir=str(root / "runs"), jobs=1,
                       wandb_mode="disabled", transform=quick, progress=False)
    sections = {section.id: section for section, _ in make_report(ctx, S.BUILD_ORDER)}
    return SimpleNamespace(ctx=ctx, sections=sections, out=root / "report", store=RunStore(ctx.db, create=False),
                           page=(root / "report" / "index.html").read_text())


# -- the facts, recomputed from the store's rows, epochs and probe files --------------------------------
def scored(store, sweep=None):
    return store.runs(sweep=sweep, where="status IN ('finished', 'stopped')")


def census(store, sweep):
    counts = dict(store.db.execute("SELECT status, COUNT(*) FROM runs WHERE sweep = ? GROUP BY status", [sweep]))
    return {"runs.sweep": sweep, "runs.total": sum(counts.values()), **{f"runs.{s}": n for s, n in counts.items()}}


def probe(run):
    return np.load(run["probe_path"])


def facts_2_1(store):
    facts = {}
    for dataset in DATASETS:
        counts, names = np.bincount(load_dataset(dataset).y_train), CLASS_NAMES[dataset]
        facts |= {f"{dataset}.dataset": dataset, f"{dataset}.per_class": S.PER_CLASS,
                  f"{dataset}.classes": len(names), f"{dataset}.n": int(counts.sum())}
        if counts.min() == counts.max():
            facts |= {f"{dataset}.balanced.dataset": dataset, f"{dataset}.balanced.count": int(counts[0])}
        else:
            facts |= {f"{dataset}.range.dataset": dataset, f"{dataset}.range.low": int(counts.min()),
                      f"{dataset}.range.low_class": names[counts.argmin()],
                      f"{dataset}.range.high": int(counts.max()),
                      f"{dataset}.range.high_class": names[counts.argmax()]}
    return facts


def facts_2_2(store):
    best = store.best("val_acc", sweep="search")
    importance = q.hyperparameter_importance(store, "search")
    return census(store, "search") | {
        "best.n": len(scored(store, "search")), "best.val_acc": best["val_acc"], "best.run_id": best["id"],
        "best.config": describe(best["config"]), "importance.k": len(importance),
        "importance.ranking": [(r["parameter"], r["importance"]) for r in importance]}


def facts_2_3(store):
    rows = store.db.execute(
        "SELECT e.epoch, e.train_loss, r.config FROM runs r JOIN epochs e ON e.run_id = r.id "
        "WHERE r.sweep = 'optimizers' AND r.status IN ('finished', 'stopped') AND e.epoch = "
        "(SELECT MAX(epoch) FROM epochs WHERE run_id = r.id AND epoch <= ?) ORDER BY e.train_loss, r.id",
        [S.FIRST_EPOCHS]).fetchall()
    race = {}
    for epoch, loss, config in rows:
        config = json.loads(config)
        race.setdefault(config["optimizer"], (epoch, loss, config["learning_rate"]))
    ranking = list(race.items())
    facts = census(store, "optimizers") | {"all.epoch": ranking[0][1][0],
                                           "all.ranking": [(name, loss) for name, (_, loss, _) in ranking]}
    for which, (name, (epoch, loss, lr)) in (("fastest", ranking[0]), ("slowest", ranking[-1])):
        facts |= {f"{which}.epoch": epoch, f"{which}.optimizer": name, f"{which}.lr": lr, f"{which}.loss": loss}
    return facts


def facts_2_4(store):
    facts = census(store, "gradients")
    for run in scored(store, "gradients"):
        norms = probe(run)["grad_norm"]
        facts |= {f"run{run['id']}.activation": run["config"]["activation"],
                  f"run{run['id']}.layers": run["config"]["num_layers"],
                  f"run{run['id']}.median": float(np.median(norms)), f"run{run['id']}.steps": len(norms)}
    return facts


def facts_2_5(store):
    facts = census(store, "dead_neurons")
    for run in scored(store, "dead_neurons"):
        arrays = probe(run)
        dead, widths = arrays["dead"], arrays["widths"]
        facts["n_images"] = int(arrays["act_hist"][0].sum()) // int(widths[0])
        facts |= {f"run{run['id']}.name": label(run["config"], ("activation", "optimizer", "learning_rate")),
                  f"run{run['id']}.fractions": (dead / widths).tolist(), f"run{run['id']}.dead": dead.tolist(),
                  f"run{run['id']}.val_acc": run["val_acc"]}
    return facts


def facts_2_6(store):
    facts = census(store, "losses")
    for run in scored(store, "losses"):
        epochs = store.db.execute("SELECT COUNT(*) FROM epochs WHERE run_id = ?", [run["id"]]).fetchone()[0]
        facts |= {f"run{run['id']}.name": label(run["config"], ("loss", "optimizer")),
                  f"run{run['id']}.val_acc": run["val_acc"], f"run{run['id']}.epochs": epochs,
                  f"run{run['id']}.test_acc": run["test_acc"]}
    return facts


def facts_2_7(store):
    rows = store.db.execute("SELECT id, sweep, train_acc, test_acc FROM runs "
                            "WHERE status IN ('finished', 'stopped') ORDER BY id").fetchall()
    gaps = np.array([train - test for _, _, train, test in rows])
    threshold = float(np.quantile(gaps, S.OVERFIT_QUANTILE))
    marked = sorted((r for r, g in zip(rows, gaps) if g > threshold and g > 0), key=lambda r: (r[3] - r[2], r[0]))
    facts = {"n": len(rows), "quantile": S.OVERFIT_QUANTILE, "threshold": threshold, "n_marked": len(marked)}
    for i, (run_id, sweep, train, test) in enumerate(marked[:S.N_WORST]):
        facts |= {f"worst{i + 1}.run_id": run_id, f"worst{i + 1}.sweep": sweep, f"worst{i + 1}.train_acc": train,
                  f"worst{i + 1}.test_acc": test, f"worst{i + 1}.gap": train - test}
    return facts


def best_mnist(store):
    return store.runs(status="finished", where="json_extract(config, '$.dataset') = 'mnist'",
                      order_by="test_f1 DESC, id", limit=1)[0]


def facts_2_8(store):
    run = best_mnist(store)
    model = NeuralNetwork(run["config"])
    model.set_weights(np.load(run["weights_path"], allow_pickle=True).item())
    data = load_dataset("mnist", dtype=model.dtype)
    scores = evaluate(model, data.X_test, data.y_test)
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
            "errors.true": str(true), "errors.predicted": str(wrong_as), "errors.count": int(off.max()),
            "gallery.k": len(shown), "gallery.high": float(shown[0]), "gallery.low": float(shown[-1])}


def facts_2_9(store):
    facts = census(store, "init")
    for run in scored(store, "init"):
        grads = probe(run)["neuron_grads"]
        facts |= {"steps": grads.shape[0], "neurons": grads.shape[1],
                  f"run{run['id']}.name": label(run["config"], ("weight_init", "activation")),
                  f"run{run['id']}.spread": float((grads.max(axis=1) - grads.min(axis=1)).max()),
                  f"run{run['id']}.mean": float(grads.mean())}
    return facts


def facts_2_10(store):
    sources = []
    for run in store.runs(status="finished", where="json_extract(config, '$.dataset') = 'mnist'",
                          order_by="val_acc DESC, id"):
        if run["config_hash"] not in {s["config_hash"] for s in sources} and len(sources) < S.N_FASHION:
            sources.append(run)
    facts = {"n": S.N_FASHION, "sweep": "fashion", "factor": S.FASHION_EPOCH_FACTOR, "shift": S.FASHION_MAX_SHIFT}
    results = []
    for source in sources:
        options = S.fashion_options(source["config"])
        assert options["dataset"] == "fashion_mnist" and options["augment"] <= source["config"]["augment"]
        spec = {"name": "fashion", "method": "grid", "parameters": {k: {"value": v} for k, v in options.items()}}
        key = store.key(expand(quick(spec))[0])
        (run,) = store.runs(sweep="fashion", where="config_hash = ?", where_args=[key])
        results.append((run["test_acc"], -run["id"], source["id"]))
        facts |= {f"run{run['id']}.config": describe(source["config"]), f"run{run['id']}.source": source["id"],
                  f"run{run['id']}.mnist_val": source["val_acc"], f"run{run['id']}.mnist_test": source["test_acc"],
                  f"run{run['id']}.test_acc": run["test_acc"], f"run{run['id']}.test_f1": run["test_f1"],
                  f"run{run['id']}.run_id": run["id"]}
    test_acc, _, source = max(results)
    return facts | {"best.source": source, "best.test_acc": test_acc}


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
    assert section.findings.facts == expected
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


@pytest.mark.parametrize("case", ["unknown section", "missing store", "empty store", "export from an empty store"])
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
            "empty store": "no evaluated runs of sweep optimizers",
            "export from an empty store": "no finished mnist run"}[case] in result.stderr
    assert not out.exists()
    assert (tmp_path / "runs.db").exists() == ("empty store" in case)


def test_wandb_gets_the_same_panels_and_tables(built, tmp_path):
    section = built.sections["2.2"]
    paths = [built.out / "figures" / f"2.2_{stem}.png" for stem in section.figures]
    log_section(section, paths, SimpleNamespace(wandb_mode="offline", wandb_project="mlp-sweeps-test", wandb_entity=None),
                dir=str(tmp_path))
    (media,) = tmp_path.glob("wandb/offline-run-*/files/media")
    assert sorted(p.name.split("_0_")[0] for p in media.glob("images/2.2/*.png")) == sorted(p.stem for p in paths)
    assert sorted(p.name.split("_0_")[0] for p in media.glob("table/2.2/*.table.json")) == sorted(section.tables)
