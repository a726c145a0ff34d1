"""How the commands end when a user's machine ends them: SIGTERM (a batch scheduler's stop, a closed terminal),
Ctrl-C, and a reader that closes the pipe. Every wait is for an event (a claim in the store, a line of output);
the timeouts only guard against a hang."""
import fcntl
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import QUICK, runner_cmd, wait_for, write_sweep
from processes import alive
from store import RunStore

ROOT = Path(__file__).resolve().parent.parent
F_SETPIPE_SZ = 1031  # Linux: the pipe's buffer size; the smallest (a page) makes a long output block early
EXPECTED_STATUS = {signal.SIGTERM: 143, signal.SIGINT: 130}


def rows(db):
    if not Path(db).exists():
        return []
    try:
        return RunStore(db, create=False).runs()
    except Exception:  # the runner is still creating the schema
        return []


def descendants(pid):
    found, todo = [], [pid]
    while todo:
        out = subprocess.run(["pgrep", "-P", str(todo.pop())], capture_output=True, text=True).stdout.split()
        found += map(int, out)
        todo += map(int, out)
    return found


def small_pipe():
    """A pipe whose buffer holds one page, so a writer meets the closed end after a few lines."""
    read, write = os.pipe()
    fcntl.fcntl(write, F_SETPIPE_SZ, 4096)
    return read, write


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_stopped_runner_releases_its_runs_stops_its_workers_and_resumes(tmp_path, signum):
    spec_file = write_sweep(tmp_path, "stopped", {**QUICK, "epochs": {"value": 3}, "seed": {"values": list(range(5))}})
    runner = subprocess.Popen(runner_cmd(spec_file, tmp_path), cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    wait_for(lambda: any(r["status"] == "running" for r in rows(tmp_path / "runs.db")) and descendants(runner.pid))
    workers = descendants(runner.pid)
    runner.send_signal(signum)
    out, err = runner.communicate(timeout=60)
    assert runner.returncode == EXPECTED_STATUS[signum], out + err
    assert err.strip().splitlines() == [f"python -m runner: stopped by {signum.name}; the runs in flight were "
                                        f"released; the same command resumes"], err
    wait_for(lambda: not alive(workers), timeout=30)
    left = rows(tmp_path / "runs.db")
    assert left and not [r for r in left if r["status"] == "running" or r["lease_until"] is not None]
    assert {r["error"] for r in left if r["status"] == "failed"} <= {"interrupted"}
    resumed = subprocess.run(runner_cmd(spec_file, tmp_path), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    done = rows(tmp_path / "runs.db")
    assert sorted(r["config"]["seed"] for r in done) == list(range(5))  # one row each: nothing trained twice
    assert {r["status"] for r in done} == {"finished"}


def kernel_says(pid, field):
    """The signals the kernel lists for process ``pid`` under ``field`` (SigIgn: ignored, SigBlk: blocked)."""
    mask = int(Path(f"/proc/{pid}/status").read_text().split(f"{field}:")[1].split()[0], 16)
    return {s for s in signal.Signals if mask & 1 << (s - 1)}


def test_a_command_a_test_starts_has_ctrl_c_and_sigterm_at_their_defaults():
    """What the guard in conftest.py keeps true: the suite's own signal state never reaches its commands."""
    child = subprocess.Popen(["sleep", "60"])
    try:
        assert not {signal.SIGINT, signal.SIGTERM} & (kernel_says(child.pid, "SigIgn") |
                                                      kernel_says(child.pid, "SigBlk"))
    finally:
        child.kill()
        child.wait()


def test_a_runner_started_in_the_background_of_a_script_keeps_ignoring_ctrl_c_and_stops_on_sigterm(tmp_path):
    """``python -m runner ... &`` in a script: POSIX shells start such a job with SIGINT ignored, and the runner
    honours that as other tools do (docs/runner.md). SIGTERM still ends it in one line, runs released."""
    spec_file = write_sweep(tmp_path, "background", {**QUICK, "epochs": {"value": 1},
                                                     "seed": {"values": list(range(200))}})
    script = subprocess.Popen(["sh", "-c", '"$@" & echo $!; wait $!', "sh", *runner_cmd(spec_file, tmp_path)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runner = int(script.stdout.readline())
    wait_for(lambda: any(r["status"] == "running" for r in rows(tmp_path / "runs.db")) and descendants(runner))
    assert signal.SIGINT in kernel_says(runner, "SigIgn") and signal.SIGTERM not in kernel_says(runner, "SigIgn")

    def finished():
        assert alive([runner]), "the runner ended on a SIGINT it was started ignoring"
        return sum(r["status"] == "finished" for r in rows(tmp_path / "runs.db"))

    os.kill(runner, signal.SIGINT)
    before = finished()
    wait_for(lambda: finished() >= before + 2)  # two more runs recorded after the Ctrl-C: it went on
    workers = descendants(runner)
    os.kill(runner, signal.SIGTERM)
    out, err = script.communicate(timeout=60)
    assert script.returncode == 143, out + err
    assert err.strip().splitlines() == ["python -m runner: stopped by SIGTERM; the runs in flight were released; "
                                        "the same command resumes"], err
    wait_for(lambda: not alive(workers), timeout=30)
    left = rows(tmp_path / "runs.db")
    assert not [r for r in left if r["status"] == "running" or r["lease_until"] is not None]
    assert len(left) < 200


def test_a_stopped_report_build_releases_the_runs_it_was_training(tmp_path, data_dir):
    """What `make report` runs: section 2.3 trains the optimizers sweep (12 full-size runs) when its store lacks it."""
    report = subprocess.Popen([sys.executable, "-m", "reports", "2.3", "--db", str(tmp_path / "runs.db"),
                               "--runs_dir", str(tmp_path / "runs"), "--out", str(tmp_path / "report"),
                               "--wandb_mode", "disabled", "--jobs", "2"], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
    wait_for(lambda: any(r["status"] == "running" for r in rows(tmp_path / "runs.db")) and descendants(report.pid))
    workers = descendants(report.pid)
    os.killpg(report.pid, signal.SIGTERM)  # as a batch scheduler stops a job: the whole process group
    out, err = report.communicate(timeout=60)
    assert report.returncode == 143, out + err
    assert err.strip().splitlines()[-1] == ("python -m reports: stopped by SIGTERM; the runs in flight were released; "
                                            "the same command resumes")
    assert "Traceback" not in err, err
    wait_for(lambda: not alive(workers), timeout=30)
    assert not [r for r in rows(tmp_path / "runs.db") if r["status"] == "running" or r["lease_until"] is not None]
    assert not (tmp_path / "report" / "sections" / "2.3.json").exists()


def train_cmd(tmp_path, epochs, train_size=2000):
    return [sys.executable, "train.py", "-e", str(epochs), "--train_size", str(train_size), "-nhl", "1", "-sz", "16",
            "--dtype", "float32", "--db", str(tmp_path / "runs.db"), "--runs_dir", str(tmp_path / "runs"),
            "--wandb_mode", "disabled"]


def test_a_stopped_train_py_records_its_run_as_failed_and_the_same_command_trains_it(tmp_path):
    command = train_cmd(tmp_path, epochs=3, train_size=0)  # the whole split: the signal lands mid-run
    train = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert train.stdout.readline().startswith("epoch   1")  # an epoch reported: the run is mid-training
    train.send_signal(signal.SIGTERM)
    out, err = train.communicate(timeout=60)
    assert train.returncode == 143, out + err
    assert err.strip().splitlines() == ["train.py: stopped by SIGTERM; the run in flight is recorded as failed; "
                                        "the same command trains it"]
    (run,) = rows(tmp_path / "runs.db")
    assert (run["status"], run["error"], run["lease_until"]) == ("failed", "interrupted", None)
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert [(r["id"], r["status"]) for r in rows(tmp_path / "runs.db")] == [(run["id"], "finished")]


def closed_early(cmd, cwd, lines=1):
    """Run ``cmd`` with its output into a one-page pipe whose reader leaves after ``lines`` lines, as
    ``cmd | head -n LINES`` does (none: gone before the command starts) -> (exit status, what it wrote on stderr).
    Its output is buffered as in a user's shell (the suite unsets PYTHONUNBUFFERED)."""
    read, write = small_pipe()
    if not lines:
        os.close(read)
    process = subprocess.Popen(cmd, cwd=cwd, stdout=write, stderr=subprocess.PIPE, text=True)
    os.close(write)
    if lines:
        with os.fdopen(read) as reader:
            for _ in range(lines):
                reader.readline()
    err = process.stderr.read()
    return process.wait(timeout=120), err


def test_the_suite_starts_commands_with_output_buffered_as_a_users_shell_does():
    assert "PYTHONUNBUFFERED" not in os.environ  # else nothing is left to flush at exit, and no test sees it fail


@pytest.mark.parametrize("args", [["list"], ["show", "BEST"]])
def test_store_output_piped_into_head_ends_quietly(args, tmp_path):
    published = tmp_path / "runs.db"  # a copy: a command may bring a store up to this code's schema
    shutil.copy(ROOT / "docs" / "report" / "runs.db", published)  # 162 runs: far more than a page of output
    best = str(RunStore(published, create=False).best("test_f1")["id"])  # 40 epochs: more than a page too
    status, err = closed_early([sys.executable, "-m", "store", "--db", str(published),
                                *[best if a == "BEST" else a for a in args]], ROOT)
    assert (status, err) == (141, "")


def test_train_py_piped_into_head_ends_quietly_and_releases_its_run(tmp_path):
    status, err = closed_early(train_cmd(tmp_path, epochs=400), ROOT)  # a line an epoch: the pipe fills
    assert (status, err) == (141, "")
    (run,) = rows(tmp_path / "runs.db")
    assert (run["status"], run["error"], run["lease_until"]) == ("failed", "interrupted", None)


def test_a_runner_whose_reader_left_finishes_its_sweep_and_ends_quietly(tmp_path):
    spec_file = write_sweep(tmp_path, "piped", {**QUICK, "epochs": {"value": 1}, "seed": {"values": [0, 1]}})
    status, err = closed_early(runner_cmd(spec_file, tmp_path), ROOT, lines=0)  # gone before the first line
    assert (status, err) == (141, "")
    assert [(r["config"]["seed"], r["status"]) for r in rows(tmp_path / "runs.db")] == [(0, "finished"),
                                                                                      (1, "finished")]


def doors(work):
    """Every command a user runs, with arguments that make it print, on ``work``'s store of two runs, its
    report and its exported pair -> {command: its arguments after the interpreter}."""
    db, report = ["--db", str(work / "runs.db")], ["--out", str(work / "report")]
    return {
        "train.py": train_cmd(work, epochs=1)[1:],
        "inference.py": ["inference.py"],
        "python -m runner": runner_cmd(work / "two.yaml", work, jobs=1)[1:],
        "python -m store list": ["-m", "store", *db, "list"],
        "python -m store list --csv": ["-m", "store", *db, "list", "--csv"],
        "python -m store list --json": ["-m", "store", *db, "list", "--json"],
        "python -m store show": ["-m", "store", *db, "show", "1"],
        "python -m store compare": ["-m", "store", *db, "compare", "1", "2"],
        "python -m store best": ["-m", "store", *db, "best"],
        "python -m store sweeps": ["-m", "store", *db, "sweeps"],
        "python -m store serve": ["-m", "store", *db, "serve", "--port", "0"],
        "python -m mlp.data": ["-m", "mlp.data", "fetch"],
        "python -m reports": ["-m", "reports", "2.1", "--no-train", *db, *report, "--wandb_mode", "disabled"],
        "python -m reports.export": ["-m", "reports.export", *db, "--out_dir", str(work / "exported again")],
        "python -m reports.wandb_report": ["-m", "reports.wandb_report", *db, *report, "--wandb_mode", "offline"],
        "python -m reports.publish": ["-m", "reports.publish", *db, *report, "--docs", str(work / "docs"),
                                      "--model", str(work / "exported" / "best_model.npy")],
    }


@pytest.fixture(scope="module")
def doors_work(tmp_path_factory):
    """A store of two one-epoch runs, its report section 2.1 and its exported best pair: what every door reads."""
    work = tmp_path_factory.mktemp("doors")
    spec_file = write_sweep(work, "two", {**QUICK, "epochs": {"value": 1}, "seed": {"values": [0, 1]}})
    for args in (runner_cmd(spec_file, work)[1:], doors(work)["python -m reports"],
                 ["-m", "reports.export", "--db", str(work / "runs.db"), "--out_dir", str(work / "exported")]):
        done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
    return work


def test_every_command_is_a_door_below():
    """A new command (a module run as ``python -m``, or a script) is tried on a closed pipe the day it is added."""
    commands = set()
    folders = [f for f in ROOT.iterdir() if (f / "__init__.py").is_file() or f.name == "src"]  # the code's
    for path in [*ROOT.glob("*.py"), *(p for folder in folders for p in folder.rglob("*.py"))]:
        relative = path.relative_to(ROOT)
        if 'if __name__ == "__main__"' not in path.read_text():
            continue
        if relative.parts[0] in {"src", "cli"} or len(relative.parts) == 1:  # the scripts and their doors
            commands.add(relative.name)
        else:
            commands.add("python -m " + ".".join(relative.with_suffix("").parts).removesuffix(".__main__"))
    assert commands == {door.split(" ")[0] if door.endswith(".py") else " ".join(door.split(" ")[:3])
                        for door in doors(ROOT)}


@pytest.mark.parametrize("door", doors(ROOT))
def test_a_command_whose_reader_has_left_ends_quietly(door, doors_work):
    """``COMMAND | head -c0``, or any reader gone before the first line: exit status 141 and nothing on stderr,
    the interpreter's own flush of buffered output at exit included."""
    status, err = closed_early([sys.executable, *doors(doors_work)[door]], ROOT, lines=0)
    assert (status, err) == (141, "")
