"""The runner and store: resume after kill -9, isolation of failures, concurrent queries, bad sweep files."""
import json
import os
import re
from collections import Counter
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from contextlib import nullcontext
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from cli import OneLineParser, add_job_options
from mlp import NeuralNetwork
from mlp.data import load_dataset
from mlp.metrics import evaluate
from mlp.model_io import load_weights
from mlp.options import resolve_config
from runner.early_stop import EarlyTermination
import runner.job
import runner.sweeper
from runner.job import JobContext, run_one
from runner.sweep import expand, load_sweep, validate
from runner.lease import Lease, lease_seconds
from runner.recording import key_defaults
from runner.sweeper import MAX_DEATHS_PER_RUN, MAX_WORKER_DEATHS, Proposer, _peers, run_sweep, worker_lost
from store import RunStore

ROOT = Path(__file__).resolve().parent.parent
# An in-process sweep here takes seconds: one that polls forever (a mutant's, a bug's) fails in a minute, not 300 s.
SWEEP_DEADLINE = pytest.mark.timeout(60)
QUICK = {"dataset": {"value": "mnist"}, "dtype": {"value": "float32"}, "train_size": {"value": 2000},
         "num_layers": {"value": 1}, "hidden_size": {"value": 16}, "batch_size": {"value": 64}}
QUICK_VALUES = {name: p["value"] for name, p in QUICK.items()}  # the same, as a config's values


def write_sweep(folder, name, parameters, **top):
    spec = {"name": name, "method": "grid", "metric": {"name": "val_acc", "goal": "maximize"},
            "parameters": {**QUICK, **parameters}, **top}
    path = Path(folder) / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def runner_cmd(sweep_file, tmp_path, jobs=2):
    return [sys.executable, "-m", "runner", str(sweep_file), "--jobs", str(jobs), "--quiet",
            "--db", str(tmp_path / "runs.db"), "--runs_dir", str(tmp_path / "runs"), "--wandb_mode", "disabled"]


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def wait_for(condition, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


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
    first = run_sweep(spec, store, jobs=jobs, ctx=ctx, progress=False)
    assert first["counts"] == {"finished": 4}
    second = run_sweep(spec, store, jobs=jobs, ctx=ctx, progress=False)
    assert second["counts"] == {} and second["skipped"] == 4
    assert_complete(tmp_path, spec_file, data)


@SWEEP_DEADLINE
def test_a_narrowed_grid_counts_only_its_own_runs_as_done(tmp_path):
    """A sweep that keeps runs of an earlier, wider grid (or 2.10's runs by an earlier rule) reports and shows
    progress over the configurations asked for now, not over every row of its name."""
    store = RunStore(tmp_path / "runs.db")
    ctx = JobContext(sweep="narrow", runs_dir=str(tmp_path / "runs"), wandb_mode="disabled")
    wide = load_sweep(write_sweep(tmp_path, "narrow", {"epochs": {"value": 1}, "seed": {"values": [0, 1, 2]}}))
    assert run_sweep(wide, store, ctx=ctx, progress=False)["counts"] == {"finished": 3}
    narrowed = load_sweep(write_sweep(tmp_path, "narrow", {"epochs": {"value": 1}, "seed": {"values": [2, 3]}}))
    summary = run_sweep(narrowed, store, ctx=ctx, progress=False)
    assert summary["counts"] == {"finished": 1} and summary["skipped"] == 1


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
    summary = run_sweep(spec, store, jobs=2, ctx=ctx, progress=False)
    assert summary["counts"] == {"finished": 1, "diverged": 1, "failed": 2}
    by_key = {(r["config"]["dataset"], r["config"]["learning_rate"]): r for r in store.runs(sweep="mixed")}
    assert by_key[("mnist", 0.05)]["status"] == "finished"
    assert by_key[("mnist", 1.0e12)]["status"] == "diverged" and "loss became" in by_key[("mnist", 1.0e12)]["error"]
    assert all("fashion_mnist" in by_key[("fashion_mnist", lr)]["error"] for lr in (0.05, 1.0e12))


def test_hyperband_stops_runs_below_the_quantile_of_their_peers():
    rule = EarlyTermination("hyperband", min_iter=2, eta=2)
    assert [e for e in range(1, 10) if rule.checks_at(e)] == [2, 4, 8]
    peers = [0.9, 0.91, 0.92, 0.93]
    assert rule.should_stop(2, 0.5, peers) and not rule.should_stop(2, 0.95, peers)
    assert not rule.should_stop(3, 0.5, peers), "hyperband only judges at its brackets"
    assert not rule.should_stop(2, 0.5, peers[:2]), "too few peers to judge"
    median = EarlyTermination("median", min_iter=1)
    assert median.should_stop(5, 0.9, [0.8, 0.95, 0.96, 0.97]) and not median.should_stop(5, 0.96, [0.8, 0.9, 0.95, 0.97])


@SWEEP_DEADLINE
def test_early_termination_stops_hopeless_runs_in_a_real_sweep(tmp_path):
    spec_file = write_sweep(tmp_path, "et", {"epochs": {"value": 4}, "optimizer": {"value": "sgd"},
                                              "learning_rate": {"values": [0.1, 0.09, 0.08, 0.07, 0.06, 1e-6]}},
                            early_terminate={"type": "hyperband", "min_iter": 2, "eta": 2})
    spec = load_sweep(spec_file)
    store = RunStore(tmp_path / "runs.db")
    ctx = JobContext(sweep="et", runs_dir=str(tmp_path / "runs"), wandb_mode="disabled",
                     early_terminate=spec["early_terminate"])
    run_sweep(spec, store, jobs=1, ctx=ctx, progress=False)  # one job: the slow run sees every peer
    slow = store.runs(sweep="et", where="json_extract(config, '$.learning_rate') < 1e-5")[0]
    assert slow["status"] == "stopped" and slow["epochs_done"] == 2
    first_four = store.runs(sweep="et", order_by="id", limit=4)  # too few peers to be judged
    assert [r["status"] for r in first_four] == ["finished"] * 4


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
    run_sweep(spec, store, jobs=2, ctx=ctx, progress=False)
    rows = store.runs(sweep="bo")
    assert len(rows) == 12 and len({r["config_hash"] for r in rows}) == 12
    assert all(1e-4 <= r["config"]["learning_rate"] <= 0.1 for r in rows)
    assert run_sweep(spec, store, jobs=2, ctx=ctx, progress=False)["counts"] == {}


BAD_SWEEPS = {
    "not yaml": "method: [grid\n",
    "not a mapping": "- grid\n",
    "unknown method": "method: sideways\nparameters: {epochs: {value: 1}}\n",
    "no parameters": "method: grid\n",
    "unknown parameter": "method: grid\nparameters: {colour: {value: red}}\n",
    "bad choice": "method: grid\nparameters: {optimizer: {values: [adam, lion]}}\n",
    "zero epochs": "method: grid\nparameters: {epochs: {value: 0}}\n",
    "negative width": "method: grid\nparameters: {hidden_size: {value: -4}}\n",
    "nan learning rate": "method: grid\nparameters: {learning_rate: {value: .nan}}\n",
    "min above max": "method: random\nrun_cap: 3\nparameters: {learning_rate: {min: 0.1, max: 0.01}}\n",
    "random without cap": "method: random\nparameters: {learning_rate: {min: 0.001, max: 0.01}}\n",
    "grid with range": "method: grid\nparameters: {learning_rate: {min: 0.001, max: 0.01}}\n",
    "bad distribution": "method: random\nrun_cap: 2\nparameters: {learning_rate: {min: 0.001, max: 0.01, distribution: zipf}}\n",
    "empty values": "method: grid\nparameters: {epochs: {values: []}}\n",
    "rule without value": "method: grid\nparameters: {epochs: 5}\n",
    "widths vs layers": "method: grid\nparameters: {num_layers: {value: 2}, hidden_size: {value: [3, 4, 5]}}\n",
    "test metric": "method: grid\nmetric: {name: test_acc, goal: maximize}\nparameters: {epochs: {value: 1}}\n",
    "bad early terminate": "method: grid\nearly_terminate: {type: sometimes}\nparameters: {epochs: {value: 1}}\n",
    "bad run cap": "method: grid\nrun_cap: -1\nparameters: {epochs: {value: 1}}\n",
    "a later grid value invalid": "method: grid\nparameters: {num_layers: {values: [3, 2]}, hidden_size: {value: [8, 8, 8]}}\n",
    "random draws a fraction for an integer": "method: random\nrun_cap: 6\nparameters: {epochs: {min: 1, max: 5, distribution: uniform}}\n",
    "unknown key": "method: grid\nparamters: {epochs: {value: 1}}\nparameters: {epochs: {value: 1}}\n",
}


@pytest.mark.parametrize("case", sorted(BAD_SWEEPS))
def test_a_malformed_sweep_file_gives_one_line_and_exit_2(tmp_path, case):
    sweep_file = tmp_path / "bad.yaml"
    sweep_file.write_text(BAD_SWEEPS[case])
    out = subprocess.run(runner_cmd(sweep_file, tmp_path), cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr, out.stderr
    assert not (tmp_path / "runs.db").exists() and not (tmp_path / "runs").exists()


def test_a_missing_sweep_file_gives_one_line_and_exit_2(tmp_path):
    out = subprocess.run(runner_cmd(tmp_path / "nope.yaml", tmp_path), cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2 and "does not exist" in out.stderr and len(out.stderr.splitlines()) == 1


def test_every_shipped_sweep_file_is_valid():
    for path in sorted((ROOT / "sweeps").glob("*.yaml")):
        validate(load_sweep(path))
    search = load_sweep(ROOT / "sweeps" / "search.yaml")
    assert len(expand(search)) >= 100 and search.get("early_terminate")


@SWEEP_DEADLINE
def test_store_filters_match_list_values_and_refuse_odd_keys(tmp_path):
    spec_file = write_sweep(tmp_path, "filters", {"epochs": {"value": 1}, "num_layers": {"value": 2},
                                                   "hidden_size": {"values": [[16, 8], [8, 8]]}})
    spec = load_sweep(spec_file)
    store = RunStore(tmp_path / "runs.db")
    run_sweep(spec, store, jobs=1, ctx=JobContext(sweep="filters", runs_dir=str(tmp_path / "runs"), wandb_mode="disabled"), progress=False)
    query = [sys.executable, "-m", "store", "--db", str(tmp_path / "runs.db"), "list", "--json", "--filter"]
    out = subprocess.run(query + ["hidden_size=[16, 8]"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 1 and '"hidden_size": [16, 8]' in out.stdout
    odd = subprocess.run(query + ["x')=1 OR (1"], cwd=ROOT, capture_output=True, text=True)
    assert odd.returncode == 2 and len(odd.stderr.splitlines()) == 1 and "Traceback" not in odd.stderr


def test_a_configuration_whose_worker_keeps_dying_is_recorded_failed(tmp_path):
    spec = load_sweep(write_sweep(tmp_path, "deaths", {"epochs": {"value": 1}, "seed": {"values": [0, 1]}}))
    store = RunStore(tmp_path / "runs.db")
    proposer, deaths = Proposer(spec, store, batch_size=2), Counter()
    doomed, finished = expand(spec)
    store.record("deaths", finished, {"status": "finished"})
    with Lease(store) as lease:
        for attempt in range(1, MAX_DEATHS_PER_RUN + 1):
            assert proposer.claim_next(lease, set()) == doomed  # in flight when its worker dies
            assert worker_lost(store, "deaths", doomed, proposer, deaths) == (attempt == MAX_DEATHS_PER_RUN)
    (row,) = store.runs(sweep="deaths", where="config_hash = ?", where_args=[store.key(doomed)])
    assert row["status"] == "failed"
    assert row["error"] == f"its worker process died {MAX_DEATHS_PER_RUN} times (out of memory, or killed)"
    assert row["attempts"] == MAX_DEATHS_PER_RUN, "each death sent the same claim out again"
    assert proposer.next_batch() == [], "nothing left to run in this invocation"
    assert [r["status"] for r in store.runs(sweep="deaths", order_by="id")] == ["finished", "failed"]


class Unread(Future):
    """A future that is in flight until the runner reads its result."""

    def __init__(self, in_flight):
        super().__init__()
        self.in_flight = in_flight
        in_flight.add(self)

    def result(self, timeout=None):
        self.in_flight.discard(self)
        return super().result(timeout)


class InProcessWorkers:
    """run_sweep's pool of ``jobs`` workers, run here: each submit is recorded and refused beyond the pool's capacity,
    and the worker "dies" (its future raises, as loky's does) for the first ``deaths[seed]`` submits of a
    configuration; ``outcomes[seed]`` is a status to report instead of training; ``meanwhile(config)`` runs
    before each result is handed back, as another runner would."""

    def __init__(self, deaths=None, meanwhile=None, jobs=1, outcomes=None):
        self.deaths, self.calls, self.meanwhile, self.in_flight = Counter(deaths or {}), [], meanwhile, set()
        self.jobs, self.outcomes = jobs, outcomes or {}

    def capacity(self):
        return self.jobs

    def submit(self, config, ctx, key, peers):
        assert len(self.in_flight) < self.capacity(), "a job submitted to a busy pool"
        self.calls.append((config, ctx, key, peers))
        future = Unread(self.in_flight)
        if self.deaths[config["seed"]] > 0:
            self.deaths[config["seed"]] -= 1
            future.set_exception(BrokenProcessPool("a worker died"))
            return future
        if config["seed"] in self.outcomes:  # told, not trained: the record of a run that ended so
            status = self.outcomes[config["seed"]]
            result = {"config": config, "status": status, "epochs": [], "error": f"it {status}"}
        else:
            result = run_one(config, ctx, key=key, peers=peers)
        if self.meanwhile is not None:
            self.meanwhile(config)
        future.set_result(result)
        return future

    def close(self):
        pass


def sweep_in_process(monkeypatch, pool):
    monkeypatch.setattr(runner.sweeper, "workers", lambda jobs, backend, scheduler: nullcontext(pool))


@SWEEP_DEADLINE
def test_run_sweep_reruns_a_run_whose_worker_died_and_records_failed_one_that_keeps_dying(tmp_path, monkeypatch, capsys):
    spec = load_sweep(write_sweep(tmp_path, "dying", {"epochs": {"value": 1}, "seed": {"values": [0, 1]}}))
    store = RunStore(tmp_path / "runs.db")
    pool = InProcessWorkers({0: 1, 1: MAX_DEATHS_PER_RUN})
    sweep_in_process(monkeypatch, pool)
    summary = run_sweep(spec, store, ctx=JobContext(sweep="dying", runs_dir=str(tmp_path / "runs"),
                                                    wandb_mode="disabled"))
    assert summary["counts"] == {"finished": 1, "failed": 1}
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
    sweep_in_process(monkeypatch, InProcessWorkers(
        meanwhile=lambda config: store.record("raced", config, {"status": "finished", "val_acc": 0.5})))
    summary = run_sweep(spec, store, ctx=JobContext(sweep="raced", runs_dir=str(tmp_path / "runs"),
                                                    wandb_mode="disabled"))
    assert summary["counts"] == {}, "the run was not this runner's to count"
    (row,) = store.runs(sweep="raced")
    assert row["status"] == "finished" and row["val_acc"] == 0.5 and row["weights_path"] is None
    assert not (tmp_path / "runs" / "raced").exists() or not any((tmp_path / "runs" / "raced").iterdir())
    assert "a result arrived for a run another runner had recorded; kept the first" in capsys.readouterr().out.splitlines()


def no_disk(*args):
    raise OSError("disk on fire")


@SWEEP_DEADLINE
def test_run_sweep_by_default_runs_one_local_job_at_a_time_in_a_context_named_after_the_sweep(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")  # what the default context's "auto" W&B mode reads first
    monkeypatch.setattr(runner.job, "load_uint8", no_disk)  # failed runs leave no files in the default runs folder
    spec = load_sweep(write_sweep(tmp_path, "plain", {"epochs": {"value": 1}, "seed": {"values": [0, 1]}}))
    pool, asked = InProcessWorkers(), []
    monkeypatch.setattr(runner.sweeper, "workers", lambda *args: asked.append(args) or nullcontext(pool))
    assert run_sweep(spec, RunStore(tmp_path / "runs.db"), progress=False)["counts"] == {"failed": 2}
    assert asked == [(1, "loky", None)], "one job, on this machine's processes"
    assert [ctx.sweep for _, ctx, _, _ in pool.calls] == ["plain", "plain"]


@SWEEP_DEADLINE
def test_run_sweep_runs_the_configurations_it_is_given_instead_of_the_sweep_file(tmp_path, monkeypatch):
    """As report 2.10 does: its configurations are chosen from results, and the sweep row records them."""
    spec = load_sweep(write_sweep(tmp_path, "given", {"epochs": {"value": 1}, "seed": {"values": [0, 1, 2]}}))
    store = RunStore(tmp_path / "runs.db")
    given = [resolve_config({**QUICK_VALUES, "epochs": 1, "seed": 7})]
    pool = InProcessWorkers()
    sweep_in_process(monkeypatch, pool)
    ctx = JobContext(sweep="given", runs_dir=str(tmp_path / "runs"), wandb_mode="disabled")
    summary = run_sweep(spec, store, ctx=ctx, progress=False, configs=given)
    assert summary["counts"] == {"finished": 1} and [c["seed"] for c, _, _, _ in pool.calls] == [7]
    (sweep,) = store.db["sweeps"].rows_where("name = ?", ["given"])
    assert json.loads(sweep["spec"])["configs"] == given


@SWEEP_DEADLINE
def test_run_sweep_says_why_a_run_failed(tmp_path, monkeypatch, capsys):
    spec = load_sweep(write_sweep(tmp_path, "failing", {"epochs": {"value": 1}}))
    store = RunStore(tmp_path / "runs.db")
    monkeypatch.setattr(runner.job, "load_uint8", no_disk)
    sweep_in_process(monkeypatch, InProcessWorkers())
    summary = run_sweep(spec, store, ctx=JobContext(sweep="failing", runs_dir=str(tmp_path / "runs"),
                                                    wandb_mode="disabled"))
    assert summary["counts"] == {"failed": 1}
    assert store.runs(sweep="failing")[0]["error"] == "OSError: disk on fire"
    assert "run failed: OSError: disk on fire" in capsys.readouterr().out


@SWEEP_DEADLINE
def test_run_sweep_never_sends_out_a_run_that_is_in_flight(tmp_path, monkeypatch):
    """With two workers the queue refills while runs are out; those are claimed by this very runner, so only
    the runner's own list of what is in flight keeps it from submitting them twice."""
    spec = load_sweep(write_sweep(tmp_path, "twice", {"epochs": {"value": 1}, "seed": {"values": [0, 1, 2]}}))
    pool = InProcessWorkers(jobs=2)
    sweep_in_process(monkeypatch, pool)
    run_sweep(spec, RunStore(tmp_path / "runs.db"), jobs=2, progress=False,
              ctx=JobContext(sweep="twice", runs_dir=str(tmp_path / "runs"), wandb_mode="disabled"))
    assert sorted(c["seed"] for c, _, _, _ in pool.calls) == [0, 1, 2]


@SWEEP_DEADLINE
def test_run_sweep_counts_workers_lost_together_as_one_death(tmp_path, monkeypatch, capsys):
    """A broken loky pool fails every job in it at once: one death, and each of its runs goes out again."""
    spec = load_sweep(write_sweep(tmp_path, "together", {"epochs": {"value": 1}, "seed": {"values": [0, 1]}}))
    store = RunStore(tmp_path / "runs.db")
    pool = InProcessWorkers({0: 1, 1: 1}, jobs=2)
    sweep_in_process(monkeypatch, pool)
    summary = run_sweep(spec, store, jobs=2, ctx=JobContext(sweep="together", runs_dir=str(tmp_path / "runs"),
                                                            wandb_mode="disabled"))
    assert summary["counts"] == {"finished": 2}
    assert re.findall(r"a worker died \((\d+)\)", capsys.readouterr().out) == ["1"]


@SWEEP_DEADLINE
def test_run_sweep_counts_on_its_bar_stopped_runs_as_done_and_diverged_ones_as_failed(tmp_path, monkeypatch, capsys):
    spec = load_sweep(write_sweep(tmp_path, "bar", {"epochs": {"value": 1}, "seed": {"values": list(range(6))}}))
    store = RunStore(tmp_path / "runs.db")
    store.use_defaults(key_defaults())
    store.record("bar", expand(spec)[5], {"status": "finished"})
    sweep_in_process(monkeypatch, InProcessWorkers(
        outcomes={0: "finished", 1: "stopped", 2: "stopped", 3: "diverged", 4: "failed"}))
    ctx = JobContext(sweep="bar", runs_dir=str(tmp_path / "runs"), wandb_mode="disabled")
    run_sweep(spec, store, ctx=ctx)
    assert re.search(r"5/5 \[[^]]*, done=3, failed=2, left=0\]", capsys.readouterr().err)
    run_sweep(spec, store, ctx=ctx, progress=False)
    assert capsys.readouterr().err == "", "no bar when asked for none"


def test_two_sweeps_each_run_and_keep_a_configuration_they_share(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "runs.db")
    sweep_in_process(monkeypatch, InProcessWorkers())
    for name in ("first", "second"):
        spec = load_sweep(write_sweep(tmp_path, name, {"epochs": {"value": 1}}))
        ctx = JobContext(sweep=name, runs_dir=str(tmp_path / "runs"), wandb_mode="disabled")
        assert run_sweep(spec, store, ctx=ctx, progress=False)["counts"] == {"finished": 1}, name
    rows = store.runs(order_by="id")
    assert [r["sweep"] for r in rows] == ["first", "second"] and rows[0]["config_hash"] == rows[1]["config_hash"]
    assert all(Path(r["weights_path"]).exists() for r in rows)


def test_run_sweep_gives_up_after_max_worker_deaths(tmp_path, monkeypatch):
    spec = load_sweep(write_sweep(tmp_path, "doomed", {"epochs": {"value": 1}, "seed": {"values": list(range(5))}}))
    sweep_in_process(monkeypatch, InProcessWorkers({seed: MAX_DEATHS_PER_RUN for seed in range(5)}))
    with pytest.raises(RuntimeError, match=f"workers died {MAX_WORKER_DEATHS} times; giving up"):
        run_sweep(spec, RunStore(tmp_path / "runs.db"), progress=False,
                  ctx=JobContext(sweep="doomed", runs_dir=str(tmp_path / "runs"), wandb_mode="disabled"))


@SWEEP_DEADLINE
def test_run_sweep_hands_each_job_its_key_and_the_other_runs_scores(tmp_path, monkeypatch):
    """The key names the job's W&B run; the peers it judges itself against leave out its own earlier epochs
    (a rerun's, here), or a run would be compared with itself."""
    spec = load_sweep(write_sweep(tmp_path, "peers", {"epochs": {"value": 2}, "seed": {"values": [0, 1, 2]}},
                                  early_terminate={"type": "median", "min_iter": 1}))
    store = RunStore(tmp_path / "runs.db")
    ctx = JobContext(sweep="peers", runs_dir=str(tmp_path / "runs"), wandb_mode="disabled",
                     early_terminate=spec["early_terminate"])
    sweep_in_process(monkeypatch, InProcessWorkers())
    run_sweep(spec, store, ctx=ctx, progress=False)
    pool = InProcessWorkers()
    sweep_in_process(monkeypatch, pool)
    run_sweep(spec, store, ctx=ctx, progress=False, rerun=True)
    assert len(pool.calls) == 3
    for config, _, key, peers in pool.calls:
        assert key == store.key(config)
        others = [r for r in store.runs(sweep="peers") if r["config_hash"] != key]
        assert sorted(peers[1]) == sorted(e["val_acc"] for r in others for e in store.epochs(r["id"])
                                          if e["epoch"] == 1)


@SWEEP_DEADLINE
def test_run_sweep_waits_for_a_run_held_by_another_runner_and_takes_it_over_when_the_lease_lapses(tmp_path):
    spec = load_sweep(write_sweep(tmp_path, "held", {"epochs": {"value": 1}}))
    store = RunStore(tmp_path / "runs.db")
    store.use_defaults(key_defaults())
    (config,) = expand(spec)
    assert store.claim("held", config, "another-host:1:runner", lease_seconds=1.5) is not None
    started = time.time()
    summary = run_sweep(spec, store, progress=False,
                        ctx=JobContext(sweep="held", runs_dir=str(tmp_path / "runs"), wandb_mode="disabled"))
    assert summary["counts"] == {"finished": 1} and 1.5 <= summary["seconds"] <= time.time() - started
    (row,) = store.runs(sweep="held")
    assert row["status"] == "finished" and row["claimed_by"] != "another-host:1:runner"


def test_the_heartbeat_renews_the_leases_it_holds_and_releases_them_on_exit(tmp_path, monkeypatch):
    """Whatever the load, a renewal pushes the expiry past the one the claim set (the wait is only a deadline)."""
    monkeypatch.setenv("MLP_LEASE_SECONDS", "0.4")  # a renewal every 0.1 s
    store = RunStore(tmp_path / "runs.db")
    with Lease(store) as lease:
        run_id = lease.claim("s", resolve_config({}))
        claimed_until = store.get(run_id)["lease_until"]
        wait_for(lambda: store.get(run_id)["lease_until"] > claimed_until, timeout=30)  # 300 renewals' time
        assert store.get(run_id)["status"] == "running"
    row = store.get(run_id)
    assert (row["status"], row["error"], row["lease_until"]) == ("failed", "interrupted", None)


def test_a_lease_lasts_mlp_lease_seconds_60_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv("MLP_LEASE_SECONDS", raising=False)
    assert lease_seconds() == 60
    monkeypatch.setenv("MLP_LEASE_SECONDS", "7.5")
    store = RunStore(tmp_path / "runs.db")
    before = time.time()
    run_id = Lease(store).claim("s", resolve_config({}))  # a lease not entered: no heartbeat renews it
    assert before + 7.5 <= store.get(run_id)["lease_until"] <= time.time() + 7.5


def test_a_lease_claims_a_finished_run_again_only_for_a_rerun_begun_after_it_ended(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    config = resolve_config({})
    store.record("s", config, {"status": "finished", "ended_at": time.time() - 10})
    lease = Lease(store)
    assert lease.claim("s", config) is None
    assert lease.claim("s", config, rerun_before=time.time() - 20) is None
    assert lease.claim("s", config, rerun_before=time.time()) is not None


def test_the_heartbeat_never_creates_a_store_deleted_under_it(tmp_path, monkeypatch):
    """Its first act is to open the store, which it must find, not make anew."""
    monkeypatch.setenv("MLP_LEASE_SECONDS", "0.4")
    store = RunStore(tmp_path / "runs.db")
    for path in tmp_path.glob("runs.db*"):
        path.unlink()
    with Lease(store):
        pass
    assert list(tmp_path.iterdir()) == []


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
        "print(json.dumps({'before': before, 'after': sorted(sys.modules), 'status': result['status'],\n"
        "                  'wandb_run_id': result['wandb_run_id']}))\n"
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


@pytest.mark.parametrize("metric", (None, "val_f1"))
def test_a_bayes_sweep_learns_from_its_metric_and_runs_up_to_its_cap(tmp_path, monkeypatch, metric):
    """The history handed to the forest pairs each finished run with the spec's metric (val_acc by default)."""
    spec = {"name": "b", "method": "bayes", "run_cap": 5, "parameters": {**QUICK, "seed": {"values": [0, 1, 2]}}}
    if metric:
        spec["metric"] = {"name": metric, "goal": "maximize"}
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(spec))
    spec = load_sweep(tmp_path / "b.yaml")
    store = RunStore(tmp_path / "runs.db")
    for seed, (acc, f1) in enumerate(((0.5, 0.9), (0.7, 0.2))):
        store.record("b", resolve_config({"epochs": 1, "seed": seed}), {"status": "finished", "val_acc": acc, "val_f1": f1})
    # neither a run stopped early (its scores are an early epoch's) nor another sweep's run is history
    store.record("b", resolve_config({"epochs": 1, "seed": 2}), {"status": "stopped", "val_acc": 0.3, "val_f1": 0.3})
    store.record("other", resolve_config({"epochs": 1, "seed": 3}), {"status": "finished", "val_acc": 0.9, "val_f1": 0.9})
    seen = []
    monkeypatch.setattr(runner.sweeper.bayes, "propose", lambda spec, history, n, rng: seen.append(history) or [])
    proposer = Proposer(spec, store, batch_size=2)
    assert proposer.next_batch() == []
    assert (proposer.total(), proposer.already_done()) == (5, 3)  # a bayes sweep runs up to its run_cap
    expected = {0: (0.5, 0.9), 1: (0.7, 0.2)}
    assert sorted((c["seed"], v) for c, v in seen[0]) == [(s, expected[s][metric == "val_f1"]) for s in (0, 1)]


def bayes_spec(tmp_path, run_cap):
    spec = {"name": "b", "method": "bayes", "run_cap": run_cap,
            "parameters": {**QUICK, "learning_rate": {"min": 1e-4, "max": 0.1, "distribution": "log_uniform_values"}}}
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(spec))
    return load_sweep(tmp_path / "b.yaml")


def test_a_bayes_sweep_proposes_the_same_configurations_from_the_same_spec_and_store(tmp_path):
    """Its proposals are drawn from the sweep's own seed, so a resumed or repeated sweep asks for the same runs."""
    spec = bayes_spec(tmp_path, run_cap=4)
    first, second = (Proposer(spec, RunStore(tmp_path / f"{i}.db"), batch_size=2).next_batch() for i in (1, 2))
    assert len(first) == 2 and first == second


def test_a_bayes_batch_counts_finished_and_held_runs_against_the_cap(tmp_path):
    spec = bayes_spec(tmp_path, run_cap=4)
    store = RunStore(tmp_path / "runs.db")
    store.use_defaults(key_defaults())
    finished, held = (resolve_config({**QUICK_VALUES, "learning_rate": lr})
                      for lr in (0.01, 0.02))
    store.record("b", finished, {"status": "finished", "val_acc": 0.5})
    assert store.claim("b", held, "another-host:1:runner", lease_seconds=60) is not None
    batch = Proposer(spec, store, batch_size=8).next_batch()
    assert len(batch) == 2, "4 allowed, 1 finished, 1 running elsewhere"
    store.record("b", held, {"status": "finished", "val_acc": 0.6})
    store.record("b", resolve_config({**finished, "learning_rate": 0.03}), {"status": "finished", "val_acc": 0.7})
    assert len(Proposer(spec, store, batch_size=8).next_batch()) == 1, "one run left"
    store.record("b", resolve_config({**finished, "learning_rate": 0.04}), {"status": "finished", "val_acc": 0.7})
    assert Proposer(spec, store, batch_size=8).next_batch() == [], "the cap is reached"


def test_a_bayes_batch_skips_invalid_repeated_and_taken_proposals(tmp_path, monkeypatch):
    spec = bayes_spec(tmp_path, run_cap=10)
    store = RunStore(tmp_path / "runs.db")
    store.use_defaults(key_defaults())
    store.record("b", resolve_config({**QUICK_VALUES, "learning_rate": 0.02}), {"status": "finished", "val_acc": 0.5})
    proposals = [{**QUICK_VALUES, "learning_rate": lr} for lr in (-1.0, 0.01, 0.01, 0.02, 0.03)]
    monkeypatch.setattr(runner.sweeper.bayes, "propose", lambda spec, history, n, rng: proposals)
    batch = Proposer(spec, store, batch_size=8).next_batch()
    assert batch == [resolve_config({**QUICK_VALUES, "learning_rate": lr}) for lr in (0.01, 0.03)]


@SWEEP_DEADLINE
def test_a_rerun_counts_as_done_what_another_runner_reran_meanwhile(tmp_path, monkeypatch):
    """Two runners rerunning one sweep: a run the other reran after this rerun began is done, not waited for."""
    spec = load_sweep(write_sweep(tmp_path, "both", {"epochs": {"value": 1}, "seed": {"values": [0, 1]}}))
    store = RunStore(tmp_path / "runs.db")
    ctx = JobContext(sweep="both", runs_dir=str(tmp_path / "runs"), wandb_mode="disabled")
    sweep_in_process(monkeypatch, InProcessWorkers())
    assert run_sweep(spec, store, ctx=ctx, progress=False)["counts"] == {"finished": 2}
    other = expand(spec)[1]

    def other_runner_reruns(config):
        if store.claim("both", other, "another-host:1:runner", 60, rerun_before=time.time()) is not None:
            store.record("both", other, {"status": "finished", "val_acc": 0.5, "ended_at": time.time()})

    pool = InProcessWorkers(meanwhile=other_runner_reruns)
    sweep_in_process(monkeypatch, pool)
    assert run_sweep(spec, store, ctx=ctx, progress=False, rerun=True)["counts"] == {"finished": 1}
    assert [c["seed"] for c, _, _, _ in pool.calls] == [0]


def test_a_job_is_sent_its_peers_at_each_rung_of_its_own_run_without_its_own_epochs(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    mine, other = resolve_config({"epochs": 4}), resolve_config({"epochs": 4, "seed": 1})
    for config, accs in ((mine, (0.1, 0.2, 0.3, 0.4)), (other, (0.5, 0.6, 0.7, 0.8))):
        store.record("s", config, {"status": "finished", "epochs": [{"epoch": e, "val_acc": a}
                                                                     for e, a in enumerate(accs, 1)]})
    median = EarlyTermination("median", min_iter=1)
    assert _peers(store, "s", median, mine, store.key(mine)) == {1: [0.5], 2: [0.6], 3: [0.7], 4: [0.8]}
    hyperband = EarlyTermination("hyperband", min_iter=1, eta=2)
    assert _peers(store, "s", hyperband, mine, store.key(mine)) == {1: [0.5], 2: [0.6], 4: [0.8]}
    assert _peers(store, "s", None, mine, store.key(mine)) is None


@SWEEP_DEADLINE
def test_run_sweep_shows_by_default_a_progress_bar_of_runs_done_failed_and_left(tmp_path, data_dir, capsys):
    spec = load_sweep(write_sweep(tmp_path, "one", {"epochs": {"value": 1}, "train_size": {"value": 300}}))
    ctx = JobContext(sweep="one", runs_dir=str(tmp_path / "runs"), data_dir=str(data_dir), wandb_mode="disabled")
    summary = run_sweep(spec, RunStore(tmp_path / "runs.db"), ctx=ctx)
    assert summary["counts"] == {"finished": 1}
    err = capsys.readouterr().err
    assert "one: 100%" in err and re.search(r"1/1 \[[^]]*(run/s|s/run), done=1, failed=0, left=0\]", err)
