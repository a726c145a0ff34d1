"""The whole report end to end: every section builds from a small real store, its figures exist, every number
in its text is a fact published beside it, and the W&B report, the export and the published copy agree.

One module-scoped store is filled by building every section with its sweep made
tiny (500 training images, at most 2 epochs and 2 layers of 16 neurons, the
search cut to 8 runs). Each section's facts are tested on stores built by hand
in test_sections.py; here a few are checked again against an independent
computation (sklearn's confusion matrix and nearest centroids).
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
from mlp.data import DATASETS, load_dataset
from mlp.metrics import evaluate
from reports import queries as q
from reports.build import make_report
from reports.context import BuildContext
from reports.findings import fmt
from reports.sections import BUILD_ORDER, SECTIONS, best_model, fashion
from reports.export import export
from reports.wandb_log import log_section
from runner.job import JobContext
from store import RunStore
from conftest import as_record

ROOT = Path(__file__).resolve().parent.parent
QUICK = {"train_size": 500, "dtype": "float32", "hidden_size": 16}
CAPS = {"epochs": 2, "num_layers": 2}
SEARCH_RUNS = 8


def quick(spec):
    """A sweep made tiny: few images, epochs, layers and neurons; a search cut to 8 runs, its budgets to 1 and 2
    epochs."""
    spec = copy.deepcopy(spec)
    params = spec["parameters"]
    params.update({name: {"value": value} for name, value in QUICK.items()})
    if spec.get("fidelity") == "budgets":
        params["epochs"] = {"values": [1, 2]}
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
    sections = {section.id: section for section, _ in make_report(ctx, BUILD_ORDER)}
    return SimpleNamespace(ctx=ctx, sections=sections, out=root / "report", store=RunStore(ctx.db, create=False),
                           page=(root / "report" / "index.html").read_text())


# -- what the tests below read from the store ---------------------------------------------------------------
def scored(store, sweep=None):
    return store.runs(sweep=sweep, status=("finished", "stopped"))


def best_mnist(store):
    rows = store.runs(status="finished", match={"dataset": "mnist"}, sort="test_f1", descending=True, limit=1)
    return rows[0] if rows else None


def predictions_of(run):
    model = NeuralNetwork(run["config"])
    model.set_weights(np.load(run["weights_path"], allow_pickle=True).item())
    data = load_dataset(run["config"]["dataset"], dtype=model.dtype)
    return data, evaluate(model, data.X_test, data.y_test)


# -- the tests ----------------------------------------------------------------------------------------------
def test_every_section_builds_with_real_png_figures(built):
    assert set(built.sections) == set(SECTIONS)
    for section_id, section in built.sections.items():
        part = json.loads((built.out / "sections" / f"{section_id}.json").read_text())
        assert part["figures"], f"section {section_id} has no figures"
        for name in part["figures"]:
            image = imread(built.out / name)
            assert image.shape[0] > 100 and image.shape[1] > 100 and image.std() > 0, name


def test_page_references_only_files_that_exist(built):
    targets = re.findall(r'(?:src|href)="([^"#][^"]*)"', built.page)
    assert len(targets) == sum(len(s.drawing.figures) for s in built.sections.values())
    assert all((built.out / html.unescape(t)).is_file() for t in targets)
    for section in built.sections.values():
        assert f"{section.id} {html.escape(section.title)}" in built.page


@pytest.mark.parametrize("section_id", list(SECTIONS))
def test_every_number_in_the_text_is_a_fact_published_beside_it(built, section_id):
    section = built.sections[section_id]
    assert section.findings.facts and not section.missing
    part = json.loads((built.out / "sections" / f"{section_id}.json").read_text())
    assert part["facts"] == {name: fmt(value) for name, value in section.findings.facts.items()}
    for template, sentence in zip(section.findings.templates, section.findings.sentences):
        typed = re.sub(r"\{[\w.]+\}", "", template)  # what is left once the facts are taken out
        assert not re.search(r"(?<![A-Za-z])\d", typed), f"a number typed into {template!r}"  # F1 is a name
        assert html.escape(sentence) in built.page


def test_the_best_models_errors_are_its_predictions_on_the_test_split(built):
    """2.8's facts against the run's weights scored here: sklearn's confusion matrix and the softmax confidences."""
    run = best_mnist(built.store)
    found = best_model.facts(built.ctx)
    assert found.run["id"] == run["id"]
    data, scores = predictions_of(run)
    predicted = scores["logits"].argmax(axis=1)
    assert (found.errors["matrix"] == confusion_matrix(data.y_test, predicted)).all()
    assert found.errors["n_mistakes"] == int((predicted != data.y_test).sum())
    logits = scores["logits"] - scores["logits"].max(axis=1, keepdims=True)
    confidence = (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)).max(axis=1)
    shown = np.sort(confidence[predicted != data.y_test])[::-1][:best_model.GALLERY_SIZE]
    assert [m["confidence"] for m in found.errors["gallery"]] == pytest.approx(shown.tolist(), rel=1e-6)
    assert (found.errors["accuracy"], found.errors["f1"]) == (run["test_acc"], run["test_f1"])


@pytest.mark.parametrize("dataset", DATASETS)
def test_raw_similarity_is_the_nearest_centroid_confusion_of_the_training_images(dataset):
    data = load_dataset(dataset)
    predicted = NearestCentroid().fit(data.X_train, data.y_train).predict(data.X_train)
    rates = confusion_matrix(data.y_train, predicted, normalize="true")
    both = rates + rates.T
    expected = sorted(((a, b, both[a, b] / 2) for a in range(10) for b in range(a + 1, 10)),
                      key=lambda p: (-p[2], p[0], p[1]))
    found = q.class_similarity(dataset)
    assert [(a, b) for a, b, _ in found] == [(a, b) for a, b, _ in expected]
    assert [v for _, _, v in found] == pytest.approx([v for _, _, v in expected], rel=1e-12)


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
    paths = [built.out / "figures" / f"2.2_{stem}.png" for stem in section.drawing.figures]
    log_section(section, paths, SimpleNamespace(wandb_mode="offline", wandb_project="mlp-sweeps-test", wandb_entity=None),
                dir=str(tmp_path))
    (media,) = tmp_path.glob("wandb/offline-run-*/files/media")
    assert sorted(p.name.split("_0_")[0] for p in media.glob("images/2.2/*.png")) == sorted(p.stem for p in paths)
    assert sorted(p.name.split("_0_")[0] for p in media.glob("table/2.2/*.table.json")) == sorted(section.drawing.tables)


# -- the W&B report, the published copy, and 2.10's rule ------------------------------------------------
def test_wandb_report_offline_has_every_section_with_its_text_and_panels(built):
    from wandb_workspaces.expr import expr_to_filters

    result = subprocess.run([sys.executable, "-m", "reports.wandb_report", "--out", str(built.out), "--db", built.ctx.db,
                             "--wandb_mode", "offline"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "wandb login" in result.stdout
    plain = json.loads((built.out / "wandb_report.json").read_text())
    assert [s["id"] for s in plain["sections"]] == list(SECTIONS)
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
    assert series and series[0]["spec"]["y"] == [f"2.4/{key}" for key in built.sections["2.4"].drawing.series]


def test_wandb_report_object_builds_offline(built):
    from reports.html import read_parts
    from reports.wandb_report import build

    report, plain = build(read_parts(built.out), "mlp-sweeps", "someone", built.store)
    headings = [b.text for b in report.blocks if type(b).__name__ == "H2"]
    assert headings == [s["heading"] for s in plain["sections"]] and len(headings) == len(SECTIONS)
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
    probed = sorted((r for r in built.store.runs() if r["probe_path"] and any(
        section.SPEC.probes and section.SPEC.sweep == r["sweep"] for section in SECTIONS.values())),
        key=lambda r: r["id"])
    assert any(r["probe_path"] for r in built.store.runs(sweep="search"))  # kept by the runs, not published
    assert probed and [(r["id"], Path(r["probe_path"]).read_bytes()) for r in copy.runs() if r["probe_path"]] == [
        (r["id"], Path(r["probe_path"]).read_bytes()) for r in probed]  # each probe file beside the copy
    assert all(Path(r["probe_path"]).parent == docs / "probes" for r in copy.runs() if r["probe_path"])
    listed = subprocess.run([sys.executable, "-m", "store", "--db", str(docs / "runs.db"), "list", "--sweep", "fashion"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and listed.stdout.count("fashion") == fashion.N_FASHION


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

    picks = [[(r["config"]["num_layers"], r["config"]["learning_rate"]) for r in fashion.ranking(store_with(noise))[:3]]
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
