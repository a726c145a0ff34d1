"""How many runs per second one runner sustains over a dask.distributed cluster, for bench_scale.py.

The real ``run_sweep`` runs a grid sweep into an empty store on a LocalCluster of one worker process with THREADS
threads, through DaskWorkers whose submit sends a stand-in job: it returns a finished run of one epoch at once,
with no weights (no file is written). What is left is the runner's own work: its loop, the store's claims and
records, and the cluster's scheduling. The cluster runs in a process of its own, as a cluster the runner is
pointed at does, so the scheduler and the runner do not share a process. Where the time goes is measured beside
it: this process's main thread (the runner's loop, the store calls timed apart) and its other threads (the dask
client's), the cluster's process (its scheduler and the worker's nanny), and the worker's.
"""
import contextlib
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import psutil

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from mlp.options import resolve_config  # noqa: E402
from runner.job import JobContext, JobResult  # noqa: E402
from runner.pipeline import open_store, run_sweep  # noqa: E402
from runner.sweep_file import validate  # noqa: E402
from runner.workers import DaskWorkers  # noqa: E402
from store import RunRecord, Status  # noqa: E402

THREADS = (8, 16, 32)
RUNS = (500, 2000)
CLUSTER = """import sys
from dask.distributed import LocalCluster
with LocalCluster(n_workers=1, threads_per_worker=int(sys.argv[1]), processes=True, dashboard_address=None) as cluster:
    print(cluster.scheduler_address, flush=True)
    sys.stdin.read()  # up until the bench closes it
"""


def finished_at_once(config):
    """The stand-in job: a finished run of one epoch, as a worker would send it back, trained in no time."""
    now = time.time()
    epoch = {"epoch": 1, "train_loss": 0.3, "train_acc": 0.9, "val_loss": 0.3, "val_acc": 0.9, "val_f1": 0.9,
             "learning_rate": 0.001, "seconds": 0.0}
    return JobResult(RunRecord(config, Status.FINISHED, epochs=[epoch], started_at=now, ended_at=now, seconds=0.0,
                               scores={"val_acc": 0.9, "test_acc": 0.9, "test_f1": 0.9}))


class InstantWorkers(DaskWorkers):
    """DaskWorkers sending the stand-in job instead of the real one, whatever else submit is given."""

    def submit(self, config, *args, **kwargs):
        return self.executor.submit(finished_at_once, config)


class TimedStore:
    """The store, with the wall and CPU time its calls take summed: the store's part of the runner's main thread."""

    def __init__(self, store):
        self.store, self.seconds, self.cpu = store, 0.0, 0.0

    def __getattr__(self, name):
        attribute = getattr(self.store, name)
        if not callable(attribute):
            return attribute

        def timed(*args, **kwargs):
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                return attribute(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
                self.cpu += time.thread_time() - cpu

        return timed


def grid(runs):
    spec = {"name": "dask", "method": "grid", "metric": {"name": "val_acc", "goal": "maximize"},
            "parameters": {"epochs": {"value": 1}, "seed": {"values": list(range(runs))}}}
    validate(spec)
    return spec


def process_cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_wait():
    """Seconds this thread spent ready to run but waiting for a core (Linux schedstat): the machine's other load."""
    return int(Path("/proc/thread-self/schedstat").read_text().split()[1]) / 1e9


def cpu(process):
    return sum(process.cpu_times()[:2])  # user and system, not its children's


@contextlib.contextmanager
def cluster(threads):
    """A LocalCluster of one worker of ``threads`` threads, in a process of its own -> (that process, address). Its
    worker imports this module (the stand-in job) from the path it is given."""
    path = os.pathsep.join(filter(None, [str(BENCH), str(ROOT), os.environ.get("PYTHONPATH")]))
    process = subprocess.Popen([sys.executable, "-c", CLUSTER, str(threads)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": path})
    try:
        yield psutil.Process(process.pid), process.stdout.readline().strip()
    finally:
        process.stdin.close()
        process.wait()


def sweep_costs(pool, scheduler, worker, runs, folder):
    """One sweep of ``runs`` runs on ``pool`` into a new store -> {measure: value}: runs/s, then shares of the wall
    time: the main thread's in store calls (waiting included) and ready to run but waiting for a core, then the CPU
    (1.0: one core all along) of the store calls, of the rest of the main thread, of this process's other threads,
    of the cluster's process, of the worker, and of them all."""
    store = TimedStore(open_store(Path(folder) / f"dask-{pool.capacity()}-{runs}.db"))
    spec, ctx = grid(runs), JobContext(sweep="dask", runs_dir=str(Path(folder) / "runs"), wandb_mode="disabled")
    before = time.perf_counter(), time.thread_time(), cpu_wait(), process_cpu(), cpu(scheduler), cpu(worker)
    summary = run_sweep(spec, store, pool, ctx, progress=False)
    wall = time.perf_counter() - before[0]
    main, waited = time.thread_time() - before[1], cpu_wait() - before[2]
    others = process_cpu() - before[3] - main
    scheduled, worked = cpu(scheduler) - before[4], cpu(worker) - before[5]
    store.close()
    assert summary.counts["finished"] == runs, summary.counts
    return {"runs/s": runs / wall, "in store calls": store.seconds / wall, "waits for CPU": waited / wall,
            "store CPU": store.cpu / wall,
            "loop CPU": (main - store.cpu) / wall, "client CPU": others / wall, "scheduler CPU": scheduled / wall,
            "worker CPU": worked / wall, "all CPU": (main + others + scheduled + worked) / wall}


def throughput(folder, threads=THREADS, sizes=RUNS):
    """{(threads, runs): measures}, each cluster started once for its sweeps."""
    table = {}
    for count in threads:
        with cluster(count) as (scheduler, address), contextlib.closing(InstantWorkers(address)) as pool:
            worker = psutil.Process(next(iter(pool.client.run(os.getpid).values())))
            pool.submit(resolve_config({})).result()  # the worker imports the stand-in's modules before the clock
            for runs in sizes:
                table[count, runs] = sweep_costs(pool, scheduler, worker, runs, folder)
    return table
