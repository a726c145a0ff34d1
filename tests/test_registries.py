"""A registry entry is enough: an activation or an optimizer added as one entry, at run time, trains through the
runner, its probes are read, the store and the UI's view hold it, and the report's prose explains it."""
import numpy as np

from conftest import QUICK
from mlp.activations import ACTIVATIONS, Activation
from mlp.optimizers import OPTIMIZERS, Optimizer, divide_by_root
from reports.context import BuildContext
from reports.sections import optimizers
from runner.job import JobContext
from runner.pipeline import open_store, run_sweep
from runner.workers import InProcessWorkers


def leaky_relu(Z):
    return np.maximum(Z, 0.01 * Z, out=Z)


def leaky_relu_backward(dA, A):
    dA *= np.where(A > 0, 1.0, 0.01)
    return dA


# Its slope is never below 0.01: no unit is ever dead.
LEAKY_RELU = Activation(leaky_relu, leaky_relu_backward, dead_when=lambda A: np.zeros(A.shape, dtype=bool))


class Adagrad(Optimizer):
    """Each weight's step divided by the root of the sum of its squared gradients so far (Duchi et al., 2011)."""

    adaptive = True

    def __init__(self, size, learning_rate, epsilon=1e-8, dtype=np.float64, **kw):
        super().__init__(size, learning_rate, dtype=dtype, **kw)
        self.epsilon = epsilon
        self.total = np.zeros(size, dtype=dtype)
        self.state = [self.total]

    def _update(self, p, g, lr):
        np.multiply(g, g, out=self._scratch)
        self.total += self._scratch
        divide_by_root(p, g, self.total, self.epsilon, lr, self._scratch)


def sweep_in_process(tmp_path, name, parameters, epochs=1):
    """A grid sweep of QUICK plus ``parameters`` trained through the runner's pipeline in this process (where the
    run-time entry exists) -> the store."""
    spec = {"name": name, "method": "grid", "metric": {"name": "val_acc", "goal": "maximize"},
            "parameters": {**QUICK, "epochs": {"value": epochs}, **parameters}}
    store = open_store(tmp_path / "runs.db")
    run_sweep(spec, store, InProcessWorkers(), JobContext(sweep=name, runs_dir=str(tmp_path / "runs"),
                                                          wandb_mode="disabled"), progress=False)
    return store


def test_an_activation_added_as_one_entry_trains_is_probed_and_shows_in_the_store(tmp_path, monkeypatch):
    monkeypatch.setitem(ACTIVATIONS, "leaky_relu", LEAKY_RELU)
    store = sweep_in_process(tmp_path, "leaky", {"activation": {"values": ["leaky_relu", "relu"]}})
    runs = {run["config"]["activation"]: run for run in store.runs(sweep="leaky")}
    assert {name: run["status"] for name, run in runs.items()} == {"leaky_relu": "finished", "relu": "finished"}
    probe = np.load(runs["leaky_relu"]["probe_path"])
    assert probe["dead"].tolist() == [0] and probe["widths"].tolist() == [16]
    assert store.db.execute("SELECT activation FROM runs_flat WHERE id = ?",
                            [runs["leaky_relu"]["id"]]).fetchone() == ("leaky_relu",)


def test_an_optimizer_added_as_one_entry_trains_and_report_2_3_explains_it_as_adaptive(tmp_path, monkeypatch):
    """Adagrad against plain SGD, both at 0.01 (32 small steps an epoch: SGD barely moves): the prose names
    Adagrad the fastest and explains its win as an adaptive method's, as its entry says it is."""
    monkeypatch.setitem(OPTIMIZERS, "adagrad", Adagrad)
    parameters = {"optimizer": {"values": ["adagrad", "sgd"]}, "learning_rate": {"value": 0.01}}
    store = sweep_in_process(tmp_path, "optimizers", parameters, epochs=2)
    assert [(run["config"]["optimizer"], run["status"]) for run in store.runs(sweep="optimizers")] == \
        [("adagrad", "finished"), ("sgd", "finished")]
    assert store.db.execute("SELECT optimizer FROM runs_flat ORDER BY id").fetchall() == [("adagrad",), ("sgd",)]
    findings = optimizers.say(optimizers.facts(BuildContext(db=str(tmp_path / "runs.db"), train=False)))
    text = " ".join(findings.sentences)
    assert "adagrad converges fastest over the first epochs, and sgd slowest." in text
    assert optimizers.WHY_FAST[True] in text and optimizers.WHY_FAST[False] not in text
