"""runner/proposers.py: what a sweep runs next; a bayes sweep's proposals, their history and its cap."""
import pytest
import yaml

import runner.proposers
from conftest import QUICK, QUICK_VALUES, as_record
from mlp.options import resolve_config
from runner.pipeline import key_defaults
from runner.proposers import BayesProposer
from runner.sweep_file import load_sweep
from store import RunStore


@pytest.mark.parametrize("metric", (None, "val_f1"))
def test_a_bayes_sweep_learns_from_its_metric_and_runs_up_to_its_cap(tmp_path, monkeypatch, metric):
    """The history handed to the forest pairs each finished run with the spec's metric (val_acc by default)."""
    spec = {"name": "b", "method": "bayes", "run_cap": 5, "parameters": {**QUICK, "seed": {"values": [0, 1, 2]}}}
    if metric:
        spec["metric"] = {"name": metric, "goal": "maximize"}
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(spec))
    spec = load_sweep(tmp_path / "b.yaml")
    store = RunStore(tmp_path / "runs.db")
    for seed, (acc, f1) in enumerate(((0.5, 0.9), (0.7, 0.2))):
        store.record("b", as_record(resolve_config({"epochs": 1, "seed": seed}), {"status": "finished", "val_acc": acc, "val_f1": f1}))
    # neither a run stopped early (its scores are an early epoch's) nor another sweep's run is history
    store.record("b", as_record(resolve_config({"epochs": 1, "seed": 2}), {"status": "stopped", "val_acc": 0.3, "val_f1": 0.3}))
    store.record("other", as_record(resolve_config({"epochs": 1, "seed": 3}), {"status": "finished", "val_acc": 0.9, "val_f1": 0.9}))
    seen = []
    monkeypatch.setattr(runner.proposers.bayes, "propose", lambda spec, history, n, rng: seen.append(history) or [])
    proposer = BayesProposer(spec, store, batch_size=2)
    assert proposer.next_batch() == []
    assert (proposer.total(), proposer.already_done()) == (5, 3)  # a bayes sweep runs up to its run_cap
    expected = {0: (0.5, 0.9), 1: (0.7, 0.2)}
    assert sorted((c["seed"], v) for c, v in seen[0]) == [(s, expected[s][metric == "val_f1"]) for s in (0, 1)]


def bayes_spec(tmp_path, run_cap):
    spec = {"name": "b", "method": "bayes", "run_cap": run_cap,
            "parameters": {**QUICK, "learning_rate": {"min": 1e-4, "max": 0.1, "distribution": "log_uniform_values"}}}
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(spec))
    return load_sweep(tmp_path / "b.yaml")


def test_a_bayes_sweep_proposes_the_same_configurations_from_the_same_spec_and_store(tmp_path):
    """Its proposals are drawn from the sweep's own seed, so a resumed or repeated sweep asks for the same runs."""
    spec = bayes_spec(tmp_path, run_cap=4)
    first, second = (BayesProposer(spec, RunStore(tmp_path / f"{i}.db"), batch_size=2).next_batch() for i in (1, 2))
    assert len(first) == 2 and first == second


def test_a_bayes_batch_counts_finished_and_held_runs_against_the_cap(tmp_path):
    spec = bayes_spec(tmp_path, run_cap=4)
    store = RunStore(tmp_path / "runs.db")
    store.use_defaults(key_defaults())
    finished, held = (resolve_config({**QUICK_VALUES, "learning_rate": lr})
                      for lr in (0.01, 0.02))
    store.record("b", as_record(finished, {"status": "finished", "val_acc": 0.5}))
    assert store.claim("b", held, "another-host:1:runner", lease_seconds=60) is not None
    batch = BayesProposer(spec, store, batch_size=8).next_batch()
    assert len(batch) == 2, "4 allowed, 1 finished, 1 running elsewhere"
    store.record("b", as_record(held, {"status": "finished", "val_acc": 0.6}))
    store.record("b", as_record(resolve_config({**finished, "learning_rate": 0.03}), {"status": "finished", "val_acc": 0.7}))
    assert len(BayesProposer(spec, store, batch_size=8).next_batch()) == 1, "one run left"
    store.record("b", as_record(resolve_config({**finished, "learning_rate": 0.04}), {"status": "finished", "val_acc": 0.7}))
    assert BayesProposer(spec, store, batch_size=8).next_batch() == [], "the cap is reached"


def test_a_bayes_batch_skips_invalid_repeated_and_taken_proposals(tmp_path, monkeypatch):
    spec = bayes_spec(tmp_path, run_cap=10)
    store = RunStore(tmp_path / "runs.db")
    store.use_defaults(key_defaults())
    store.record("b", as_record(resolve_config({**QUICK_VALUES, "learning_rate": 0.02}), {"status": "finished", "val_acc": 0.5}))
    proposals = [{**QUICK_VALUES, "learning_rate": lr} for lr in (-1.0, 0.01, 0.01, 0.02, 0.03)]
    monkeypatch.setattr(runner.proposers.bayes, "propose", lambda spec, history, n, rng: proposals)
    batch = BayesProposer(spec, store, batch_size=8).next_batch()
    assert batch == [resolve_config({**QUICK_VALUES, "learning_rate": lr}) for lr in (0.01, 0.03)]

