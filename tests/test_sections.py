"""Each section on its own: ``facts`` on stores built by hand through RunRecords (no training), ``say`` on literal
facts, and the specs every other part of the report finds sections by.

The values expected here are worked out by hand from the rows and probe arrays
each test writes; the end-to-end build of the whole report is in test_reports.py.
"""
import numpy as np
import pytest
import yaml

from conftest import as_record
from mlp import NeuralNetwork
from mlp.activations import SATURATED
from mlp.data import load_dataset
from mlp.options import resolve_config
from reports.context import SWEEPS, BuildContext
from reports.queries import SectionError
from reports.sections import BUILD_ORDER, SECTIONS
from reports.sections import best_model, dead_neurons, fashion, gradients, init, losses, optimizers, overfitting
from reports.sections import samples, search
from runner.job import JobContext
from runner.pipeline import open_store
from runner.probes import Probe
from store import METRICS


class HandStore:
    """A store filled by hand: each ``add`` records one run with its curves and probe arrays written beside it."""

    def __init__(self, tmp_path, data_dir=None):
        self.folder = tmp_path
        self.store = open_store(tmp_path / "runs.db")  # as the runner opens it: keys made with the defaults
        self.inputs = BuildContext(db=str(tmp_path / "runs.db"), train=False,
                                   job=JobContext(data_dir=str(data_dir) if data_dir else None, wandb_mode="disabled"))

    def add(self, sweep, status="finished", curve=None, probe=None, proposal=None, weights=None, promoted_from=None,
            **options_and_scores):
        """One run: options (the rest default), scores (METRICS names), ``curve`` {metric: values per epoch}."""
        scores = {k: options_and_scores.pop(k) for k in METRICS if k in options_and_scores}
        config = resolve_config({"dataset": "mnist", **options_and_scores})
        epochs = [] if curve is None else [
            {"epoch": i + 1, **{metric: values[i] for metric, values in curve.items()}}
            for i in range(len(next(iter(curve.values()))))]
        files = {}
        if probe is not None:
            files["probe_path"] = str(self.folder / f"probe{len(self.store.runs())}.npz")
            np.savez(files["probe_path"], **probe)
        if weights is not None:
            files["weights_path"] = str(self.folder / f"weights{len(self.store.runs())}.npy")
            np.save(files["weights_path"], weights)
        run_id = self.store.record(sweep, as_record(config, {"status": status, "epochs": epochs, **scores, **files}))
        if proposal is not None:  # what a claim sets
            self.store.db.execute("UPDATE runs SET proposal = ?, promoted_from = ? WHERE id = ?",
                                  [proposal, promoted_from, run_id])
            self.store.db.commit()
        return run_id


@pytest.fixture
def hand(tmp_path):
    return HandStore(tmp_path)


def text(findings):
    return " ".join(findings.sentences)


# -- the specs ------------------------------------------------------------------------------------------------
def test_the_sections_are_found_by_their_specs_and_built_sweeps_first():
    assert list(SECTIONS) == [f"2.{i}" for i in range(1, 11)]
    assert all(SECTIONS[i].SPEC.id == i for i in SECTIONS)
    reads_others = [i for i in BUILD_ORDER if SECTIONS[i].SPEC.stage > 0]
    assert BUILD_ORDER[:-len(reads_others)] == ("2.2", "2.3", "2.4", "2.5", "2.6", "2.9")
    assert reads_others == ["2.8", "2.10", "2.1", "2.7"]  # best, then fashion from it, then 2.1 and 2.7 read all


@pytest.mark.parametrize("section_id", list(SECTIONS))
def test_a_spec_names_a_sweep_file_that_exists_and_probes_the_runner_records(section_id, mnist_slice):
    spec = SECTIONS[section_id].SPEC
    if spec.sweep:
        assert yaml.safe_load((SWEEPS / f"{spec.sweep}.yaml").read_text())["name"] == spec.sweep
    X = mnist_slice.X
    model = NeuralNetwork(resolve_config({"num_layers": 2, "hidden_size": 8}))
    recorded = Probe().arrays(model, X[:10], mnist_slice.y[:10])
    assert set(spec.probes) <= set(recorded)
    assert spec.title and spec.question.endswith("?") and spec.panels


# -- 2.2 ------------------------------------------------------------------------------------------------------
def test_search_facts_rank_the_hyperparameter_that_moves_accuracy_and_tell_how_the_search_spent_its_runs(hand):
    accuracy = {0.001: 0.90, 0.01: 0.95, 0.1: 0.80}
    ids = {}
    for i, (lr, layers) in enumerate([(0.001, 1), (0.01, 1), (0.1, 1), (0.001, 2), (0.01, 2), (0.1, 2)]):
        proposal = ["default: the trainer's defaults", "random start 1 of 2", "random start 2 of 2"][i] if i < 3 \
            else "model: expected improvement"
        stopped = (lr, layers) == (0.1, 2)
        ids[lr, layers] = hand.add("search", status="stopped" if stopped else "finished", proposal=proposal,
                                   learning_rate=lr, num_layers=layers, val_acc=accuracy[lr] + 0.001 * layers,
                                   curve={"val_acc": [0.5] * (2 if stopped else 3)})
    hand.add("search", status="diverged", proposal="a plain draw", learning_rate=1.0, curve={"val_acc": [0.1]})
    hand.add("other", learning_rate=0.5, val_acc=0.99, curve={"val_acc": [0.99]})  # another sweep: not counted
    found = search.facts(hand.inputs)
    assert found.counts == {"finished": 5, "stopped": 1, "diverged": 1} and found.n_evaluated == 6
    assert set(found.table["names"]) == {"learning_rate", "num_layers"}
    assert [r["parameter"] for r in found.importance] == ["learning_rate", "num_layers"]
    assert found.best["id"] == ids[0.01, 2]
    assert found.story == search.Story(
        runs=7, epochs=5 * 3 + 2 + 1, stopped=1, rungs=[("epoch 2", 1)], budgets=[],
        proposed=[("the trainer's default configuration, tried first", 1),
                  ("the search's model of the runs before it", 3),
                  ("random draws before the model had runs to learn from", 2),
                  ("random draws between the model's proposals", 1)])
    assert found.profile == [{"parameter": "num_layers", "value": "1", "count": 3, "of": 6}]  # a tie: first sorted
    said = search.say(found)
    assert said.facts["importance.parameter"] == "learning_rate" and said.facts["best.run_id"] == ids[0.01, 2]
    assert search.WHY_IMPORTANT["learning_rate"] in text(said)


def test_search_facts_count_a_budget_searchs_runs_by_budget_and_say_how_they_were_ranked(hand):
    first = [hand.add("search", epochs=1, learning_rate=lr, num_layers=layers, val_acc=v, proposal="model: a draw",
                      curve={"val_acc": [v]}) for lr, layers, v in ((0.01, 1, 0.9), (0.02, 2, 0.8), (0.03, 1, 0.7))]
    hand.add("search", epochs=3, learning_rate=0.01, num_layers=1, val_acc=0.95, curve={"val_acc": [0.9, 0.93, 0.95]},
             proposal=f"promoted: run {first[0]} ranked 1 of 3 at 1 epochs", promoted_from=first[0])
    found = search.facts(hand.inputs)
    assert found.story.budgets == [("1 epochs", 3), ("3 epochs", 1)] and found.story.stopped == 0
    assert ("promotion of the best third of a budget's runs to the next budget", 1) in found.story.proposed
    said = search.say(found)
    assert said.facts["how.budgets"] == [("1 epochs", 3), ("3 epochs", 1)] and "how.stopped" not in said.facts
    assert "ranked only against runs of the same budget" in text(said)


def test_search_prose_takes_an_option_added_to_the_space_after_its_explanations():
    importance = [{"parameter": "dropout", "importance": 0.3, "std": 0.01}]
    best = {"id": 4, "val_acc": 0.97, "config": resolve_config({"dropout": 0.1})}
    facts = search.Facts("search", {"finished": 2}, 2, {}, importance, best, search.Story(2, 4, [], 0, [], []),
                         [{"parameter": "num_layers", "value": "1", "count": 2, "of": 2}])
    said = search.say(facts)
    assert "dropout" not in search.WHY_IMPORTANT and search.WHY_UNWRITTEN in text(said)
    assert said.facts["importance.second_parameter"] == "none" and said.facts["how.rungs"] == "no epoch"


def test_search_facts_need_two_evaluated_runs(hand):
    with pytest.raises(SectionError, match="no evaluated runs of sweep search"):
        search.facts(hand.inputs)
    hand.add("search", val_acc=0.9, curve={"val_acc": [0.9]})
    with pytest.raises(SectionError, match="at least 2 evaluated runs that differ; `make report-2.2`"):
        search.facts(hand.inputs)


# -- 2.3 ------------------------------------------------------------------------------------------------------
def test_optimizer_facts_race_each_at_its_better_rate_over_the_first_five_epochs_only(hand):
    losses_by_run = {("adam", 0.001): [1.0, 0.5, 0.4, 0.3, 0.2, 0.19],
                     ("adam", 0.01): [0.9, 0.6, 0.5, 0.45, 0.25, 0.001],  # best only at epoch 6, past the race
                     ("sgd", 0.1): [2.0, 1.5, 1.2, 1.0, 0.9, 0.8],
                     ("sgd", 0.01): [2.2, 2.0, 1.9, 1.8, 1.7, 1.6]}
    ids = {key: hand.add("optimizers", optimizer=key[0], learning_rate=key[1], val_acc=0.9,
                         curve={"train_loss": loss, "val_acc": [0.9] * 6}) for key, loss in losses_by_run.items()}
    found = optimizers.facts(hand.inputs)
    assert found.race == [
        {"optimizer": "adam", "learning_rate": 0.001, "epoch": 5, "loss": 0.2, "first_loss": 1.0,
         "run_id": ids["adam", 0.001]},
        {"optimizer": "sgd", "learning_rate": 0.1, "epoch": 5, "loss": 0.9, "first_loss": 2.0,
         "run_id": ids["sgd", 0.1]}]
    assert [c["epoch"] for c in found.curves] == [[1, 2, 3, 4, 5]] * 4


def test_optimizer_prose_explains_the_winner_by_whether_it_is_adaptive():
    race = [{"optimizer": name, "learning_rate": 0.01, "epoch": 5, "loss": loss, "first_loss": 1.0, "run_id": i}
            for i, (name, loss) in enumerate([("momentum", 0.1), ("adam", 0.2), ("sgd", 0.5)], 1)]
    said = optimizers.say(optimizers.Facts("optimizers", {"finished": 3}, race, "layers 1", [], []))
    assert said.sentences[0] == "momentum converges fastest over the first epochs, and sgd slowest."
    assert optimizers.WHY_FAST[False] in text(said) and optimizers.WHY_FAST[True] not in text(said)
    assert said.facts["fastest.second"] == "adam" and said.facts["runs.total"] == 3


# -- 2.4 ------------------------------------------------------------------------------------------------------
def norms(first, last, layers, steps=120):
    """Gradient norms per step: ``first`` at the first hidden layer, ``last`` at the others."""
    return np.column_stack([np.full(steps, first)] + [np.full(steps, last)] * (layers - 1))


def test_gradient_facts_take_the_medians_of_the_first_hundred_steps_and_of_the_last(hand):
    deep_sigmoid = np.vstack([norms(0.1, 1.0, 4, 100), norms(0.5, 1.0, 4, 100)])  # the ratio rises late
    probes = {("sigmoid", 2): norms(0.5, 1.0, 2), ("sigmoid", 4): deep_sigmoid, ("relu", 2): norms(1.0, 1.0, 2),
              ("relu", 4): norms(0.9, 1.0, 4)}
    for (activation, layers), grad_norms in probes.items():
        hand.add("gradients", activation=activation, num_layers=layers, val_acc=0.9, curve={"val_acc": [0.9]},
                 probe={"grad_norms": grad_norms})
    found = gradients.facts(hand.inputs)
    assert [(r["activation"], r["num_layers"], r["ratio"], r["late_ratio"], r["steps"]) for r in found.rows] == [
        ("relu", 2, 1.0, 1.0, 120), ("relu", 4, 0.9, 0.9, 120), ("sigmoid", 2, 0.5, 0.5, 120),
        ("sigmoid", 4, 0.1, 0.5, 200)]
    assert found.max_slope == 0.25
    said = gradients.say(found)
    assert said.sentences[0] == gradients.LEAD_VANISHING  # 0.1 below 0.5 (shallower) and 0.9 (ReLU)
    assert said.facts["sigmoid"] == [0.5, 0.1] and said.facts["late.sigmoid_late"] == [0.5, 0.5]


def test_gradient_facts_name_the_probe_array_a_run_lacks(hand):
    hand.add("gradients", activation="sigmoid", val_acc=0.9, curve={"val_acc": [0.9]},
             probe={"neuron_grads": np.ones((50, 5))})
    with pytest.raises(SectionError, match="lacks grad_norms; `python -m runner sweeps/gradients.yaml --rerun`"):
        gradients.facts(hand.inputs)


# -- 2.5 ------------------------------------------------------------------------------------------------------
def probe_of(dead, widths=(16, 16), last_epoch=((0.0, 0.1), (0.0, 0.2), (0.0, 0.3), (0.0, 0.4)), images=100):
    """Two epochs of four steps each; every activation in one bin of the histogram."""
    hist = np.zeros((len(widths), 60), dtype=int)
    hist[:, 30] = [images * w for w in widths]
    return {"dead": np.array(dead), "widths": np.array(widths), "act_hist": hist, "act_edges": np.linspace(-1, 1, 61),
            "grad_norms": np.vstack([np.ones((4, len(widths))), np.array(last_epoch)])}


def test_dead_neuron_facts_pick_the_worst_relu_run_and_its_tanh_partner(hand):
    stalled = hand.add("dead_neurons", activation="relu", optimizer="adam", learning_rate=0.1, val_acc=0.2,
                       curve={"val_acc": [0.3, 0.2]}, probe=probe_of([12, 4]))
    hand.add("dead_neurons", activation="relu", optimizer="sgd", learning_rate=0.1, val_acc=0.9,
             curve={"val_acc": [0.8, 0.9]}, probe=probe_of([0, 0]))
    partner = hand.add("dead_neurons", activation="tanh", optimizer="adam", learning_rate=0.1, val_acc=0.5,
                       curve={"val_acc": [0.4, 0.5]}, probe=probe_of([1, 0]))
    found = dead_neurons.facts(hand.inputs)
    assert (found.stalled["run_id"], found.partner["run_id"]) == (stalled, partner)
    assert found.stalled["fractions"] == [0.75, 0.25] and found.stalled["last_grads"] == [0.0, 0.25]
    assert found.stalled["val_curve"] == [0.3, 0.2] and found.stalled["n_images"] == 100
    assert found.stalled["name"] == "relu adam lr 0.1" and found.saturated == SATURATED
    said = dead_neurons.say(found)
    assert said.sentences[0] == dead_neurons.LEAD_DEAD  # 0.75 of a layer dead
    assert dead_neurons.TANH_RECOVERS in text(said)  # its partner lost 1 of 16


def test_dead_neuron_facts_need_a_relu_run(hand):
    hand.add("dead_neurons", activation="tanh", val_acc=0.5, curve={"val_acc": [0.5, 0.5]}, probe=probe_of([0, 0]))
    with pytest.raises(SectionError, match="has no relu run; `make report-2.5`"):
        dead_neurons.facts(hand.inputs)


# -- 2.6 ------------------------------------------------------------------------------------------------------
def test_loss_facts_find_the_epoch_each_loss_first_reaches_the_lower_final_accuracy(hand):
    curves = {("adam", "cross_entropy"): [0.8, 0.9, 0.95], ("adam", "mean_squared_error"): [0.5, 0.7, 0.9],
              ("sgd", "cross_entropy"): [0.6, 0.7, 0.8]}  # sgd has no MSE run: no pair
    for (optimizer, loss), val_acc in curves.items():
        hand.add("losses", optimizer=optimizer, loss=loss, val_acc=val_acc[-1],
                 curve={"val_acc": val_acc, "train_loss": [1.0] * 3})
    found = losses.facts(hand.inputs)
    assert found.pairs == [losses.Pair("adam", 0.9, {"reached": 2, "first": 0.8, "last": 0.95},
                                       {"reached": 3, "first": 0.5, "last": 0.9})]
    said = losses.say(found)
    assert said.sentences[0] == losses.LEAD_CROSS_ENTROPY and said.facts["adam.mse_epoch"] == 3


def test_loss_prose_says_so_when_cross_entropy_is_not_faster_everywhere():
    pairs = [losses.Pair("adam", 0.9, {"reached": 2, "first": 0.8, "last": 0.95}, {"reached": 3, "first": 0.5,
                                                                                  "last": 0.9}),
             losses.Pair("sgd", 0.8, {"reached": 3, "first": 0.5, "last": 0.8}, {"reached": 2, "first": 0.6,
                                                                                "last": 0.85})]
    said = losses.say(losses.Facts("losses", {"finished": 4}, [], [], pairs))
    assert said.sentences[0] == losses.LEAD_LOSS_MIXED and losses.MSE_NOT_SLOWER in text(said)


# -- 2.7 ------------------------------------------------------------------------------------------------------
def test_overfitting_facts_mark_the_gaps_above_the_ninth_decile(hand):
    for i in range(10):  # gaps 0.00 ... 0.09: the 0.9 quantile is 0.081, so only the 0.09 gap is marked
        hand.add("a" if i == 9 else "b", learning_rate=0.001 * (i + 1), train_acc=0.9 + i / 100, test_acc=0.9,
                 curve={"val_acc": [0.9] * (10 if i == 9 else 2)})
    hand.add("b", status="failed", learning_rate=0.5)  # not evaluated: not counted
    found = overfitting.facts(hand.inputs)
    assert found.threshold == pytest.approx(0.081) and len(found.runs) == 10
    assert [r["overfit"] for r in found.runs] == [True] + [False] * 9  # largest gap first
    assert found.runs[0]["gap"] == pytest.approx(0.09) and found.runs[0]["sweep"] == "a"
    assert (found.marked_epochs, found.other_epochs, found.marked_sweeps) == (10.0, 2.0, {"a": 1})
    said = overfitting.say(found)
    assert said.sentences[0] == "The runs that overfit are mostly the ones trained longest: 1 of the 10 runs stand out."


def test_overfitting_facts_need_an_evaluated_run(hand):
    with pytest.raises(SectionError, match="no evaluated runs in .*`make report` trains the sweeps"):
        overfitting.facts(hand.inputs)


# -- 2.9 ------------------------------------------------------------------------------------------------------
def test_init_facts_measure_how_far_the_tracked_neurons_drift_apart(hand):
    steps = np.linspace(1, 2, 50)[:, None]
    hand.add("init", weight_init="zeros", activation="relu", val_acc=0.1, curve={"val_acc": [0.1]},
             probe={"neuron_grads": np.zeros((50, 5))})
    hand.add("init", weight_init="zeros", activation="sigmoid", val_acc=0.1, curve={"val_acc": [0.1]},
             probe={"neuron_grads": np.repeat(steps, 5, axis=1)})  # identical neurons, changing over time
    hand.add("init", weight_init="xavier", activation="relu", val_acc=0.9, curve={"val_acc": [0.9]},
             probe={"neuron_grads": np.tile(np.arange(5) * 0.1, (50, 1))})
    found = init.facts(hand.inputs)
    assert [(r["name"], r["spread"], r["mean"]) for r in found.rows] == [
        ("init zeros relu", 0.0, 0.0), ("init zeros sigmoid", 0.0, pytest.approx(1.5)),
        ("init xavier relu", pytest.approx(0.4), pytest.approx(0.2))]
    said = init.say(found)
    assert said.sentences[0].startswith("No: with all weights zero")
    assert init.RELU_ZEROS in text(said)


def test_init_facts_need_both_initialisations(hand):
    hand.add("init", weight_init="xavier", val_acc=0.9, curve={"val_acc": [0.9]},
             probe={"neuron_grads": np.ones((50, 5))})
    with pytest.raises(SectionError, match="needs zeros and xavier runs; `make report-2.9`"):
        init.facts(hand.inputs)


# -- 2.10 -----------------------------------------------------------------------------------------------------
def test_fashion_facts_pair_each_chosen_mnist_run_with_its_fashion_run(tmp_path, data_dir):
    hand = HandStore(tmp_path, data_dir)
    sources = [hand.add("best", learning_rate=lr, epochs=2, val_acc=acc, test_acc=acc, curve={"val_acc": [acc] * 2})
               for lr, acc in ((0.1, 0.90), (0.01, 0.97), (0.001, 0.95), (0.002, 0.80))]
    with pytest.raises(SectionError, match="the Fashion-MNIST runs of sweep fashion are not in"):
        fashion.facts(hand.inputs)
    chosen = [hand.store.get(i) for i in (sources[1], sources[2], sources[0])]  # by validation accuracy
    trained = [hand.add("fashion", **fashion.adapted(run["config"]), val_acc=0.85, test_acc=0.84 + i / 100,
                        test_f1=0.8, curve={"val_acc": [0.8] * 10}) for i, run in enumerate(chosen)]
    found = fashion.facts(hand.inputs)
    assert [r["id"] for r in found.sources] == [sources[1], sources[2], sources[0]]
    assert [r["id"] for r in found.runs] == trained and found.n_test == 10000
    assert all(r["config"]["epochs"] == 10 and r["config"]["augment"] == 1 for r in found.runs)
    said = fashion.say(found)
    assert said.facts["best.rank"] == 3 and said.facts["best.mnist_rank"] == 1  # test accuracy 0.86, then 0.97 val
    assert said.facts["best.mnist_winner_acc"] == 0.84


# -- 2.8 and 2.1: real images, a model by hand ----------------------------------------------------------------
def test_best_model_facts_take_the_best_mnist_run_by_test_f1_and_score_its_weights(tmp_path, data_dir):
    hand = HandStore(tmp_path, data_dir)
    with pytest.raises(SectionError, match="no finished MNIST run .*`make report-2.8` trains sweep search"):
        best_model.facts(hand.inputs)
    config = resolve_config({"num_layers": 1, "hidden_size": 8})
    weights = NeuralNetwork(config).get_weights()  # untrained: every number below comes from its predictions
    best = hand.add("best", num_layers=1, hidden_size=8, test_f1=0.6, test_acc=0.6, weights=weights)
    hand.add("best", num_layers=1, hidden_size=16, test_f1=0.5, test_acc=0.5, weights=weights)
    hand.add("fashion", dataset="fashion_mnist", test_f1=0.9, test_acc=0.9)  # another dataset: not comparable
    found = best_model.facts(hand.inputs)
    assert found.run["id"] == best and found.names[3] == "3"
    y = load_dataset("mnist", str(data_dir)).y_test
    matrix = found.errors["matrix"]
    assert matrix.sum() == len(y) and matrix.sum(axis=1).tolist() == np.bincount(y, minlength=10).tolist()
    assert found.errors["n_mistakes"] == len(y) - np.trace(matrix)
    assert [c for _, _, c in found.confused] == sorted((matrix + matrix.T - 2 * np.diag(np.diag(matrix)))[
        np.triu_indices(10, 1)], reverse=True)
    said = best_model.say(found)
    assert said.facts["errors.n_test"] == 10000 and said.facts["best.run_id"] == best


def test_samples_facts_without_a_store_still_answer_from_the_pixels(tmp_path, data_dir):
    inputs = BuildContext(db=str(tmp_path / "none.db"), train=False, job=JobContext(data_dir=str(data_dir)))
    found = samples.facts(inputs)
    for d in found.datasets:
        data = load_dataset(d.dataset, str(data_dir), dtype=np.float32)
        assert d.model is None and d.confused is None
        assert d.counts == np.bincount(data.y_train).tolist() and d.images.shape == (10, samples.PER_CLASS, 784)
        assert all(data.y_train[np.flatnonzero((data.X_train == d.images[c, 0]).all(axis=1))[0]] == c
                   for c in range(10))
    said = samples.say(found)
    assert said.sentences[0].endswith("among the clothes.")  # no model to compare with
    assert not (tmp_path / "none.db").exists()


def test_samples_prose_says_when_the_models_confuse_the_look_alike_pairs():
    alike = [(3, 5, 0.2), (4, 9, 0.1), (7, 9, 0.05)]
    facts = samples.Facts([samples.DatasetFacts(name, [str(i) for i in range(10)], None, [6000] * 10, alike,
                                                {"id": 7}, [(4, 9, 30), (1, 2, 20), (0, 6, 10)])
                           for name in ("mnist", "fashion_mnist")])
    said = samples.say(facts)
    assert said.sentences[0].endswith("; these are also the pairs the trained models confuse most.")
    assert said.facts["mnist.model.k"] == 1 and said.facts["mnist.balanced.count"] == 6000
