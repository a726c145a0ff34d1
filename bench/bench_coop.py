"""Cooperating runners: two runner processes with --jobs 1 on one sweep and store, against one with --jobs 2.

The same 8 configurations (3x128 ReLU on MNIST, 3 epochs, float32) run into two fresh
stores by the real command line, one arrangement after the other, in one go; the ratio
of the two wall times is the figure (the load on a shared machine moves both).
"""
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SPEC = {
    "name": "coop", "method": "grid", "metric": {"name": "val_acc", "goal": "maximize"},
    "parameters": {
        "dataset": {"value": "mnist"}, "dtype": {"value": "float32"}, "epochs": {"value": 3},
        "num_layers": {"value": 3}, "hidden_size": {"value": 128}, "batch_size": {"value": 64},
        "learning_rate": {"values": [1e-3, 3e-4]}, "seed": {"values": [0, 1, 2, 3]},
    },
}


def wall_seconds(folder, name, runners, jobs):
    """Start ``runners`` runner processes with ``jobs`` each on one fresh store; seconds until all are done."""
    folder = Path(folder) / name
    folder.mkdir()
    sweep = folder / "coop.yaml"
    sweep.write_text(yaml.safe_dump(SPEC))
    cmd = [sys.executable, "-m", "runner", str(sweep), "--jobs", str(jobs), "--quiet", "--wandb_mode", "disabled",
           "--db", str(folder / "runs.db"), "--runs_dir", str(folder / "runs")]
    started = time.perf_counter()
    processes = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(runners)]
    outputs = [p.communicate()[0] for p in processes]
    seconds = time.perf_counter() - started
    if any(p.returncode for p in processes):
        sys.exit(f"a runner failed: {outputs}")
    return seconds, [line for out in outputs for line in out.splitlines() if line.startswith("sweep ")]


def main():
    two_first = "--two-first" in sys.argv[1:]  # the other order, to see how much the load's drift weighs
    with tempfile.TemporaryDirectory() as folder:
        if two_first:
            two, two_lines = wall_seconds(folder, "two", runners=2, jobs=1)
        one, one_lines = wall_seconds(folder, "one", runners=1, jobs=2)
        if not two_first:
            two, two_lines = wall_seconds(folder, "two", runners=2, jobs=1)
    print(f"one runner, --jobs 2:        {one:6.1f}s for 8 runs   ({'; '.join(one_lines)})")
    print(f"two runners, --jobs 1 each:  {two:6.1f}s for 8 runs   ({'; '.join(two_lines)})")
    print(f"two runners / one runner: {two / one:.2f}x the time")


if __name__ == "__main__":
    main()
