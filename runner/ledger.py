"""What a runner knows of its sweep, kept current by reading only what changed.

Every change of a run's status takes the store's next ``sequence`` number (store migration m013), so a look at
the sweep reads the runs changed since the last look, from an index: a resume reads its sweep once, and each
later look costs what changed, not what the sweep holds. From those rows the ledger keeps the keys that need no
run (final runs, and what this invocation recorded) and, for early termination, each other run's validation
accuracy at the rule's epochs, ranked, so a submit's bars cost the same at 60,000 runs as at 60.
"""
import bisect
from collections import Counter, defaultdict

from store import Status

FEW = 16  # values inserted one by one into a ranked list; more are sorted in


class Follower:
    """Reads a sweep's runs whose status changed since its last read: a whole sweep the first time, then only what
    is new. The pipeline's ledger and the bayes proposer each follow their sweep with one."""

    def __init__(self, store, sweep, fields):
        self.store, self.sweep, self.fields, self.seen = store, sweep, (*fields, "sequence"), 0

    def changed(self):
        """-> the runs (dicts of ``fields``) whose status changed since the last call, in the order they did."""
        rows = list(self.store.iter_runs(sweep=self.sweep, after=self.seen, sort="sequence", fields=self.fields))
        if rows:
            self.seen = rows[-1]["sequence"]
        return rows


class SweepLedger:
    """The sweep's done keys and early-termination bars, as of the last ``look``.

    ``rerun_before``: a time; only final runs that ended since then count as done (``--rerun``). ``rule``: the
    sweep's EarlyTermination, or None (no peers are kept).
    """

    def __init__(self, store, sweep, rule=None, rerun_before=None):
        self.store, self.rule, self.rerun_before = store, rule, rerun_before
        self.follower = Follower(store, sweep, ("id", "config_hash", "status", "ended_at", "epochs_done"))
        self.final_key = {}  # run id -> key, of the runs that count as done
        self.finals = Counter()  # key -> how many of its runs (repeats) count as done
        self.recorded = set()  # keys recorded in this invocation: a failure is not retried today
        self.done = set()  # keys needing no run: a key of ``finals`` or of ``recorded``
        self.peer_key = {}  # run id -> key, of the runs whose epochs are peers
        self.peer_runs = defaultdict(set)  # key -> its runs whose epochs are peers (a rerun's or a repeat's own)
        self.peers = defaultdict(dict)  # epoch -> {run id: val_acc}, of the runs that are not running
        self.ranked = defaultdict(list)  # epoch -> the same val_accs, sorted
        self.longest = 0  # the most epochs a run of the sweep has reached

    def look(self):
        """Read the sweep's runs whose status changed since the last look."""
        rows = self.follower.changed()
        for row in rows:
            self._count_done(row)
        if rows and self.rule is not None:
            self._update_peers(rows)

    def mark_recorded(self, key):
        self.recorded.add(key)
        self.done.add(key)

    def bars(self, config, key):
        """{epoch: Bar} a run of ``config`` must clear at the rule's epochs, from the other runs' (not ``key``'s)
        validation accuracy as of the last look; the epochs with too few peers to judge are left out."""
        if self.rule is None:
            return None
        own, bars = self.peer_runs.get(key), {}
        for epoch in range(1, config["epochs"] + 1):
            if not self.rule.checks_at(epoch):
                continue
            ranked = self.ranked[epoch]
            if own and any(run_id in self.peers[epoch] for run_id in own):
                ranked = list(ranked)
                for run_id in own:
                    _remove(ranked, self.peers[epoch].get(run_id))
            bar = self.rule.bar(epoch, ranked)
            if bar is not None:
                bars[epoch] = bar
        return bars

    def _count_done(self, row):
        run_id, key = row["id"], row["config_hash"]
        counted = Status(row["status"]).is_final and (row["ended_at"] or 0) >= (self.rerun_before or 0)
        before = self.final_key.pop(run_id, None)
        if before is not None:
            self.finals[before] -= 1
            if not self.finals[before] and before not in self.recorded:
                self.done.discard(before)
        if counted:
            self.final_key[run_id] = key
            self.finals[key] += 1
            self.done.add(key)

    def _update_peers(self, rows):
        """Each changed run leaves the peers, and comes back with its epochs at the rule's epochs unless it is
        running again (the epochs of a run in training are not yet a peer's)."""
        for row in rows:
            key = self.peer_key.pop(row["id"], None)
            if key is not None:
                self.peer_runs[key].discard(row["id"])
                for epoch, values in self.peers.items():
                    _remove(self.ranked[epoch], values.pop(row["id"], None))
        ended = {row["id"]: row["config_hash"] for row in rows if row["status"] != Status.RUNNING.value}
        for run_id, key in ended.items():  # a peer at the rule's epochs it reached, if any
            self.peer_key[run_id] = key
            self.peer_runs[key].add(run_id)
        self.longest = max([self.longest, *(row["epochs_done"] or 0 for row in rows)])
        rungs = [epoch for epoch in range(1, self.longest + 1) if self.rule.checks_at(epoch)]
        arrived = defaultdict(list)
        for run_id, epoch, val_acc in self.store.epoch_values(ended, rungs):
            self.peers[epoch][run_id] = val_acc
            arrived[epoch].append(val_acc)
        for epoch, values in arrived.items():
            _insert(self.ranked[epoch], values)


def _insert(ranked, values):
    """Put ``values`` into the sorted list ``ranked``: one by one when few arrive (a run's result), else in one
    sort (a resume's first look)."""
    if len(values) <= FEW:
        for value in values:
            bisect.insort(ranked, value)
    else:
        ranked.extend(values)
        ranked.sort()


def _remove(ranked, value):
    """Take one ``value`` out of the sorted list ``ranked`` (None: nothing to take)."""
    if value is not None:
        del ranked[bisect.bisect_left(ranked, value)]
