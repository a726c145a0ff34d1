"""Fault injection: SIGKILL the runner or a random worker at random moments, resume, verify.

    python tests/stress.py --kills 20        (make stress)

A sweep of 12 short configurations runs with --jobs 2. After every kill the
sweep is resumed; after the last one it is run to completion. Then it checks
that every configuration finished exactly once, with no duplicate, no lost
run, every weights file loadable and reproducing its stored test accuracy,
and PRAGMA integrity_check ok. Exits 1 on any failure.
"""
import argparse
import random
import signal
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
from runner.sweep import expand, validate  # noqa: E402
from store import RunStore  # noqa: E402

SPEC = {
    "name": "stress", "method": "grid", "metric": {"name": "val_acc", "goal": "maximize"},
    "parameters": {
        "dataset": {"value": "mnist"}, "dtype": {"value": "float32"}, "train_size": {"value": 12000},
        "num_layers": {"value": 2}, "hidden_size": {"value": 64},
        "seed": {"values": list(range(12))},
    },
}


def worker_pids(runner_pid):
    out = subprocess.run(["pgrep", "-P", str(runner_pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out if "popen_loky" in Path(f"/proc/{p}/cmdline").read_text(errors="ignore")]


def start_runner(sweep_file, folder):
    return subprocess.Popen([sys.executable, "-m", "runner", str(sweep_file), "--jobs", "2", "--quiet",
                             "--wandb_mode", "disabled", "--db", str(folder / "runs.db"),
                             "--runs_dir", str(folder / "runs")],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def inject(sweep_file, folder, kills, rng):
    """Kill ``kills`` times at random moments; returns a log of (victim, seconds after start)."""
    log = []
    runner = start_runner(sweep_file, folder)
    while len(log) < kills:
        delay = rng.uniform(0.5, 4.0)
        time.sleep(delay)
        if runner.poll() is not None:  # finished before the kill: nothing left to hurt
            break
        workers = worker_pids(runner.pid)
        if workers and rng.random() < 0.5:
            victim = rng.choice(workers)
            subprocess.run(["kill", "-9", str(victim)])
            log.append(("worker", round(delay, 2)))
        else:
            runner.send_signal(signal.SIGKILL)
            runner.wait()
            log.append(("runner", round(delay, 2)))
            runner = start_runner(sweep_file, folder)
    runner.wait()
    final = start_runner(sweep_file, folder)  # the resume that must complete everything
    final.wait()
    return log, final.returncode


def verify(folder, spec):
    """-> dict of the checks, each a count (0 is good) or a verdict."""
    store = RunStore(folder / "runs.db", create=False)
    expected = {store.key(c): c for c in expand(spec)}
    rows = store.runs(sweep="stress")
    finished = [r for r in rows if r["status"] == "finished"]
    hashes = [r["config_hash"] for r in rows]
    data = load_dataset("mnist")
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
        "configurations finished exactly once": f"{len({r['config_hash'] for r in finished} & set(expected))}"
                                                 f"/{len(expected)}",
        "duplicates": len(hashes) - len(set(hashes)),
        "lost runs": len(set(expected) - {r["config_hash"] for r in finished}),
        "bad weights files": bad_weights,
        "integrity_check": store.db.execute("PRAGMA integrity_check").fetchone()[0],
    }


def sized_for(kills):
    """The sweep, its runs long enough that ``kills`` kills (0.5-4 s apart) land before it can finish."""
    spec = {**SPEC, "parameters": {**SPEC["parameters"], "epochs": {"value": max(6, 2 * kills)}}}
    validate(spec)
    return spec


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=None, help="seed of the kill schedule (default: random)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(10**6)
    spec = sized_for(args.kills)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sweep_file = folder / "stress.yaml"
        sweep_file.write_text(yaml.safe_dump(spec))
        started = time.time()
        log, final_code = inject(sweep_file, folder, args.kills, random.Random(seed))
        checks = verify(folder, spec)
    victims = {v: sum(1 for who, _ in log if who == v) for v in ("runner", "worker")}
    print(f"kill schedule seed {seed}: {len(log)} kills ({victims['runner']} runner, {victims['worker']} worker) "
          f"in {time.time() - started:.0f}s; final resume exit {final_code}")
    for name, value in checks.items():
        print(f"{name}: {value}")
    ok = (len(log) == args.kills and final_code == 0 and checks["duplicates"] == 0 and checks["lost runs"] == 0
          and checks["bad weights files"] == 0 and checks["integrity_check"] == "ok")
    if len(log) < args.kills:
        print(f"FAILED: the sweep finished after {len(log)} of {args.kills} kills; make it longer")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
