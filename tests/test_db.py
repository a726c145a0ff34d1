"""store/db.py and its migrations: a store that outlives the code (migrations of an old store, stable config keys,
final runs that stay final, paths that move with the store), claims and leases, queries, and store errors."""
import dataclasses
import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import as_record
from mlp import NeuralNetwork
from mlp.metrics import evaluate
from mlp.model_io import load_weights
from mlp.options import RUN_OPTIONS, resolve_config
from runner.pipeline import key_defaults
from store import RunRecord, RunStore, Status, StoreError
from store.db import DEFAULT_PATH, config_hash, store_path
from store.run import RUN_COLUMNS, RUN_FIELDS, Run
from store.migrations import NAMES


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
    assert len(listed.stdout.splitlines()) == 2 + 3  # a header, its rule, the three runs
    resumed = python("-m", "runner", old / "legacy.yaml", "--db", old / "runs.db", "--runs_dir", old / "runs",
                     "--jobs", "1", *QUIET)
    assert resumed.returncode == 0, resumed.stderr
    assert "nothing to run; 2 already done" in resumed.stdout
    again = python("train.py", *FIXTURE_TRAIN_ARGS, "--db", old / "runs.db", "--runs_dir", old / "runs", "--resume")
    assert again.returncode == 0, again.stderr
    assert "already finished: not trained again" in again.stdout and "epoch" not in again.stdout
    store = RunStore(old / "runs.db", create=False)
    assert store.schema_version == len(NAMES)
    assert [r["attempts"] for r in store.runs()] == [1, 1, 1]
    assert [r["weights_sha256"] for r in store.runs()] == [  # m008 names the files it finds by their hash
        hashlib.sha256(Path(r["weights_path"]).read_bytes()).hexdigest() if r["weights_path"] else None
        for r in store.runs()]
    assert all(r["weights_sha256"] for r in store.runs())
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
        f"runs/move/{k[:2]}/{k}.npy" for (k,) in raw.execute("SELECT config_hash FROM runs")}
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
    store.record("s", as_record(config, {"status": "finished"}))
    store.record("s", as_record(plain, {"status": "finished"}))
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
    assert reopened.find("s", {**plain, "label_smoothing": 0.0})["config"] == {**plain, "label_smoothing": 0.0}
    assert reopened.find("s", {**config, "label_smoothing": 0.0})["config"] == {**config, "label_smoothing": 0.0}


def test_final_runs_stay_final_unless_a_rerun_is_asked_for(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    config = resolve_config({"epochs": 1})
    assert store.claim("s", config, "me", 60) is not None
    run_id = store.record("s", as_record(config, {"status": "finished", "test_acc": 0.9, "epochs": [{"epoch": 1}]}))
    assert store.record("s", as_record(config, {"status": "failed", "error": "interrupted"})) is None
    assert store.claim("s", config, "other", 60) is None
    row = store.get(run_id)
    assert (row["status"], row["test_acc"], row["epochs_done"]) == ("finished", 0.9, 1)
    assert store.claim("s", config, "other", 60, rerun_before=row["ended_at"]) is None, "ended after the rerun began"
    assert store.claim("s", config, "other", 60, rerun_before=time.time()) == run_id
    assert store.get(run_id)["status"] == "running" and store.get(run_id)["attempts"] == 2
    with pytest.raises(ValueError):
        store.record("s", as_record(config, {"status": "running"}))


def test_train_py_trains_every_time_and_keeps_each_run_but_resume_skips_a_finished_one(tmp_path):
    args = ["train.py", "-e", "1", "-nhl", "1", "-sz", "8", "--train_size", "500", "--dtype", "float32",
            "--wandb_mode", "disabled", "--db", tmp_path / "runs.db", "--runs_dir", tmp_path / "runs"]
    first = python(*args)
    assert first.returncode == 0 and "epoch   1" in first.stdout, first.stderr
    second = python(*args)
    assert second.returncode == 0 and "epoch   1" in second.stdout, second.stderr
    resumed = python(*args, "--resume")
    assert resumed.returncode == 0 and "epoch" not in resumed.stdout and "already finished" in resumed.stdout
    assert resumed.stdout.splitlines()[-1] == second.stdout.splitlines()[-1]  # the latest run's stored result
    rows = RunStore(tmp_path / "runs.db", create=False).runs()
    assert [(r["status"], r["repeat"], r["attempts"]) for r in rows] == [("finished", 0, 1), ("finished", 1, 1)]
    assert len({r["config_hash"] for r in rows}) == 1
    assert [Path(r["weights_path"]).name for r in rows] == [f"{rows[0]['config_hash']}.npy",
                                                           f"{rows[0]['config_hash']}-1.npy"]
    assert all(Path(r["weights_path"]).is_file() for r in rows)


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
    assert [r["status"] for r in store.runs()] == ["running", "failed", "failed"]


def test_a_live_holder_keeps_its_run_whatever_the_machine_or_the_permissions(tmp_path, monkeypatch):
    """Under a live lease the run stays with its holder: a live process on this machine (which only the null signal
    reaches), a process on another machine (its pid means nothing here, even one that no process here has), and a
    process we may not signal."""
    store = RunStore(tmp_path / "runs.db")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    # a holder that reports any real signal it gets, and ends when its input does
    alive = subprocess.Popen([sys.executable, "-c", "import signal, sys\n"
                              "for s in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):\n"
                              "    signal.signal(s, lambda n, f: print('signal', n, flush=True))\n"
                              "sys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        here = socket.gethostname()
        holders = {"alive here": f"{here}:{alive.pid}:x", "elsewhere": f"another-host:{gone}:x",
                   "not ours": f"{here}:1:x"}
        configs = {name: resolve_config({"seed": i}) for i, name in enumerate(holders)}
        for name, owner in holders.items():
            assert store.claim("s", configs[name], owner, 60) is not None

        def not_permitted(pid, sig):
            raise PermissionError(f"kill({pid}, {sig})")

        for name in holders:
            with monkeypatch.context() as patch:
                if name == "not ours":
                    patch.setattr(os, "kill", not_permitted)
                assert store.claim("s", configs[name], "other", 60) is None, name
        out, _ = alive.communicate("", timeout=60)
        assert (alive.returncode, out) == (0, ""), "the holder was sent a real signal"
    finally:
        alive.kill()
        alive.wait()
    assert {r["claimed_by"] for r in store.runs()} == set(holders.values())


def test_the_best_run_is_the_finished_one_with_the_highest_or_lowest_metric(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    rows = [("a", "finished", 0.9, 0.3), ("a", "finished", 0.7, 0.1), ("a", "failed", 0.99, 0.01),
            ("a", "finished", None, None), ("b", "finished", 0.95, 0.2), ("a", "finished", 0.9, 0.5)]
    for seed, (sweep, status, f1, loss) in enumerate(rows):
        store.record(sweep, as_record(resolve_config({"seed": seed}),
                     {"status": status, "test_f1": f1, "test_loss": loss, "epochs": []}))

    def seed_of(run):
        return None if run is None else run["config"]["seed"]

    assert seed_of(store.best()) == 4  # by test F1 across sweeps; a failed run never counts
    assert seed_of(store.best(sweep="a")) == 0  # a tie (0.9, seeds 0 and 5) goes to the first recorded
    assert seed_of(store.best("test_loss", sweep="a", lowest=True)) == 1
    assert seed_of(store.best("test_loss", sweep="a")) == 5
    assert seed_of(store.best(sweep="a", match={"seed": 5})) == 5  # among the runs that match
    assert store.best(sweep="a", match={"seed": 2}) is None, "the only match failed"
    assert store.best(sweep="c") is None
    with pytest.raises(StoreError, match="unknown metric 'f1'; choose from train_loss, train_acc, val_loss"):
        store.best("f1")


def test_held_keys_are_the_running_runs_under_a_live_lease_and_get_finds_a_run_by_id(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    live, lapsed, done, elsewhere = (resolve_config({"seed": seed}) for seed in range(4))
    ids = [store.claim("s", live, "me", 60), store.claim("s", lapsed, "me", -1), store.claim("s", done, "me", 60),
           store.claim("t", elsewhere, "me", 60)]
    store.record("s", as_record(done, {"status": "finished", "epochs": []}))
    assert store.held_keys("s") == {store.key(live)}
    assert [store.get(run_id)["config"]["seed"] for run_id in reversed(ids)] == [3, 2, 1, 0]
    assert store.get(max(ids) + 1) is None


def test_a_published_report_is_remembered_once_per_address(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    store.record_report("first title", "https://wandb.ai/r/1")
    store.record_report("new title", "https://wandb.ai/r/1")
    store.record_report("other", "https://wandb.ai/r/2")
    with sqlite3.connect(tmp_path / "runs.db") as conn:
        rows = conn.execute("SELECT url, title, saved_at FROM reports ORDER BY url").fetchall()
    assert [(url, title) for url, title, _ in rows] == [("https://wandb.ai/r/1", "new title"),
                                                        ("https://wandb.ai/r/2", "other")]
    assert all(abs(saved - time.time()) < 600 for _, _, saved in rows)


def test_a_sweep_is_one_row_with_its_latest_spec_and_its_first_creation_time(tmp_path):
    """Resuming a sweep (or a report section rerunning its sweep) replaces its stored spec, as SQLite holds it,
    but not when it was created, and leaves the other sweeps alone."""
    store = RunStore(tmp_path / "runs.db")
    started = time.time()
    store.add_sweep("s", {"b": 1, "a": [1, 2]})
    store.add_sweep("other", {"x": 0})

    def rows():
        with sqlite3.connect(tmp_path / "runs.db") as conn:
            return {name: (spec, created) for name, spec, created in
                    conn.execute("SELECT name, spec, created_at FROM sweeps").fetchall()}

    first = rows()
    assert set(first) == {"s", "other"}
    assert first["s"][0] == '{"a": [1, 2], "b": 1}'  # keys sorted: the same spec is the same text
    assert started <= first["s"][1] <= time.time()
    store.add_sweep("s", {"c": 3})
    again = rows()
    assert again["s"] == (json.dumps({"c": 3}), first["s"][1]) and again["other"] == first["other"]


def test_weights_paths_are_stored_relative_inside_the_store_folder_and_absolute_outside(tmp_path):
    """A runs folder beside the store travels with it (relative path); one elsewhere is kept whole."""
    (tmp_path / "store").mkdir()
    store = RunStore(tmp_path / "store" / "runs.db")
    inside, outside = tmp_path / "store" / "runs" / "s" / "a.npy", tmp_path / "elsewhere" / "s" / "b.npy"
    for seed, path in ((0, inside), (1, outside)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"weights")
        config = resolve_config({"seed": seed})
        store.claim("s", config, "me", 60)
        store.record("s", as_record(config, {"status": "finished", "weights_path": str(path), "epochs": []}))
        assert store.find("s", config)["weights_path"] == str(path)
    with sqlite3.connect(tmp_path / "store" / "runs.db") as conn:
        stored = [row[0] for row in conn.execute("SELECT weights_path FROM runs ORDER BY id")]
    assert stored == [str(Path("runs") / "s" / "a.npy"), str(outside)]


def test_find_keeps_to_its_sweep(tmp_path):
    """The same configuration in two sweeps is two runs."""
    store = RunStore(tmp_path / "runs.db")
    config = resolve_config({"seed": 0})
    ids = {}
    for sweep, status in (("a", "finished"), ("b", "diverged")):
        ids[sweep, status] = store.claim(sweep, config, "me", 60)
        store.record(sweep, as_record(config, {"status": status, "epochs": []}))
    assert store.find("a", config)["id"] == ids["a", "finished"] and store.find("b", config)["id"] == ids["b", "diverged"]
    assert store.find("c", config) is None


def test_a_record_holds_only_how_a_run_ended_and_numpy_numbers_are_stored_as_numbers(tmp_path):
    """A record cannot carry a row's identity (id, sweep, owner, attempts): the type has no such fields, and the
    claim's stay as SQLite holds them. NumPy scalars land as SQL numbers, not as blobs a query cannot compare."""
    store = RunStore(tmp_path / "runs.db")
    config = resolve_config({"seed": 0})
    run_id = store.claim("s", config, "me", 60)
    with pytest.raises(TypeError):
        as_record(config, {"status": "finished", "claimed_by": "thief"})
    store.record("s", as_record(config, {"status": "finished", "test_acc": np.float32(0.75),
                                         "epochs": [{"epoch": np.int64(1), "val_acc": np.float64(0.5)}]}), run_id)
    with sqlite3.connect(tmp_path / "runs.db") as conn:
        row = conn.execute("SELECT id, sweep, config, claimed_by, attempts, typeof(test_acc), test_acc FROM runs").fetchall()
        epochs = conn.execute("SELECT typeof(epoch), typeof(val_acc) FROM epochs").fetchall()
    assert row == [(run_id, "s", json.dumps(config, sort_keys=True), "me", 1, "real", 0.75)]
    assert epochs == [("integer", "real")]
    unclaimed = resolve_config({"seed": 1})  # recorded without a claim
    store.record("s", as_record(unclaimed, {"status": "failed", "epochs": []}))
    with sqlite3.connect(tmp_path / "runs.db") as conn:
        assert conn.execute("SELECT attempts, config FROM runs WHERE id != ?", [run_id]).fetchall() == [
            (1, json.dumps(unclaimed, sort_keys=True))]
    with pytest.raises(ValueError, match="unknown scores accuracy"):
        RunRecord(config, "finished", scores={"accuracy": 0.5})


def test_recording_a_status_that_is_not_an_outcome_names_the_outcomes(tmp_path):
    with pytest.raises(ValueError) as error:
        RunStore(tmp_path / "runs.db").record("s", as_record(resolve_config({}), {"status": "running"}))
    assert str(error.value) == "record() takes an outcome (finished, failed, diverged, stopped); got 'running'"


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


def test_a_missing_absolute_path_resolves_to_its_longest_tail_of_at_least_sweep_and_file(tmp_path):
    """Where a store moved with its runs folder finds its files: the longest tail of the old path inside the
    store's folder, down to sweep/file but never a bare file name; otherwise the path as stored."""
    store = RunStore(tmp_path / "runs.db")
    here = tmp_path / "here.npy"
    here.write_bytes(b"")
    assert store.resolve(str(here)) == str(here)  # an absolute path that exists stays
    assert store.resolve("runs/s/f.npy") == str(tmp_path / "runs" / "s" / "f.npy")
    gone = "/old/home/x/runs/s/f.npy"
    assert store.resolve(gone) == gone  # nothing of it here
    (tmp_path / "f.npy").write_bytes(b"")
    assert store.resolve(gone) == gone  # a bare file name is not enough
    for tail in ("s/f.npy", "runs/s/f.npy", "old/home/x/runs/s/f.npy"):  # each longer tail wins
        (tmp_path / tail).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / tail).write_bytes(b"")
        assert store.resolve(gone) == str(tmp_path / tail)


def test_a_run_from_before_attempts_were_counted_is_claimed_as_its_first_attempt(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    config = resolve_config({"epochs": 1})
    store.record("s", as_record(config, {"status": "failed", "error": "x"}))
    store.db.execute("UPDATE runs SET attempts = NULL")  # as the migration leaves rows of older stores
    run_id = store.claim("s", config, "host:1:a", 60)
    assert store.get(run_id)["attempts"] == 1


def test_a_store_is_found_by_path_then_mlp_db_and_waits_mlp_db_timeout_for_a_lock(tmp_path, monkeypatch):
    monkeypatch.delenv("MLP_DB", raising=False)
    monkeypatch.delenv("MLP_DB_TIMEOUT", raising=False)
    assert store_path() == Path(DEFAULT_PATH)
    monkeypatch.setenv("MLP_DB", str(tmp_path / "env.db"))
    assert store_path() == tmp_path / "env.db" and store_path(tmp_path / "x.db") == tmp_path / "x.db"
    assert RunStore().path == tmp_path / "env.db"
    assert RunStore().db.execute("PRAGMA busy_timeout").fetchone()[0] == 30000
    assert RunStore().db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # readers never block a writer
    monkeypatch.setenv("MLP_DB_TIMEOUT", "2.5")
    assert RunStore().db.execute("PRAGMA busy_timeout").fetchone()[0] == 2500


def test_a_config_key_is_16_hex_digits_of_the_sha256_of_its_sorted_json():
    assert config_hash({"b": 1, "a": [2, 3]}) == hashlib.sha256(b'{"a": [2, 3], "b": 1}').hexdigest()[:16]
    assert config_hash({"a": [2, 3], "b": 1}) == config_hash({"b": 1, "a": [2, 3]})
    assert config_hash({"a": 1, "b": 2}, defaults={"a": 1}) == hashlib.sha256(b'{"b": 2}').hexdigest()[:16]


@pytest.mark.parametrize("case", ["folder", "missing", "not a store", "corrupt"])
def test_a_store_that_cannot_be_opened_says_why(case, tmp_path):
    path = tmp_path / "runs.db"
    if case == "folder":
        path.mkdir()
        message = f"{path} is a folder; --db or MLP_DB must name a run store file"
    elif case == "missing":
        message = f"no run store at {path}; run a sweep or train.py first, or set MLP_DB"
    elif case == "not a store":
        sqlite3.connect(path).execute("CREATE TABLE other (x)").connection.commit()
        message = f"{path} is not a run store (no runs table)"
    else:
        path.write_bytes(b"not sqlite at all " * 100)
        message = f"cannot open run store {path}: file is not a database"
    with pytest.raises(StoreError) as refused:
        RunStore(path, create=False)
    assert str(refused.value) == message


def test_a_new_store_has_every_table_after_its_first_open_and_a_second_open_applies_nothing(tmp_path):
    path = tmp_path / "runs.db"
    RunStore(path).close()
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        applied = [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY applied_at, rowid")]
    assert {"sweeps", "runs", "epochs", "meta", "reports"} <= tables
    assert applied == NAMES
    RunStore(path).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM _sqlite_migrations").fetchone()[0] == len(NAMES)


def test_a_field_is_declared_once_and_the_record_the_read_and_the_view_follow_it(tmp_path):
    """RUN_FIELDS is the one list: the columns the migrations make, the RunRecord a runner fills in, the Run a read
    returns and runs_flat's run columns all come from it."""
    store = RunStore(tmp_path / "runs.db", key_defaults={"seed": 0})
    with sqlite3.connect(tmp_path / "runs.db") as conn:
        assert [r[1] for r in conn.execute("PRAGMA table_info(runs)")] == [f.name for f in RUN_FIELDS]
    recorded = [f.name for f in RUN_FIELDS if f.kind == "recorded"]
    assert [f.name for f in dataclasses.fields(RunRecord)] == ["config", "status", "scores", "epochs", *recorded]
    assert [f.name for f in dataclasses.fields(Run)] == list(RUN_COLUMNS)
    view = [c.name for c in store.db["runs_flat"].columns]
    assert view == ["id", "sweep", "status", "seed", "width",
                    *(f.name for f in RUN_FIELDS if f.shown and f.name not in ("id", "sweep", "status"))]


def test_a_read_is_a_typed_run_that_does_not_change(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    run_id = store.record("s", as_record({"seed": 1}, {"status": "stopped", "val_acc": 0.5, "epochs": [{"epoch": 1}]}))
    run = store.get(run_id)
    assert isinstance(run, Run) and run.status is Status.STOPPED and run.status.is_final
    assert (run.id, run.config, run.val_acc, run.epochs_done) == (run_id, {"seed": 1}, 0.5, 1)
    assert run["val_acc"] == 0.5 and dict(run)["sweep"] == "s" and json.loads(json.dumps(dict(run)))["status"] == \
        "stopped"
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.status = Status.FINISHED
    with pytest.raises(KeyError):
        run["no_such_column"]


def test_status_queries_use_placeholders_so_one_status_or_several_work(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    for seed, status in enumerate(("finished", "stopped", "failed")):
        store.record("s", as_record(resolve_config({"seed": seed}), {"status": status}))
    assert [r["status"] for r in store.runs(status="stopped")] == ["stopped"]
    assert [r["status"] for r in store.runs(status=("stopped",))] == ["stopped"]
    assert [r["status"] for r in store.runs(status=["finished", "failed"])] == ["finished", "failed"]
    assert store.status_counts("s") == {("s", "failed"): 1, ("s", "finished"): 1, ("s", "stopped"): 1}


def test_every_option_that_differs_from_its_default_changes_the_key(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    store.use_defaults(key_defaults())
    keys = {"defaults": store.key(resolve_config({}))}
    for option in RUN_OPTIONS:
        config = resolve_config({option.name: other_value(option)})
        assert config[option.name] != resolve_config({})[option.name], option.name
        keys[option.name] = store.key(config)
    assert len(set(keys.values())) == len(keys), "two configurations share one key"


def other_value(option):
    """A valid value of ``option`` that is not its default."""
    if option.choices:
        return next(c for c in option.choices if c != option.default)
    if option.many:
        return [option.default[0] + 1]
    if option.type is int:
        return option.default + 1
    return option.default / 2 if option.default else 0.5 * (option.maximum or 1)


@pytest.mark.parametrize("final", ["finished", "diverged", "stopped"])
def test_a_late_claim_leaves_a_final_run_alone(tmp_path, final):
    """A claim that arrives after the run was recorded (from its own runner, another one, with any lease, or for a
    rerun that began before the run ended) gets nothing, and the row as SQLite holds it does not change."""
    store = RunStore(tmp_path / "runs.db")
    config = resolve_config({"epochs": 1})
    assert store.claim("s", config, "me", 60) is not None
    store.record("s", as_record(config, {"status": final, "test_acc": 0.5, "epochs": [{"epoch": 1, "val_acc": 0.5}]}))

    def raw_rows():
        with sqlite3.connect(tmp_path / "runs.db") as conn:
            return (conn.execute("SELECT * FROM runs").fetchall(), conn.execute("SELECT * FROM epochs").fetchall())

    before = raw_rows()
    assert [row[4] for row in before[0]] == [final]  # the status column
    for owner, lease in (("me", 60), ("other", 60), ("me", -1), ("other", -1)):
        assert store.claim("s", config, owner, lease) is None, (owner, lease)
        assert store.claim("s", config, owner, lease, rerun_before=0.0) is None, "the run ended after the rerun began"
    assert raw_rows() == before


def test_an_old_store_upgraded_in_place_then_copied_elsewhere_resolves_its_own_files(tmp_path, mnist):
    """Every migration runs on the first open; a copy of the upgraded folder must then read the copy's weights,
    never the folder it was copied from (which a stored absolute path would silently point at)."""
    first = shutil.copytree(FIXTURE, tmp_path / "first")
    upgraded = RunStore(first / "runs.db", create=False)
    assert upgraded.schema_version == len(NAMES)
    upgraded.close()
    copy = shutil.copytree(first, tmp_path / "copy")
    store = RunStore(copy / "runs.db", create=False)
    paths = [Path(r["weights_path"]) for r in store.runs()]
    assert paths and all(p.is_relative_to(copy) and p.is_file() for p in paths), paths
    shutil.rmtree(first)  # the copy stands alone
    assert_weights_reproduce(store, copy, mnist)


def test_a_large_sweeps_cheap_reads_give_the_columns_asked_and_the_spread_by_epoch(tmp_path):
    """runs(fields=...) reads only the columns named (the config parsed); epoch_spread sums every run's metric by
    epoch in SQL; curves(runs=...) reads the epochs of exactly the runs given."""
    store = RunStore(tmp_path / "runs.db")
    accs = {0: [0.2, 0.4, 0.6], 1: [0.3, 0.5], 2: [0.1, 0.7, 0.8]}
    for seed, values in accs.items():
        store.record("s", as_record({"seed": seed}, {"status": "finished", "val_acc": values[-1],
                                                     "epochs": [{"epoch": e, "val_acc": v}
                                                                for e, v in enumerate(values, 1)]}))
    store.record("other", as_record({"seed": 9}, {"status": "finished", "epochs": [{"epoch": 1, "val_acc": 0.99}]}))
    narrow = store.runs(sweep="s", fields=("id", "config", "val_acc"), sort="val_acc", descending=True)
    assert narrow == [{"id": 3, "config": {"seed": 2}, "val_acc": 0.8}, {"id": 1, "config": {"seed": 0}, "val_acc": 0.6},
                      {"id": 2, "config": {"seed": 1}, "val_acc": 0.5}]
    with pytest.raises(StoreError, match="not a run column"):
        store.runs(fields=("id", "id; DROP TABLE runs"))
    spread = store.epoch_spread("s")
    assert [(r["epoch"], r["low"], r["high"], r["runs"]) for r in spread] == [(1, 0.1, 0.3, 3), (2, 0.4, 0.7, 3),
                                                                              (3, 0.6, 0.8, 2)]
    assert [round(r["mean"], 6) for r in spread] == [0.2, round(1.6 / 3, 6), 0.7]
    assert [(c["id"], c["values"]) for c in store.curves(runs=narrow[:2])] == [(3, [0.1, 0.7, 0.8]), (1, [0.2, 0.4, 0.6])]


def test_a_run_in_training_gains_its_epochs_one_by_one_and_its_record_has_the_last_word(tmp_path):
    """record_epoch writes an epoch of a running run as it ends (the dashboard's live curves); an epoch replaces what an earlier attempt left from there on;
    a run no longer running takes no live epoch."""
    store = RunStore(tmp_path / "runs.db")
    config, peer = resolve_config({"seed": 1}), resolve_config({"seed": 2})
    store.record("s", as_record(peer, {"status": "finished", "epochs": [{"epoch": 1, "val_acc": 0.5}]}))
    run_id = store.claim("s", config, "me", 60)
    assert store.record_epoch(run_id, {"epoch": 1, "val_acc": 0.3, "train_loss": 2.0})
    assert store.record_epoch(run_id, {"epoch": 2, "val_acc": 0.4})
    assert [(e["epoch"], e["val_acc"]) for e in store.epochs(run_id)] == [(1, 0.3), (2, 0.4)]
    assert store.epochs(run_id)[0]["train_loss"] == 2.0
    assert store.get(run_id)["epochs_done"] == 2 and store.get(run_id)["status"] == "running"
    assert [(r["epoch"], r["runs"]) for r in store.epoch_spread("s")] == [(1, 2), (2, 1)], "the band sees them"
    assert store.record_epoch(run_id, {"epoch": 1, "val_acc": 0.35}), "a new attempt starts again at epoch 1"
    assert [(e["epoch"], e["val_acc"]) for e in store.epochs(run_id)] == [(1, 0.35)]
    store.record("s", as_record(config, {"status": "stopped", "epochs": [{"epoch": e, "val_acc": 0.1 * e}
                                                                         for e in (1, 2, 3)]}), run_id)
    assert not store.record_epoch(run_id, {"epoch": 4, "val_acc": 0.9}), "the recorded run keeps its epochs"
    assert [(e["epoch"], e["val_acc"]) for e in store.epochs(run_id)] == [(1, 0.1), (2, 0.2), (3, 0.1 * 3)]
