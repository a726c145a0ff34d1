"""runner/proposers.py: what a sweep runs next; a bayes sweep's proposals, their history and its cap."""
import pytest
import yaml

import runner.proposers
from conftest import QUICK, QUICK_VALUES, as_record
from mlp.options import resolve_config
from runner.pipeline import key_defaults
from runner.proposers import BayesProposer, FixedProposer, proposer_for
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



def test_a_bayes_sweep_knows_what_is_left_without_fitting_its_model(tmp_path, monkeypatch):
    """Waiting on runs another runner holds, a bayes sweep asks whether anything is left: a count, never a refit."""
    spec = bayes_spec(tmp_path, run_cap=2)
    store = RunStore(tmp_path / "runs.db")

    def no_fit(*args):
        raise AssertionError("the model was fitted with nothing to propose")

    monkeypatch.setattr(runner.proposers.bayes, "propose", no_fit)
    proposer = BayesProposer(spec, store, batch_size=2)
    assert proposer.pending()
    store.record("b", as_record(resolve_config({**QUICK_VALUES, "learning_rate": 0.01}), {"status": "finished"}))
    assert proposer.pending(), "one run left"
    store.record("b", as_record(resolve_config({**QUICK_VALUES, "learning_rate": 0.02}), {"status": "finished"}))
    assert not proposer.pending()
    assert proposer.next_batch() == [], "the cap is reached: nothing to propose, so nothing is fitted"


def test_a_sweep_files_method_picks_its_proposer_and_given_configurations_are_a_fixed_list(tmp_path):
    spec, store = bayes_spec(tmp_path, run_cap=3), RunStore(tmp_path / "runs.db")
    bayes = proposer_for(spec, store, 2)
    assert type(bayes) is BayesProposer and (bayes.spec, bayes.store, bayes.batch_size) == (spec, store, 2)
    given = [resolve_config({**QUICK_VALUES, "seed": 5})]
    fixed = proposer_for(spec, store, 2, configs=given)
    assert type(fixed) is FixedProposer and fixed.configs == given
    grid = {**spec, "method": "grid", "parameters": {**spec["parameters"], "learning_rate": {"values": [0.1, 0.2]}}}
    assert [c["learning_rate"] for c in proposer_for(grid, store, 2).configs] == [0.1, 0.2]


def test_a_bayes_rerun_counts_as_done_only_the_runs_that_ended_since_it_began(tmp_path):
    spec, store = bayes_spec(tmp_path, run_cap=3), RunStore(tmp_path / "runs.db")
    old, at_start, new, undated = (resolve_config({**QUICK_VALUES, "learning_rate": lr})
                                   for lr in (0.01, 0.02, 0.03, 0.04))
    for config, ended_at in ((old, 100.0), (at_start, 200.0), (new, 300.0), (undated, None)):
        store.record("b", as_record(config, {"status": "finished", "ended_at": ended_at}))
    proposer = proposer_for(spec, store, 2, rerun_before=200.0)
    assert proposer.rerun_before == 200.0
    assert proposer.done_keys() == {store.key(at_start), store.key(new)}, "ended at or after the rerun began"
    assert proposer.already_done() == 2
    assert store.key(undated) not in proposer_for(spec, store, 2, rerun_before=0.5).done_keys(), \
        "a run with no end time ended before any rerun"


def test_train_pys_proposer_offers_its_configuration_however_the_store_holds_it(tmp_path):
    """train.py trains every time: with ``repeat`` a finished configuration is still a candidate, and only what
    this invocation recorded is done."""
    store = RunStore(tmp_path / "runs.db")
    config = resolve_config({**QUICK_VALUES})
    store.record("train", as_record(config, {"status": "finished"}))
    proposer = FixedProposer("train", store, [config], repeat=True)
    assert proposer.done_keys() == set() and proposer.pending()
    assert list(proposer.candidates(set())) == [config]
    proposer.recorded.add(store.key(config))
    assert proposer.done_keys() == {store.key(config)} and not proposer.pending()
    assert not FixedProposer("train", store, [config]).pending(), "without repeat, a finished run is done"
