"""The disks a user's machine has: one that fills mid-sweep, and one that is read-only. Each is a real tmpfs
mounted for the test (so it needs root: elsewhere the tests skip and say why), never a stand-in."""
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import QUICK, remount, runner_cmd, small_disk, write_sweep
from mlp.model_io import load_weights
from store import RunRecord, RunStore, StoreError

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = ROOT / "docs" / "report"


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def every_file(folder):
    return sorted(p.relative_to(folder).as_posix() for p in Path(folder).rglob("*") if p.is_file())


def test_a_disk_that_fills_mid_sweep_ends_in_one_line_and_the_same_command_then_finishes_every_run_once(tmp_path):
    spec_file = write_sweep(tmp_path, "filling", {**QUICK, "epochs": {"value": 1}, "num_layers": {"value": 3},
                                                  "hidden_size": {"value": 128}, "seed": {"values": list(range(6))}})
    with small_disk(tmp_path / "disk", 3) as disk:  # room for about four runs' weights (540 kB each)
        command = runner_cmd(spec_file, disk)
        filled = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert filled.returncode == 2, filled.stderr
        lines = filled.stderr.strip().splitlines()
        assert len(lines) == 1, filled.stderr
        (line,) = lines
        assert line.startswith(f"python -m runner: error: the disk at {disk} is full: could not write ")
        assert line.endswith("; free some space and run the same command again")
        assert not [f for f in every_file(disk) if f.endswith(".tmp")]  # nothing half-written
        store = RunStore(disk / "runs.db", create=False)
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = store.runs()
        held = [r for r in rows if r["status"] == "running" or r["lease_until"] is not None]
        # released; or, when the full disk refused the store even that write, held by a runner that is gone, so
        # the next command takes it at once
        assert all(not pid_alive(int(r["claimed_by"].split(":")[1])) for r in held), held
        finished = [r for r in rows if r["status"] == "finished"]
        assert 0 < len(finished) < 6
        for run in finished:  # no row claims a file it does not have
            load_weights(run["weights_path"])
            assert Path(run["probe_path"]).is_file()
        kept = {Path(r["weights_path"]).with_suffix(s).name for r in finished for s in (".npy", ".json", ".probe.npz")}
        assert {Path(f).name for f in every_file(disk / "runs")} == kept, "and no file is left without its row"
        store.close()
        remount(disk, "size=50m")  # space freed
        resumed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert resumed.returncode == 0, resumed.stderr
        assert f"{len(finished)} already done" in resumed.stdout
        rows = RunStore(disk / "runs.db", create=False).runs()
        assert sorted(r["config"]["seed"] for r in rows) == list(range(6)) and {r["status"] for r in rows} == {"finished"}


def test_a_full_disk_under_the_store_is_one_line_naming_it(tmp_path):
    with small_disk(tmp_path / "disk", 1) as disk:
        store = RunStore(disk / "runs.db")
        filler = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
        try:  # the rest of the disk, to the last block
            while os.write(filler, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(filler)
        epochs = [{"epoch": e, "train_loss": 1.0, "val_acc": 0.5} for e in range(1, 5001)]
        with pytest.raises(StoreError) as full:
            store.record("s", RunRecord({"seed": 0}, "finished", epochs=epochs))
        assert str(full.value) == (f"the disk at {disk} is full: could not write run store {disk / 'runs.db'}; free "
                                   f"some space and run the same command again")
        (disk / "filler").unlink()
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok" and store.runs() == []
        store.close()


@pytest.fixture
def read_only_copy(tmp_path):
    """The published store with its probe files on a disk remounted read-only, and a writable place beside it."""
    with small_disk(tmp_path / "disk", 20) as disk:
        # without the -wal/-shm files a test reading the published store in place (on another worker) has beside it
        shutil.copytree(PUBLISHED, disk / "report", ignore=shutil.ignore_patterns("*-wal", "*-shm"))
        remount(disk, "ro")
        yield disk / "report"


def python(*args, **kwargs):
    return subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, **kwargs)


def test_a_read_only_store_can_be_read_and_reported(read_only_copy, tmp_path):
    db = read_only_copy / "runs.db"
    before, files = db.read_bytes(), sorted(p.name for p in read_only_copy.iterdir())
    for args in (["list"], ["show", "421"], ["best"], ["sweeps"]):
        done = python("-m", "store", "--db", db, *args)
        assert done.returncode == 0 and done.stderr == "", (args, done.stderr)
    for section in ("2.4", "2.8"):  # one reads the probe files beside the store, the other the best run's weights
        built = python("-m", "reports", section, "--no-train", "--db", db, "--out", tmp_path / "report",
                       "--wandb_mode", "disabled")
        assert built.returncode == 0, built.stderr
        assert built.stdout.count(" findings, ") == 1 and "not built" not in built.stdout
    assert db.read_bytes() == before
    assert sorted(p.name for p in read_only_copy.iterdir()) == files  # no -wal or -shm made beside it


def test_a_command_that_must_write_to_a_read_only_store_or_runs_folder_says_so_first(read_only_copy, tmp_path):
    db = read_only_copy / "runs.db"
    quick = ["-e", "1", "--train_size", "500", "-nhl", "1", "-sz", "8", "--wandb_mode", "disabled"]
    into_store = python("train.py", *quick, "--db", db, "--runs_dir", tmp_path / "runs")
    assert into_store.returncode == 2 and into_store.stderr.strip().splitlines() == [
        f"train.py: error: run store {db} is read-only; this command must write to it (copy it somewhere writable, "
        f"or set --db or MLP_DB)"]
    into_folder = python("train.py", *quick, "--db", tmp_path / "runs.db", "--runs_dir", read_only_copy / "runs")
    assert into_folder.returncode == 2 and into_folder.stderr.strip().splitlines() == [
        f"train.py: error: cannot write the runs' weights under {read_only_copy / 'runs' / 'train'}: "
        f"{read_only_copy} is not writable; --runs_dir or MLP_RUNS_DIR names another folder"]
    assert "epoch" not in into_store.stdout + into_folder.stdout  # refused before any training
    assert sqlite3.connect(tmp_path / "runs.db").execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0
    report = python("-m", "reports", "2.3", "--db", db, "--out", tmp_path / "report", "--wandb_mode", "disabled")
    assert report.returncode == 2 and "is read-only; this command must write to it" in report.stderr
    assert not (tmp_path / "report").exists()
