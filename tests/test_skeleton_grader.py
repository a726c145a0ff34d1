"""The course skeleton's grader, played as it runs: tests/skeleton_grader.py copied into ``src/`` of a copy of
this checkout and run there in a subprocess, with an empty HOME, no W&B settings and none of the suite's
environment but the data folder. Each check uses only the skeleton's names (``ann.*``, ``train``, ``inference``).

The copy matters: its ``ann`` must resolve to the copy's own ``mlp/``, so the door works without the
project installed (``make fresh-check`` does the same in a bare venv with only ``requirements.txt``)."""
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import clean_env, copy_checkout

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory, data_dir):
    root = copy_checkout(tmp_path_factory.mktemp("skeleton") / "checkout")
    shutil.copy(REPO / "tests" / "skeleton_grader.py", root / "src")
    return root, clean_env(tmp_path_factory.mktemp("home"), data_dir)


def grade(checkout, check):
    root, env = checkout
    done = subprocess.run([sys.executable, "skeleton_grader.py", check], cwd=root / "src", env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.mark.parametrize("check", ["imports", "forward_on_fixed_weights", "assigned_weights_keep_training",
                                   "gradients", "gradients_of_a_model_built_from_best_config"])
def test_the_network_as_the_skeleton_names_it(checkout, check):
    grade(checkout, check)


def test_inference_functions_on_the_shipped_model_with_the_graders_own_data(checkout, repo):
    """parse_arguments, load_model, evaluate_model and main agree, for one-hot labels and (N, 28, 28), (N, 1, 28, 28)
    and raw uint8 images too; and the figures are those the root inference.py prints."""
    scores = json.loads(grade(checkout, "inference_functions").stdout.splitlines()[-1])
    root, env = checkout
    printed = subprocess.run([sys.executable, "inference.py"], cwd=root, env=env, capture_output=True, text=True,
                             timeout=300)
    assert printed.returncode == 0, printed.stderr
    assert f"accuracy {scores['accuracy']:.4f}" in printed.stdout and f"f1 {scores['f1']:.4f}" in printed.stdout


def test_train_py_trains_every_time_it_is_run_and_logs_each_run_to_wandb(checkout):
    root, _ = checkout
    before = _train_runs(root)
    grade(checkout, "train_twice")
    after = _train_runs(root)
    assert len(after) == len(before) + 2 and all(status == "finished" for _, status, _ in after)
    assert len({repeat for _, _, repeat in after}) == len(after), "each run is its own row"
    offline = list((root / "src" / "wandb").glob("offline-run-*"))
    assert len(offline) >= 2, "no credentials: each run logs to W&B offline"


def test_hidden_widths_alone_are_that_many_layers_and_the_save_folder_is_made(checkout):
    grade(checkout, "widths_alone_and_a_new_save_folder")


def test_unknown_flags_are_named_and_never_swallowed_by_a_short_flag(checkout):
    root, _ = checkout
    grade(checkout, "unknown_flags")
    config = json.loads(_train_runs(root, "config")[-1][0])
    assert (config["momentum"], config["epochs"], config["batch_size"]) == (0.9, 1, 128)


def _train_runs(root, column="id"):
    db = root / "runs.db"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT {column}, status, repeat FROM runs WHERE sweep = 'train' ORDER BY id").fetchall()
