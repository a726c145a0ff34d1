"""runner/ledger.py: a sweep followed by what changed in it. What is done and the early-termination bars match
the store after every kind of change (other sweeps, reruns, runs in training, repeats), and each look reads only
the runs whose status changed since the last one."""
import pytest

from mlp.options import resolve_config
from runner.early_stop import EarlyTermination
from runner.ledger import Follower, SweepLedger
from store import RunRecord, RunStore

HYPERBAND = EarlyTermination("hyperband", min_iter=1, eta=2)  # judges at epochs 1, 2, 4, ... from 2 peers


def record(store, sweep, seed, status="finished", val_accs=(), run_id=None, ended_at=None):
    config = resolve_config({"seed": seed, "epochs": 4})
    epochs = [{"epoch": e, "val_acc": v} for e, v in enumerate(val_accs, start=1)]
    return store.record(sweep, RunRecord(config, status, epochs=epochs, ended_at=ended_at), run_id)


def key(store, seed):
    return store.key(resolve_config({"seed": seed, "epochs": 4}))


def test_each_status_change_takes_the_next_sequence_number_and_nothing_else_does(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    first = store.claim("s", resolve_config({"seed": 0}), "me", 60)
    sequence = lambda run_id: store.get(run_id)["sequence"]  # noqa: E731
    assert sequence(first) == 1
    second = store.claim("s", resolve_config({"seed": 1}), "me", 60)
    assert sequence(second) == 2
    store.renew("me", 60)
    assert store.record_epoch(first, {"epoch": 1, "val_acc": 0.5})
    assert (sequence(first), sequence(second)) == (1, 2), "a renewal or a live epoch is no change of status"
    record(store, "s", 0, run_id=first)
    assert (sequence(first), sequence(second)) == (3, 2)
    store.release("me")
    assert store.get(second)["status"] == "failed" and sequence(second) == 4
    assert [r["id"] for r in store.iter_runs(after=2, fields=("id",))] == [first, second]
    assert [r["id"] for r in store.iter_runs(after=3, fields=("id",))] == [second]
    assert list(store.iter_runs(after=4, fields=("id",))) == []


def test_a_follower_reads_its_sweep_once_then_only_what_changed(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    ids = [record(store, "s", seed) for seed in range(3)]
    record(store, "other", 9)
    follower = Follower(store, "s", ("id",))
    assert [r["id"] for r in follower.changed()] == ids
    assert follower.changed() == []
    new = record(store, "s", 3)
    record(store, "other", 10)
    assert [r["id"] for r in follower.changed()] == [new]


def test_done_follows_final_runs_of_its_sweep_through_reruns_and_failures(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    for seed, status in enumerate(("finished", "diverged", "stopped", "failed")):
        record(store, "s", seed, status)
    record(store, "other", 4)
    running = store.claim("s", resolve_config({"seed": 5, "epochs": 4}), "me", 60)
    ledger = SweepLedger(store, "s")
    ledger.look()
    assert ledger.done == {key(store, seed) for seed in (0, 1, 2)}, "final runs only, of its own sweep"
    rerun = store.claim("s", resolve_config({"seed": 0, "epochs": 4}), "me", 60, rerun_before=float("inf"))
    ledger.look()
    assert key(store, 0) not in ledger.done, "a final run claimed again for a rerun is no longer done"
    record(store, "s", 0, "failed", run_id=rerun)
    record(store, "s", 5, "finished", run_id=running)
    ledger.look()
    assert ledger.done == {key(store, seed) for seed in (1, 2, 5)}
    ledger.mark_recorded(key(store, 3))
    ledger.look()
    assert key(store, 3) in ledger.done, "what this invocation recorded, failed or not, is done for today"


def test_a_rerun_counts_as_done_only_the_runs_that_ended_since_it_began(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    record(store, "s", 0, ended_at=100.0)
    ledger = SweepLedger(store, "s", rerun_before=150.0)
    ledger.look()
    assert ledger.done == set()
    rerun = store.claim("s", resolve_config({"seed": 0, "epochs": 4}), "me", 60, rerun_before=150.0)
    record(store, "s", 0, run_id=rerun, ended_at=200.0)
    ledger.look()
    assert ledger.done == {key(store, 0)}


def test_the_bars_are_the_rules_quantiles_of_the_other_runs_and_move_with_each_result(tmp_path):
    """Eta 2: the bar at an epoch is the median of the other runs that reached it, from two of them on."""
    store = RunStore(tmp_path / "runs.db")
    record(store, "s", 0, val_accs=(0.1, 0.2, 0.3, 0.4))
    record(store, "s", 1, "stopped", val_accs=(0.5, 0.6))
    record(store, "other", 2, val_accs=(0.9, 0.9, 0.9, 0.9))
    ledger = SweepLedger(store, "s", HYPERBAND)
    ledger.look()
    mine = resolve_config({"seed": 7, "epochs": 4})
    assert ledger.bars(mine, store.key(mine)) == {1: (pytest.approx(0.3), 2), 2: (pytest.approx(0.4), 2)}, \
        "epoch 4 has one peer: too few to judge; epoch 3 is not the rule's"
    record(store, "s", 3, val_accs=(0.7, 0.8, 0.9, 1.0))
    ledger.look()
    assert ledger.bars(mine, store.key(mine)) == {1: (pytest.approx(0.5), 3), 2: (pytest.approx(0.6), 3),
                                                  4: (pytest.approx(0.7), 2)}
    assert ledger.bars(resolve_config({"seed": 0, "epochs": 2}), key(store, 0)) == {
        1: (pytest.approx(0.6), 2), 2: (pytest.approx(0.7), 2)}, "its own earlier run is no peer, and it stops at 2"


def test_a_run_in_training_is_no_peer_until_it_is_recorded(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    for seed, val_acc in enumerate((0.2, 0.4)):
        record(store, "s", seed, val_accs=(val_acc,))
    training = store.claim("s", resolve_config({"seed": 2, "epochs": 4}), "me", 60)
    store.record_epoch(training, {"epoch": 1, "val_acc": 0.9})
    ledger = SweepLedger(store, "s", HYPERBAND)
    ledger.look()
    mine = resolve_config({"seed": 7, "epochs": 4})
    assert ledger.bars(mine, store.key(mine)) == {1: (pytest.approx(0.3), 2)}
    record(store, "s", 2, val_accs=(0.9,), run_id=training)
    ledger.look()
    assert ledger.bars(mine, store.key(mine)) == {1: (pytest.approx(0.4), 3)}
    again = store.claim("s", resolve_config({"seed": 2, "epochs": 4}), "me", 60, rerun_before=float("inf"))
    assert again == training
    ledger.look()
    assert ledger.bars(mine, store.key(mine)) == {1: (pytest.approx(0.3), 2)}, "running again: its epochs left"


def test_without_a_rule_no_bars_are_kept(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    record(store, "s", 0, val_accs=(0.5,))
    ledger = SweepLedger(store, "s")
    ledger.look()
    assert ledger.bars(resolve_config({"epochs": 4}), "any") is None and not ledger.peers
