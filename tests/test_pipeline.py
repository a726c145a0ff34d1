"""runner/pipeline.py: a run's one path from claim to row, with its pool passed in: resume after kill -9, worker
deaths, failures that never stop a sweep, runners sharing a store, the progress bar."""
import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest
import yaml

import runner.job
from cli import OneLineParser, add_job_options
from conftest import QUICK_VALUES, SWEEP_DEADLINE, as_record, runner_cmd, wait_for, write_sweep
from mlp import NeuralNetwork
from mlp.data import load_dataset
from mlp.metrics import evaluate
from mlp.model_io import load_weights
from mlp.options import resolve_config
from runner.early_stop import EarlyTermination
from runner.job import JobContext, JobResult
from runner.lease import Lease
from runner.pipeline import (MAX_DEATHS_PER_RUN, MAX_WORKER_DEATHS, Bookkeeping, _worker_lost, claim_next,
                             key_defaults, open_store, run_pipeline, run_sweep)
from runner.proposers import FixedProposer
from runner.sweep_file import expand, load_sweep
from runner.workers import InProcessWorkers, LocalWorkers
from store import RunRecord, RunStore


ROOT = Path(__file__).resolve().parent.parent


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def n_finished(db):
    if not Path(db).exists():
        return 0
    try:
        return len(RunStore(db, create=False).runs(status="finished"))
    except Exception:  # schema not there yet
        return 0


def assert_complete(tmp_path, spec_file, data):
    """Exactly one finished row per configuration, and every weights file reproduces its test accuracy."""
    spec = load_sweep(spec_file)
    store = RunStore(tmp_path / "runs.db", create=False)
    expected = {store.key(c) for c in expand(spec)}
    rows = store.runs(sweep=spec["name"])
    hashes = [r["config_hash"] for r in rows]
    assert len(hashes) == len(set(hashes)), "a configuration is recorded twice"
    assert set(hashes) == expected
    assert all(r["status"] == "finished" for r in rows), [r["status"] for r in rows]
    for row in rows:
        assert len(store.epochs(row["id"])) == row["config"]["epochs"]
        assert row["weights_sha256"] == hashlib.sha256(Path(row["weights_path"]).read_bytes()).hexdigest()
        model = NeuralNetwork(row["config"])
        model.set_weights(load_weights(row["weights_path"]))
        X_test = data.X_test.astype(model.dtype)
        assert evaluate(model, X_test, data.y_test)["accuracy"] == row["test_acc"]
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.fixture(scope="module")
def data():
    return load_dataset("mnist")


@SWEEP_DEADLINE
@pytest.mark.parametrize("jobs", [1, 2])
def test_sweep_records_each_config_once_and_resumes_as_a_no_op(tmp_path, jobs, data):
    spec_file = write_sweep(tmp_path, f"grid{jobs}", {"epochs": {"value": 2}, "optimizer": {"values": ["adam", "sgd"]},
                                                      "learning_rate": {"values": [0.01, 0.001]}})
    spec = load_sweep(spec_file)
    store = RunStore(tmp_path / "runs.db")
    ctx = JobContext(sweep=spec["name"], runs_dir=str(tmp_path / "runs"), wandb_mode="disabled")
    first = run_sweep(spec, store, LocalWorkers(jobs), ctx=ctx, progress=False)
    assert first.counts == {"finished": 4}
    second = run_sweep(spec, store, LocalWorkers(jobs), ctx=ctx, progress=False)
    assert second.counts == {} and second.skipped == 4
    assert_complete(tmp_path, spec_file, data)


@SWEEP_DEADLINE
def test_a_narrowed_grid_counts_only_its_own_runs_as_done(tmp_path):
    """A sweep that keeps runs of an earlier, wider grid (or 2.10's runs by an earlier rule) reports and shows
    progress over the configurations asked for now, not over every row of its name."""
    store = RunStore(tmp_path / "runs.db")
    ctx = JobContext(sweep="narrow", runs_dir=str(tmp_path / "runs"), wandb_mode="disabled")
    wide = load_sweep(write_sweep(tmp_path, "narrow", {"epochs": {"value": 1}, "seed": {"values": [0, 1, 2]}}))
    assert run_sweep(wide, store, InProcessWorkers(), ctx=ctx, progress=False).counts == {"finished": 3}
    narrowed = load_sweep(write_sweep(tmp_path, "narrow", {"epochs": {"value": 1}, "seed": {"values": [2, 3]}}))
    summary = run_sweep(narrowed, store, InProcessWorkers(), ctx=ctx, progress=False)
    assert summary.counts == {"finished": 1} and summary.skipped == 1


def test_kill_9_of_the_runner_then_resume_completes_without_duplicates(tmp_path, data):
    spec_file = write_sweep(tmp_path, "killed", {"epochs": {"value": 3}, "seed": {"values": list(range(8))}})
    runner = subprocess.Popen(runner_cmd(spec_file, tmp_path), cwd=ROOT)
    wait_for(lambda: n_finished(tmp_path / "runs.db") >= 2)
    workers = children(runner.pid)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    interrupted = len(RunStore(tmp_path / "runs.db", create=False).runs(status="finished"))
    assert interrupted < 8, "the sweep finished before the kill; the test proved nothing"
    wait_for(lambda: not any(Path(f"/proc/{w}").exists() and "Z" not in Path(f"/proc/{w}/stat").read_text().split()[2]
                             for w in workers), timeout=60)
    resumed = subprocess.run(runner_cmd(spec_file, tmp_path), cwd=ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{interrupted} already done" in resumed.stdout
    assert_complete(tmp_path, spec_file, data)


def test_kill_9_of_a_worker_reruns_its_configuration(tmp_path, data):
    spec_file = write_sweep(tmp_path, "workerkill", {"epochs": {"value": 3}, "seed": {"values": list(range(8))}})
    runner = subprocess.Popen(runner_cmd(spec_file, tmp_path), cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    wait_for(lambda: n_finished(tmp_path / "runs.db") >= 1)
    busy = [p for p in children(runner.pid) if "loky" in Path(f"/proc/{p}/cmdline").read_text()]
    assert busy, "no worker process found"
    os.kill(busy[0], signal.SIGKILL)
    out, err = runner.communicate(timeout=300)
    assert runner.returncode == 0, err
    assert not Path(f"/proc/{busy[0]}").exists() or "Z" in Path(f"/proc/{busy[0]}/stat").read_text().split()[2]
    assert_complete(tmp_path, spec_file, data)


def test_queries_succeed_while_a_sweep_is_writing(tmp_path):
    spec_file = write_sweep(tmp_path, "busy", {"epochs": {"value": 2}, "seed": {"values": list(range(8))}})
    runner = subprocess.Popen(runner_cmd(spec_file, tmp_path), cwd=ROOT)
    wait_for(lambda: (tmp_path / "runs.db").exists())
    seen_running = queries = 0
    while runner.poll() is None:
        out = subprocess.run([sys.executable, "-m", "store", "--db", str(tmp_path / "runs.db"), "list", "--json"],
                             cwd=ROOT, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        queries += 1
        seen_running += '"status": "running"' in out.stdout
    assert runner.returncode == 0
    assert queries >= 2 and seen_running >= 1
    assert n_finished(tmp_path / "runs.db") == 8


@SWEEP_DEADLINE
def test_the_workers_write_each_epoch_into_the_store_while_their_run_trains(tmp_path):
    """The real runner with two loky workers: every epoch of every run reaches the store while the run is still
    running (seen by a trigger that notes each epoch's row as it is written), before its record writes them all
    again."""
    spec_file = write_sweep(tmp_path, "live", {"epochs": {"value": 3}, "seed": {"values": [0, 1, 2]}})
    open_store(tmp_path / "runs.db").close()
    with sqlite3.connect(tmp_path / "runs.db") as raw:
        raw.execute("CREATE TABLE written (run_id, epoch, status)")
        raw.execute("CREATE TRIGGER note AFTER INSERT ON epochs BEGIN INSERT INTO written SELECT new.run_id, "
                    "new.epoch, status FROM runs WHERE id = new.run_id; END")
    out = subprocess.run(runner_cmd(spec_file, tmp_path), cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    with sqlite3.connect(tmp_path / "runs.db") as raw:
        written = raw.execute("SELECT run_id, epoch, status FROM written").fetchall()
        run_ids = [i for (i,) in raw.execute("SELECT id FROM runs")]
    every_epoch = {(run_id, epoch) for run_id in run_ids for epoch in (1, 2, 3)}
    assert len(run_ids) == 3
    assert {(i, e) for i, e, status in written if status == "running"} == every_epoch, "written live"
    assert {(i, e) for i, e, status in written if status == "finished"} == every_epoch, "then recorded"


@SWEEP_DEADLINE
def test_diverged_and_failed_runs_are_recorded_and_the_sweep_goes_on(tmp_path, data_dir):
    only_mnist = tmp_path / "data"
    (only_mnist / "mnist").mkdir(parents=True)
    for f in (data_dir / "mnist").iterdir():
        (only_mnist / "mnist" / f.name).symlink_to(f)
    spec_file = write_sweep(tmp_path, "mixed", {
        "epochs": {"value": 2}, "optimizer": {"value": "sgd"}, "num_layers": {"value": 3}, "hidden_size": {"value": 64},
        "learning_rate": {"values": [0.05, 1.0e12]}, "dataset": {"values": ["mnist", "fashion_mnist"]}})
    spec = load_sweep(spec_file)
    store = RunStore(tmp_path / "runs.db")
    ctx = JobContext(sweep="mixed", runs_dir=str(tmp_path / "runs"), data_dir=str(only_mnist), wandb_mode="disabled")
    summary = run_sweep(spec, store, LocalWorkers(2), ctx=ctx, progress=False)
    assert summary.counts == {"finished": 1, "diverged": 1, "failed": 2}
    by_key = {(r["config"]["dataset"], r["config"]["learning_rate"]): r for r in store.runs(sweep="mixed")}
    assert by_key[("mnist", 0.05)]["status"] == "finished"
    assert by_key[("mnist", 1.0e12)]["status"] == "diverged" and "loss became" in by_key[("mnist", 1.0e12)]["error"]
    assert all("fashion_mnist" in by_key[("fashion_mnist", lr)]["error"] for lr in (0.05, 1.0e12))


def test_hyperband_stops_runs_below_the_quantile_of_their_peers():
    rule = EarlyTermination("hyperband", min_iter=2, eta=2)
    assert [e for e in range(1, 10) if rule.checks_at(e)] == [2, 4, 8]
    peers = [0.9, 0.91, 0.92, 0.93]
    assert rule.bar(2, peers) == (pytest.approx(0.915), 4)  # the median at eta 2
    assert rule.bar(3, peers) is None, "hyperband only judges at its brackets"
    assert rule.bar(2, peers[:1]) is None, "too few peers to judge"
    median = EarlyTermination("median", min_iter=1)
    assert median.bar(5, [0.8, 0.95, 0.96, 0.97]).value == pytest.approx(0.955)


@SWEEP_DEADLINE
def test_early_termination_stops_hopeless_runs_in_a_real_sweep(tmp_path):
    spec_file = write_sweep(tmp_path, "et", {"epochs": {"value": 4}, "optimizer": {"value": "sgd"},
                                              "learning_rate": {"values": [0.1, 0.09, 0.08, 0.07, 0.06, 1e-6]}},
                            early_terminate={"type": "hyperband", "min_iter": 2, "eta": 2})
    spec = load_sweep(spec_file)
    store = RunStore(tmp_path / "runs.db")
    ctx = JobContext(sweep="et", runs_dir=str(tmp_path / "runs"), wandb_mode="disabled",
                     early_terminate=spec["early_terminate"])
    run_sweep(spec, store, LocalWorkers(1), ctx=ctx, progress=False)  # one job: the slow run sees every peer
    slow = [r for r in store.runs(sweep="et") if r["config"]["learning_rate"] < 1e-5][0]
    assert slow["status"] == "stopped" and slow["epochs_done"] == 2
    first_two = store.runs(sweep="et", limit=2)  # too few peers (fewer than eta) to be judged
    assert [r["status"] for r in first_two] == ["finished"] * 2
    assert [r["proposal"] for r in store.runs(sweep="et")] == [
        f"grid: configuration {i} of 6 of the sweep's expansion" for i in range(1, 7)]
    assert slow["error"].startswith("hyperband rule at epoch 2: val_acc ") and slow["error"].endswith(" runs")
    assert slow["weights_path"] is None and all(Path(r["weights_path"]).is_file() for r in store.runs(
        sweep="et", status="finished")), "by default, finished runs keep their files and stopped ones none"


@SWEEP_DEADLINE
def test_bayes_proposes_new_configs_within_bounds_up_to_the_run_cap(tmp_path):
    spec_file = write_sweep(tmp_path, "bo", {"epochs": {"value": 1},
                                              "learning_rate": {"min": 1e-4, "max": 0.1,
                                                                "distribution": "log_uniform_values"},
                                              "optimizer": {"values": ["adam", "sgd"]}},
                            method="bayes", run_cap=12)
    spec = load_sweep(spec_file)
    store = RunStore(tmp_path / "runs.db")
    ctx = JobContext(sweep="bo", runs_dir=str(tmp_path / "runs"), wandb_mode="disabled")
    run_sweep(spec, store, LocalWorkers(2), ctx=ctx, progress=False)
    rows = store.runs(sweep="bo")
    assert len(rows) == 12 and len({r["config_hash"] for r in rows}) == 12
    assert all(1e-4 <= r["config"]["learning_rate"] <= 0.1 for r in rows)
    reasons = [r["proposal"] for r in rows]  # each run says why it was proposed, in the order they were claimed
    # batches of 4: the first two before 6 runs reported (the trainer's defaults, then draws), the third once 7 had
    assert reasons[0] == "default: the trainer's own configuration, tried first", reasons
    assert rows[0]["config"]["optimizer"] == "adam" and rows[0]["config"]["learning_rate"] == 1e-3
    assert all(r.startswith("random start: a draw from the space (") for r in reasons[1:8]), reasons
    assert all(r.startswith(("model: ", "a plain draw from the space")) and " predicted " in r
               for r in reasons[8:]), reasons
    assert run_sweep(spec, store, LocalWorkers(2), ctx=ctx, progress=False).counts == {}


@SWEEP_DEADLINE
def test_store_filters_match_list_values_and_refuse_odd_keys(tmp_path):
    spec_file = write_sweep(tmp_path, "filters", {"epochs": {"value": 1}, "num_layers": {"value": 2},
                                                   "hidden_size": {"values": [[16, 8], [8, 8]]}})
    spec = load_sweep(spec_file)
    store = RunStore(tmp_path / "runs.db")
    run_sweep(spec, store, InProcessWorkers(), ctx=JobContext(sweep="filters", runs_dir=str(tmp_path / "runs"), wandb_mode="disabled"), progress=False)
    query = [sys.executable, "-m", "store", "--db", str(tmp_path / "runs.db"), "list", "--json", "--filter"]
    out = subprocess.run(query + ["hidden_size=[16, 8]"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 1 and '"hidden_size": [16, 8]' in out.stdout
    odd = subprocess.run(query + ["x')=1 OR (1"], cwd=ROOT, capture_output=True, text=True)
    assert odd.returncode == 2 and len(odd.stderr.splitlines()) == 1 and "Traceback" not in odd.stderr


def test_a_configuration_whose_worker_keeps_dying_is_recorded_failed(tmp_path):
    spec = load_sweep(write_sweep(tmp_path, "deaths", {"epochs": {"value": 1}, "seed": {"values": [0, 1]}}))
    store = RunStore(tmp_path / "runs.db")
    proposer, book, deaths = FixedProposer("deaths", store, expand(spec)), Bookkeeping(store, "deaths"), Counter()
    doomed, finished = expand(spec)
    store.record("deaths", as_record(finished, {"status": "finished"}))
    with Lease(store) as lease:
        for attempt in range(1, MAX_DEATHS_PER_RUN + 1):
            proposal, run_id = claim_next(proposer, book, lease)
            assert proposal.config == doomed  # in flight when its worker dies
            assert _worker_lost(store, book, proposal, run_id, deaths) == (attempt == MAX_DEATHS_PER_RUN)
    (row,) = store.runs(sweep="deaths", key=store.key(doomed))
    assert row["status"] == "failed"
    assert row["error"] == f"its worker process died {MAX_DEATHS_PER_RUN} times (out of memory, or killed)"
    assert row["attempts"] == MAX_DEATHS_PER_RUN, "each death sent the same claim out again"
    assert proposer.propose(book.done()) == [], "nothing left to run in this invocation"
    assert [r["status"] for r in store.runs(sweep="deaths")] == ["finished", "failed"]


class Unread(Future):
    """A future that is in flight until the runner reads its result."""

    def __init__(self, in_flight):
        super().__init__()
        self.in_flight = in_flight
        in_flight.add(self)

    def result(self, timeout=None):
        self.in_flight.discard(self)
        return super().result(timeout)


class ScriptedWorkers(InProcessWorkers):
    """The in-process pool, with ``jobs`` workers and a script: each submit is recorded and refused beyond the pool's
    capacity, and the worker "dies" (its future raises, as loky's does) for the first ``deaths[seed]`` submits of a
    configuration; ``outcomes[seed]`` is a status to report instead of training; ``meanwhile(config)`` runs
    before each result is handed back, as another runner would."""

    def __init__(self, deaths=None, meanwhile=None, jobs=1, outcomes=None):
        super().__init__()
        self.deaths, self.calls, self.meanwhile, self.in_flight = Counter(deaths or {}), [], meanwhile, set()
        self.jobs, self.outcomes = jobs, outcomes or {}

    def capacity(self):
        return self.jobs

    def submit(self, config, ctx, key, bars, live=None):
        assert len(self.in_flight) < self.capacity(), "a job submitted to a busy pool"
        self.calls.append((config, ctx, key, bars))
        future = Unread(self.in_flight)
        if self.deaths[config["seed"]] > 0:
            self.deaths[config["seed"]] -= 1
            future.set_exception(BrokenProcessPool("a worker died"))
            return future
        if config["seed"] in self.outcomes:  # told, not trained: the record of a run that ended so
            status = self.outcomes[config["seed"]]
            result = JobResult(RunRecord(config, status, error=f"it {status}"))
        else:
            result = super().submit(config, ctx, key, bars, live).result()
        if self.meanwhile is not None:
            self.meanwhile(config)
        future.set_result(result)
        return future


@SWEEP_DEADLINE
def test_run_sweep_reruns_a_run_whose_worker_died_and_records_failed_one_that_keeps_dying(tmp_path, monkeypatch, capsys):
    spec = load_sweep(write_sweep(tmp_path, "dying", {"epochs": {"value": 1}, "seed": {"values": [0, 1]}}))
    store = RunStore(tmp_path / "runs.db")
    pool = ScriptedWorkers({0: 1, 1: MAX_DEATHS_PER_RUN})
    summary = run_sweep(spec, store, pool, ctx=JobContext(sweep="dying", runs_dir=str(tmp_path / "runs"),
                                                    wandb_mode="disabled"))
    assert summary.counts == {"finished": 1, "failed": 1}
    assert Counter(c["seed"] for c, _, _, _ in pool.calls) == {0: 2, 1: MAX_DEATHS_PER_RUN}
    rows = {r["config"]["seed"]: r for r in store.runs(sweep="dying")}
    assert rows[0]["status"] == "finished" and rows[1]["status"] == "failed"
    assert rows[1]["error"] == f"its worker process died {MAX_DEATHS_PER_RUN} times (out of memory, or killed)"
    out = capsys.readouterr()
    deaths = re.findall(r"a worker died \((\d+)\)", out.out + out.err)
    assert deaths == [str(n) for n in range(1, MAX_DEATHS_PER_RUN + 2)], "one line per death, counted from 1"
    assert f"run failed: its worker died {MAX_DEATHS_PER_RUN} times (BrokenProcessPool('a worker died'))" in out.out


@SWEEP_DEADLINE
def test_run_sweep_keeps_the_result_another_runner_recorded_first(tmp_path, monkeypatch, capsys):
    spec = load_sweep(write_sweep(tmp_path, "raced", {"epochs": {"value": 1}}))
    store = RunStore(tmp_path / "runs.db")
    pool = ScriptedWorkers(
        meanwhile=lambda config: store.record("raced", as_record(config, {"status": "finished", "val_acc": 0.5})))
    summary = run_sweep(spec, store, pool, ctx=JobContext(sweep="raced", runs_dir=str(tmp_path / "runs"),
                                                    wandb_mode="disabled"))
    assert summary.counts == {}, "the run was not this runner's to count"
    (row,) = store.runs(sweep="raced")
    assert row["status"] == "finished" and row["val_acc"] == 0.5 and row["weights_path"] is None
    assert not (tmp_path / "runs" / "raced").exists() or not any((tmp_path / "runs" / "raced").iterdir())
    assert "a result arrived for a run another runner had recorded; kept the first" in capsys.readouterr().out.splitlines()


def no_disk(*args):
    raise OSError("disk on fire")


@SWEEP_DEADLINE
def test_run_sweep_by_default_runs_its_jobs_in_a_context_named_after_the_sweep(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")  # what the default context's "auto" W&B mode reads first
    monkeypatch.setattr(runner.job, "load_uint8", no_disk)  # failed runs leave no files in the default runs folder
    spec = load_sweep(write_sweep(tmp_path, "plain", {"epochs": {"value": 1}, "seed": {"values": [0, 1]}}))
    pool = ScriptedWorkers()
    assert run_sweep(spec, RunStore(tmp_path / "runs.db"), pool, progress=False).counts == {"failed": 2}
    assert [ctx.sweep for _, ctx, _, _ in pool.calls] == ["plain", "plain"]


@SWEEP_DEADLINE
def test_run_sweep_runs_the_configurations_it_is_given_instead_of_the_sweep_file(tmp_path, monkeypatch):
    """As report 2.10 does: its configurations are chosen from results, and the sweep row records them."""
    spec = load_sweep(write_sweep(tmp_path, "given", {"epochs": {"value": 1}, "seed": {"values": [0, 1, 2]}}))
    store = RunStore(tmp_path / "runs.db")
    given = [resolve_config({**QUICK_VALUES, "epochs": 1, "seed": 7})]
    pool = ScriptedWorkers()
    ctx = JobContext(sweep="given", runs_dir=str(tmp_path / "runs"), wandb_mode="disabled")
    summary = run_sweep(spec, store, pool, ctx=ctx, progress=False, configs=given)
    assert summary.counts == {"finished": 1} and [c["seed"] for c, _, _, _ in pool.calls] == [7]
    (sweep,) = store.db["sweeps"].rows_where("name = ?", ["given"])
    assert json.loads(sweep["spec"])["configs"] == given


@SWEEP_DEADLINE
def test_run_sweep_says_why_a_run_failed(tmp_path, monkeypatch, capsys):
    spec = load_sweep(write_sweep(tmp_path, "failing", {"epochs": {"value": 1}}))
    store = RunStore(tmp_path / "runs.db")
    monkeypatch.setattr(runner.job, "load_uint8", no_disk)
    summary = run_sweep(spec, store, ScriptedWorkers(), ctx=JobContext(sweep="failing", runs_dir=str(tmp_path / "runs"),
                                                    wandb_mode="disabled"))
    assert summary.counts == {"failed": 1}
    (row,) = store.runs(sweep="failing")
    assert row["error"] == "OSError: disk on fire"
    assert row["traceback"].startswith("Traceback") and "disk on fire" in row["traceback"], "the job's traceback is kept"
    assert "run failed: OSError: disk on fire" in capsys.readouterr().out


@SWEEP_DEADLINE
def test_run_sweep_never_sends_out_a_run_that_is_in_flight(tmp_path, monkeypatch):
    """With two workers the queue refills while runs are out; those are claimed by this very runner, so only
    the runner's own list of what is in flight keeps it from submitting them twice."""
    spec = load_sweep(write_sweep(tmp_path, "twice", {"epochs": {"value": 1}, "seed": {"values": [0, 1, 2]}}))
    pool = ScriptedWorkers(jobs=2)
    run_sweep(spec, RunStore(tmp_path / "runs.db"), pool, progress=False,
              ctx=JobContext(sweep="twice", runs_dir=str(tmp_path / "runs"), wandb_mode="disabled"))
    assert sorted(c["seed"] for c, _, _, _ in pool.calls) == [0, 1, 2]


@SWEEP_DEADLINE
def test_run_sweep_counts_workers_lost_together_as_one_death(tmp_path, monkeypatch, capsys):
    """A broken loky pool fails every job in it at once: one death, and each of its runs goes out again."""
    spec = load_sweep(write_sweep(tmp_path, "together", {"epochs": {"value": 1}, "seed": {"values": [0, 1]}}))
    store = RunStore(tmp_path / "runs.db")
    pool = ScriptedWorkers({0: 1, 1: 1}, jobs=2)
    summary = run_sweep(spec, store, pool, ctx=JobContext(sweep="together", runs_dir=str(tmp_path / "runs"),
                                                            wandb_mode="disabled"))
    assert summary.counts == {"finished": 2}
    assert re.findall(r"a worker died \((\d+)\)", capsys.readouterr().out) == ["1"]


@SWEEP_DEADLINE
def test_run_sweep_counts_on_its_bar_stopped_runs_as_done_and_diverged_ones_as_failed(tmp_path, monkeypatch, capsys):
    spec = load_sweep(write_sweep(tmp_path, "bar", {"epochs": {"value": 1}, "seed": {"values": list(range(6))}}))
    store = RunStore(tmp_path / "runs.db")
    store.use_defaults(key_defaults())
    store.record("bar", as_record(expand(spec)[5], {"status": "finished"}))
    pool = ScriptedWorkers(outcomes={0: "finished", 1: "stopped", 2: "stopped", 3: "diverged", 4: "failed"})
    ctx = JobContext(sweep="bar", runs_dir=str(tmp_path / "runs"), wandb_mode="disabled")
    run_sweep(spec, store, pool, ctx=ctx)
    assert re.search(r"5/5 \[[^]]*, done=3, failed=2, left=0\]", capsys.readouterr().err)
    run_sweep(spec, store, pool, ctx=ctx, progress=False)
    assert capsys.readouterr().err == "", "no bar when asked for none"


def test_two_sweeps_each_run_and_keep_a_configuration_they_share(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "runs.db")
    for name in ("first", "second"):
        spec = load_sweep(write_sweep(tmp_path, name, {"epochs": {"value": 1}}))
        ctx = JobContext(sweep=name, runs_dir=str(tmp_path / "runs"), wandb_mode="disabled")
        assert run_sweep(spec, store, ScriptedWorkers(), ctx=ctx, progress=False).counts == {"finished": 1}, name
    rows = store.runs()
    assert [r["sweep"] for r in rows] == ["first", "second"] and rows[0]["config_hash"] == rows[1]["config_hash"]
    assert all(Path(r["weights_path"]).exists() for r in rows)


def test_run_sweep_gives_up_after_max_worker_deaths(tmp_path, monkeypatch):
    spec = load_sweep(write_sweep(tmp_path, "doomed", {"epochs": {"value": 1}, "seed": {"values": list(range(5))}}))
    pool = ScriptedWorkers({seed: MAX_DEATHS_PER_RUN for seed in range(5)})
    with pytest.raises(RuntimeError, match=f"workers died {MAX_WORKER_DEATHS} times; giving up"):
        run_sweep(spec, RunStore(tmp_path / "runs.db"), pool, progress=False,
                  ctx=JobContext(sweep="doomed", runs_dir=str(tmp_path / "runs"), wandb_mode="disabled"))


@SWEEP_DEADLINE
def test_run_sweep_hands_each_job_its_key_and_the_bars_the_other_runs_set(tmp_path, monkeypatch):
    """The key names the job's W&B run; the bars it judges itself by leave out its own earlier epochs (a rerun's,
    here), or a run would be compared with itself."""
    spec = load_sweep(write_sweep(tmp_path, "peers", {"epochs": {"value": 2}, "seed": {"values": [0, 1, 2]}},
                                  early_terminate={"type": "hyperband", "min_iter": 1, "eta": 2}))
    store = RunStore(tmp_path / "runs.db")
    ctx = JobContext(sweep="peers", runs_dir=str(tmp_path / "runs"), wandb_mode="disabled",
                     early_terminate=spec["early_terminate"])
    run_sweep(spec, store, ScriptedWorkers(), ctx=ctx, progress=False)
    pool = ScriptedWorkers()
    run_sweep(spec, store, pool, ctx=ctx, progress=False, rerun=True)
    assert len(pool.calls) == 3
    for config, _, key, bars in pool.calls:
        assert key == store.key(config)
        others = [r for r in store.runs(sweep="peers") if r["config_hash"] != key]
        at_one = [e["val_acc"] for r in others for e in store.epochs(r["id"]) if e["epoch"] == 1]
        assert len(at_one) == 2 and bars[1] == (pytest.approx(sum(at_one) / 2), 2), "eta 2: the median of two"


@SWEEP_DEADLINE
def test_run_sweep_waits_for_a_run_held_by_another_runner_and_takes_it_over_when_the_lease_lapses(tmp_path):
    spec = load_sweep(write_sweep(tmp_path, "held", {"epochs": {"value": 1}}))
    store = RunStore(tmp_path / "runs.db")
    store.use_defaults(key_defaults())
    (config,) = expand(spec)
    assert store.claim("held", config, "another-host:1:runner", lease_seconds=1.5) is not None
    started = time.time()
    summary = run_sweep(spec, store, InProcessWorkers(), progress=False,
                        ctx=JobContext(sweep="held", runs_dir=str(tmp_path / "runs"), wandb_mode="disabled"))
    assert summary.counts == {"finished": 1} and 1.5 <= summary.seconds <= time.time() - started
    (row,) = store.runs(sweep="held")
    assert row["status"] == "finished" and row["claimed_by"] != "another-host:1:runner"


def test_the_network_loads_no_command_line_or_download_machinery():
    """``import mlp.neural_network`` (what a grader does first) loads no argparse, signal handling, HTTP or URL
    fetching: errors come from mlp.errors, flags from mlp.option_flags, and only a download imports urllib.request.
    (NumPy itself loads the ``urllib`` package for its URL parsing.)"""
    code = "import json, sys\nimport mlp.neural_network\nprint(json.dumps(sorted(sys.modules)))"
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                           timeout=120, cwd=ROOT).stdout))
    assert loaded & {"argparse", "signal", "http", "http.client", "urllib.request", "mlp.command_line"} == set()


def test_the_library_below_the_commands_never_imports_cli():
    """cli/ sits on top: errors come from mlp.errors, W&B settings from runner.tracking, the runs folder from the
    store, and a command's body lives in cli/ (its ``python -m`` door only calls it). Each module of mlp/, store/,
    runner/ and reports/ but the ``__main__`` doors is imported in turn; none may bring cli in."""
    modules = [".".join(path.relative_to(ROOT).with_suffix("").parts) for folder in ("mlp", "store", "runner", "reports")
               for path in sorted((ROOT / folder).glob("*.py")) if path.name != "__main__.py"]
    code = ("import importlib, sys\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module(name)\n"
            "    if 'cli' in sys.modules:\n"
            "        sys.exit(name + ' imports cli')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert len(modules) > 30


def test_a_job_imports_wandb_only_when_used_and_scikit_learn_only_when_it_splits(tmp_path):
    """No dead time: importing the network and the job loads neither scikit-learn nor wandb (2 s and 1.5 s here);
    a job with W&B disabled runs to the end without ever importing wandb, and the split loads scikit-learn."""
    code = (
        "import json, sys\n"
        "import mlp, mlp.data, mlp.training, runner.job\n"
        "before = sorted(sys.modules)\n"
        "from mlp.options import resolve_config\n"
        f"ctx = runner.job.JobContext(runs_dir={str(tmp_path / 'runs')!r}, wandb_mode='disabled')\n"
        "result = runner.job.run_one(resolve_config({'epochs': 1, 'train_size': 500, 'hidden_size': [16]}), ctx)\n"
        "print(json.dumps({'before': before, 'after': sorted(sys.modules), 'status': result.record.status.value,\n"
        "                  'wandb_run_id': result.record.wandb_run_id}))\n"
    )
    env = {**os.environ, "WANDB_MODE": "disabled"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300,
                         env=env, cwd=ROOT)
    seen = json.loads(out.stdout.splitlines()[-1])
    assert seen["status"] == "finished" and seen["wandb_run_id"] is None
    before, after = ({name.split(".")[0] for name in seen[key]} for key in ("before", "after"))
    assert not before & {"sklearn", "scipy", "wandb"}
    assert "wandb" not in after
    assert "sklearn" in after


def test_a_job_context_takes_every_job_flag():
    args = add_job_options(OneLineParser(prog="x")).parse_args(
        ["--runs_dir", "r", "--data_dir", "d", "--wandb_mode", "disabled", "-wp", "p", "-we", "e"])
    rule = {"type": "median", "min_iter": 2}
    assert JobContext.from_args(args, "s", rule) == JobContext(
        sweep="s", runs_dir="r", data_dir="d", wandb_mode="disabled", wandb_project="p", wandb_entity="e",
        early_terminate=rule)


@SWEEP_DEADLINE
def test_a_rerun_counts_as_done_what_another_runner_reran_meanwhile(tmp_path, monkeypatch):
    """Two runners rerunning one sweep: a run the other reran after this rerun began is done, not waited for."""
    spec = load_sweep(write_sweep(tmp_path, "both", {"epochs": {"value": 1}, "seed": {"values": [0, 1]}}))
    store = RunStore(tmp_path / "runs.db")
    ctx = JobContext(sweep="both", runs_dir=str(tmp_path / "runs"), wandb_mode="disabled")
    assert run_sweep(spec, store, ScriptedWorkers(), ctx=ctx, progress=False).counts == {"finished": 2}
    other = expand(spec)[1]

    def other_runner_reruns(config):
        if store.claim("both", other, "another-host:1:runner", 60, rerun_before=time.time()) is not None:
            store.record("both", as_record(other, {"status": "finished", "val_acc": 0.5, "ended_at": time.time()}))

    pool = ScriptedWorkers(meanwhile=other_runner_reruns)
    assert run_sweep(spec, store, pool, ctx=ctx, progress=False, rerun=True).counts == {"finished": 1}
    assert [c["seed"] for c, _, _, _ in pool.calls] == [0]


@SWEEP_DEADLINE
def test_run_sweep_shows_by_default_a_progress_bar_of_runs_done_failed_and_left(tmp_path, data_dir, capsys):
    spec = load_sweep(write_sweep(tmp_path, "one", {"epochs": {"value": 1}, "train_size": {"value": 300}}))
    ctx = JobContext(sweep="one", runs_dir=str(tmp_path / "runs"), data_dir=str(data_dir), wandb_mode="disabled")
    summary = run_sweep(spec, RunStore(tmp_path / "runs.db"), LocalWorkers(1), ctx=ctx)
    assert summary.counts == {"finished": 1}
    err = capsys.readouterr().err
    assert "one: 100%" in err and re.search(r"1/1 \[[^]]*(run/s|s/run), done=1, failed=0, left=0\]", err)


def test_a_resumed_sweep_reruns_its_failed_run(tmp_path):
    """Through the real command line, with a deadline: a runner that will not rerun a failed run hangs or skips it."""
    sweep_file = tmp_path / "resume.yaml"
    sweep_file.write_text(yaml.safe_dump({"name": "resume", "method": "grid", "parameters": {
        "epochs": {"value": 1}, "train_size": {"value": 500}, "num_layers": {"value": 1},
        "hidden_size": {"value": 8}, "seed": {"values": [0, 1]}}}))
    command = [sys.executable, "-m", "runner", str(sweep_file), "--jobs", "1", "--quiet", "--wandb_mode", "disabled",
               "--db", str(tmp_path / "runs.db"), "--runs_dir", str(tmp_path / "runs")]
    first = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0 and "sweep resume: 2 finished; 0 already done" in first.stdout, first.stderr
    failed, kept = expand(load_sweep(sweep_file))
    store = RunStore(tmp_path / "runs.db", create=False)
    run_id = store.find("resume", failed)["id"]
    with store.db.conn:
        store.db.execute("UPDATE runs SET status = 'failed', error = 'planted' WHERE id = ?", [run_id])
    again = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "sweep resume: 1 finished; 1 already done" in again.stdout, again.stderr
    assert store.get(run_id)["status"] == "finished" and store.find("resume", kept)["status"] == "finished"


class Training(Future):
    """A run's future whose result is already told (so no wait can hang), yet that says it is not done until the
    runner reads it: a worker still training, as the runner sees it."""

    def __init__(self, training, result):
        super().__init__()
        self.training = training
        training.append(self)
        self.set_result(result)

    def done(self):
        return self not in self.training

    def result(self, timeout=None):
        self.training.remove(self)
        return super().result(timeout)


class TrainingWorkers(InProcessWorkers):
    """Two workers, each run training until the runner reads its result."""

    def __init__(self):
        super().__init__()
        self.training = []

    def capacity(self):
        return 2

    def submit(self, config, ctx, key, bars, live=None):
        return Training(self.training, JobResult(RunRecord(config, "finished", scores={"val_acc": 0.5})))


class OneAtATime(FixedProposer):
    """Proposes one configuration a call, never one it gave before, noting how many runs were training then."""

    def __init__(self, store, configs, pool):
        super().__init__("eager", store, configs)
        self.pool, self.training_when_asked, self.given = pool, [], set()

    def propose(self, done):
        self.training_when_asked.append(len(self.pool.training))
        batch = [p for p in super().propose(done) if p.key not in self.given][:1]
        self.given.update(p.key for p in batch)
        return batch


def test_the_next_proposals_are_asked_for_while_every_worker_trains(tmp_path):
    """With both workers busy and nothing waiting, the runner asks its proposer before it blocks, so a bayes fit runs
    while the workers train and a free worker finds its next run ready (a runner that asks only when a worker is
    free never asks with two training)."""
    store = open_store(tmp_path / "runs.db")
    pool = TrainingWorkers()
    proposer = OneAtATime(store, [resolve_config({"seed": seed}) for seed in range(5)], pool)
    ctx = JobContext(sweep="eager", runs_dir=str(tmp_path / "runs"), wandb_mode="disabled")
    summary = run_pipeline(proposer, store, pool, ctx, progress=False)
    assert summary.counts == {"finished": 5}
    assert proposer.training_when_asked.count(2) >= 2, proposer.training_when_asked
