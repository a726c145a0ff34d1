"""runner/proposers.py: what a sweep runs next; a bayes sweep's proposals, their history and its cap."""
import numpy as np
import pytest
import yaml

import runner.proposers
from runner import bayes
from conftest import QUICK, QUICK_VALUES, as_record
from mlp.options import resolve_config
from runner.pipeline import key_defaults
from runner.methods import proposer_for
from runner.pipeline import Bookkeeping
from runner.proposers import BayesProposer, FixedProposer, Proposal
from runner.sweep_file import load_sweep
from store import RunStore


def epochs_of(values, metric="val_acc"):
    return [{"epoch": e, metric: v} for e, v in enumerate(values, start=1)]


@pytest.mark.parametrize("metric", (None, "val_f1"))
def test_a_bayes_sweep_learns_from_every_epoch_of_its_runs_stopped_ones_included(tmp_path, monkeypatch, metric):
    """The model is handed each finished, stopped and diverged run of the sweep with the spec's metric (val_acc by
    default) at every epoch it reached; a failed run and another sweep's run are not its history."""
    spec = {"name": "b", "method": "bayes", "run_cap": 9, "parameters": {**QUICK, "seed": {"values": list(range(6))}}}
    if metric:
        spec["metric"] = {"name": metric, "goal": "maximize"}
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(spec))
    spec = load_sweep(tmp_path / "b.yaml")
    store = RunStore(tmp_path / "runs.db")
    name = metric or "val_acc"
    recorded = {0: ("finished", [0.5, 0.6, 0.7]), 1: ("stopped", [0.3, 0.35]), 2: ("diverged", [0.2])}
    for seed, (status, curve) in recorded.items():
        store.record("b", as_record(resolve_config({**QUICK_VALUES, "seed": seed}),
                                    {"status": status, "epochs": epochs_of(curve, name)}))
    store.record("b", as_record(resolve_config({**QUICK_VALUES, "seed": 3}), {"status": "failed",
                                                                               "epochs": epochs_of([0.9], name)}))
    store.record("other", as_record(resolve_config({**QUICK_VALUES, "seed": 4}),
                                    {"status": "finished", "epochs": epochs_of([0.9], name)}))
    seen = []
    monkeypatch.setattr(runner.proposers.bayes, "propose", lambda spec, curves, n, rng, is_new: seen.append(curves) or [])
    proposer, done = BayesProposer(spec, store, batch_size=2), Bookkeeping(store, "b").done()
    assert proposer.propose(done) == []
    assert (proposer.total(), proposer.already_done(done)) == (9, 3)  # a bayes sweep runs up to its run_cap
    assert sorted((c.config["seed"], c.values, c.diverged) for c in seen[0]) == \
        [(0, [0.5, 0.6, 0.7], False), (1, [0.3, 0.35], False), (2, [0.2], True)]


def curve(run_id, values, **options):
    return bayes.Curve(run_id, resolve_config({**QUICK_VALUES, "epochs": 4, **options}), values)


def test_the_model_learns_from_runs_stopped_at_their_first_rung():
    """Runs early termination stopped after one epoch say enough: sgd stopped low at epoch 1 every time, adam went
    on and finished high, so the model proposes adam; every proposal trains the longest the space allows."""
    spec = {"name": "m", "metric": {"name": "val_acc", "goal": "maximize"},
            "parameters": {**QUICK, "epochs": {"values": [2, 4]}, "optimizer": {"values": ["sgd", "adam"]},
                           "learning_rate": {"min": 1e-4, "max": 0.1, "distribution": "log_uniform_values"}}}
    rng = np.random.default_rng(0)
    curves = [curve(i, [0.2], optimizer="sgd", learning_rate=float(lr))
              for i, lr in enumerate(np.geomspace(1e-4, 0.1, 6))]
    curves += [curve(10, [0.5, 0.7, 0.8, 0.9], optimizer="adam", learning_rate=1e-3),
               curve(11, [0.5, 0.6], optimizer="adam", learning_rate=0.05)]
    proposals = bayes.propose(spec, curves, 8, rng)
    assert len(proposals) == 8 and {p.values["epochs"] for p in proposals} == {4}
    assert all(p.reason.endswith("at 4 epochs, from 12 epochs of 8 runs") for p in proposals)
    by_model = [p for p in proposals if p.reason.startswith("model: ")]
    assert len(by_model) >= 4 and {p.values["optimizer"] for p in by_model} == {"adam"}
    assert all(p.reason.startswith("a plain draw from the space") for p in proposals if p not in by_model)


def test_bayes_proposals_follow_the_seed():
    """The same curves and seed propose the same runs; another seed (another sweep name) proposes others."""
    spec = {"name": "m", "parameters": {**QUICK, "learning_rate": {"min": 1e-4, "max": 0.1,
                                                                   "distribution": "log_uniform_values"}}}
    curves = [curve(i, [0.1 * i, 0.1 * i + 0.05], learning_rate=10 ** -(i % 4 + 1)) for i in range(8)]

    def proposed(seed):
        return [p.values for p in bayes.propose(spec, curves, 3, np.random.default_rng(seed))]

    assert proposed(1) == proposed(1) and proposed(1) != proposed(2)
    for some in (curves, curves[:3]):  # nothing the caller calls taken, from the model or from a random start
        assert bayes.propose(spec, some, 3, np.random.default_rng(1), is_new=lambda values: False) == []
    assert [p.reason for p in bayes.propose(spec, curves[:3], 2, np.random.default_rng(1))] == \
        ["default: the trainer's own configuration, tried first", "random start: a draw from the space (3 of 6 runs "
                                                                  "reported)"]


def test_a_bayes_sweep_starts_from_the_trainers_defaults_as_far_as_its_space_holds_them():
    """The first proposal is the trainer's default configuration (adam, relu, xavier, batch 64: the option table's),
    with an option whose default the space does not hold drawn from the space, and the longest epochs; once that
    configuration is taken, a random start is only draws."""
    spec = {"name": "d", "parameters": {**QUICK, "batch_size": {"values": [32, 64]},
                                        "epochs": {"values": [1, 2]}, "optimizer": {"values": ["sgd", "adam"]},
                                        "activation": {"values": ["tanh", "relu"]},
                                        "learning_rate": {"min": 0.01, "max": 0.1,
                                                          "distribution": "log_uniform_values"}}}
    first, *rest = bayes.propose(spec, [], 3, np.random.default_rng(0))
    assert first.reason.startswith("default: ") and all(p.reason.startswith("random start: ") for p in rest)
    assert {k: first.values[k] for k in ("optimizer", "activation", "batch_size", "epochs")} == \
        {"optimizer": "adam", "activation": "relu", "batch_size": 64, "epochs": 2}
    assert 0.01 <= first.values["learning_rate"] <= 0.1  # the default 1e-3 lies outside: drawn
    assert len(rest) == 2 and first.values not in [p.values for p in rest]

    def taken(values):
        return values != first.values

    again = bayes.propose(spec, [], 3, np.random.default_rng(0), is_new=taken)
    assert len(again) == 3 and all(p.reason.startswith("random start: ") for p in again)


def test_the_search_starts_from_the_trainers_defaults_width_included(repo):
    """sweeps/search.yaml lists its widths as values (32, 64, 128): its first proposal is the trainer's own
    3x128 ReLU Adam at 1e-3 with no schedule or shifts, width included, at the smallest budget, whatever the seed
    (a width drawn at random matches a third of the time: ten seeds leave a slip one chance in 59,000)."""
    spec = load_sweep(repo / "sweeps" / "search.yaml")
    for seed in range(10):
        (first,) = bayes.propose(spec, [], 1, np.random.default_rng(seed))
        assert first.reason.startswith("default: ")
        assert first.values == {"dataset": "mnist", "dtype": "float32", "loss": "cross_entropy", "epochs": 5,
                                "lr_schedule": "constant", "augment": 0, "num_layers": 3, "hidden_size": 128, "optimizer": "adam", "learning_rate": 1e-3,
                                "weight_decay": 0, "batch_size": 64, "weight_init": "xavier",
                                "activation": "relu"}, f"seed {seed}"


def test_a_warm_start_reads_only_runs_of_its_own_dataset_and_space(tmp_path, monkeypatch):
    """With ``warm_start`` the store's other sweeps feed the model, but only their runs this sweep could have
    proposed: not another dataset's, not one outside a range, not one with an option the space does not vary."""
    parameters = {**QUICK, "epochs": {"values": [1, 2]},
                  "learning_rate": {"min": 1e-3, "max": 0.1, "distribution": "log_uniform_values"}}
    spec = {"name": "second", "method": "bayes", "run_cap": 20, "warm_start": True, "parameters": parameters}
    (tmp_path / "second.yaml").write_text(yaml.safe_dump(spec))
    spec = load_sweep(tmp_path / "second.yaml")
    store = RunStore(tmp_path / "runs.db")
    store.use_defaults(key_defaults())
    runs = {"in space": {"learning_rate": 0.01, "epochs": 2},
            "fashion": {"learning_rate": 0.01, "dataset": "fashion_mnist"},
            "lr outside": {"learning_rate": 0.5},
            "other option": {"learning_rate": 0.01, "momentum": 0.5}}
    for label, options in runs.items():
        store.record("first", as_record(resolve_config({**QUICK_VALUES, "epochs": 1, **options}),
                                        {"status": "finished", "epochs": epochs_of([0.5]), "error": label}))
    store.record("second", as_record(resolve_config({**QUICK_VALUES, "epochs": 1, "learning_rate": 0.02}),
                                     {"status": "stopped", "epochs": epochs_of([0.4])}))
    learned = {c.run_id for c in BayesProposer(spec, store, batch_size=2).curves()}
    by_label = {r["error"]: r["id"] for r in store.runs(sweep="first")}
    assert learned == {by_label["in space"], store.runs(sweep="second")[0]["id"]}
    cold = load_sweep_text(tmp_path, {**spec, "warm_start": False})
    assert {c.run_id for c in BayesProposer(cold, store, batch_size=2).curves()} == \
        {store.runs(sweep="second")[0]["id"]}, "off (the default), only the sweep's own runs"


def done_in(store, sweep="b"):
    """What the pipeline counts as done in ``sweep`` (its final runs)."""
    return Bookkeeping(store, sweep).done()


def load_sweep_text(folder, spec):
    (folder / "again.yaml").write_text(yaml.safe_dump(spec))
    return load_sweep(folder / "again.yaml")


def bayes_spec(tmp_path, run_cap):
    spec = {"name": "b", "method": "bayes", "run_cap": run_cap,
            "parameters": {**QUICK, "learning_rate": {"min": 1e-4, "max": 0.1, "distribution": "log_uniform_values"}}}
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(spec))
    return load_sweep(tmp_path / "b.yaml")


def test_a_bayes_sweep_proposes_the_same_configurations_from_the_same_spec_and_store(tmp_path):
    """Its proposals are drawn from the sweep's own seed, so a resumed or repeated sweep asks for the same runs."""
    spec = bayes_spec(tmp_path, run_cap=4)
    first, second = (BayesProposer(spec, RunStore(tmp_path / f"{i}.db"), batch_size=2).propose(set()) for i in (1, 2))
    assert len(first) == 2 and first == second


def test_a_bayes_batch_counts_finished_and_held_runs_against_the_cap(tmp_path):
    spec = bayes_spec(tmp_path, run_cap=4)
    store = RunStore(tmp_path / "runs.db")
    store.use_defaults(key_defaults())
    finished, held = (resolve_config({**QUICK_VALUES, "learning_rate": lr})
                      for lr in (0.01, 0.02))
    store.record("b", as_record(finished, {"status": "finished", "val_acc": 0.5}))
    assert store.claim("b", held, "another-host:1:runner", lease_seconds=60) is not None
    batch = BayesProposer(spec, store, batch_size=8).propose(done_in(store))
    assert len(batch) == 2, "4 allowed, 1 finished, 1 running elsewhere"
    store.record("b", as_record(held, {"status": "finished", "val_acc": 0.6}))
    store.record("b", as_record(resolve_config({**finished, "learning_rate": 0.03}), {"status": "finished", "val_acc": 0.7}))
    assert len(BayesProposer(spec, store, batch_size=8).propose(done_in(store))) == 1, "one run left"
    store.record("b", as_record(resolve_config({**finished, "learning_rate": 0.04}), {"status": "finished", "val_acc": 0.7}))
    assert BayesProposer(spec, store, batch_size=8).propose(done_in(store)) == [], "the cap is reached"


def test_a_bayes_batch_skips_invalid_repeated_and_taken_proposals(tmp_path, monkeypatch):
    spec = bayes_spec(tmp_path, run_cap=10)
    store = RunStore(tmp_path / "runs.db")
    store.use_defaults(key_defaults())
    store.record("b", as_record(resolve_config({**QUICK_VALUES, "learning_rate": 0.02}), {"status": "finished", "val_acc": 0.5}))
    proposals = [bayes.Proposal({**QUICK_VALUES, "learning_rate": lr}, f"why {i}")
                 for i, lr in enumerate((-1.0, 0.01, 0.01, 0.02, 0.03))]
    verdicts = {}

    def propose(spec, curves, n, rng, is_new):
        verdicts.update({p.values["learning_rate"]: is_new(p.values) for p in proposals})
        return [p for p in proposals if is_new(p.values)]

    monkeypatch.setattr(runner.proposers.bayes, "propose", propose)
    batch = BayesProposer(spec, store, batch_size=8).propose(done_in(store))
    assert verdicts == {-1.0: False, 0.01: True, 0.02: False, 0.03: True}, "invalid, and taken, are not new"
    configs = [resolve_config({**QUICK_VALUES, "learning_rate": lr}) for lr in (0.01, 0.03)]
    assert batch == [Proposal(c, store.key(c), why) for c, why in zip(configs, ["why 1", "why 4"])], \
        "each keyed once and kept with its reason"


def test_a_bayes_sweep_knows_what_is_left_without_fitting_its_model(tmp_path, monkeypatch):
    """Waiting on runs another runner holds, a bayes sweep asks whether anything is left: a count, never a refit."""
    spec = bayes_spec(tmp_path, run_cap=2)
    store = RunStore(tmp_path / "runs.db")

    def no_fit(*args):
        raise AssertionError("the model was fitted with nothing to propose")

    monkeypatch.setattr(runner.proposers.bayes, "propose", no_fit)
    proposer = BayesProposer(spec, store, batch_size=2)
    assert proposer.pending(done_in(store))
    store.record("b", as_record(resolve_config({**QUICK_VALUES, "learning_rate": 0.01}), {"status": "finished"}))
    assert proposer.pending(done_in(store)), "one run left"
    store.record("b", as_record(resolve_config({**QUICK_VALUES, "learning_rate": 0.02}), {"status": "finished"}))
    assert not proposer.pending(done_in(store))
    assert proposer.propose(done_in(store)) == [], "the cap is reached: nothing to propose, so nothing is fitted"


def test_a_sweep_files_method_picks_its_proposer_and_given_configurations_are_a_fixed_list(tmp_path):
    spec, store = bayes_spec(tmp_path, run_cap=3), RunStore(tmp_path / "runs.db")
    bayes = proposer_for(spec, store, 2)
    assert type(bayes) is BayesProposer and (bayes.spec, bayes.store, bayes.batch_size) == (spec, store, 2)
    given = [resolve_config({**QUICK_VALUES, "seed": 5})]
    fixed = proposer_for(spec, store, 2, configs=given)
    assert type(fixed) is FixedProposer and fixed.proposals == [Proposal(given[0], store.key(given[0]))]
    grid = {**spec, "method": "grid", "parameters": {**spec["parameters"], "learning_rate": {"values": [0.1, 0.2]}}}
    assert [(p.config["learning_rate"], p.reason) for p in proposer_for(grid, store, 2).proposals] == [
        (0.1, "grid: configuration 1 of 2 of the sweep's expansion"),
        (0.2, "grid: configuration 2 of 2 of the sweep's expansion")]


def test_a_bayes_rerun_counts_as_done_only_the_runs_that_ended_since_it_began(tmp_path):
    spec, store = bayes_spec(tmp_path, run_cap=3), RunStore(tmp_path / "runs.db")
    old, at_start, new, undated = (resolve_config({**QUICK_VALUES, "learning_rate": lr})
                                   for lr in (0.01, 0.02, 0.03, 0.04))
    for config, ended_at in ((old, 100.0), (at_start, 200.0), (new, 300.0), (undated, None)):
        store.record("b", as_record(config, {"status": "finished", "ended_at": ended_at}))
    done = Bookkeeping(store, "b", rerun_before=200.0).done()
    assert done == {store.key(at_start), store.key(new)}, "ended at or after the rerun began"
    assert proposer_for(spec, store, 2).already_done(done) == 2
    assert store.key(undated) not in Bookkeeping(store, "b", rerun_before=0.5).done(), \
        "a run with no end time ended before any rerun"


def test_train_pys_run_is_offered_however_the_store_holds_it(tmp_path):
    """train.py trains every time: with ``repeat`` a finished configuration is still proposed, and only what
    this invocation recorded is done."""
    store = RunStore(tmp_path / "runs.db")
    config = resolve_config({**QUICK_VALUES})
    store.record("train", as_record(config, {"status": "finished"}))
    proposer, book = FixedProposer("train", store, [config]), Bookkeeping(store, "train", repeat=True)
    assert book.done() == set() and proposer.pending(book.done())
    assert proposer.propose(book.done()) == [Proposal(config, store.key(config))]
    book.mark_recorded(store.key(config))
    assert book.done() == {store.key(config)} and not proposer.pending(book.done())
    assert not proposer.pending(Bookkeeping(store, "train").done()), "without repeat, a finished run is done"


def test_a_fit_learns_from_a_bounded_history_holding_the_best_runs_so_a_proposal_costs_the_same_at_any_size():
    """Above MAX_MODEL_POINTS the model sees the best runs by their last value (half the bound) and an even draw
    of the rest, never more points than the bound; below it, every run, and the seed's stream untouched."""
    spec = {"name": "m", "parameters": {**QUICK, "epochs": {"value": 10},
                                        "learning_rate": {"min": 1e-4, "max": 0.1, "distribution": "log_uniform_values"}}}
    runs = 3 * bayes.MAX_MODEL_POINTS // 10  # 10 points each: three times the bound
    curves = [curve(i, [0.5] * 9 + [i / runs], learning_rate=10 ** -(1 + 3 * i / runs)) for i in range(runs)]
    rng, untouched = np.random.default_rng(0), np.random.default_rng(0)
    few = curves[: bayes.MAX_MODEL_POINTS // 10]
    assert bayes.bounded(few, "maximize", rng) is few and rng.random() == untouched.random()
    kept = bayes.bounded(curves, "maximize", np.random.default_rng(0))
    assert sum(len(c.values) for c in kept) <= bayes.MAX_MODEL_POINTS
    best = {c.run_id for c in curves[-bayes.MAX_MODEL_POINTS // 20:]}  # the top half of the bound's points
    assert best <= {c.run_id for c in kept} and len(kept) > len(best), "the best, and a draw of the rest"
    assert [c.run_id for c in kept] == sorted(c.run_id for c in kept)
    model = bayes.Model(spec["parameters"], curves, "maximize", np.random.default_rng(0))
    assert model.points <= bayes.MAX_MODEL_POINTS and model.runs == len(kept)
    proposals = bayes.propose(spec, curves, 4, np.random.default_rng(0))
    assert len(proposals) == 4 and all(f"from {model.points} epochs of {model.runs} runs" in p.reason
                                       for p in proposals if p.reason.startswith("model: "))
