"""runner/budgets.py: a search whose budgets are runs of their own, promoted by rank among equal budgets only."""
import subprocess

import numpy as np
import yaml

from conftest import QUICK, QUICK_VALUES, as_record, runner_cmd
from mlp.options import resolve_config
from runner import bayes
from runner.budgets import Result, budgets, in_run_rule, promotions
from runner.pipeline import Bookkeeping, open_store
from runner.proposers import BayesProposer
from runner.sweep_file import load_sweep

LADDER = [1, 2, 4]


def budget_spec(folder, name="b", run_cap=12, eta=2, **parameters):
    spec = {"name": name, "method": "bayes", "metric": {"name": "val_acc", "goal": "maximize"}, "run_cap": run_cap,
            "fidelity": "budgets", "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": eta},
            "parameters": {**QUICK, "epochs": {"values": LADDER}, **parameters}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return load_sweep(path)


def test_promotion_ranks_a_run_only_among_runs_of_its_own_budget():
    """At budget 1, six runs end (one diverged): the best 6 // 2 = 3 go on; at budget 2, the best 3 // 2 = 1.
    A run at budget 1 scoring higher than every run at budget 2 changes nothing at budget 2."""
    at_one = [Result(i, {}, 1, v) for i, v in enumerate([0.90, 0.95, 0.80, None, 0.97, 0.85])]
    at_two = [Result(10 + i, {}, 2, v) for i, v in enumerate([0.96, 0.99, 0.93])]
    chosen = promotions(at_one + at_two, LADDER, eta=2)
    assert [(p.result.run_id, p.budget, p.rank, p.peers, p.cut) for p in chosen] == \
        [(11, 4, 1, 3, 1), (4, 2, 1, 6, 3), (1, 2, 2, 6, 3), (0, 2, 3, 6, 3)]
    high_at_one = Result(99, {}, 1, 0.999)
    again = promotions(at_one + at_two + [high_at_one], LADDER, eta=2)
    assert [p.result.run_id for p in again if p.budget == 4] == [11]
    assert [p.result.run_id for p in again if p.budget == 2] == [99, 4, 1]
    assert promotions([Result(1, {}, 4, 0.99), Result(2, {}, 4, 0.98)], LADDER, eta=2) == []  # the last budget ends
    assert promotions([Result(1, {}, 1, None), Result(2, {}, 1, None)], LADDER, eta=2) == []  # diverged: never


def test_a_loss_promotes_its_lowest():
    chosen = promotions([Result(i, {}, 1, v) for i, v in enumerate([0.3, 0.1, 0.2, 0.4])], LADDER, 2, "minimize")
    assert [p.result.run_id for p in chosen] == [1, 2]


def test_budgets_are_the_epochs_values_and_stop_no_run_midway(tmp_path):
    spec = budget_spec(tmp_path)
    assert budgets(spec) == LADDER and in_run_rule(spec) is None
    plain = {**spec, "fidelity": "epochs"}
    assert budgets(plain) is None and in_run_rule(plain) == spec["early_terminate"]


def record_at(store, sweep, budget, val_acc, seed, status="finished"):
    config = resolve_config({**QUICK_VALUES, "epochs": budget, "seed": seed})
    epochs = [{"epoch": e, "val_acc": val_acc} for e in range(1, budget + 1)]
    return store.record(sweep, as_record(config, {"status": status, "epochs": epochs, "val_acc": val_acc}))


def test_the_proposer_promotes_due_runs_first_records_why_and_starts_new_ones_at_the_smallest_budget(tmp_path):
    spec = budget_spec(tmp_path, seed={"values": list(range(40))})
    store = open_store(tmp_path / "runs.db")
    ids = [record_at(store, "b", 1, v, seed) for seed, v in enumerate([0.5, 0.7, 0.6, 0.4, 0.65, 0.3])]
    already = record_at(store, "b", 2, 0.66, seed=1)  # run 2 (0.7) was promoted before
    proposer = BayesProposer(spec, store, batch_size=4)
    batch = proposer.propose(Bookkeeping(store, "b").done())
    promoted = [p for p in batch if p.promoted_from is not None]
    assert [(p.promoted_from, p.config["epochs"], p.config["seed"]) for p in promoted] == [(ids[4], 2, 4),
                                                                                            (ids[2], 2, 2)]
    assert promoted[0].reason.startswith(f"promoted: run {ids[4]} ranked 2 of 6 at 1 epochs by val_acc (0.6500")
    assert all(p.config["epochs"] == 1 and p.promoted_from is None for p in batch[len(promoted):])
    assert len(batch) == 4 and already not in [p.promoted_from for p in batch]


def test_promotion_takes_hyperbands_default_eta_when_the_file_leaves_it_out(tmp_path):
    spec = budget_spec(tmp_path, seed={"values": list(range(40))})
    del spec["early_terminate"]["eta"]  # hyperband's default: 3
    store = open_store(tmp_path / "runs.db")
    ids = [record_at(store, "b", 1, v, seed) for seed, v in enumerate([0.5, 0.7, 0.6, 0.4, 0.65, 0.3])]
    batch = BayesProposer(spec, store, batch_size=4).propose(Bookkeeping(store, "b").done())
    assert [p.promoted_from for p in batch if p.promoted_from] == [ids[1], ids[4]]  # the best 6 // 3


def test_a_budget_sweep_through_the_real_runner(tmp_path):
    """A real sweep (python -m runner, two workers) of cosine runs at budgets 1, 2 and 4: no run is stopped midway,
    each learning-rate schedule spans its own budget, and every promoted run's parent had ended at the budget below,
    ranked in the best half of the runs that had ended at that budget at some moment before it was claimed."""
    budget_spec(tmp_path, run_cap=14, lr_schedule={"value": "cosine"},
                learning_rate={"min": 0.001, "max": 0.03, "distribution": "log_uniform_values"})
    out = subprocess.run(runner_cmd(tmp_path / "b.yaml", tmp_path), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    store = open_store(tmp_path / "runs.db", create=False)
    runs = {r["id"]: r for r in store.runs(sweep="b")}
    assert len(runs) == 14 and {r["status"] for r in runs.values()} == {"finished"}
    for run in runs.values():
        budget, base = run["config"]["epochs"], run["config"]["learning_rate"]
        rates = [e["learning_rate"] for e in store.epochs(run["id"])]
        assert run["epochs_done"] == len(rates) == budget
        assert rates[-1] < 0.02 * base  # the cosine reached its end in this run's own budget
        if budget == 4:
            assert rates[0] > 0.8 * base  # and not before
    promoted = [r for r in runs.values() if r["promoted_from"] is not None]
    assert {r["config"]["epochs"] for r in promoted} == {2, 4}
    for run in promoted:
        parent = runs[run["promoted_from"]]
        budget = parent["config"]["epochs"]
        assert LADDER[LADDER.index(budget) + 1] == run["config"]["epochs"]
        assert {**parent["config"], "epochs": run["config"]["epochs"]} == run["config"]
        ended = sorted((r for r in runs.values() if r["config"]["epochs"] == budget
                        and r["ended_at"] <= run["started_at"]), key=lambda r: r["ended_at"])
        assert any(sorted(ended[:k], key=lambda r: -r["val_acc"]).index(parent) < k // 2
                   for k in range(ended.index(parent) + 1, len(ended) + 1)), (run, ended)
    first = [r for r in runs.values() if r["promoted_from"] is None]
    assert {r["config"]["epochs"] for r in first} == {1}


def test_budget_proposals_follow_the_seed(tmp_path):
    """Two proposers of the same sweep over the same history propose the same promotions and configurations."""
    spec = budget_spec(tmp_path, run_cap=20,
                       learning_rate={"min": 0.001, "max": 0.03, "distribution": "log_uniform_values"})
    store = open_store(tmp_path / "runs.db")
    rng = np.random.default_rng(5)
    for seed in range(8):
        config = resolve_config({**QUICK_VALUES, "epochs": 1, "learning_rate": float(rng.uniform(0.001, 0.03))})
        store.record("b", as_record(config, {"status": "finished", "val_acc": 0.5 + seed / 20,
                                             "epochs": [{"epoch": 1, "val_acc": 0.5 + seed / 20}]}))
    done = Bookkeeping(store, "b").done()
    first, second = (BayesProposer(spec, store, batch_size=6).propose(done) for _ in range(2))
    assert first == second and len(first) == 6
    assert [(p.promoted_from, p.config["epochs"]) for p in first[:4]] == [(8, 2), (7, 2), (6, 2), (5, 2)]


def test_the_model_learns_from_the_largest_budget_with_enough_results_where_a_choice_may_reverse():
    """Shifts lose at 1 epoch and win at 2 (as on MNIST, where they pay only over a long schedule). Eight results at
    budget 2 are enough: the model learns from them alone and ranks shifts first; with seven it still learns from
    budget 1."""
    spec = {"name": "m", "fidelity": "budgets", "early_terminate": {"type": "hyperband", "eta": 2},
            "parameters": {**QUICK, "epochs": {"values": LADDER}, "augment": {"values": [0, 2]},
                           "seed": {"values": list(range(20))}}}
    curves = [bayes.Curve(i, resolve_config({**QUICK_VALUES, "epochs": 1, "augment": 2 * (i % 2), "seed": i}),
                          [0.8 if i % 2 else 0.9], sweep="m") for i in range(12)]
    for i in range(8):
        curves.append(bayes.Curve(20 + i, resolve_config({**QUICK_VALUES, "epochs": 2, "augment": 2 * (i % 2),
                                                          "seed": i}), [0.7, 0.95 if i % 2 else 0.85], sweep="m"))
    assert bayes.model_budget(spec, curves) == 2 and bayes.model_budget(spec, curves[:-1]) == 1
    shifted, plain = ({**QUICK_VALUES, "epochs": 1, "augment": a, "seed": 0} for a in (2, 0))
    for history, winner in ((curves, shifted), (curves[:-1], plain)):
        model = bayes.Model(spec["parameters"], history, "maximize", np.random.default_rng(0),
                            bayes.model_budget(spec, history))
        mean, _ = model.predict([shifted, plain])
        assert (mean[0] > mean[1]) == (winner is shifted)
    assert model.points == 12  # each run's result at its budget, not its earlier epochs
