"""The joblib fan-out: configs in, results out as each run finishes.

Workers are loky processes started with one BLAS thread each; with one job
the runs stay in this process, also limited to one BLAS thread so that
``--jobs 1`` and ``--jobs 2`` compare like with like. ``dask`` sends the same
calls to a dask.distributed scheduler through joblib's dask backend.
"""
import contextlib
import ctypes
import os
import signal
import sys

from joblib import Parallel, delayed, parallel_config
from threadpoolctl import threadpool_limits

from .job import run_one

BACKENDS = ("loky", "dask", "wandb")  # wandb is driven by runner.wandb_agent, not fanned out here
PR_SET_PDEATHSIG = 1


def _die_with(parent_pid):
    """Ask Linux to SIGKILL this worker when the runner dies, so no orphan trains on unseen."""
    if os.getpid() == parent_pid or not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the runner died before we asked
        os._exit(1)


def _job(config, ctx, parent_pid):
    if parent_pid is not None:
        _die_with(parent_pid)
    return run_one(config, ctx)


@contextlib.contextmanager
def _backend(jobs, backend, scheduler):
    if backend == "dask":
        from dask.distributed import Client  # noqa: PLC0415 - optional extra

        with Client(scheduler) as client, parallel_config(backend="dask", wait_for_workers_timeout=60):
            yield client
    elif jobs == 1:
        with threadpool_limits(limits=1):
            yield None
    else:
        yield None


def fan_out(configs, ctx, jobs=1, backend="loky", scheduler=None):
    """Yield run_one results (each with its ``config``) in the order they finish."""
    with _backend(jobs, backend, scheduler):
        n_jobs, parent = (-1, None) if backend == "dask" else (jobs, os.getpid())
        # batch_size=1: joblib would otherwise batch short runs together and hold back their results
        yield from Parallel(n_jobs=n_jobs, return_as="generator_unordered", batch_size=1)(
            delayed(_job)(config, ctx, parent) for config in configs)
