"""Where runs execute, behind one interface: this process, loky processes here, or a dask.distributed cluster.

Each pool hands out concurrent.futures Futures, so the pipeline is the same code for
train.py's one run, a laptop's sweep and a cluster's. A job gets its config, its
context and the early-termination bars its peers set when it was sent; it sends back its
JobResult with the weights and probe arrays beside the record, and needs nothing of
the runner's disk (a local worker also writes each epoch into the store as it ends:
runner.live). A sweep's run uses one BLAS thread wherever it runs; local workers die
with the runner.
"""
import contextlib
import ctypes
import os
import signal
import sys
import threading
import warnings
from concurrent.futures import Future

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


def _job(config, ctx, key, bars, live, parent_pid):
    if parent_pid is not None:
        _die_with(parent_pid)
    with threadpool_limits(limits=1):
        return run_one(config, ctx, key=key, bars=bars, live=live)


def _ready(parent_pid):
    """A worker's first task: be set to die with the runner, with this module (and so runner.job) imported."""
    _die_with(parent_pid)


class InProcessWorkers:
    """Runs each job here, at submit, one at a time (joblib's ``n_jobs=1``): train.py's pool, the W&B
    agent's, and the tests'. A Ctrl-C reaches the caller; a traceback stays simple.

    ``on_epoch`` sees each epoch as it ends; ``wandb_run`` is a W&B run to log into instead of one per
    job (the agent's); ``blas_threads`` is what the job's matrix products may use.
    """

    def __init__(self, on_epoch=None, wandb_run=None, blas_threads=1):
        self.on_epoch, self.wandb_run, self.blas_threads = on_epoch, wandb_run, blas_threads

    def capacity(self):
        return 1

    def start(self):
        """Nothing to start: each job runs here, at submit."""

    def submit(self, config, ctx, key, bars, live=None):
        future = Future()
        with threadpool_limits(limits=max(self.blas_threads, 1)):
            future.set_result(run_one(config, ctx, on_epoch=self.on_epoch, key=key, bars=bars,
                                      wandb_run=self.wandb_run, live=live))
        return future

    def close(self):
        pass

    def terminate(self):
        """Nothing runs here between jobs: a stop reaches the job itself."""


def _quiet_executor_manager(hook):
    """``hook`` for every thread but loky's manager, which a kill_workers shutdown can trip: it cancels the queued
    jobs, then the manager looks one of them up (a KeyError in add_call_item_to_queue; 2 of 12 stopped report
    builds under load printed it under the one line). The runner is leaving on purpose: that thread's end is no
    news."""
    def quiet(args):
        if args.thread is None or args.thread.name != "ExecutorManagerThread":
            hook(args)
    return quiet


class LocalWorkers:
    """``jobs`` loky processes (joblib's executor); after a worker dies the next submit gets a fresh pool."""

    def __init__(self, jobs):
        self.jobs, self.executor, self.used = jobs, None, False

    def capacity(self):
        return self.jobs

    def start(self):
        """Start the workers now, each importing what a job needs, while the runner reads its sweep: a large
        sweep's first look and the workers' start then overlap instead of adding up before the first run."""
        for _ in range(self.jobs):
            self._executor().submit(_ready, os.getpid())

    def submit(self, config, ctx, key, bars, live=None):
        self.used = True
        return self._executor().submit(_job, config, ctx, key, bars, live, os.getpid())

    def _executor(self):
        from joblib.externals.loky import get_reusable_executor  # noqa: PLC0415

        self.executor = get_reusable_executor(max_workers=self.jobs)
        return self.executor

    def close(self):
        """Workers started for a sweep with nothing left to run are killed, not waited for (a resume of a done
        sweep ends at once); after jobs, loky keeps them for the next pool of this process."""
        if self.executor is not None and not self.used:
            self.terminate()

    def terminate(self):
        """Kill the workers now, their jobs with them: the runner is leaving, and nobody would record them."""
        if self.executor is not None:
            # loky's manager thread would warn that the killed workers stopped: that is the point, and the
            # command's one line says so
            warnings.filterwarnings("ignore", message="A worker stopped", category=UserWarning)
            # and waited for, so the executor closes its queues while the runner lives: left to the interpreter's
            # exit, loky's resource tracker sometimes warned of a "leaked semlock" under the command's one line
            # (2 of 12 full-disk runs under load; 0 of 26 since)
            threading.excepthook = _quiet_executor_manager(threading.excepthook)
            self.executor.shutdown(wait=True, kill_workers=True)


class DaskWorkers:
    """The threads of a dask.distributed cluster's workers; a task whose worker dies is retried by dask."""

    def __init__(self, scheduler):
        from dask.distributed import Client  # noqa: PLC0415 - optional extra

        self.client = Client(scheduler)
        self.client.wait_for_workers(1, timeout=60)
        self.executor = self.client.get_executor(pure=False)

    def capacity(self):
        return max(1, sum(self.client.nthreads().values()))

    def start(self):
        """The cluster's workers are already up (the client waited for one)."""

    def submit(self, config, ctx, key, bars, live=None):
        """``live`` is dropped: the cluster's workers may not see the store, so epochs come with the result."""
        return self.executor.submit(_job, config, ctx, key, bars, None, None)

    def close(self):
        self.client.close()

    def terminate(self):
        """Closing the client cancels its tasks on the cluster."""
        self.client.close()


@contextlib.contextmanager
def workers(jobs=1, backend="loky", scheduler=None):
    """The pool a sweep's command line asks for (``--jobs``, ``--backend``, ``--scheduler``), closed after."""
    pool = DaskWorkers(scheduler) if backend == "dask" else LocalWorkers(jobs)
    try:
        yield pool
    finally:
        pool.close()
