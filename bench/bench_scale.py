"""The store at scale: what each read a runner and a user ask costs in stores of 1,000, 10,000 and 100,000 runs
with 10 epochs each, and what a runner costs beside a sweep that holds most of them.

    MLP_DATA_DIR=... python bench/bench_scale.py [--sizes 1000 10000 100000] [--stores DIR]
                                                 [--parts reads,proposal,runner,dask]

Each store is built through the store's own API (bench/large_store.py); with ``--stores`` a store built before in
DIR is used again, and anything a part writes goes to a copy. The parts, each printing its table:

- reads: on stores whose runs are spread over 10 sweeps, each read 5 times, its median in milliseconds, with the
  indexes of migration m011 and without them (dropped from a copy), side by side: the store's calls, the runner's
  ledger of a sweep (runner.ledger: a resume's first look, and a look a run later, as each submit makes), and the
  commands as a user meets them: the real CLI, to the end of its output (`store list` to its first line), beside
  the CLI's own start (`python -m store --help`).
- proposal: on stores where sweep0 holds 60% of the runs (600, 6,000, 60,000), a bayes batch of 4 over sweep0 as a
  resume's first batch and as the next one, and the peak memory, each size in a process of its own
  (bench/scale_proposal.py).
- runner: the real `python -m runner` appending 150 one-epoch runs to that sweep0 with -j 2, and to an empty store
  for reference: the runner process's own CPU per run, how busy its 2 workers were, and its start and end beside
  the runs (bench/scale_runner.py).
- dask: runs per second of one runner over a local dask cluster of 8, 16 and 32 threads whose job returns at once,
  for sweeps of 500 and 2,000 runs into an empty store, and where the time goes (bench/scale_dask.py). Sizes do
  not apply.
"""
import argparse
import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from large_store import build
from scale_dask import throughput
from scale_proposal import BATCH
from scale_runner import JOBS, RUNS, runner_costs

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from mlp.options import resolve_config  # noqa: E402
from runner.early_stop import EarlyTermination  # noqa: E402
from runner.ledger import SweepLedger  # noqa: E402
from runner.pipeline import open_store  # noqa: E402
from store import RunRecord, Status  # noqa: E402

SWEEPS = 10
SHARE = 0.6  # of the runs in sweep0, for the proposal and the runner
PARTS = ("reads", "proposal", "runner", "dask")
M011_INDEXES = ("idx_runs_sweep_status", "idx_runs_status_val_acc", "idx_runs_val_acc", "idx_runs_status_test_f1",
                "idx_runs_test_f1")


def median_ms(call, repeats=5, before=None):
    """``before``: called ahead of each timed call, untimed."""
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def reads(store):
    """{read: median ms}: the store's own calls behind the runner's bookkeeping and the user's commands, and the
    runner's ledger of the sweep (done keys, and hyperband's bars at epochs 1, 2, 4 and 8) as it reads them."""
    new = iter(range(10 ** 9, 10 ** 9 + 100))
    rule = EarlyTermination("hyperband", min_iter=1, eta=2)
    ledger = SweepLedger(store, "sweep0", rule)
    ledger.look()
    default = resolve_config({})

    def claim_and_record():
        config = resolve_config({"seed": next(new)})
        run_id = store.claim("sweep0", config, "bench", 60)
        store.record("sweep0", RunRecord(config, Status.FINISHED, epochs=[{"epoch": 1, "val_acc": 0.5}],
                                         scores={"val_acc": 0.5}), run_id)

    def submit_look():
        ledger.look()
        ledger.bars(default, store.key(default))

    return {"status_counts() (store sweeps)": median_ms(store.status_counts),
            "status_counts(sweep)": median_ms(lambda: store.status_counts("sweep0")),
            "best() (store best: test_f1)": median_ms(store.best),
            "best(val_acc, sweep)": median_ms(lambda: store.best("val_acc", sweep="sweep0")),
            "held_keys(sweep)": median_ms(lambda: store.held_keys("sweep0")),
            "ledger's first look (a resume)": median_ms(lambda: SweepLedger(store, "sweep0", rule).look()),
            "ledger's look + bars, a run later (a submit)": median_ms(submit_look, before=claim_and_record),
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


def stored(stores, size, share=None):
    """The store of ``size`` runs in ``stores``, built first if it is not there; ``share``: sweep0's part."""
    db = stores / (f"runs-{size}.db" if share is None else f"runs-{size}-share{round(100 * share)}.db")
    if not db.exists():
        started = time.perf_counter()
        build(db, size, SWEEPS, share=share)
        print(f"built {size} runs in {SWEEPS} sweeps{'' if share is None else f', {share:.0%} in sweep0'}: "
              f"{time.perf_counter() - started:.0f} s", flush=True)
    return db


def work_copy(db, folder, part):
    """``part``'s copy of ``db`` to write to, at this code's schema (so no part times a migration)."""
    work = Path(folder) / f"{part}-{db.name}"
    shutil.copy(db, work)
    open_store(work).close()
    return work


def print_table(title, columns, rows):
    """``rows``: (label, [value per column]), the values already formatted."""
    print(f"\n{title:50s}" + "".join(f"{c:>15s}" for c in columns))
    for label, values in rows:
        print(f"{label:50s}" + "".join(f"{v:>15s}" for v in values), flush=True)


def reads_part(sizes, stores, folder):
    table = {size: measure(work_copy(stored(stores, size), folder, "reads"), folder) for size in sizes}
    names = list(table[sizes[0]]["indexed"])
    print(f"\n{'median ms':50s}" + "".join(f"{f'{s:,} runs':>22s}" for s in sizes))
    print(f"{'':50s}" + "".join(f"{'no index':>11s}{'indexed':>11s}" for _ in sizes))
    for name in names:
        print(f"{name:50s}" + "".join(f"{table[s]['no index'][name]:11.1f}{table[s]['indexed'][name]:11.1f}"
                                     for s in sizes), flush=True)


def proposal_part(sizes, stores, folder):
    """Each size's batches in a process of its own, so its peak memory is that size's."""
    table = {}
    for size in sizes:
        out = subprocess.run([sys.executable, str(BENCH / "scale_proposal.py"),
                              str(work_copy(stored(stores, size, SHARE), folder, "proposal"))],
                             check=True, stdout=subprocess.PIPE, text=True).stdout
        table[size] = json.loads(out.splitlines()[-1])
    print_table(f"bayes batch of {BATCH}, sweep0 {SHARE:.0%} of the store", [f"{s:,} runs" for s in sizes], [
        ("runs in the sweep", [f"{table[s]['runs in the sweep']:,}" for s in sizes]),
        ("first batch (a resume) s", [f"{table[s]['first batch s']:.2f}" for s in sizes]),
        ("next batch, after 4 runs recorded s", [f"{table[s]['next batch s']:.2f}" for s in sizes]),
        ("peak memory MB (VmHWM): before the first batch", [f"{table[s]['MB before']:.0f}" for s in sizes]),
        ("peak memory MB (VmHWM): at the end", [f"{table[s]['MB peak']:.0f}" for s in sizes])])


def runner_part(sizes, stores, folder):
    """The command on an empty store, then appended to each size's sweep0."""
    dbs = {"empty store": Path(folder) / "empty.db",
           **{f"{s:,} runs": work_copy(stored(stores, s, SHARE), folder, "runner") for s in sizes}}
    table = {}
    for label, db in dbs.items():
        work = Path(folder) / f"runner-{len(table)}"
        work.mkdir()
        table[label] = runner_costs(db, work)
    print_table(f"python -m runner, {RUNS} runs -j {JOBS} into sweep0", list(table), [
        (name, [f"{t[name]:.3f}" if isinstance(t[name], float) else str(t[name]) for t in table.values()])
        for name in table["empty store"]])


def dask_part(folder):
    table = throughput(folder)
    names = list(next(iter(table.values())))
    print_table("dask (CPU: share of the wall time)", names, [
        (f"{threads} threads, {runs:,} runs", [f"{row[n]:.2f}" for n in names])
        for (threads, runs), row in table.items()])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--stores", type=Path, help="a folder keeping the built stores, to use them again")
    parser.add_argument("--parts", type=lambda text: text.split(","), default=list(PARTS),
                        help=f"a comma-separated choice of {','.join(PARTS)}")
    args = parser.parse_args()
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s) {','.join(sorted(unknown))}; choose from {','.join(PARTS)}")
    with tempfile.TemporaryDirectory() as folder:
        stores = args.stores or Path(folder)
        stores.mkdir(parents=True, exist_ok=True)
        if "reads" in args.parts:
            reads_part(args.sizes, stores, folder)
        if "proposal" in args.parts:
            proposal_part(args.sizes, stores, folder)
        if "runner" in args.parts:
            runner_part(args.sizes, stores, folder)
        if "dask" in args.parts:
            dask_part(folder)


if __name__ == "__main__":
    main()
