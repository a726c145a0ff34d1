"""The one path of a run: claim it, submit it, write its files, record it, count it.

train.py, a sweep (``python -m runner``, the reports), the W&B agent and the tests all call
``run_pipeline``, each with its pool passed in (runner.workers) and a proposer saying what
to run (runner.proposers). Each configuration is one row keyed by (sweep, config key). A
run is claimed under this runner's lease just before it is sent to a worker, so runners
sharing a store train each configuration once: final runs are never claimed again unless a
rerun is asked for, runs another runner holds are left to it and taken over if its lease
lapses. Results are written by this process alone, the moment each arrives, files first and
then the row, so a kill between the two leaves a rerun, never a row without its files. A
worker killed mid-run loses only its own run, which is sent again; a configuration whose
worker dies MAX_DEATHS_PER_RUN times is recorded failed.
"""
import dataclasses
import time
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from mlp.command_line import InputError
from mlp.files import unwritable
from mlp.options import resolve_config
from store import RunRecord, RunStore, Status, StoreError

from .budgets import in_run_rule
from .early_stop import EarlyTermination
from .job import JobContext
from .lease import Lease
from .ledger import SweepLedger
from .live import LiveEpochs
from .methods import proposer_for
from .retention import Retention
from .run_files import remove_dead_writes, remove_files, save_files, stem

MAX_WORKER_DEATHS = 10  # in one invocation, before the runner gives up
MAX_DEATHS_PER_RUN = 3  # a configuration whose worker dies this often is recorded failed (e.g. out of memory)
POLL_SECONDS = 1.0  # how often to look again while every pending run is held by another runner


def key_defaults():
    """The resolved default configuration: config keys leave out what equals it."""
    return resolve_config({})


def open_store(path=None, create=True):
    """The run store at ``path`` (None: $MLP_DB or runs.db), keying configs by their differences from the
    defaults, as every store a pipeline writes does."""
    return RunStore(path, create=create, key_defaults=key_defaults())


@dataclass
class Summary:
    """What one invocation did: runs recorded by status, their ids in order, time taken, runs already done."""

    counts: Counter = field(default_factory=Counter)
    run_ids: list = field(default_factory=list)
    seconds: float = 0.0
    skipped: int = 0


class Bookkeeping:
    """What the pipeline keeps of a sweep beside its proposer: the sweep's ledger (which runs are done, and the
    early-termination bars), what is in flight, and the proposals waiting to be claimed (a run whose worker died
    goes back to the front).

    ``rerun_before``: a time; final runs that ended before it run again (``--rerun``). ``repeat``: claim even
    what is final or held, as a new repeat (train.py trains every time).
    """

    def __init__(self, store, sweep, rule=None, rerun_before=None, repeat=False):
        self.sweep, self.rerun_before, self.repeat = sweep, rerun_before, repeat
        self.ledger = SweepLedger(store, sweep, rule, rerun_before)
        self.waiting = deque()
        self.in_flight = {}  # future -> (proposal, run id)

    def done(self):
        """Keys needing no run: final runs (for a rerun, those that ended since it began) and ours of today, as
        of a look at what changed in the sweep. Read-only: it is the ledger's own set."""
        if self.repeat:
            return self.ledger.recorded
        self.ledger.look()
        return self.ledger.done

    def mark_recorded(self, key):
        self.ledger.mark_recorded(key)

    def bars(self, proposal):
        """The early-termination bars a proposal is sent with, from its peers as of now."""
        if self.ledger.rule is not None:
            self.ledger.look()
        return self.ledger.bars(proposal.config, proposal.key)

    def flying(self):
        return {proposal.key for proposal, _ in self.in_flight.values()}


def run_pipeline(proposer, store, pool, ctx, progress=True, rerun_before=None, repeat=False, retention=None):
    """Run every configuration ``proposer`` has for its sweep on ``pool``, each job set up by ``ctx`` -> Summary.
    ``rerun_before`` and ``repeat`` say which runs may be claimed again (see Bookkeeping); ``retention``, which
    runs keep their files (runner.retention; default: finished runs)."""
    name = proposer.sweep
    folder = Path(ctx.runs_dir) / name
    blocked = unwritable(folder / "weights.npy")
    if blocked is not None:  # said before anything is claimed or trained
        raise InputError(f"cannot write the runs' weights under {folder}: {blocked} is "
                         f"{'not writable' if blocked.is_dir() else 'a file'}; --runs_dir or MLP_RUNS_DIR names "
                         f"another folder")
    pool.start()  # the workers start while the sweep is read
    remove_dead_writes(folder)  # of runners killed here; a live runner's writes are left alone
    retention = retention or Retention()
    retention.start(store, name)
    book = Bookkeeping(store, name, EarlyTermination.from_spec(ctx.early_terminate), rerun_before, repeat)
    summary, started = Summary(skipped=proposer.already_done(book.done())), time.time()
    bar = _Bar(name, max(proposer.total() - summary.skipped, 0), progress)
    deaths, deaths_by_run = 0, Counter()
    with Lease(store) as lease:
        try:
            while True:
                while len(book.in_flight) < pool.capacity():
                    claimed = claim_next(proposer, book, lease)
                    if claimed is None:
                        break
                    proposal, run_id = claimed
                    future = pool.submit(proposal.config, ctx, proposal.key,
                                         book.bars(proposal),
                                         LiveEpochs(str(store.path.resolve()), run_id))
                    book.in_flight[future] = claimed
                if not book.in_flight:
                    if not proposer.pending(book.done()):
                        break
                    time.sleep(POLL_SECONDS)  # the rest is held by other runners: wait for it or its lapse
                    continue
                if not any(future.done() for future in book.in_flight):  # every worker is training: the next
                    refill(proposer, book)  # batch is proposed meanwhile, ready when one is free
                finished, _ = wait(book.in_flight, return_when=FIRST_COMPLETED)
                died = False
                for future in finished:
                    proposal, run_id = book.in_flight.pop(future)
                    try:
                        result = future.result()
                    except Exception as exc:  # the job never raises: its worker was lost
                        died = True
                        if _worker_lost(store, book, proposal, run_id, deaths_by_run):
                            bar.count(summary, Status.FAILED, run_id)
                            bar.say(f"run failed: its worker died {MAX_DEATHS_PER_RUN} times ({exc!r})")
                        continue
                    book.mark_recorded(proposal.key)
                    if not _write_and_record(store, name, ctx.runs_dir, result, proposal, run_id, retention):
                        bar.say("a result arrived for a run another runner had recorded; kept the first")
                        continue
                    bar.count(summary, result.record.status, run_id)
                    if result.record.status is Status.FAILED and progress:
                        bar.say(f"run failed: {result.record.error}")
                if died:
                    deaths += 1
                    bar.say(f"a worker died ({deaths}); rerunning the runs it cut short")
                    if deaths >= MAX_WORKER_DEATHS:
                        raise RuntimeError(f"workers died {deaths} times; giving up (see the store for what ran)")
        except BaseException:  # SIGTERM, Ctrl-C or a failure: no worker trains on, and the lease releases its runs
            pool.terminate()
            raise
        finally:
            bar.close()
    summary.seconds = time.time() - started
    return summary


def run_sweep(spec, store, pool, ctx=None, progress=True, configs=None, rerun=False):
    """Run every pending configuration of a sweep file's ``spec`` on ``pool`` -> Summary.

    ``configs``, resolved configurations, replaces the spec's own expansion where the
    runs are chosen by a rule no sweep file can state (report 2.10 picks them from results).
    ``rerun`` trains the sweep's finished, diverged and stopped configurations again. The jobs judge themselves
    by the spec's in-run rule, whatever ``ctx`` says.
    """
    ctx = dataclasses.replace(ctx or JobContext(sweep=spec["name"]), early_terminate=in_run_rule(spec))
    proposer = proposer_for(spec, store, 2 * pool.capacity(), configs)
    store.add_sweep(spec["name"], spec if configs is None else {**spec, "configs": configs})
    return run_pipeline(proposer, store, pool, ctx, progress, rerun_before=time.time() if rerun else None,
                        retention=Retention.from_spec(spec))


def refill(proposer, book):
    """When no proposal waits, ask the proposer for its next ones."""
    if not book.waiting:
        book.waiting.extend(proposer.propose(book.done()))


def claim_next(proposer, book, lease):
    """The next proposal this runner could claim, and its run id; None when none is free now."""
    refill(proposer, book)
    flying = book.flying()
    while book.waiting:
        proposal = book.waiting.popleft()
        if proposal.key in flying or proposal.key in book.ledger.recorded:
            continue
        run_id = lease.claim(book.sweep, proposal.config, book.rerun_before, book.repeat, proposal.reason,
                             proposal.promoted_from)
        if run_id is not None:
            return proposal, run_id
    return None


def _worker_lost(store, book, proposal, run_id, deaths_by_run):
    """Count a death against a run whose worker died -> True when it is now recorded failed, else it goes
    back to the front of the queue (its claim is still ours)."""
    deaths_by_run[run_id] += 1
    if deaths_by_run[run_id] < MAX_DEATHS_PER_RUN:
        book.waiting.appendleft(proposal)
        return False
    store.record(book.sweep, RunRecord(proposal.config, Status.FAILED, error=f"its worker process died "
                                                                             f"{MAX_DEATHS_PER_RUN} times (out of "
                                                                             "memory, or killed)"), run_id)
    book.mark_recorded(proposal.key)
    return True


def _write_and_record(store, sweep, runs_dir, result, proposal, run_id, retention):
    """Files first, then the row -> the run id, or None when another runner had already recorded the run
    (its files are the recorded ones: they are kept). ``retention`` says whether the run gets files at all, and
    which runs keep theirs once it is recorded."""
    run = store.get(run_id)
    if run.status.is_final:
        return None
    keeps = result.weights is not None and retention.keeps(result.record.status)
    if keeps:
        save_files(result, stem(runs_dir, sweep, proposal.key, run.repeat))
    try:
        recorded = store.record(sweep, result.record, run_id)
    except StoreError:  # no row will claim the files (a full disk, most often): their room lets the runs in
        if keeps:  # flight still be released
            remove_files(result.record.weights_path)
        raise
    if recorded is not None:
        retention.recorded(store, recorded, result.record)
    return recorded


class _Bar:
    """The progress bar: done (finished or stopped), failed (failed or diverged), left, and the ETA."""

    def __init__(self, name, total, enabled):
        self.bar = tqdm(total=total, unit="run", desc=name, disable=not enabled, smoothing=0)

    def count(self, summary, status, run_id):
        summary.counts[status.value] += 1
        summary.run_ids.append(run_id)
        done = summary.counts
        self.bar.set_postfix(done=done["finished"] + done["stopped"], failed=done["failed"] + done["diverged"],
                             left=self.bar.total - self.bar.n - 1, refresh=False)
        self.bar.update(1)

    def say(self, message):
        tqdm.write(message)

    def close(self):
        self.bar.close()
