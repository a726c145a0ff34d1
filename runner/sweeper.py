"""Run a sweep to completion, resumably, alone or beside other runners on the same store.

Each configuration is one row keyed by (sweep, config key). A run is claimed under
this runner's lease just before it is sent to a worker, so runners sharing a store
train each configuration once: runs finished, diverged or stopped are never claimed
again (unless a rerun is asked for), runs another runner holds are left to it and
taken over if its lease lapses. Results are written by this process alone, the moment
each arrives. A worker killed mid-run loses only its own run, which is sent again;
a configuration whose worker dies MAX_DEATHS_PER_RUN times is recorded failed.
"""
import time
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mlp.options import ConfigError, resolve_config

from . import bayes
from .early_stop import EarlyTermination
from .fan_out import workers
from .job import JobContext
from .lease import Lease
from .recording import key_defaults, persist, remove_partial_files
from .sweep import expand, sweep_seed

MAX_WORKER_DEATHS = 10  # in one invocation, before the runner gives up
MAX_DEATHS_PER_RUN = 3  # a configuration whose worker dies this often is recorded failed (e.g. out of memory)
POLL_SECONDS = 1.0  # how often to look again while every pending run is held by another runner


def _metric_of(spec):
    return spec.get("metric", {}).get("name", "val_acc")


class Proposer:
    """What to run next: the pending part of a fixed list, or bayes proposals in batches."""

    def __init__(self, spec, store, batch_size, configs=None, rerun_before=None):
        self.spec, self.store, self.batch_size = spec, store, batch_size
        self.fixed = configs if configs is not None else None if spec["method"] == "bayes" else expand(spec)
        self.rng = np.random.default_rng(sweep_seed(spec))
        self.rerun_before = rerun_before
        self.recorded = set()  # keys recorded in this invocation: a failure is not retried today
        self.queue = deque()

    def _done(self):
        """Keys needing no run: final runs (for a rerun, those that ended since it began) and ours of today."""
        rows = self.store.done_runs(self.spec["name"])
        if self.rerun_before is not None:
            rows = [r for r in rows if (r["ended_at"] or 0) >= self.rerun_before]
        return {r["config_hash"] for r in rows} | self.recorded

    def total(self):
        return len(self.fixed) if self.fixed is not None else self.spec["run_cap"]

    def already_done(self):
        """How many of this sweep's runs need no run now: of a fixed list, only its own (the sweep may hold
        others, such as 2.10's runs by an earlier rule or a grid since narrowed)."""
        done = self._done()
        return len(done) if self.fixed is None else sum(self.store.key(c) in done for c in self.fixed)

    def next_batch(self):
        done = self._done()
        if self.fixed is not None:
            return [c for c in self.fixed if self.store.key(c) not in done]
        taken = done | self.store.held_keys(self.spec["name"])
        left = self.spec["run_cap"] - len(taken)
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
            if self.store.key(config) not in taken and config not in batch:
                batch.append(config)
        return batch[: min(left, self.batch_size)]

    def claim_next(self, lease, flying):
        """The next pending config, claimed for this runner; None when none is free now."""
        if not self.queue:
            self.queue.extend(self.next_batch())
        while self.queue:
            config = self.queue.popleft()
            key = self.store.key(config)
            if key not in flying and key not in self.recorded and \
                    lease.claim(self.spec["name"], config, self.rerun_before) is not None:
                return config
        return None


def _peers(store, sweep, rule, config, key):
    """What the job needs to judge itself early: the other runs' val_acc at its rule's epochs, as of now."""
    if rule is None:
        return None
    return store.val_accs(sweep, [e for e in range(1, config["epochs"] + 1) if rule.checks_at(e)], exclude_hash=key)


def worker_lost(store, sweep, config, proposer, deaths_by_hash):
    """Count a death against a run whose worker died -> True when it is now recorded failed, else it goes
    back to the front of the queue (its claim is still ours)."""
    key = store.key(config)
    deaths_by_hash[key] += 1
    if deaths_by_hash[key] < MAX_DEATHS_PER_RUN:
        proposer.queue.appendleft(config)
        return False
    store.record(sweep, config, {"status": "failed", "error": f"its worker process died {MAX_DEATHS_PER_RUN} "
                                                              "times (out of memory, or killed)"})
    proposer.recorded.add(key)
    return True


def run_sweep(spec, store, jobs=1, ctx=None, backend="loky", scheduler=None, progress=True, configs=None,
              rerun=False):
    """Run every pending configuration of ``spec``; returns counts of statuses and seconds taken.

    ``configs``, resolved configurations, replaces the spec's own expansion where the
    runs are chosen by a rule no sweep file can state (report 2.10 picks them from results).
    ``rerun`` trains the sweep's finished, diverged and stopped configurations again.
    """
    name = spec["name"]
    ctx = ctx or JobContext(sweep=name)
    store.use_defaults(key_defaults())
    proposer = Proposer(spec, store, batch_size=2 * jobs, configs=configs, rerun_before=time.time() if rerun else None)
    store.add_sweep(name, spec if configs is None else {**spec, "configs": configs})
    remove_partial_files(Path(ctx.runs_dir) / name)
    already = proposer.already_done()
    rule = EarlyTermination.from_spec(ctx.early_terminate)
    counts, started, deaths, deaths_by_hash = Counter(), time.time(), 0, Counter()
    bar = tqdm(total=max(proposer.total() - already, 0), unit="run", desc=name, disable=not progress, smoothing=0)

    def count(status):
        counts[status] += 1
        bar.set_postfix(done=counts["finished"] + counts["stopped"], refresh=False,
                        failed=counts["failed"] + counts["diverged"], left=bar.total - bar.n - 1)
        bar.update(1)

    in_flight = {}  # future -> config
    with Lease(store) as lease, workers(jobs, backend, scheduler) as pool:
        try:
            while True:
                while len(in_flight) < pool.capacity():
                    config = proposer.claim_next(lease, {store.key(c) for c in in_flight.values()})
                    if config is None:
                        break
                    key = store.key(config)
                    in_flight[pool.submit(config, ctx, key, _peers(store, name, rule, config, key))] = config
                if not in_flight:
                    if not proposer.next_batch():
                        break
                    time.sleep(POLL_SECONDS)  # the rest is held by other runners: wait for it or its lapse
                    continue
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                died = False
                for future in finished:
                    config = in_flight.pop(future)
                    try:
                        result = future.result()
                    except Exception as exc:  # the job never raises: its worker was lost
                        died = True
                        if worker_lost(store, name, config, proposer, deaths_by_hash):
                            count("failed")
                            tqdm.write(f"run failed: its worker died {MAX_DEATHS_PER_RUN} times ({exc!r})")
                        continue
                    proposer.recorded.add(store.key(config))
                    if persist(store, name, ctx.runs_dir, result) is None:
                        tqdm.write("a result arrived for a run another runner had recorded; kept the first")
                        continue
                    count(result["status"])
                    if result["status"] == "failed" and progress:
                        tqdm.write(f"run failed: {result['error']}")
                if died:
                    deaths += 1
                    tqdm.write(f"a worker died ({deaths}); rerunning the runs it cut short")
                    if deaths >= MAX_WORKER_DEATHS:
                        raise RuntimeError(f"workers died {deaths} times; giving up (see the store for what ran)")
        finally:
            bar.close()
    return {"counts": dict(counts), "seconds": time.time() - started, "skipped": already}
