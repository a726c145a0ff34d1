"""What is handed in agrees, on a copy of the checkout as a fresh clone has it (no runs folder, no runs.db, an
empty HOME): the published store in docs/report/ rebuilds all ten sections and the W&B report spec through the
real make targets without training, and its best MNIST run by test F1 is the shipped best_model.npy."""
import hashlib
import json
import re
import subprocess
import sys

import pytest

from conftest import clean_env, copy_checkout
from store import RunStore

PUBLISHED = "docs/report/runs.db"


@pytest.fixture(scope="module")
def clone(tmp_path_factory, data_dir):
    root = copy_checkout(tmp_path_factory.mktemp("published") / "clone")
    env = clean_env(tmp_path_factory.mktemp("home"), data_dir, MLP_DB=PUBLISHED, WANDB_MODE="disabled")
    return root, env


def make(clone, *args):
    root, env = clone
    # PY: the suite's interpreter, which has the project's dependencies (a clone would have its .venv)
    return subprocess.run(["make", "--no-print-directory", *args, f"PY={sys.executable}"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def rebuilt(clone):
    root, _ = clone
    before = (root / PUBLISHED).read_bytes()
    report = make(clone, "report", "REPORT_FLAGS=--no-train")
    return report, before, (root / PUBLISHED).read_bytes()


def test_the_published_store_rebuilds_all_ten_sections_without_training(rebuilt, clone):
    report, before, after = rebuilt
    assert report.returncode == 0, report.stdout[-2000:] + report.stderr
    built = re.findall(r"^(2\.\d+) .*: (\d+) findings, (\d+) figures$", report.stdout, flags=re.M)
    assert sorted(s for s, _, _ in built) == sorted(f"2.{i}" for i in range(1, 11))
    assert all(int(findings) > 0 and int(figures) > 0 for _, findings, figures in built)
    assert "not built" not in report.stdout and "Traceback" not in report.stderr
    assert after == before  # nothing trained, nothing written to the published store
    root, _ = clone
    assert not (root / "runs").exists() and not (root / "runs.db").exists()
    parts = [json.loads(p.read_text()) for p in (root / "report" / "sections").glob("*.json")]
    assert len(parts) == 10 and all(not p["missing"] and p["figures"] for p in parts)


def test_rebuilding_without_training_gives_the_published_facts_section_by_section(rebuilt, clone):
    """The facts (not the HTML) of every section rebuilt from the published store are the ones published with it."""
    root, _ = clone
    for published in sorted((root / "docs" / "report" / "sections").glob("*.json")):
        rebuilt_part = json.loads((root / "report" / "sections" / published.name).read_text())
        assert rebuilt_part["facts"] == json.loads(published.read_text())["facts"], published.stem


def test_each_answer_opens_in_words_and_says_enough(rebuilt, clone):
    root, _ = clone
    parts = {p.stem: json.loads(p.read_text()) for p in (root / "report" / "sections").glob("*.json")}
    for section_id, part in parts.items():
        assert part["answer"][0][0].isalpha(), f"{section_id} opens with a number: {part['answer'][0]}"
        assert len(" ".join(part["answer"]).split()) >= 110, section_id
    assert {"Shirt", "Coat", "Pullover"} <= set(re.findall(r"\w+", parts["2.1"]["answer"][0]))


def test_make_wandb_report_then_writes_every_section_with_its_panels(rebuilt, clone):
    root, _ = clone
    done = make(clone, "wandb-report")
    assert done.returncode == 0, done.stderr
    plain = json.loads((root / "report" / "wandb_report.json").read_text())
    assert [s["id"] for s in plain["sections"]] == [f"2.{i}" for i in range(1, 11)]
    assert all(s["text"] and not s["text"].startswith("Not built") and s["panels"] for s in plain["sections"])


def test_the_shipped_model_is_the_published_stores_best_run_and_scores_as_stored(clone):
    root, env = clone
    store = RunStore(root / PUBLISHED, create=False)
    best = store.best("test_f1", match={"dataset": "mnist"})
    assert best["config"] == json.loads((root / "best_config.json").read_text())
    assert best["weights_sha256"] == hashlib.sha256((root / "best_model.npy").read_bytes()).hexdigest()
    assert sum(p.stat().st_size for p in (root / "docs" / "report").rglob("*") if p.is_file()) < 15 * 1024 * 1024
    shipped = subprocess.run([sys.executable, "inference.py"], cwd=root, env=env, capture_output=True, text=True,
                             timeout=300)
    assert shipped.returncode == 0, shipped.stderr
    assert f"accuracy {best['test_acc']:.4f}" in shipped.stdout and f"f1 {best['test_f1']:.4f}" in shipped.stdout


def test_the_readme_is_a_front_door_whose_targets_and_files_exist(repo):
    readme = (repo / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    targets = set(re.findall(r"^([a-z0-9.%-]+):", (repo / "Makefile").read_text(), flags=re.M))
    named = set(re.findall(r"\bmake ([a-z][a-z0-9.-]*)", readme))
    assert {"install", "test", "help", "train", "sweep", "runs", "report", "best", "publish"} <= named
    assert named <= targets, named - targets
    linked = re.findall(r"\]\(([^)#]+)\)", readme)
    quoted = [p for p in re.findall(r"`([\w./-]+/[\w.-]+\.\w+)`", readme) if not p.startswith(("runs/", "report/"))]
    assert linked and quoted  # report/ and runs/ are what the commands make
    assert all((repo / p).exists() for p in linked + quoted), [p for p in linked + quoted if not (repo / p).exists()]
    for page in (repo / "docs").glob("*.md"):
        lines = page.read_text().splitlines()
        assert lines[0].startswith("# ") and lines[2], f"{page.name} does not open by saying what it is for"
