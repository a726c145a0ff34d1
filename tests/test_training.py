"""Training on real MNIST: optimizers, weight decay, zeros-init symmetry, accuracy, isolation, schedule, augment."""
import json
import math
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

from mlp import NeuralNetwork, optimizers
from mlp.schedules import SCHEDULES
from mlp.augment import flip_images, shift_images
from mlp.training import Diverged, fit

OPTIMIZERS = sorted(optimizers.OPTIMIZERS)  # each entry is tested the day it is added: give it a rate here
LEARNING_RATES = {"sgd": 0.1, "momentum": 0.02, "nag": 0.02, "rmsprop": 1e-3, "adam": 1e-3, "nadam": 1e-3}


def ref_cross_entropy(logits, y):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -np.mean(log_p[np.arange(len(y)), y])


# -- every optimizer learns ------------------------------------------------------------------
@pytest.mark.parametrize("weight_decay", (0.0, 1e-3))
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_optimizer_lowers_training_loss_on_real_mnist(optimizer, weight_decay, mnist_slice):
    X, y = mnist_slice.X, mnist_slice.y
    model = NeuralNetwork({"num_layers": 1, "hidden_size": [64], "activation": "relu", "optimizer": optimizer,
                           "learning_rate": LEARNING_RATES[optimizer], "weight_decay": weight_decay, "seed": 0})
    before = ref_cross_entropy(model.forward(X), y)
    history = fit(model, X, y, epochs=2, batch_size=64)
    after = ref_cross_entropy(model.forward(X), y)
    assert len(history) == 2
    assert math.isfinite(after)
    assert after < 0.5 * before, f"{optimizer}: loss {before:.3f} -> {after:.3f}"
    assert history[1]["train_loss"] < history[0]["train_loss"]
    assert np.mean(model.predict(X) == y) > 0.8


def _reference_step(name, state, params, grads, t, lr, wd, mu=0.9, beta=0.9, b1=0.9, b2=0.999, eps=1e-8):
    """Textbook update of every array in ``params`` (dict); weight decay on weights (W*) only."""
    for key in params:
        g = grads[key] + (wd * params[key] if key.startswith("W") else 0.0)
        s = state.setdefault(key, {"v": np.zeros_like(g), "m": np.zeros_like(g)})
        if name == "sgd":
            params[key] = params[key] - lr * g
        elif name in ("momentum", "nag"):
            s["v"] = mu * s["v"] + g
            params[key] = params[key] - lr * (s["v"] if name == "momentum" else g + mu * s["v"])
        elif name == "rmsprop":
            s["v"] = beta * s["v"] + (1 - beta) * g * g
            params[key] = params[key] - lr * g / (np.sqrt(s["v"]) + eps)
        else:  # adam, nadam
            s["m"] = b1 * s["m"] + (1 - b1) * g
            s["v"] = b2 * s["v"] + (1 - b2) * g * g
            v_hat = s["v"] / (1 - b2 ** t)
            if name == "adam":
                m_hat = s["m"] / (1 - b1 ** t)
            else:  # Nesterov look-ahead on the first moment (Dozat 2016)
                m_hat = b1 * s["m"] / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1 ** t)
            params[key] = params[key] - lr * m_hat / (np.sqrt(v_hat) + eps)


@pytest.mark.parametrize("weight_decay", (0.0, 0.3))
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_optimizer_step_matches_textbook_update(optimizer, weight_decay):
    """Three steps of update_weights() against the textbook formulas (decay added to the weights' gradient)."""
    lr = 0.05
    model = NeuralNetwork({"num_layers": 2, "hidden_size": [5, 4], "activation": "tanh", "optimizer": optimizer,
                           "learning_rate": lr, "weight_decay": weight_decay, "seed": 3,
                           "input_size": 6, "output_size": 3})
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(8, 6)), rng.integers(0, 3, size=8)
    params = {k: np.array(v, dtype=np.float64).reshape(v.shape) for k, v in model.get_weights().items()}
    n = len(model.layers)
    state = {}
    for t in range(1, 4):
        grad_W, grad_b = model.backward(y, model.forward(X))
        grads = {}
        for i in range(n):
            grads[f"W{i}"] = grad_W[n - 1 - i]
            grads[f"b{i}"] = np.reshape(grad_b[n - 1 - i], params[f"b{i}"].shape)
        model.update_weights()
        _reference_step(optimizer, state, params, grads, t, lr, weight_decay)
        got = model.get_weights()
        for key in params:
            np.testing.assert_allclose(np.reshape(got[key], params[key].shape), params[key], rtol=1e-9, atol=1e-12,
                                       err_msg=f"{optimizer} step {t} {key}")


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_weight_decay_shrinks_weights(optimizer, mnist_slice):
    X, y = mnist_slice.X[:1000], mnist_slice.y[:1000]

    def trained_norm(wd):
        model = NeuralNetwork({"num_layers": 1, "hidden_size": [32], "optimizer": optimizer,
                               "learning_rate": LEARNING_RATES[optimizer], "weight_decay": wd, "seed": 1})
        fit(model, X, y, epochs=2, batch_size=50)
        return sum(float(np.sum(w ** 2)) for k, w in model.get_weights().items() if k.startswith("W"))

    assert trained_norm(0.05) < 0.95 * trained_norm(0.0)


# -- zeros init keeps the hidden neurons identical ----------------------------------------------
@pytest.mark.parametrize("optimizer, learning_rate", [("sgd", 2.0), ("adam", 1e-2)])
def test_zeros_init_keeps_hidden_neurons_identical(optimizer, learning_rate, mnist_slice):
    """Sigmoid (so the hidden layer is not stuck at exactly 0): every hidden neuron of a layer gets the same
    gradient, so the columns of its W (and entries of b) stay equal to each other."""
    X, y = mnist_slice.X, mnist_slice.y
    model = NeuralNetwork({"num_layers": 2, "hidden_size": [16, 8], "activation": "sigmoid", "weight_init": "zeros",
                           "optimizer": optimizer, "learning_rate": learning_rate, "seed": 0})
    fit(model, X, y, epochs=2, batch_size=100)
    weights = model.get_weights()
    for i in (0, 1):
        W, b = weights[f"W{i}"], np.reshape(weights[f"b{i}"], -1)
        scale = np.abs(W).max()
        assert scale > 1e-5, f"W{i} never moved off zero: the test would be vacuous"
        assert np.max(np.abs(W - W[:, :1])) <= 1e-9 * scale, f"columns of W{i} differ"
        assert np.max(np.abs(b - b[0])) <= 1e-9 * max(np.abs(b).max(), 1e-12)
    # the output layer does learn different things per class
    assert np.ptp(weights["W2"], axis=1).max() > 1e-3
    # and an otherwise identical xavier model does break the symmetry
    xavier = NeuralNetwork({"num_layers": 2, "hidden_size": [16, 8], "activation": "sigmoid", "seed": 0})
    W = xavier.get_weights()["W0"]
    assert np.max(np.abs(W - W[:, :1])) > 1e-3


# -- a real model reaches a real accuracy -----------------------------------------------------------
def test_relu_adam_3x64_reaches_sensible_test_accuracy(mnist):
    X, y = mnist.X_train[:5000], mnist.y_train[:5000]
    model = NeuralNetwork({"num_layers": 3, "hidden_size": [64], "activation": "relu", "optimizer": "adam",
                           "learning_rate": 2e-3, "seed": 0})
    history = fit(model, X, y, epochs=5, batch_size=64, X_val=mnist.X_train[-2000:], y_val=mnist.y_train[-2000:])
    assert history[-1]["train_acc"] > history[0]["train_acc"]
    assert history[-1]["val_acc"] > 0.85
    scores = model.evaluate(mnist.X_test, mnist.y_test)
    assert scores["accuracy"] > 0.85, scores["accuracy"]
    assert set(scores) >= {"logits", "loss", "accuracy", "f1", "precision", "recall"}
    assert scores["logits"].shape == (10000, 10)
    assert 0.8 < scores["f1"] <= 1 and 0.8 < scores["precision"] <= 1 and 0.8 < scores["recall"] <= 1
    assert scores["accuracy"] == pytest.approx(np.mean(model.predict(mnist.X_test) == mnist.y_test), abs=0)


def test_training_is_reproducible_with_a_seed_and_shuffles(mnist_slice):
    X, y = mnist_slice.X[:500], mnist_slice.y[:500]

    def train(seed, rng=None):
        model = NeuralNetwork({"num_layers": 1, "hidden_size": [16], "seed": seed})
        fit(model, X, y, epochs=1, batch_size=32, rng=rng)
        return model.get_weights()["W0"]

    np.testing.assert_array_equal(train(4), train(4))
    assert not np.array_equal(train(4), train(5))
    # same initial weights, different shuffling -> different result: the batches are drawn in a seeded order
    a, b = train(4, np.random.default_rng(1)), train(4, np.random.default_rng(2))
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, train(4, np.random.default_rng(1)))


def test_non_finite_loss_raises_diverged(mnist_slice):
    model = NeuralNetwork({"num_layers": 1, "hidden_size": [8], "seed": 0})
    weights = model.get_weights()
    weights["W1"][0, 0] = np.nan
    model.set_weights(weights)
    seen = []
    with np.errstate(all="ignore"), pytest.raises(Diverged):
        fit(model, mnist_slice.X[:200], mnist_slice.y[:200], epochs=2, batch_size=50, on_epoch=seen.append)
    assert seen == []  # stopped within the first epoch


# -- mlp stays pure NumPy ------------------------------------------------------------------------------
def test_mlp_imports_no_runner_store_wandb_or_sqlite():
    code = (
        "import json, pkgutil, importlib, sys\n"
        "import mlp, mlp.training, mlp.data\n"
        "for m in pkgutil.iter_modules(mlp.__path__):\n"
        "    importlib.import_module('mlp.' + m.name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    modules = json.loads(out.stdout)
    assert "mlp.neural_network" in modules and "mlp.training" in modules and "mlp.data" in modules
    forbidden = ("runner", "store", "wandb", "sqlite3", "_sqlite3", "sqlite_utils",
                 "torch", "tensorflow", "jax", "keras")
    leaked = [m for m in modules if m.split(".")[0] in forbidden]
    assert leaked == []


# -- learning-rate schedule ----------------------------------------------------------------------------
def test_cosine_schedule_ends_at_one_percent():
    cosine = SCHEDULES["cosine"]
    total = 1000
    lrs = [cosine(0.1, step, total) for step in range(total + 1)]
    assert lrs[0] == pytest.approx(0.1)
    assert lrs[-1] == pytest.approx(0.001, rel=1e-9)
    assert lrs[total // 2] == pytest.approx(0.1 * (0.01 + 0.99 * 0.5), rel=1e-9)
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    assert SCHEDULES["constant"](0.1, 500, total) == 0.1


def test_cosine_schedule_stays_at_its_floor_past_the_end_and_in_a_one_step_run():
    cosine = SCHEDULES["cosine"]
    assert cosine(0.1, 1500, 1000) == pytest.approx(0.001, rel=1e-9)  # not back up the cosine
    assert cosine(0.1, 0, 1) == pytest.approx(0.1) and cosine(0.1, 1, 1) == pytest.approx(0.001, rel=1e-9)


def test_fit_with_cosine_schedule_lowers_lr_to_about_one_percent(mnist_slice):
    model = NeuralNetwork({"num_layers": 1, "hidden_size": [16], "optimizer": "sgd", "learning_rate": 0.1})
    history = fit(model, mnist_slice.X[:1000], mnist_slice.y[:1000], epochs=4, batch_size=20, lr_schedule="cosine")
    lrs = [h["learning_rate"] for h in history]  # the rate of each epoch's last step (200 steps in all)
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    assert 0.001 <= lrs[-1] <= 0.00101  # the last step sits at ~1% of the base rate
    assert lrs[0] < 0.1
    assert model.optimizer.learning_rate == 0.1  # never changed: each step's rate is handed to the step


# -- augmentation ----------------------------------------------------------------------------------------
def _shifted(image, dy, dx):
    """``image`` moved down by dy and right by dx, zeros shifted in."""
    out = np.zeros_like(image)
    h, w = image.shape
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = image[max(-dy, 0):h + min(-dy, 0),
                                                                      max(-dx, 0):w + min(-dx, 0)]
    return out


def test_shift_augmentation_keeps_shapes_and_moves_pixels(mnist_slice):
    X = mnist_slice.X[:200]
    rng = np.random.default_rng(0)
    shifted = shift_images(X, 2, rng)
    assert shifted.shape == X.shape and shifted.dtype == X.dtype
    assert shift_images(X.astype(np.float32), 2, rng).dtype == np.float32  # a float32 run stays float32
    assert np.any(shifted != X)
    images, moved = X.reshape(-1, 28, 28), shifted.reshape(-1, 28, 28)
    seen_shifts = set()
    for original, result in zip(images, moved):
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                   if np.array_equal(_shifted(original, dy, dx), result)]
        assert matches, "each image must be its original moved by at most 2 pixels each way (0 filled in)"
        assert result.sum() <= original.sum() + 1e-9  # ink is moved or cut off, never made
        seen_shifts.update(matches)
    assert len(seen_shifts) > 10  # many different shifts were drawn
    np.testing.assert_array_equal(shift_images(X, 0, rng), X)


def test_fit_with_augmentation_still_learns(mnist_slice):
    model = NeuralNetwork({"num_layers": 1, "hidden_size": [32], "seed": 0})
    history = fit(model, mnist_slice.X, mnist_slice.y, epochs=2, batch_size=64, augment=2)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert np.mean(model.predict(mnist_slice.X) == mnist_slice.y) > 0.7


def test_subnormal_weights_and_moments_are_flushed_to_zero():
    """Decayed weights of blank pixels sink below float32's smallest normal number and slow every step ~100x."""
    from mlp.optimizers import FLUSH_EVERY, OPTIMIZERS

    tiny = np.finfo(np.float32).tiny
    for name, optimizer_class in OPTIMIZERS.items():
        params = np.array([tiny / 8, -tiny / 3, 0.5, -2.0], dtype=np.float32)
        optimizer = optimizer_class(4, 1e-3, weight_decay=1e-4, dtype=np.float32)
        for array in optimizer.state:
            array[:] = tiny / 4
        grads = np.array([0, 0, 0.1, -0.1], dtype=np.float32)
        for _ in range(FLUSH_EVERY):
            optimizer.step(params, grads)
        for array in (params, *optimizer.state):
            assert not np.any((array != 0) & (np.abs(array) < tiny)), name
        assert abs(params[2]) > 0.1 and abs(params[3]) > 1.0, name


def test_training_accepts_one_hot_labels(mnist_slice):
    """backward takes integer or one-hot labels; so does training, with the same result."""
    from mlp.objective_functions import one_hot

    runs = []
    for labels in (mnist_slice.y, one_hot(mnist_slice.y, 10)):
        model = NeuralNetwork({"num_layers": 1, "hidden_size": [16], "seed": 3})
        history = model.train(mnist_slice.X, labels, epochs=1, batch_size=64)
        runs.append((history[0]["train_loss"], history[0]["train_acc"], model.get_weights()["W0"]))
    assert runs[0][0] == runs[1][0] and runs[0][1] == runs[1][1] and np.array_equal(runs[0][2], runs[1][2])


def test_fit_reports_each_epochs_scores_as_scikit_learn_computes_them(mnist_slice):
    """With a step too small to move the weights, an epoch's mean batch loss and accuracy are the fixed model's
    over the whole training slice, and the validation scores are its macro scores on the validation slice."""
    from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_score, recall_score

    X, y, X_val, y_val = mnist_slice.X[:300], mnist_slice.y[:300], mnist_slice.X[300:500], mnist_slice.y[300:500]
    model = NeuralNetwork({"num_layers": 1, "hidden_size": [16], "optimizer": "sgd", "learning_rate": 1e-12, "seed": 2})

    def probabilities(X):
        E = np.exp(model.forward(X))
        return E / E.sum(axis=1, keepdims=True)

    P, P_val = probabilities(X), probabilities(X_val)
    steps, started = [], time.perf_counter()
    (metrics,) = fit(model, X, y, epochs=1, batch_size=64, X_val=X_val, y_val=y_val,
                     on_step=lambda step, m: steps.append(step))
    elapsed = time.perf_counter() - started
    assert steps == [1, 2, 3, 4, 5]  # ceil(300 / 64) batches, counted from 1
    assert metrics["epoch"] == 1 and 0 < metrics["seconds"] <= elapsed
    assert metrics["train_loss"] == pytest.approx(log_loss(y, P, labels=range(10)), rel=1e-9)
    assert metrics["train_acc"] == accuracy_score(y, P.argmax(axis=1))
    assert metrics["val_loss"] == pytest.approx(log_loss(y_val, P_val, labels=range(10)), rel=1e-9)
    predicted = P_val.argmax(axis=1)
    assert metrics["val_acc"] == accuracy_score(y_val, predicted)
    for name, score in (("f1", f1_score), ("precision", precision_score), ("recall", recall_score)):
        assert metrics[f"val_{name}"] == pytest.approx(score(y_val, predicted, average="macro", zero_division=0))


@pytest.mark.parametrize("option", [{"augment": 1}, {"flip": 1}])
def test_each_augmentation_changes_what_is_trained_on(mnist_slice, option):
    weights = []
    for extra in ({}, option):
        model = NeuralNetwork({"num_layers": 1, "hidden_size": [16], "seed": 4})
        fit(model, mnist_slice.X[:200], mnist_slice.y[:200], epochs=1, batch_size=50, **extra)
        weights.append(model.get_weights()["W0"])
    assert np.abs(weights[0] - weights[1]).max() > 1e-4


def test_a_diverging_run_raises_diverged_without_numpy_warnings(mnist_slice):
    model = NeuralNetwork({"num_layers": 3, "hidden_size": [64], "optimizer": "sgd", "learning_rate": 1e12})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow warning would surface as an exception here
        with pytest.raises(Diverged):
            fit(model, mnist_slice.X[:500], mnist_slice.y[:500], epochs=3, batch_size=50)


def test_fit_draws_dropout_masks_from_its_generator(mnist_slice):
    weights = []
    for dropout in (0.0, 0.5, 0.5):
        model = NeuralNetwork({"num_layers": 1, "hidden_size": [16], "dropout": dropout, "seed": 4})
        fit(model, mnist_slice.X[:200], mnist_slice.y[:200], epochs=1, batch_size=50)
        weights.append(model.get_weights()["W0"])
    assert np.abs(weights[0] - weights[1]).max() > 1e-3  # masks were drawn
    np.testing.assert_array_equal(weights[1], weights[2])  # from the run's seeded generator


def test_the_skeletons_train_follows_the_config_and_its_arguments_override_it(mnist_slice):
    X, y = mnist_slice.X[:66], mnist_slice.y[:66]
    model = NeuralNetwork({"num_layers": 1, "hidden_size": [8], "epochs": 3, "batch_size": 22, "optimizer": "sgd",
                           "learning_rate": 0.1, "lr_schedule": "cosine"})
    history = model.train(X, y)
    assert len(history) == 3 and model.optimizer.t == 9  # 3 epochs of ceil(66 / 22) steps
    assert history[-1]["learning_rate"] == pytest.approx(SCHEDULES["cosine"](0.1, 8, 9))  # the schedule's last step
    again = NeuralNetwork({"num_layers": 1, "hidden_size": [8], "epochs": 3, "batch_size": 22})
    assert len(again.train(X, y, epochs=1, batch_size=33)) == 1 and again.optimizer.t == 2
    assert again.config["epochs"] == 3, "an override is for that call only"


def test_flip_mirrors_about_half_of_the_images_left_right(mnist_slice):
    X = mnist_slice.X[:400]
    flipped = flip_images(X, np.random.default_rng(0))
    images, result = X.reshape(-1, 28, 28), flipped.reshape(-1, 28, 28)
    mirrored = np.array([np.array_equal(r, i[:, ::-1]) for i, r in zip(images, result)])
    kept = np.array([np.array_equal(r, i) for i, r in zip(images, result)])
    assert np.all(mirrored | kept)
    assert 150 < np.count_nonzero(mirrored & ~kept) < 250
    assert flipped.dtype == X.dtype and np.array_equal(X, mnist_slice.X[:400])  # the input is left alone


def test_runs_without_flip_or_dropout_draw_the_same_random_sequence(mnist_slice):
    """Options added later must not change the runs recorded before them."""
    X, y = mnist_slice.X[:300], mnist_slice.y[:300]
    models = [NeuralNetwork({"num_layers": 1, "hidden_size": [16], "seed": 0, **extra})
              for extra in ({}, {"flip": 0, "dropout": 0.0}, {"flip": 1, "dropout": 0.3})]
    for model in models:
        fit(model, X, y, epochs=1, batch_size=50, flip=model.config["flip"])
    np.testing.assert_array_equal(models[0].params, models[1].params)
    assert not np.array_equal(models[0].params, models[2].params)
