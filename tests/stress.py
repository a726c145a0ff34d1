"""Fault injection: SIGKILL or SIGTERM runners and workers while runs are in flight, resume, verify.

    python tests/stress.py --kills 20 [--seed S] [--scenarios local coop dask term]        (make stress)

Four scenarios, each a sweep of 12 (--configs) short configurations in a store of its own:
- local: one runner with --jobs 2; each SIGKILL hits the runner (then restarted) or one of its workers;
- coop: two cooperating runners with --jobs 1; each SIGKILL hits one of them (then restarted);
- dask: a runner on a real dask cluster (scheduler and a 2-process worker); each SIGKILL hits a worker process;
- term: one runner with --jobs 2, stopped by SIGTERM as a batch scheduler stops a job; each time it must exit
  143 at once, with its workers gone and no run left running under its claim, and is then restarted.
Kills follow events, never the clock: each waits for a random number (0 or 1) of runs to finish (only while
some configuration would still be unclaimed after it), then for a live runner's run in flight, so every kill
lands while there is work left, whatever the machine's speed or load. After the kills the runners finish, and a last resume must complete everything.
Then it checks that every configuration finished exactly once, no result arrived for a run already recorded
(nothing trained twice), every weights file loads and reproduces its stored test accuracy, and PRAGMA
integrity_check is ok. The schedule is drawn from --seed (printed), so a failure can be replayed. Exits 1 on
any failure.
"""
import argparse
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mlp import NeuralNetwork  # noqa: E402
from mlp.data import load_dataset  # noqa: E402
from mlp.metrics import evaluate  # noqa: E402
from mlp.model_io import load_weights  # noqa: E402
from runner.sweep_file import expand, validate  # noqa: E402
from store import RunStore  # noqa: E402
from processes import alive  # noqa: E402 - tests/, this script's folder

SPEC = {
    "name": "stress", "method": "grid", "metric": {"name": "val_acc", "goal": "maximize"},
    "parameters": {
        "dataset": {"value": "mnist"}, "dtype": {"value": "float32"}, "train_size": {"value": 12000},
        "num_layers": {"value": 2}, "hidden_size": {"value": 64},
    },
}
SCENARIOS = ("local", "coop", "dask", "term")
TERM_STATUS = 143
TRAINED_TWICE = "a result arrived for a run another runner had recorded"


def children(pid, marker):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out if marker in Path(f"/proc/{p}/cmdline").read_text(errors="ignore")]


class Scenario:
    """Runner processes over one folder; the log of every runner's output is kept to look for double trainings."""

    def __init__(self, name, folder, runners=1, jobs=2, extra=()):
        self.name, self.folder, self.n_runners, self.jobs, self.extra = name, folder, runners, jobs, list(extra)
        self.sweep_file = folder / "stress.yaml"
        self.logs = []
        self.runners = []

    def start_runner(self):
        log = open(self.folder / f"runner{len(self.logs)}.log", "w")
        self.logs.append(log.name)
        return subprocess.Popen([sys.executable, "-m", "runner", str(self.sweep_file), "--jobs", str(self.jobs),
                                 "--quiet", "--wandb_mode", "disabled", "--db", str(self.folder / "runs.db"),
                                 "--runs_dir", str(self.folder / "runs"), *self.extra],
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def start(self):
        self.runners = [self.start_runner() for _ in range(self.n_runners)]

    def running(self):
        return any(r.poll() is None for r in self.runners)

    def in_flight_at_most(self):
        return self.n_runners * self.jobs

    def kill(self, rng, holders, left):
        """Kill one victim -> its kind: a runner holding a run in flight (``holders``: their pids), or in the local
        scenario one of its workers, but only while more runs are unfinished (``left``) than there are workers,
        so the victim is not an idle worker beside the last run."""
        i = rng.choice([i for i, r in enumerate(self.runners) if r.pid in holders])
        workers = children(self.runners[i].pid, "popen_loky")
        if self.name == "local" and workers and left > self.jobs and rng.random() < 0.5:
            os.kill(rng.choice(workers), signal.SIGKILL)
            return "worker"
        self.runners[i].send_signal(signal.SIGKILL)
        self.runners[i].wait()
        self.runners[i] = self.start_runner()
        return "runner"

    def finish(self):
        for r in self.runners:
            r.wait()
        final = self.start_runner()  # the resume that must complete everything
        final.wait()
        return final.returncode

    def close(self):
        pass


class TermScenario(Scenario):
    """One runner stopped by SIGTERM each time: it must exit 143 within a minute, its workers gone and its runs
    released (no run left 'running' under its claim); what went wrong is kept in ``faults``."""

    def __init__(self, name, folder):
        super().__init__(name, folder)
        self.faults = []

    def kill(self, rng, holders, left):
        runner = self.runners[0]
        workers = children(runner.pid, "popen_loky")
        runner.send_signal(signal.SIGTERM)
        try:
            status = runner.wait(timeout=60)
        except subprocess.TimeoutExpired:
            runner.kill()
            status = runner.wait()
            self.faults.append("a runner took over a minute to stop on SIGTERM")
        if status != TERM_STATUS:
            self.faults.append(f"a runner stopped by SIGTERM exited {status}, not {TERM_STATUS}")
        owner = f":{runner.pid}:"
        if any(owner in (o or "") for (o,) in _query(self, "SELECT claimed_by FROM runs WHERE status = 'running'")):
            self.faults.append("a runner stopped by SIGTERM left a run running under its claim")
        _until(lambda: not alive(workers), timeout=30)
        if alive(workers):
            self.faults.append("a worker outlived its runner's SIGTERM by 30 s")
        self.runners[0] = self.start_runner()
        return "SIGTERM"


class DaskScenario(Scenario):
    """A runner on a real dask cluster; the kills hit the cluster's worker processes, which their nanny restarts."""

    def __init__(self, folder):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.address = f"tcp://127.0.0.1:{port}"
        super().__init__("dask", folder, extra=["--backend", "dask", "--scheduler", self.address])
        self.cluster_log = open(folder / "cluster.log", "w")
        logged = {"stdout": self.cluster_log, "stderr": subprocess.STDOUT, "cwd": folder}
        self.scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host",
                                           "127.0.0.1", "--port", str(port), "--no-dashboard"], **logged)
        self.worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", self.address,
                                        "--nworkers", "2", "--nthreads", "1", "--no-dashboard"], **logged)

    def running_workers(self):
        """Pids of the workers with a task in hand (all of them when none has), once both are registered
        with the scheduler (one killed while it starts takes its nanny and the whole `dask worker` down:
        that is dask's, not what is tested here)."""
        from dask.distributed import Client

        with Client(self.address, timeout=60) as client:
            for _ in range(100):  # a broadcast that meets a worker the last kill took down is asked again
                client.wait_for_workers(2, timeout=120)
                try:
                    pids = client.run(os.getpid)
                except OSError:  # CommClosedError: that worker went away mid-broadcast
                    continue
                busy = [pids[w] for w, tasks in client.processing().items() if tasks and w in pids]
                return busy or list(pids.values())
            raise RuntimeError("the dask workers never answered together")

    def start(self):
        self.running_workers()
        super().start()

    def in_flight_at_most(self):
        return 2  # the cluster's worker threads

    def kill(self, rng, holders, left):
        """A worker with a task in hand, not an idle one beside the last run."""
        os.kill(rng.choice(self.running_workers()), signal.SIGKILL)
        return "dask worker"

    def close(self):
        for process in (self.worker, self.scheduler):
            process.terminate()
            process.wait(timeout=60)


def _query(scenario, sql):
    try:
        with sqlite3.connect(scenario.folder / "runs.db") as db:
            return db.execute(sql).fetchall()
    except sqlite3.Error:  # the store or its tables are not there yet
        return []


def n_finished(scenario):
    return len(_query(scenario, "SELECT id FROM runs WHERE status = 'finished'"))


def _until(condition, timeout=300):
    """Poll the store for an event; the timeout only guards against a hang."""
    deadline = time.time() + timeout
    while not condition() and time.time() < deadline:
        time.sleep(0.1)


def holders(scenario):
    """The pids of the live runners with a run in flight under their claim (a killed runner's 'running' runs do
    not count)."""
    live = {r.pid for r in scenario.runners if r.poll() is None}
    return {int(owner.split(":")[1]) for (owner,) in _query(scenario, "SELECT claimed_by FROM runs WHERE status = "
                                                                      "'running'") if owner} & live


def inject(scenario, kills, rng, configs):
    """Kill ``kills`` times, each after 0 or 1 more runs have finished and while a live runner has a run in
    flight; returns the victims' kinds and the final resume's status. A finish is waited for only while more runs
    are unfinished than can be in flight at once plus one, so at every kill some configuration is not even
    claimed yet: the sweep cannot end before the kill lands, however fast or slow the machine."""
    log = []
    scenario.start()
    while len(log) < kills and scenario.running():
        finished = n_finished(scenario)
        target = finished + (rng.randrange(2) if configs - finished > scenario.in_flight_at_most() + 1 else 0)
        _until(lambda: n_finished(scenario) >= target or not scenario.running())
        _until(lambda: holders(scenario) or not scenario.running())
        if not scenario.running():
            break
        victim = scenario.kill(rng, holders(scenario) or {r.pid for r in scenario.runners},
                               configs - n_finished(scenario))
        if victim:
            log.append(victim)
    return log, scenario.finish()


def verify(scenario, spec, data):
    """-> dict of the checks, each a count (0 is good) or a verdict."""
    store = RunStore(scenario.folder / "runs.db", create=False)
    expected = {store.key(c) for c in expand(spec)}
    rows = store.runs(sweep=spec["name"])
    finished = [r for r in rows if r["status"] == "finished"]
    hashes = [r["config_hash"] for r in rows]
    bad_weights = 0
    for row in finished:
        try:
            model = NeuralNetwork(row["config"])
            model.set_weights(load_weights(row["weights_path"]))
            reproduced = evaluate(model, data.X_test.astype(model.dtype), data.y_test)["accuracy"]
            bad_weights += reproduced != row["test_acc"]
        except Exception:
            bad_weights += 1
    return {
        "configurations finished exactly once": f"{len({r['config_hash'] for r in finished} & expected)}"
                                                 f"/{len(expected)}",
        "duplicates": len(hashes) - len(set(hashes)),
        "lost runs": len(expected - {r["config_hash"] for r in finished}),
        "trained twice": sum(Path(log).read_text().count(TRAINED_TWICE) for log in scenario.logs),
        "claims again after kills": sum(r["attempts"] for r in rows) - len(rows),
        "bad weights files": bad_weights,
        "integrity_check": store.db.execute("PRAGMA integrity_check").fetchone()[0],
    }


def sized_for(configs):
    """The sweep of ``configs`` runs of a few seconds each (the kills wait for events, not for time)."""
    spec = {**SPEC, "parameters": {**SPEC["parameters"], "epochs": {"value": 6},
                                   "seed": {"values": list(range(configs))}}}
    validate(spec)
    return spec


def make_scenario(name, folder):
    folder.mkdir()
    if name == "dask":
        return DaskScenario(folder)
    if name == "term":
        return TermScenario(name, folder)
    return Scenario(name, folder, runners=2, jobs=1) if name == "coop" else Scenario(name, folder)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20, help="kills in each scenario")
    parser.add_argument("--seed", type=int, default=None, help="seed of the kill schedule (default: random)")
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--configs", type=int, default=12, help="configurations in each scenario's sweep")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(10**6)
    rng, spec, data = random.Random(seed), sized_for(args.configs), load_dataset("mnist")
    print(f"kill schedule seed {seed} (replay with --seed {seed})")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.scenarios:
            scenario = make_scenario(name, Path(tmp) / name)
            scenario.sweep_file.write_text(yaml.safe_dump(spec))
            started = time.time()
            try:
                log, final_code = inject(scenario, args.kills, rng, args.configs)
                checks = verify(scenario, spec, data)
            finally:
                scenario.close()
            kinds = ", ".join(f"{log.count(k)} {k}" for k in sorted(set(log))) or "none"
            print(f"[{name}] {len(log)} kills ({kinds}) in {time.time() - started:.0f}s; final resume exit {final_code}")
            for check, value in checks.items():
                print(f"[{name}] {check}: {value}")
            passed = (len(log) == args.kills and final_code == 0 and checks["duplicates"] == 0
                      and not getattr(scenario, "faults", [])
                      and checks["lost runs"] == 0 and checks["trained twice"] == 0
                      and checks["bad weights files"] == 0 and checks["integrity_check"] == "ok")
            if len(log) < args.kills:
                print(f"[{name}] FAILED: the sweep finished after {len(log)} of {args.kills} kills")
            for fault in getattr(scenario, "faults", []):
                print(f"[{name}] FAILED: {fault}")
            if not passed:
                for log_file in [*scenario.logs, scenario.folder / "cluster.log"]:
                    if Path(log_file).exists():
                        print(f"[{name}] {Path(log_file).name}:\n" + Path(log_file).read_text()[-3000:])
            ok &= passed
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
