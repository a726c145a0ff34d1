"""runner.job.run_one called in this process, as train.py does: the record it returns for each way a run ends.

The sweep tests run jobs in worker processes; these pin the job itself, on a small real MNIST slice, against
scores recomputed here with scikit-learn from the weights it hands back.
"""
import math

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_score, recall_score

from mlp.data import load_uint8, to_unit_float, validation_split
from mlp.options import resolve_config
import runner.job
from runner.early_stop import Bar
from runner.job import JobContext, run_one
from runner.live import LiveEpochs
from runner.pipeline import open_store
from store import RunStore

SMALL = {"train_size": 600, "epochs": 2, "hidden_size": [16], "num_layers": 2, "batch_size": 50}


@pytest.fixture
def ctx(tmp_path, data_dir):
    return JobContext(runs_dir=str(tmp_path / "runs"), data_dir=str(data_dir), wandb_mode="disabled")


def _relu_probabilities(weights, X):
    """A plain forward pass of the returned weights: ReLU hidden layers, softmax output."""
    A = X
    n = len(weights) // 2
    for i in range(n):
        Z = A @ weights[f"W{i}"] + weights[f"b{i}"].ravel()
        A = np.maximum(Z, 0) if i < n - 1 else Z
    E = np.exp(A - A.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def _splits(config, data_dir):
    data = load_uint8(config["dataset"], str(data_dir))
    X_train, _, y_train, _ = validation_split(data.X_train, data.y_train, config["val_fraction"],
                                              config["seed"], config["train_size"])
    return {"train": (to_unit_float(X_train, "float64"), y_train), "test": (to_unit_float(data.X_test, "float64"), data.y_test)}


def test_a_finished_run_reports_the_scores_of_the_weights_it_returns(ctx, data_dir, tmp_path):
    config = resolve_config(SMALL)
    seen = []
    result = run_one(config, ctx, on_epoch=seen.append)
    assert result.record.status == "finished" and result.record.error is None
    assert [m["epoch"] for m in result.record.epochs] == [1, 2] and seen == result.record.epochs
    for name in ("loss", "acc", "precision", "recall", "f1"):
        assert result.record.scores[f"val_{name}"] == result.record.epochs[-1][f"val_{name}"]
    for split, (X, y) in _splits(config, data_dir).items():
        P = _relu_probabilities(result.weights, X)
        predicted = P.argmax(axis=1)
        assert result.record.scores[f"{split}_acc"] == pytest.approx(accuracy_score(y, predicted), abs=1e-12)
        assert result.record.scores[f"{split}_loss"] == pytest.approx(log_loss(y, P, labels=range(10)), rel=1e-6)
        for name, metric in (("precision", precision_score), ("recall", recall_score), ("f1", f1_score)):
            expected = metric(y, predicted, average="macro", zero_division=0)
            assert result.record.scores[f"{split}_{name}"] == pytest.approx(expected, abs=1e-12)
    assert result.record.config is config
    steps = 2 * math.ceil(600 / 50)  # train_size counts the images trained on, in batches of 50
    assert result.probe["grad_norms"].shape == (steps, 2)
    assert result.record.ended_at >= result.record.started_at
    assert result.record.seconds == result.record.ended_at - result.record.started_at
    assert not (tmp_path / "runs").exists()  # the job writes no file: the runner does


def test_a_diverged_run_is_reported_without_scores_or_weights(ctx):
    result = run_one(resolve_config({**SMALL, "optimizer": "sgd", "learning_rate": 1e12,
                                    "num_layers": 3, "hidden_size": [64]}), ctx)
    assert result.record.status == "diverged"
    assert result.record.error.startswith("loss became")
    assert "test_acc" not in result.record.scores and result.weights is None


def test_a_run_below_its_bar_is_stopped_by_the_rule_and_still_scored(tmp_path, data_dir):
    rule = {"type": "median", "min_iter": 1}
    ctx = JobContext(runs_dir=str(tmp_path / "runs"), data_dir=str(data_dir), wandb_mode="disabled",
                     early_terminate=rule)
    result = run_one(resolve_config(SMALL), ctx, bars={1: Bar(1.0, 4)})
    assert result.record.status == "stopped" and result.record.error.startswith(
        "median rule at epoch 1: val_acc ") and result.record.error.endswith(" below the bar 1.0000 of 4 runs")
    assert len(result.record.epochs) == 1
    assert 0 <= result.record.scores["test_acc"] <= 1 and result.weights is not None
    unstopped = run_one(resolve_config(SMALL), ctx, bars={1: Bar(0.0, 4)})
    assert unstopped.record.status == "finished" and len(unstopped.record.epochs) == 2


def test_a_failing_run_returns_its_error_instead_of_raising(tmp_path):
    ctx = JobContext(runs_dir=str(tmp_path / "runs"), data_dir=str(tmp_path / "no data here"), wandb_mode="disabled")
    result = run_one(resolve_config(SMALL), ctx)
    assert result.record.status == "failed"
    assert result.record.error.startswith("DataError: ") and "no data here" in result.record.error
    assert "Traceback" in result.record.traceback
    assert result.record.seconds == result.record.ended_at - result.record.started_at >= 0


class RecordedRun:
    """Stands in for a W&B run and keeps what the job hands it."""
    id = "recorded-run"

    def __init__(self, mode, **init):
        self.mode, self.init, self.logged, self.summary = mode, init, [], {}

    def log(self, data, step):
        self.logged.append((step, data))

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False


@pytest.fixture
def wandb_runs(monkeypatch):
    runs = []
    monkeypatch.setattr(runner.job, "start_run", lambda mode, **init: runs.append(RecordedRun(mode, **init)) or runs[-1])
    return runs


def test_the_job_logs_to_wandb_what_its_record_holds(wandb_runs, tmp_path, data_dir):
    ctx = JobContext(sweep="s", runs_dir=str(tmp_path / "runs"), data_dir=str(data_dir), wandb_mode="offline",
                     wandb_project="p", wandb_entity="e")
    config = resolve_config(SMALL)
    result = run_one(config, ctx, key="abc")
    (run,) = wandb_runs
    assert run.mode == "offline"
    assert run.init == {"project": "p", "entity": "e", "group": "s", "name": "s-abc", "config": {**config, "config_hash": "abc"}}
    assert result.record.wandb_run_id == "recorded-run"
    assert run.logged == [(m["epoch"], {k: v for k, v in m.items() if k != "epoch"}) for m in result.record.epochs]
    assert run.summary == {"status": "finished", **{k: result.record.scores[k] for k in ("train_acc", "val_acc", "test_acc", "test_f1")}}
    diverged = run_one(resolve_config({**SMALL, "optimizer": "sgd", "learning_rate": 1e12, "num_layers": 3,
                                       "hidden_size": [64]}), ctx)
    assert diverged.record.status == "diverged" and wandb_runs[-1].summary == {"status": "diverged"}


def test_the_job_trains_with_its_configs_schedule_augmentation_and_precision(ctx, monkeypatch):
    seen, fit = {}, runner.job.fit

    def spy(model, X, y, X_val, y_val, **kwargs):
        seen.update({k: model.config[k] for k in ("lr_schedule", "augment", "flip", "epochs", "batch_size")},
                    dtypes={X.dtype, X_val.dtype, model.dtype})
        return fit(model, X, y, X_val, y_val, **kwargs)

    monkeypatch.setattr(runner.job, "fit", spy)
    config = resolve_config({**SMALL, "epochs": 1, "lr_schedule": "cosine", "augment": 2, "flip": 1, "dtype": "float32"})
    result = run_one(config, ctx)
    assert result.record.status == "finished"
    assert (seen["lr_schedule"], seen["augment"], seen["flip"]) == ("cosine", 2, 1)
    assert (seen["epochs"], seen["batch_size"], seen["dtypes"]) == (1, 50, {np.dtype(np.float32)})
    assert result.weights["W0"].dtype == np.float32


def test_a_job_writes_each_epoch_into_its_live_row_as_it_ends_and_a_failed_write_never_stops_it(ctx, tmp_path):
    store = open_store(tmp_path / "runs.db")
    config = resolve_config({**SMALL, "epochs": 3})
    run_id = store.claim("s", config, "me", 60)
    in_store = []

    def look(metrics):  # another connection, as the dashboard's
        reader = RunStore(tmp_path / "runs.db", create=False, read_only=True)
        in_store.append([e["epoch"] for e in reader.epochs(run_id)])
        reader.close()

    result = run_one(config, ctx, on_epoch=look, live=LiveEpochs(str(tmp_path / "runs.db"), run_id))
    assert result.record.status == "finished"
    assert in_store == [[1], [1, 2], [1, 2, 3]]
    assert [e["val_acc"] for e in store.epochs(run_id)] == [m["val_acc"] for m in result.record.epochs]
    assert store.get(run_id)["status"] == "running", "the record is the runner's to write"
    unwritable = run_one(config, ctx, live=LiveEpochs(str(tmp_path / "no-such-store.db"), run_id))
    assert unwritable.record.status == "finished" and len(unwritable.record.epochs) == 3
    assert not (tmp_path / "no-such-store.db").exists()
