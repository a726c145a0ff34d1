"""Whole processes: a 3-epoch train.py (float64 and float32) against the same run by scikit-learn.

Each command is timed from start-up to exit (imports, data loading, training,
final evaluation, saving), with one BLAS thread, W&B disabled and a throwaway
store per round, in interleaved rounds; the median is printed as a ratio to scikit-learn's.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ratios import print_ratios

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ["train.py", "-d", "mnist", "-e", "3", "-b", "64", "-o", "adam", "-lr", "1e-3", "-nhl", "3", "-sz", "128",
         "-a", "relu", "-w_i", "xavier", "--wandb_mode", "disabled"]


def commands(folder):
    store = ["--db", str(Path(folder) / "runs.db"), "--runs_dir", str(Path(folder) / "runs")]
    return {
        "sklearn": [sys.executable, "bench/sklearn_mlp.py", "-e", "3"],
        "train.py float64": [sys.executable, *TRAIN, *store],
        "train.py float32": [sys.executable, *TRAIN, *store, "--dtype", "float32"],
    }


def seconds(command):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (median taken)")
    args = parser.parse_args()
    times = {}
    for r in range(args.rounds):
        # A fresh store each round: train.py does not train a configuration its store already holds finished.
        with tempfile.TemporaryDirectory() as folder:
            for name, command in commands(folder).items():
                times.setdefault(name, []).append(seconds(command))
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    print_ratios("whole process, 3 epochs of MNIST (54,000 images), batch 64, start-up and data loading included",
                 times, "sklearn", "seconds")

if __name__ == "__main__":
    main()
