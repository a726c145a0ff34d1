"""Run a sweep to completion, resumably.

Each configuration is one row keyed by (sweep, config hash). Runs already
finished, diverged or stopped are skipped; interrupted and failed ones run
again. Results are written by this process alone, the moment each arrives.
A worker killed mid-run loses only its own run, which is retried.
"""
import time
from collections import Counter
from pathlib import Path

import numpy as np
from joblib.externals.loky.process_executor import TerminatedWorkerError
from tqdm import tqdm

from mlp.options import ConfigError, resolve_config
from store import config_hash

from . import bayes
from .fan_out import fan_out
from .job import JobContext
from .sweep import expand, sweep_seed

MAX_WORKER_DEATHS = 10  # in one invocation, before the runner gives up
MAX_DEATHS_PER_RUN = 3  # a configuration whose worker dies this often is recorded failed (e.g. out of memory)


def _metric_of(spec):
    return spec.get("metric", {}).get("name", "val_acc")


class Proposer:
    """What to run next: the pending part of a fixed list, or bayes proposals in batches."""

    def __init__(self, spec, store, batch_size, configs=None):
        self.spec, self.store, self.batch_size = spec, store, batch_size
        self.fixed = configs if configs is not None else None if spec["method"] == "bayes" else expand(spec)
        self.rng = np.random.default_rng(sweep_seed(spec))
        self.recorded = set()  # hashes recorded in this invocation: a failure is not retried today

    def _done(self):
        return {r["config_hash"] for r in self.store.done_runs(self.spec["name"])} | self.recorded

    def total(self):
        return len(self.fixed) if self.fixed is not None else self.spec["run_cap"]

    def next_batch(self):
        done = self._done()
        if self.fixed is not None:
            return [c for c in self.fixed if config_hash(c) not in done]
        left = self.spec["run_cap"] - len(done)
        if left <= 0:
            return []
        metric = _metric_of(self.spec)
        history = [(r["config"], r[metric]) for r in self.store.done_runs(self.spec["name"])
                   if r["status"] == "finished" and r[metric] is not None]
        batch = []
        for values in bayes.propose(self.spec, history, 4 * min(left, self.batch_size), self.rng):
            try:
                config = resolve_config(values)
            except ConfigError:  # a draw no validation sample met: skip it, propose again
                continue
            if config_hash(config) not in done and config not in batch:
                batch.append(config)
        return batch[: min(left, self.batch_size)]


def _give_up_on(store, sweep, proposer, deaths_by_hash):
    """Count a death against every run a dead worker pool cut short; record the repeat offenders failed."""
    given_up = []
    for run in store.runs(sweep=sweep, status="running"):
        key = run["config_hash"]
        if key in proposer.recorded:
            continue
        deaths_by_hash[key] += 1
        if deaths_by_hash[key] >= MAX_DEATHS_PER_RUN:
            store.record(sweep, run["config"], {"status": "failed", "error": "its worker process died "
                                                f"{MAX_DEATHS_PER_RUN} times (out of memory, or killed)"})
            proposer.recorded.add(key)
            given_up.append(run["config"])
    return given_up


def remove_partial_files(folder):
    """Temporary files of writes cut short by a kill."""
    for tmp in Path(folder).glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def run_sweep(spec, store, jobs=1, ctx=None, backend="loky", scheduler=None, progress=True, configs=None):
    """Run every pending configuration of ``spec``; returns counts of statuses and seconds taken.

    ``configs``, resolved configurations, replaces the spec's own expansion where the
    runs are chosen by a rule no sweep file can state (report 2.10 picks them from results).
    """
    name = spec["name"]
    ctx = ctx or JobContext(sweep=name)
    proposer = Proposer(spec, store, batch_size=2 * jobs, configs=configs)
    store.add_sweep(name, spec if configs is None else {**spec, "configs": configs})
    remove_partial_files(Path(ctx.runs_dir) / name)
    already = len(proposer._done())
    counts, started, deaths, deaths_by_hash = Counter(), time.time(), 0, Counter()
    bar = tqdm(total=max(proposer.total() - already, 0), unit="run", desc=name, disable=not progress, smoothing=0)
    try:
        while batch := proposer.next_batch():
            try:
                for result in fan_out(batch, ctx, jobs, backend, scheduler):
                    store.record(name, result["config"], result)
                    proposer.recorded.add(config_hash(result["config"]))
                    counts[result["status"]] += 1
                    bar.set_postfix(done=counts["finished"] + counts["stopped"], refresh=False,
                                    failed=counts["failed"] + counts["diverged"], left=bar.total - bar.n - 1)
                    bar.update(1)
                    if result["status"] == "failed" and progress:
                        tqdm.write(f"run failed: {result['error']}")
            except TerminatedWorkerError:
                deaths += 1
                tqdm.write(f"a worker died ({deaths}); rerunning the runs it cut short")
                for config in _give_up_on(store, name, proposer, deaths_by_hash):
                    counts["failed"] += 1
                    bar.update(1)
                    tqdm.write(f"run failed: its worker died {MAX_DEATHS_PER_RUN} times")
                if deaths >= MAX_WORKER_DEATHS:
                    raise
    except BaseException:
        store.mark_interrupted(name)
        raise
    finally:
        bar.close()
    return {"counts": dict(counts), "seconds": time.time() - started, "skipped": already}
