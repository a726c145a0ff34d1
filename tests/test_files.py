"""mlp/files.py: a write is whole or absent, and only a dead writer's temporary file is an orphan."""
import os
import subprocess
import sys

import pytest
import yaml

from mlp.files import pid_alive, remove_orphans, save_atomically
from runner.job import JobContext
from runner.pipeline import open_store, run_sweep
from runner.sweep_file import load_sweep
from runner.workers import InProcessWorkers


@pytest.fixture
def live_and_dead_pids():
    """A process that lives until the test ends (it waits on its stdin), and one that has ended."""
    live = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    yield live.pid, dead.pid
    live.stdin.close()
    live.wait()


def test_pid_alive_tells_a_live_process_from_an_ended_one(live_and_dead_pids):
    live, dead = live_and_dead_pids
    assert pid_alive(live) and pid_alive(os.getpid())
    assert not pid_alive(dead)


def test_a_write_that_fails_halfway_leaves_the_old_file_intact_and_no_temporary_file(tmp_path):
    path = tmp_path / "model.npy"
    path.write_bytes(b"the old weights")

    def half_then_fail(f):
        f.write(b"half of the new")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        save_atomically(path, half_then_fail)
    assert path.read_bytes() == b"the old weights"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npy"]


def test_a_write_makes_its_folders_and_replaces_the_file_whole(tmp_path):
    path = tmp_path / "a" / "b" / "best.npy"
    save_atomically(path, lambda f: f.write(b"first"))
    save_atomically(path, lambda f: f.write(b"second"))
    assert path.read_bytes() == b"second" and sorted(p.name for p in path.parent.iterdir()) == ["best.npy"]


def test_remove_orphans_removes_only_the_temporary_files_of_dead_writers(tmp_path, live_and_dead_pids):
    live, dead = live_and_dead_pids
    kept = ["key.npy", "key.json", "notes.tmp", ".hidden", f".key.npy.{live}.tmp", ".key.npy.x.tmp"]
    for name in kept + [f".key.npy.{dead}.tmp", f".key.json.{dead}.tmp"]:
        (tmp_path / name).write_bytes(b"x")
    remove_orphans(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)
    remove_orphans(tmp_path / "never made")  # a sweep's first run has no folder yet


def test_a_runner_starting_on_a_sweep_leaves_a_live_writers_file_and_removes_a_dead_ones(tmp_path, live_and_dead_pids):
    """A second runner on one sweep must not delete the first runner's weights file in flight."""
    live, dead = live_and_dead_pids
    folder = tmp_path / "runs" / "shared"
    folder.mkdir(parents=True)
    in_flight, orphan = folder / f".abc.npy.{live}.tmp", folder / f".abc.npy.{dead}.tmp"
    in_flight.write_bytes(b"half of another runner's weights")
    orphan.write_bytes(b"what a killed runner left")
    (tmp_path / "shared.yaml").write_text(yaml.safe_dump({"name": "shared", "method": "grid", "parameters": {
        "epochs": {"value": 1}, "train_size": {"value": 300}, "num_layers": {"value": 1}, "hidden_size": {"value": 8}}}))
    spec = load_sweep(tmp_path / "shared.yaml")
    ctx = JobContext(sweep="shared", runs_dir=str(tmp_path / "runs"), wandb_mode="disabled")
    assert run_sweep(spec, open_store(tmp_path / "runs.db"), InProcessWorkers(), ctx, progress=False).counts == \
        {"finished": 1}
    assert in_flight.read_bytes() == b"half of another runner's weights"
    assert not orphan.exists()
