"""Sweep throughput: runs per minute with --jobs 1 and --jobs 2, measured in one go.

The same 12 configurations (3x128 ReLU on MNIST, 5 epochs, float32, about the
average run of sweeps/search.yaml) are run
into two fresh stores by the real command line, one after the other.
"""
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SPEC = {
    "name": "throughput", "method": "grid", "metric": {"name": "val_acc", "goal": "maximize"},
    "parameters": {
        "dataset": {"value": "mnist"}, "dtype": {"value": "float32"}, "epochs": {"value": 5},
        "num_layers": {"value": 3}, "hidden_size": {"value": 128}, "batch_size": {"value": 64},
        "optimizer": {"values": ["adam", "nadam", "rmsprop"]}, "learning_rate": {"values": [1e-3, 3e-4]},
        "seed": {"values": [0, 1]},
    },
}


def runs_per_minute(jobs, folder):
    sweep = Path(folder) / "throughput.yaml"
    sweep.write_text(yaml.safe_dump(SPEC))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "runner", str(sweep), "--jobs", str(jobs), "--quiet", "--wandb_mode",
                    "disabled", "--db", str(Path(folder) / f"jobs{jobs}.db"), "--runs_dir", str(Path(folder) / "runs")],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    minutes = (time.perf_counter() - started) / 60
    return 12 / minutes, minutes * 60


def main():
    with tempfile.TemporaryDirectory() as folder:
        one, one_s = runs_per_minute(1, folder)
        two, two_s = runs_per_minute(2, folder)
    print(f"--jobs 1: {one:6.2f} runs/min ({one_s:.1f}s for 12 runs)")
    print(f"--jobs 2: {two:6.2f} runs/min ({two_s:.1f}s for 12 runs)")
    print(f"speed-up of --jobs 2 over --jobs 1: {two / one:.2f}x")


if __name__ == "__main__":
    main()
