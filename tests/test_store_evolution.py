"""A store that outlives the code: migrations of an old store, stable config keys, final runs that stay
final, paths that move with the store, leases, and store errors after opening."""
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlp import NeuralNetwork
from mlp.metrics import evaluate
from mlp.model_io import load_weights
from mlp.options import resolve_config
from runner.recording import key_defaults
from store import RunStore, StoreError
from store.migrations import MIGRATIONS

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "store_d1d93f3"
QUIET = ["--quiet", "--wandb_mode", "disabled"]
FIXTURE_TRAIN_ARGS = ["-e", "1", "-nhl", "1", "-sz", "4", "--train_size", "500", "--dtype", "float32",
                      "--wandb_mode", "disabled"]


def python(*args, cwd=ROOT, env=None, **kwargs):
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300, **kwargs)


def assert_weights_reproduce(store, folder, mnist):
    for run in store.runs(status="finished"):
        assert Path(run["weights_path"]).is_relative_to(folder), run["weights_path"]
        model = NeuralNetwork(run["config"])
        model.set_weights(load_weights(run["weights_path"]))
        assert evaluate(model, mnist.X_test.astype(model.dtype), mnist.y_test)["accuracy"] == run["test_acc"]


def test_a_store_made_by_older_code_opens_lists_and_resumes_with_zero_retraining(tmp_path, mnist):
    old = shutil.copytree(FIXTURE, tmp_path / "old")
    raw = sqlite3.connect(old / "runs.db")
    assert "_sqlite_migrations" not in {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}
    assert all(Path(p).is_absolute() and not Path(p).exists()
               for (p,) in raw.execute("SELECT weights_path FROM runs")), "the fixture must point elsewhere"
    raw.close()
    listed = python("-m", "store", "--db", old / "runs.db", "list")
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == 1 + 3
    resumed = python("-m", "runner", old / "legacy.yaml", "--db", old / "runs.db", "--runs_dir", old / "runs",
                     "--jobs", "1", *QUIET)
    assert resumed.returncode == 0, resumed.stderr
    assert "nothing to run; 2 already done" in resumed.stdout
    again = python("train.py", *FIXTURE_TRAIN_ARGS, "--db", old / "runs.db", "--runs_dir", old / "runs")
    assert again.returncode == 0, again.stderr
    assert "already finished: not trained again" in again.stdout and "epoch" not in again.stdout
    store = RunStore(old / "runs.db", create=False)
    assert store.schema_version == len(MIGRATIONS._migrations)
    assert [r["attempts"] for r in store.runs()] == [1, 1, 1]
    assert_weights_reproduce(store, old, mnist)


def test_a_store_moved_with_its_runs_folder_resumes_and_its_paths_resolve(tmp_path, mnist):
    first = tmp_path / "first"
    first.mkdir()
    (first / "move.yaml").write_text(
        "method: grid\nparameters: {epochs: {value: 1}, train_size: {value: 500}, num_layers: {value: 1}, "
        "hidden_size: {value: 8}, dtype: {value: float32}, seed: {values: [0, 1]}}\n")
    made = python("-m", "runner", "move.yaml", "--db", "runs.db", "--runs_dir", "runs", "--jobs", "1", *QUIET,
                  cwd=first)
    assert made.returncode == 0, made.stderr
    raw = sqlite3.connect(first / "runs.db")
    assert {p for (p,) in raw.execute("SELECT weights_path FROM runs")} <= {
        f"runs/move/{k}.npy" for (k,) in raw.execute("SELECT config_hash FROM runs")}
    raw.close()
    moved = Path(shutil.move(first, tmp_path / "elsewhere" / "second"))
    resumed = python("-m", "runner", moved / "move.yaml", "--db", moved / "runs.db", "--runs_dir", moved / "runs",
                     "--jobs", "1", *QUIET)
    assert resumed.returncode == 0, resumed.stderr
    assert "nothing to run; 2 already done" in resumed.stdout
    assert_weights_reproduce(RunStore(moved / "runs.db", create=False), moved, mnist)


def test_config_keys_ignore_an_added_option_at_its_default_and_follow_values_that_matter(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    defaults = key_defaults()
    store.use_defaults(defaults)
    config, plain = resolve_config({"epochs": 2}), resolve_config({})
    store.record("s", config, {"status": "finished"})
    store.record("s", plain, {"status": "finished"})
    key = store.key(config)
    assert store.key(resolve_config({"epochs": 3})) != key
    assert store.key({**config, "learning_rate": 0.01}) != key
    assert store.key(resolve_config({"epochs": 2, "learning_rate": defaults["learning_rate"]})) == key
    # a later version adds an option whose default keeps the old behaviour: nothing re-keys
    store.use_defaults({**defaults, "label_smoothing": 0.0})
    assert store.key({**config, "label_smoothing": 0.0}) == key
    assert store.find("s", {**config, "label_smoothing": 0.0})["config_hash"] == key
    assert store.find("s", {**config, "label_smoothing": 0.1}) is None
    # a still later one changes defaults: stored runs are re-keyed and still found by what they ran with
    store.use_defaults({**defaults, "label_smoothing": 0.1, "epochs": 2})
    reopened = RunStore(tmp_path / "runs.db", create=False)  # the defaults live in the store
    assert reopened.find("s", {**config, "label_smoothing": 0.0})["config_hash"] == store.key(
        {**config, "label_smoothing": 0.0})
    assert reopened.find("s", {**config, "label_smoothing": 0.1}) is None
    assert reopened.find("s", {**plain, "label_smoothing": 0.0})["config"] == plain


def test_final_runs_stay_final_unless_a_rerun_is_asked_for(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    config = resolve_config({"epochs": 1})
    assert store.claim("s", config, "me", 60) is not None
    run_id = store.record("s", config, {"status": "finished", "test_acc": 0.9, "epochs": [{"epoch": 1}]})
    assert store.record("s", config, {"status": "failed", "error": "interrupted"}) is None
    assert store.claim("s", config, "other", 60) is None
    row = store.get(run_id)
    assert (row["status"], row["test_acc"], row["epochs_done"]) == ("finished", 0.9, 1)
    assert store.claim("s", config, "other", 60, rerun_before=row["ended_at"]) is None, "ended after the rerun began"
    assert store.claim("s", config, "other", 60, rerun_before=time.time()) == run_id
    assert store.get(run_id)["status"] == "running" and store.get(run_id)["attempts"] == 2
    with pytest.raises(ValueError):
        store.record("s", config, {"status": "running"})


def test_train_py_does_not_retrain_a_finished_run_unless_rerun(tmp_path):
    args = ["train.py", "-e", "1", "-nhl", "1", "-sz", "8", "--train_size", "500", "--dtype", "float32",
            "--wandb_mode", "disabled", "--db", tmp_path / "runs.db", "--runs_dir", tmp_path / "runs"]
    first = python(*args)
    assert first.returncode == 0 and "epoch   1" in first.stdout, first.stderr
    second = python(*args)
    assert second.returncode == 0 and "epoch" not in second.stdout and "already finished" in second.stdout
    assert second.stdout.splitlines()[-1] == first.stdout.splitlines()[-1]
    third = python(*args, "--rerun")
    assert third.returncode == 0 and "epoch   1" in third.stdout, third.stderr
    (row,) = RunStore(tmp_path / "runs.db", create=False).runs()
    assert row["status"] == "finished" and row["attempts"] == 2


def test_a_lease_is_taken_over_when_it_lapses_or_its_holder_is_gone(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    a, b, c = (resolve_config({"seed": s}) for s in range(3))
    assert store.claim("s", a, "host:1:x", 60) is not None
    assert store.claim("s", a, "other", 60) is None, "a live lease is respected"
    assert store.claim("s", b, "host:1:x", -1) is not None
    assert store.claim("s", b, "other", 60) is not None, "a lapsed lease is taken over"
    gone = subprocess.run([sys.executable, "-c", "from store import owner_id; print(owner_id())"],
                          capture_output=True, text=True, cwd=ROOT).stdout.strip()
    assert store.claim("s", c, gone, 60) is not None
    assert store.claim("s", c, "other", 60) is not None, "its holder's process on this machine is gone"
    store.renew("other", 60)
    assert store.claim("s", c, "third", 60) is None
    store.release("other")
    assert [r["status"] for r in store.runs(order_by="id")] == ["running", "failed", "failed"]


def test_a_store_from_newer_code_is_refused_in_one_line(tmp_path):
    RunStore(tmp_path / "runs.db").close()
    raw = sqlite3.connect(tmp_path / "runs.db")
    raw.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
                "VALUES ('mlp-sweeps-store', 'm999_future', 'later')")
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="newer code"):
        RunStore(tmp_path / "runs.db")
    out = python("-m", "store", "--db", tmp_path / "runs.db", "list")
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1 and "m999_future" in out.stderr


def hold_exclusive_lock(db):
    lock = sqlite3.connect(db, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    return lock


def corrupt_pages(db):
    """Fold the WAL into the file, then overwrite every page after the first with noise."""
    raw = sqlite3.connect(db)
    raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.close()
    size = Path(db).stat().st_size
    with open(db, "r+b") as f:
        f.seek(4096)
        f.write(os.urandom(size - 4096))


@pytest.mark.parametrize("harm", ["lock", "corrupt"])
def test_a_store_error_after_opening_is_one_line_and_exit_2(tmp_path, harm):
    (tmp_path / "slow.yaml").write_text(
        "method: grid\nparameters: {epochs: {value: 3}, train_size: {value: 3000}, num_layers: {value: 1}, "
        "hidden_size: {value: 16}, dtype: {value: float32}, seed: {values: [0, 1, 2, 3]}}\n")
    db = tmp_path / "runs.db"
    runner = subprocess.Popen([sys.executable, "-m", "runner", tmp_path / "slow.yaml", "--db", db, "--runs_dir",
                               tmp_path / "runs", "--jobs", "1", *QUIET], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env={**os.environ, "MLP_DB_TIMEOUT": "0.5"})
    deadline = time.time() + 120
    while not (db.exists() and sqlite3.connect(db).execute(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'runs'").fetchone()[0] and sqlite3.connect(db).execute(
            "SELECT COUNT(*) FROM runs WHERE status = 'running'").fetchone()[0]):
        assert time.time() < deadline and runner.poll() is None, "the runner never claimed a run"
        time.sleep(0.1)
    lock = hold_exclusive_lock(db) if harm == "lock" else corrupt_pages(db)
    try:
        out, err = runner.communicate(timeout=300)
    finally:
        if lock is not None:
            lock.close()
        if runner.poll() is None:
            runner.send_signal(signal.SIGKILL)
    lines = err.strip().splitlines()
    assert runner.returncode == 2, (out, err)
    assert len(lines) == 1 and "Traceback" not in err, err
    assert str(db) in lines[0] and ("locked" if harm == "lock" else "malformed") in lines[0], lines[0]
