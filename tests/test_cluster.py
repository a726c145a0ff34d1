"""Beyond one runner process: a real dask cluster whose workers cannot see the runner's files, and
several runners cooperating on one sweep and one store."""
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlp import NeuralNetwork
from mlp.metrics import evaluate
from mlp.model_io import load_weights
from runner.sweep_file import expand, load_sweep
from store import RunStore

ROOT = Path(__file__).resolve().parent.parent
QUIET = ["--quiet", "--wandb_mode", "disabled"]


def write_grid(path, name, seeds, epochs=1, train_size=1000, width=16):
    path.write_text(f"name: {name}\nmethod: grid\nparameters: {{epochs: {{value: {epochs}}}, "
                    f"train_size: {{value: {train_size}}}, num_layers: {{value: 1}}, hidden_size: {{value: {width}}}, "
                    f"dtype: {{value: float32}}, seed: {{values: {list(seeds)}}}}}\n")
    return path


def finished_counts(stdout):
    """How many runs this runner process trained to the end, from its summary line."""
    match = re.search(r"(\d+) finished", stdout)
    return int(match.group(1)) if match else 0


def can_hide_a_folder():
    if sys.platform != "linux" or os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    trial = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            "mount -t tmpfs tmpfs /mnt"], capture_output=True)
    return trial.returncode == 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_workers(address, n, timeout=90):
    from dask.distributed import Client

    with Client(address, timeout=timeout) as client:
        client.wait_for_workers(n, timeout=timeout)


@pytest.mark.skipif(not can_hide_a_folder(), reason="hiding the runner's folder from the dask workers needs root on "
                                                    "Linux with `unshare --mount` and tmpfs mounts allowed")
def test_a_dask_cluster_whose_workers_cannot_see_the_runners_files_finishes_every_run(tmp_path, mnist):
    runner_dir, elsewhere = tmp_path / "runner", tmp_path / "cluster"
    for folder in (runner_dir, elsewhere / "scheduler", elsewhere / "worker", elsewhere / "tmp"):
        folder.mkdir(parents=True)
    sweep = write_grid(runner_dir / "remote.yaml", "remote", range(3))
    address = f"tcp://127.0.0.1:{free_port()}"
    cluster_env = {**os.environ, "TMPDIR": str(elsewhere / "tmp")}
    cluster_env.pop("MLP_DB", None)
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                  "--port", address.rsplit(":", 1)[1], "--no-dashboard"],
                                 cwd=elsewhere / "scheduler", env=cluster_env, stderr=subprocess.DEVNULL)
    worker_cmd = (f"mount -t tmpfs tmpfs {runner_dir} && exec {sys.executable} -m distributed.cli.dask_worker "
                  f"{address} --nworkers 2 --nthreads 1 --no-dashboard")
    worker = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", worker_cmd],
                              cwd=elsewhere / "worker", env=cluster_env, stderr=subprocess.DEVNULL)
    try:
        wait_for_workers(address, 2)
        from dask.distributed import Client

        with Client(address) as client:  # what the workers see: an empty runner folder, their own cwd and temp
            seen = client.run(lambda: (tuple(os.listdir(runner_dir)), os.getcwd(), os.environ.get("TMPDIR")))
        assert len(seen) == 2
        assert set(seen.values()) == {((), str(elsewhere / "worker"), str(elsewhere / "tmp"))}
        out = subprocess.run([sys.executable, "-m", "runner", sweep, "--backend", "dask", "--scheduler", address,
                              "--db", runner_dir / "runs.db", "--runs_dir", runner_dir / "runs", *QUIET],
                             cwd=runner_dir, capture_output=True, text=True, timeout=300)
    finally:
        worker.terminate()
        scheduler.terminate()
        worker.wait(timeout=60)
        scheduler.wait(timeout=60)
    assert out.returncode == 0, out.stderr
    store = RunStore(runner_dir / "runs.db", create=False)
    rows = store.runs(sweep="remote")
    assert sorted(r["config"]["seed"] for r in rows) == [0, 1, 2]
    assert all(r["status"] == "finished" for r in rows), [(r["status"], r["error"]) for r in rows]
    for row in rows:
        path = Path(row["weights_path"])
        assert path.is_relative_to(runner_dir / "runs" / "remote") and path.is_file()
        assert Path(row["probe_path"]).is_file() and path.with_suffix(".json").is_file()
        model = NeuralNetwork(row["config"])
        model.set_weights(load_weights(path))
        assert evaluate(model, mnist.X_test.astype(model.dtype), mnist.y_test)["accuracy"] == row["test_acc"]


def test_two_runners_on_one_sweep_train_each_configuration_once(tmp_path):
    """A handshake, not a race: the first runner is frozen (SIGSTOP) while it holds a run, so the second must train
    every other configuration and leave that one alone (its holder lives, its lease is live), however slow either is;
    thawed, the first finishes its run. No lease can lapse here: a holder is only ever seen alive."""
    sweep = write_grid(tmp_path / "coop.yaml", "coop", range(4))
    db = tmp_path / "runs.db"
    cmd = [sys.executable, "-m", "runner", sweep, "--jobs", "1", "--db", db, "--runs_dir", tmp_path / "runs", *QUIET]
    env = {**os.environ, "MLP_LEASE_SECONDS": "3600"}

    def rows():
        try:
            with sqlite3.connect(db) as conn:
                return conn.execute("SELECT config_hash, status, claimed_by, attempts FROM runs").fetchall()
        except sqlite3.OperationalError:  # the schema is not there yet
            return []

    def wait_until(condition, what, *processes):
        deadline = time.time() + 300  # only against a hang: nothing below races a clock
        while not condition():
            assert time.time() < deadline and all(p.poll() is None for p in processes), what
            time.sleep(0.05)

    first = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    second = None
    try:
        wait_until(lambda: any(r[1] == "running" for r in rows()), "the first runner never claimed a run", first)
        os.killpg(first.pid, signal.SIGSTOP)  # the runner and its worker: it can claim and record nothing more
        frozen = rows()
        (held,) = [r for r in frozen if r[1] == "running"]
        assert len(frozen) < 4, "the first runner claimed every run before it was frozen"
        second = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_until(lambda: sum(r[1] == "finished" for r in rows()) == 3, "the second runner did not train the rest",
                   second)
        assert held in rows(), "the second runner took a run whose holder is alive under a live lease"
    finally:
        os.killpg(first.pid, signal.SIGCONT)
    outputs = [p.communicate(timeout=300) for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], [err for _, err in outputs]
    assert [finished_counts(out) for out, _ in outputs] == [len(frozen), 4 - len(frozen)]
    store = RunStore(db, create=False)
    final = store.runs(sweep="coop")
    assert {r["config_hash"] for r in final} == {store.key(c) for c in expand(load_sweep(sweep))}
    assert all(r["status"] == "finished" for r in final)
    assert [r["attempts"] for r in final] == [1] * 4, "a configuration was claimed twice"
    assert {r["claimed_by"] for r in final if r["config_hash"] == held[0]} == {held[2]}
    assert len({r["claimed_by"] for r in final}) == 2
