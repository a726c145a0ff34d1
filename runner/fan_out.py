"""Where runs execute: loky processes here, or a dask.distributed cluster, behind one interface.

Both hand out concurrent.futures Futures, so the runner's loop is the same code on
a laptop and on a cluster. A job gets its config, its context and the
early-termination peers known when it was sent; it sends back its record with the
weights and probe arrays in it, and needs nothing of the runner's disk. Every run
uses one BLAS thread wherever it runs; local workers die with the runner.
"""
import contextlib
import ctypes
import os
import signal
import sys

from threadpoolctl import threadpool_limits

from .job import run_one

BACKENDS = ("loky", "dask", "wandb")  # wandb is driven by runner.wandb_agent, not fanned out here
PR_SET_PDEATHSIG = 1


def _die_with(parent_pid):
    """Ask Linux to SIGKILL this worker when the runner dies, so no orphan trains on unseen."""
    if not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the runner died before we asked
        os._exit(1)


def _job(config, ctx, key, peers, parent_pid):
    if parent_pid is not None:
        _die_with(parent_pid)
    with threadpool_limits(limits=1):
        return run_one(config, ctx, key=key, peers=peers)


class LocalWorkers:
    """``jobs`` loky processes (joblib's executor); after a worker dies the next submit gets a fresh pool."""

    def __init__(self, jobs):
        self.jobs = jobs

    def capacity(self):
        return self.jobs

    def submit(self, config, ctx, key, peers):
        from joblib.externals.loky import get_reusable_executor  # noqa: PLC0415

        return get_reusable_executor(max_workers=self.jobs).submit(_job, config, ctx, key, peers, os.getpid())

    def close(self):
        pass


class DaskWorkers:
    """The threads of a dask.distributed cluster's workers; a task whose worker dies is retried by dask."""

    def __init__(self, scheduler):
        from dask.distributed import Client  # noqa: PLC0415 - optional extra

        self.client = Client(scheduler)
        self.client.wait_for_workers(1, timeout=60)
        self.executor = self.client.get_executor(pure=False)

    def capacity(self):
        return max(1, sum(self.client.nthreads().values()))

    def submit(self, config, ctx, key, peers):
        return self.executor.submit(_job, config, ctx, key, peers, None)

    def close(self):
        self.client.close()


@contextlib.contextmanager
def workers(jobs=1, backend="loky", scheduler=None):
    """The workers a sweep runs on: ``submit(config, ctx, key, peers) -> Future`` and ``capacity()``."""
    pool = DaskWorkers(scheduler) if backend == "dask" else LocalWorkers(jobs)
    try:
        yield pool
    finally:
        pool.close()
