"""Bookkeeping pinned against independent references (hand-worked counts, textbook formulas): macro metrics,
the hyperband quantile at eta 3, weight decay that leaves the exposed gradients alone, and early termination
judged on validation accuracy, never training accuracy."""
import json
import sqlite3
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from mlp import NeuralNetwork
from mlp.metrics import evaluate
from mlp.options import RUN_OPTIONS, resolve_config
from runner.early_stop import EarlyTermination, StopTraining
from runner.job import JobContext, _epoch_observer
from runner.job import JobResult
from runner.pipeline import key_defaults, save_files
from runner.sweep_file import expand, load_sweep
from runner.tracking import start_run
from store import RunRecord, RunStore
from conftest import as_record


def identity_classifier():
    """3 inputs -> 3 classes through identity layers: a one-hot input row predicts its own class."""
    model = NeuralNetwork({"num_layers": 1, "hidden_size": [3], "activation": "relu"})
    model.set_weights({"W0": np.eye(3), "b0": np.zeros(3), "W1": np.eye(3), "b1": np.zeros(3)})
    return model


def test_metrics_are_macro_averages_on_an_imbalanced_hand_worked_example():
    y_true = np.array([0, 0, 0, 0, 0, 0, 1, 2])
    y_pred = np.array([0, 0, 0, 0, 0, 0, 0, 2])  # class 1's only image is taken for a 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a class never predicted scores precision 0, without a warning per epoch
        scores = evaluate(identity_classifier(), np.eye(3)[y_pred], y_true)
    # per class (precision, recall): 0 -> (6/7, 1), 1 -> (0, 0), 2 -> (1, 1); F1 0 -> 12/13, 1 -> 0, 2 -> 1
    assert scores["accuracy"] == pytest.approx(7 / 8)
    assert scores["precision"] == pytest.approx((6 / 7 + 0 + 1) / 3)
    assert scores["recall"] == pytest.approx((1 + 0 + 1) / 3)
    assert scores["f1"] == pytest.approx((12 / 13 + 0 + 1) / 3)
    assert abs(scores["f1"] - 7 / 8) > 0.2  # micro averaging would give the accuracy


def test_hyperband_at_eta_3_stops_below_the_two_thirds_quantile():
    rule = EarlyTermination("hyperband", min_iter=1, eta=3)
    assert [e for e in range(1, 28) if rule.checks_at(e)] == [1, 3, 9, 27]
    peers = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]  # 2/3 quantile 0.5 (position 4 of 0..6); 1/3 quantile 0.3
    assert rule.should_stop(3, 0.4, peers)  # between the two quantiles: below 1 - 1/eta's, so stopped
    assert not rule.should_stop(3, 0.55, peers)
    assert not rule.should_stop(2, 0.0, peers)  # not a rung
    assert not rule.should_stop(3, 0.0, peers[:3])  # too few peers to judge


def test_the_median_rule_stops_only_runs_strictly_below_the_median():
    rule = EarlyTermination("median", min_iter=1)
    peers = [0.1, 0.2, 0.3, 0.4, 0.5]  # median 0.3; the 2/3 quantile hyperband would use is about 0.37
    assert rule.should_stop(1, 0.29, peers)
    assert not rule.should_stop(1, 0.3, peers)  # at the median is not below it
    assert not rule.should_stop(1, 0.33, peers)


def test_hyperband_defaults_to_min_iter_3_and_eta_3():
    for rule in (EarlyTermination("hyperband"), EarlyTermination.from_spec({"type": "hyperband"})):
        assert [e for e in range(1, 28) if rule.checks_at(e)] == [3, 9, 27]


def test_a_sweep_files_early_terminate_block_sets_min_iter_and_eta():
    rule = EarlyTermination.from_spec({"type": "hyperband", "min_iter": 2, "eta": 2})
    assert [e for e in range(1, 17) if rule.checks_at(e)] == [2, 4, 8, 16]
    assert EarlyTermination.from_spec(None) is None and EarlyTermination.from_spec({}) is None


def test_a_weight_decayed_step_leaves_the_exposed_gradients_alone(mnist_slice):
    lr, decay = 0.1, 0.01
    model = NeuralNetwork({"num_layers": 2, "hidden_size": [8], "optimizer": "sgd", "learning_rate": lr,
                           "weight_decay": decay, "seed": 1})
    X, y = mnist_slice.X[:32], mnist_slice.y[:32]
    grad_W, grad_b = model.backward(y, model.forward(X))
    before = model.get_weights()
    exposed = [g.copy() for g in (*grad_W, *grad_b)]
    layer_grads = [(layer.grad_W.copy(), layer.grad_b.copy()) for layer in model.layers]
    model.update_weights()
    for now, then in zip((*model.grad_W, *model.grad_b), exposed):
        np.testing.assert_array_equal(now, then)
    for layer, (gW, gb) in zip(model.layers, layer_grads):
        np.testing.assert_array_equal(layer.grad_W, gW)
        np.testing.assert_array_equal(layer.grad_b, gb)
    after = model.get_weights()
    n = len(model.layers)
    for i in range(n):  # textbook SGD with L2 decay on weights only: W -= lr (g + decay W); b -= lr g
        np.testing.assert_allclose(after[f"W{i}"], before[f"W{i}"] - lr * (grad_W[n - 1 - i] + decay * before[f"W{i}"]),
                                   rtol=0, atol=1e-15)
        np.testing.assert_allclose(after[f"b{i}"].ravel(), (before[f"b{i}"] - lr * grad_b[n - 1 - i]).ravel(),
                                   rtol=0, atol=1e-15)


@pytest.mark.parametrize("train_acc, val_acc, stopped", [(0.99, 0.10, True), (0.10, 0.99, False)])
def test_early_termination_follows_validation_accuracy(train_acc, val_acc, stopped):
    ctx = JobContext(early_terminate={"type": "median", "min_iter": 1}, wandb_mode="disabled")
    record = RunRecord(config={}, status="running")
    observe = _epoch_observer(ctx, record, start_run("disabled"), {1: [0.5] * 4}, None)
    metrics = {"epoch": 1, "train_loss": 0.1, "train_acc": train_acc, "val_loss": 0.1, "val_acc": val_acc}
    if stopped:
        with pytest.raises(StopTraining):
            observe(metrics)
    else:
        observe(metrics)
    assert record.epochs == [metrics]


def other_value(option):
    """A valid value of ``option`` that is not its default."""
    if option.choices:
        return next(c for c in option.choices if c != option.default)
    if option.many:
        return [option.default[0] + 1]
    if option.type is int:
        return option.default + 1
    return option.default / 2 if option.default else 0.5 * (option.maximum or 1)


def test_every_option_that_differs_from_its_default_changes_the_key(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    store.use_defaults(key_defaults())
    keys = {"defaults": store.key(resolve_config({}))}
    for option in RUN_OPTIONS:
        config = resolve_config({option.name: other_value(option)})
        assert config[option.name] != resolve_config({})[option.name], option.name
        keys[option.name] = store.key(config)
    assert len(set(keys.values())) == len(keys), "two configurations share one key"


@pytest.mark.parametrize("status", ["finished", "stopped", "diverged", "failed"])
def test_save_files_keeps_the_arrays_of_finished_and_stopped_runs_only(tmp_path, status):
    config, weights, probe = resolve_config({}), {"W0": np.ones((2, 3))}, {"grads": np.arange(4.0)}
    result = JobResult(RunRecord(config, status), weights, probe)
    stem = (tmp_path / "sweep" / "key").resolve()
    save_files(result, stem)
    if status in ("diverged", "failed"):
        assert not (tmp_path / "sweep").exists() and result.record.weights_path is None
        return
    assert result.record.weights_path == f"{stem}.npy" and result.record.probe_path == f"{stem}.probe.npz"
    assert np.load(f"{stem}.npy", allow_pickle=True).item()["W0"].tolist() == weights["W0"].tolist()
    text = Path(f"{stem}.json").read_text()
    assert json.loads(text) == config
    keys = [line for line in text.splitlines() if line.startswith('  "')]
    assert len(keys) == len(config) and keys == sorted(keys), "for a reader: a key a line, two spaces in, sorted"
    assert np.load(f"{stem}.probe.npz")["grads"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert sorted(p.name for p in stem.parent.iterdir()) == ["key.json", "key.npy", "key.probe.npz"]


def test_a_resumed_sweep_reruns_its_failed_run(tmp_path):
    """Through the real command line, with a deadline: a runner that will not rerun a failed run hangs or skips it."""
    sweep_file = tmp_path / "resume.yaml"
    sweep_file.write_text(yaml.safe_dump({"name": "resume", "method": "grid", "parameters": {
        "epochs": {"value": 1}, "train_size": {"value": 500}, "num_layers": {"value": 1},
        "hidden_size": {"value": 8}, "seed": {"values": [0, 1]}}}))
    command = [sys.executable, "-m", "runner", str(sweep_file), "--jobs", "1", "--quiet", "--wandb_mode", "disabled",
               "--db", str(tmp_path / "runs.db"), "--runs_dir", str(tmp_path / "runs")]
    first = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0 and "sweep resume: 2 finished; 0 already done" in first.stdout, first.stderr
    failed, kept = expand(load_sweep(sweep_file))
    store = RunStore(tmp_path / "runs.db", create=False)
    run_id = store.find("resume", failed)["id"]
    with store.db.conn:
        store.db.execute("UPDATE runs SET status = 'failed', error = 'planted' WHERE id = ?", [run_id])
    again = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "sweep resume: 1 finished; 1 already done" in again.stdout, again.stderr
    assert store.get(run_id)["status"] == "finished" and store.find("resume", kept)["status"] == "finished"


@pytest.mark.parametrize("final", ["finished", "diverged", "stopped"])
def test_a_late_claim_leaves_a_final_run_alone(tmp_path, final):
    """A claim that arrives after the run was recorded (from its own runner, another one, with any lease, or for a
    rerun that began before the run ended) gets nothing, and the row as SQLite holds it does not change."""
    store = RunStore(tmp_path / "runs.db")
    config = resolve_config({"epochs": 1})
    assert store.claim("s", config, "me", 60) is not None
    store.record("s", as_record(config, {"status": final, "test_acc": 0.5, "epochs": [{"epoch": 1, "val_acc": 0.5}]}))

    def raw_rows():
        with sqlite3.connect(tmp_path / "runs.db") as conn:
            return (conn.execute("SELECT * FROM runs").fetchall(), conn.execute("SELECT * FROM epochs").fetchall())

    before = raw_rows()
    assert [row[4] for row in before[0]] == [final]  # the status column
    for owner, lease in (("me", 60), ("other", 60), ("me", -1), ("other", -1)):
        assert store.claim("s", config, owner, lease) is None, (owner, lease)
        assert store.claim("s", config, owner, lease, rerun_before=0.0) is None, "the run ended after the rerun began"
    assert raw_rows() == before

