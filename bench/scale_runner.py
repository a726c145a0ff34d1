"""The runner appended to a large sweep, for bench_scale.py: the real command, `python -m runner SWEEP.yaml --db
STORE -j 2 --quiet`, runs RUNS cheap grid runs into sweep0 of STORE (a copy: it is written to).

The runs train for real (MNIST, 1,000 images, one epoch of a 16-unit layer: well under a second each) with
hyperband at epoch 1, so every submit asks for the bars the sweep's other runs set. Each run keeps its files
(``keep_weights: all``), stopped or finished, so the runner writes as much for each run whatever share of them
the large sweep's bars stop. The command is started through a wrapper that runs it as `python -m` would and, at
the process's exit, writes its own CPU time (getrusage RUSAGE_SELF: this process's threads, none of its loky
workers, which are its children) to a file.
"""
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runner.pipeline import open_store  # noqa: E402

SWEEP = "sweep0"
RUNS = 150
JOBS = 2
WRAPPER = """import atexit, json, resource, runpy, sys
def written(path):
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open(path, "w") as file:
        json.dump({"cpu": usage.ru_utime + usage.ru_stime}, file)
atexit.register(written, sys.argv[1])  # first registered, so it runs last: after loky's own exit handlers
sys.argv = ["runner", *sys.argv[2:]]
runpy.run_module("runner", run_name="__main__", alter_sys=True)
"""


def sweep_file(folder):
    path = Path(folder) / f"{SWEEP}.yaml"
    path.write_text(yaml.safe_dump({
        "name": SWEEP, "method": "grid", "metric": {"name": "val_acc", "goal": "maximize"},
        "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": 3}, "keep_weights": "all",
        "parameters": {"epochs": {"value": 1}, "train_size": {"value": 1000}, "num_layers": {"value": 1},
                       "hidden_size": {"value": 16}, "dtype": {"value": "float32"},
                       "seed": {"values": list(range(RUNS))}}}))
    return path


def runner_costs(db, folder):
    """The command's cost over ``db`` -> {measure: value}, from its CPU file and the runs it recorded."""
    usage = Path(folder) / "usage.json"
    launched = time.time()
    subprocess.run([sys.executable, "-c", WRAPPER, str(usage), str(sweep_file(folder)), "--db", str(db), "-j",
                    str(JOBS), "--quiet", "--wandb_mode", "disabled", "--runs_dir", str(Path(folder) / "runs")],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    exited = time.time()
    store = open_store(db)
    runs = [r for r in store.iter_runs(sweep=SWEEP, fields=("started_at", "ended_at", "status"))
            if (r["started_at"] or 0) >= launched]  # large_store's runs have no start time
    store.close()
    first, last = min(r["started_at"] for r in runs), max(r["ended_at"] for r in runs)
    busy = sum(r["ended_at"] - r["started_at"] for r in runs)
    return {"runs": len(runs), "stopped by the bars": sum(r["status"] == "stopped" for r in runs),
            "runner CPU s per run": json.loads(usage.read_text())["cpu"] / len(runs),
            "workers busy": busy / (JOBS * (last - first)), "start to first run s": first - launched,
            "last run to exit s": exited - last, "wall s": exited - launched}
