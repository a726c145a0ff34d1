"""The dashboard at scale: every page and its JSON on a store of 10,000 runs with 10 epochs each.

    python bench/bench_dashboard.py [--runs 10000] [--sweeps 4]

The store is built through the store's own API (RunStore.record with RunRecords, no training):
``--sweeps`` sweeps share the runs, and a tenth of them are stopped at epoch 2 or 4 as early
termination would. Then `python -m store serve` (what `make ui` runs) serves it, and each URL a
person's clicks reach is asked 5 times; the median and the slowest time to the last byte are
printed, with the size. The issue's bar is 0.5 s per page.
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from large_store import EPOCHS, build  # noqa: E402
from mlp.options import resolve_config  # noqa: E402
from runner.pipeline import open_store  # noqa: E402

def timed(url, repeats=5):
    times, size = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=120) as response:
            size = len(response.read())
        times.append(time.perf_counter() - started)
    return statistics.median(times), max(times), size


def live_epochs(db, base, epochs=5):
    """The median time of the sweep's JSON asked after each epoch a run in training writes, as the page polls it:
    only its curves are read again."""
    store = open_store(db)
    run_id = store.claim("sweep0", resolve_config({"seed": 10 ** 9}), "bench", 600)
    times = []
    for epoch in range(1, epochs + 1):
        store.record_epoch(run_id, {"epoch": epoch, "val_acc": 0.5, "train_acc": 0.5, "seconds": 1.0})
        times.append(timed(base + "/-/api/sweep/sweep0.json", repeats=1)[0])
    store.close()
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--sweeps", type=int, default=4)
    parser.add_argument("--port", type=int, default=8019)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "runs.db"
        started = time.perf_counter()
        best = build(db, args.runs, args.sweeps)
        print(f"built {args.runs} runs x {EPOCHS} epochs in {args.sweeps} sweeps through RunStore.record: "
              f"{time.perf_counter() - started:.0f} s")
        server = subprocess.Popen([sys.executable, "-m", "store", "--db", str(db), "serve", "--port",
                                   str(args.port)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{args.port}"
        try:
            for _ in range(600):
                try:
                    urllib.request.urlopen(base + "/", timeout=5)
                    break
                except OSError:
                    time.sleep(0.1)
            per_sweep = args.runs // args.sweeps
            urls = [("home", "/"), ("home's JSON: sweep_summary", "/runs/sweep_summary.json?_shape=array"),
                    ("sweep page", "/-/sweep/sweep0"),
                    (f"sweep JSON ({per_sweep} runs)", "/-/api/sweep/sweep0.json"),
                    ("sweep JSON, losses", "/-/api/sweep/sweep0.json?metric=val_loss"),
                    ("importance JSON, first (starts its fit)", "/-/api/importance/sweep0.json"),
                    ("run page", f"/-/run/{best}"), ("run JSON", f"/-/api/run/{best}.json"),
                    ("compare page", f"/-/compare?ids={best},1,2"),
                    ("compare JSON", f"/-/api/compare.json?ids={best},1,2"),
                    ("runs table (Datasette)", "/runs/runs"), ("runs_flat (Datasette)", "/runs/runs_flat")]
            print(f"{'page':40s} {'median s':>9s} {'slowest s':>9s} {'bytes':>10s}")
            for name, path in urls:
                repeats = 1 if "first" in name else 5
                median, slowest, size = timed(base + path, repeats)
                print(f"{name:40s} {median:9.3f} {slowest:9.3f} {size:10d}", flush=True)
                if "starts its fit" in name:
                    started = time.perf_counter()
                    while not json.load(urllib.request.urlopen(base + path, timeout=120))["current"]:
                        time.sleep(0.2)
                    print(f"{'  (its fit, beside the server)':40s} {time.perf_counter() - started:9.3f}")
                    median, slowest, size = timed(base + path)
                    print(f"{'importance JSON, fitted':40s} {median:9.3f} {slowest:9.3f} {size:10d}", flush=True)
            print(f"{'sweep JSON after a live epoch':40s} {live_epochs(db, base):9.3f}")
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
