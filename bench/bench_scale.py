"""The store at scale: what each read a runner and a user ask costs in stores of 1,000, 10,000 and 100,000 runs
with 10 epochs each, with the indexes of migration m011 and without them (dropped from a copy), side by side.

    python bench/bench_scale.py [--sizes 1000 10000 100000] [--stores DIR]

Each store is built through the store's own API (bench/large_store.py), its runs spread over 10 sweeps; with
``--stores`` a store built before in DIR is used again. Each read is called 5 times and its median printed, in
milliseconds. The commands are timed as a user meets them: the real CLI, to the end of its output (`store
list` to its first line), beside the CLI's own start (`python -m store --help`).
"""
import argparse
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from large_store import build

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mlp.options import resolve_config  # noqa: E402
from runner.pipeline import open_store  # noqa: E402
from store import RunRecord, Status  # noqa: E402

SWEEPS = 10
M011_INDEXES = ("idx_runs_sweep_status", "idx_runs_status_val_acc", "idx_runs_val_acc", "idx_runs_status_test_f1",
                "idx_runs_test_f1")


def median_ms(call, repeats=5):
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def reads(store):
    """{read: median ms}: the store's own calls behind the runner's bookkeeping and the user's commands."""
    new = iter(range(10 ** 9, 10 ** 9 + 100))

    def claim_and_record():
        config = resolve_config({"seed": next(new)})
        run_id = store.claim("sweep0", config, "bench", 60)
        store.record("sweep0", RunRecord(config, Status.FINISHED, epochs=[{"epoch": 1, "val_acc": 0.5}],
                                         scores={"val_acc": 0.5}), run_id)

    return {"status_counts() (store sweeps)": median_ms(store.status_counts),
            "status_counts(sweep)": median_ms(lambda: store.status_counts("sweep0")),
            "best() (store best: test_f1)": median_ms(store.best),
            "best(val_acc, sweep)": median_ms(lambda: store.best("val_acc", sweep="sweep0")),
            "held_keys(sweep)": median_ms(lambda: store.held_keys("sweep0")),
            "done_keys(sweep) (a resume, the bookkeeping)": median_ms(lambda: store.done_keys("sweep0")),
            "val_accs(sweep) (one submit's peers)": median_ms(lambda: store.val_accs("sweep0", [1, 2, 4, 8])),
            "claim + record of a new run": median_ms(claim_and_record)}


def command_ms(db, *args, first_line=False):
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "store", "--db", str(db), *args], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if first_line:
        process.stdout.readline()
        elapsed = time.perf_counter() - started
        process.kill()
    else:
        process.communicate()
        elapsed = time.perf_counter() - started
    process.wait()
    return 1000 * elapsed


def commands(db):
    return {"python -m store --help (the CLI's start)": command_ms(db, "--help"),
            "python -m store sweeps": command_ms(db, "sweeps"),
            "python -m store best": command_ms(db, "best"),
            "python -m store list: first line": command_ms(db, "list", first_line=True),
            "python -m store list --sort val_acc: first line": command_ms(db, "list", "--sort", "val_acc",
                                                                           first_line=True)}


def without_indexes(db, folder):
    copy = Path(folder) / f"no-indexes-{db.name}"
    shutil.copy(db, copy)
    with sqlite3.connect(copy) as raw:
        for name in M011_INDEXES:
            raw.execute(f"DROP INDEX {name}")
    return copy


def measure(db, folder):
    plain = without_indexes(db, folder)
    results = {}
    for label, path in (("no index", plain), ("indexed", db)):
        store = open_store(path)
        results[label] = {**reads(store), **commands(path)}
        store.close()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--stores", type=Path, help="a folder keeping the built stores, to use them again")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        stores = args.stores or Path(folder)
        stores.mkdir(parents=True, exist_ok=True)
        table = {}
        for size in args.sizes:
            db = stores / f"runs-{size}.db"
            if not db.exists():
                started = time.perf_counter()
                build(db, size, SWEEPS)
                print(f"built {size} runs in {SWEEPS} sweeps: {time.perf_counter() - started:.0f} s", flush=True)
            work = Path(folder) / f"work-{size}.db"  # claims and records are written to a copy
            shutil.copy(db, work)
            open_store(work).close()  # at this code's schema
            table[size] = measure(work, folder)
        names = list(table[args.sizes[0]]["indexed"])
        print(f"\n{'median ms':50s}" + "".join(f"{f'{s:,} runs':>22s}" for s in args.sizes))
        print(f"{'':50s}" + "".join(f"{'no index':>11s}{'indexed':>11s}" for _ in args.sizes))
        for name in names:
            print(f"{name:50s}" + "".join(f"{table[s]['no index'][name]:11.1f}{table[s]['indexed'][name]:11.1f}"
                                         for s in args.sizes))


if __name__ == "__main__":
    main()
