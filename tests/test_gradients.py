"""backward() against central finite differences of the loss as SPEC section 3 defines it.

The loss used for the finite differences is written here, independently of
mlp.objective_functions: cross-entropy = mean over the batch of -log softmax at
the true class; MSE = mean((softmax(logits) - onehot)**2) over samples and classes.
"""
import math

import numpy as np
import pytest

from mlp import NeuralNetwork
from mlp.activations import ACTIVATIONS
from mlp.optimizers import OPTIMIZERS

N_IN, N_OUT, BATCH = 7, 4, 6
EPS = 1e-6
TOL = 1e-7
LOSSES = ("cross_entropy", "mean_squared_error")
HIDDEN = {1: [5], 2: [5, 3], 3: [6, 2, 4], 4: [3, 7, 2, 5]}  # uneven widths at every depth


# -- an independent definition of the two losses ---------------------------------------
def ref_log_softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def ref_loss(loss, logits, onehot):
    log_p = ref_log_softmax(logits)
    if loss == "cross_entropy":
        return -np.sum(onehot * log_p) / logits.shape[0]
    return np.mean((np.exp(log_p) - onehot) ** 2)


# -- helpers -----------------------------------------------------------------------------
def config(activation, loss, hidden, seed=1, **extra):
    return {"num_layers": len(hidden), "hidden_size": list(hidden), "activation": activation, "loss": loss,
            "seed": seed, "dtype": "float64", "input_size": N_IN, "output_size": N_OUT, **extra}


def batch(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(BATCH, N_IN))
    y = rng.integers(0, N_OUT, size=BATCH)
    y[:N_OUT] = np.arange(N_OUT)  # every class present
    return X, y, np.eye(N_OUT)[y]


def randomized_weights(model, seed, scale=1.0):
    """The model's weights with non-zero random biases (so bias gradients are not checked at 0 only)."""
    rng = np.random.default_rng(seed)
    weights = model.get_weights()
    for key, value in weights.items():
        if key.startswith("b"):
            weights[key] = rng.normal(0.0, 0.5, size=value.shape)
        else:
            weights[key] = value * scale
    return weights


def numerical_gradients(cfg, weights, X, onehot, loss):
    """Central differences of ref_loss for every entry of every W and b."""
    probe = NeuralNetwork(cfg)
    grads = {}
    for key in weights:
        grad = np.zeros_like(weights[key], dtype=np.float64)
        for idx in np.ndindex(*weights[key].shape):
            values = []
            for sign in (+1, -1):
                shifted = {k: v.copy() for k, v in weights.items()}
                shifted[key][idx] += sign * EPS
                probe.set_weights(shifted)
                values.append(ref_loss(loss, probe.forward(X), onehot))
            grad[idx] = (values[0] - values[1]) / (2 * EPS)
        grads[key] = grad
    return grads


def analytical(model, X, labels):
    logits = model.forward(X)
    return model.backward(labels, logits)


def check_against_fd(cfg, weights, X, y, onehot, labels, loss):
    model = NeuralNetwork(cfg)
    model.set_weights(weights)
    grad_W, grad_b = analytical(model, X, labels)
    numeric = numerical_gradients(cfg, weights, X, onehot, loss)
    n = len(grad_W)
    worst = 0.0
    for i in range(n):  # input-to-output index i is backward index n-1-i
        gW, gb = grad_W[n - 1 - i], np.reshape(grad_b[n - 1 - i], (1, -1))
        assert gW.shape == weights[f"W{i}"].shape
        worst = max(worst, np.max(np.abs(gW - numeric[f"W{i}"])),
                    np.max(np.abs(gb - np.reshape(numeric[f"b{i}"], (1, -1)))))
    assert worst <= TOL, f"max |analytical - finite difference| = {worst:.3g} > {TOL}"
    largest = max(np.max(np.abs(g)) for g in (*grad_W, *grad_b))
    assert largest > 1e-4, "gradients are all (near) zero: the check would be vacuous"
    return grad_W, grad_b


# -- the finite-difference grid -----------------------------------------------------------
@pytest.mark.parametrize("depth", sorted(HIDDEN))
@pytest.mark.parametrize("label_kind", ("int", "onehot"))
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_backward_matches_finite_differences(activation, loss, label_kind, depth):
    cfg = config(activation, loss, HIDDEN[depth], seed=depth)
    X, y, onehot = batch(seed=depth)
    weights = randomized_weights(NeuralNetwork(cfg), seed=10 + depth)
    labels = y if label_kind == "int" else onehot
    check_against_fd(cfg, weights, X, y, onehot, labels, loss)


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_cross_entropy_gradient_with_saturated_logits(activation):
    """Logits ~40 apart push softmax to ~0/1: clipping probabilities (as sklearn's log-loss does) would break
    the match. (Cross-entropy only: under MSE a saturated softmax has a vanishing gradient, a vacuous check.)"""
    loss = "cross_entropy"
    cfg = config(activation, loss, [6, 4], seed=3)
    X, y, onehot = batch(seed=3)
    weights = randomized_weights(NeuralNetwork(cfg), seed=4)
    model = NeuralNetwork(cfg)
    model.set_weights(weights)
    logits = model.forward(X)
    spread = np.max(logits.max(axis=1) - logits.min(axis=1))
    weights["W2"] *= 40.0 / spread  # the output layer: logits now spread over ~40
    weights["b2"] *= 40.0 / spread
    model.set_weights(weights)
    p = np.exp(ref_log_softmax(model.forward(X)))
    assert p.min() < 1e-8, "the example must actually saturate the softmax"
    check_against_fd(cfg, weights, X, y, onehot, y, loss)


# -- the shape of what backward returns ---------------------------------------------------
@pytest.mark.parametrize("depth", sorted(HIDDEN))
def test_backward_returns_object_arrays_output_layer_first(depth):
    hidden = HIDDEN[depth]
    cfg = config("tanh", "cross_entropy", hidden, seed=2)
    model = NeuralNetwork(cfg)
    X, y, _ = batch()
    returned = analytical(model, X, y)
    assert isinstance(returned, tuple) and len(returned) == 2
    grad_W, grad_b = returned
    sizes = [N_IN, *hidden, N_OUT]
    n = len(sizes) - 1
    for arr in (grad_W, grad_b):
        assert isinstance(arr, np.ndarray) and arr.dtype == object and arr.shape == (n,)
    for j in range(n):  # j = 0 is the output layer
        n_in, n_out = sizes[n - 1 - j], sizes[n - j]
        assert grad_W[j].shape == (n_in, n_out)
        assert grad_b[j].shape == (1, n_out)
    assert grad_W[0].shape == (hidden[-1], N_OUT)
    # stored on the model ...
    assert model.grad_W is not None and model.grad_b is not None
    for j in range(n):
        np.testing.assert_array_equal(model.grad_W[j], grad_W[j])
        np.testing.assert_array_equal(model.grad_b[j], grad_b[j])
    # ... and on every layer, in input-to-output order
    assert len(model.layers) == n
    for i, layer in enumerate(model.layers):
        assert layer.grad_W.shape == (sizes[i], sizes[i + 1])
        assert layer.grad_b.shape == (1, sizes[i + 1])
        np.testing.assert_array_equal(layer.grad_W, grad_W[n - 1 - i])
        np.testing.assert_array_equal(layer.grad_b, grad_b[n - 1 - i])


def test_layer_gradients_follow_each_backward_call():
    model = NeuralNetwork(config("relu", "cross_entropy", [5, 3]))
    X1, y1, _ = batch(seed=1)
    X2, y2, _ = batch(seed=2)
    first = [layer.grad_W.copy() for layer in model.layers]
    model.backward(y1, model.forward(X1))
    after_1 = [layer.grad_W.copy() for layer in model.layers]
    returned_1 = model.backward(y1, model.forward(X1))[0]
    model.backward(y2, model.forward(X2))
    after_2 = [layer.grad_W.copy() for layer in model.layers]
    assert any(not np.array_equal(a, b) for a, b in zip(after_1, after_2))
    assert any(not np.array_equal(a, b) for a, b in zip(first, after_1))
    # the arrays returned earlier are not overwritten by later calls
    for i, layer_grad in enumerate(after_1):
        np.testing.assert_array_equal(returned_1[len(after_1) - 1 - i], layer_grad)


@pytest.mark.parametrize("loss", LOSSES)
def test_integer_and_one_hot_labels_give_the_same_gradients(loss):
    model = NeuralNetwork(config("sigmoid", loss, [6, 3]))
    X, y, onehot = batch(seed=5)
    gW_int, gb_int = [list(g) for g in analytical(model, X, y)]
    gW_hot, gb_hot = [list(g) for g in analytical(model, X, onehot)]
    for a, b in zip(gW_int + gb_int, gW_hot + gb_hot):
        np.testing.assert_array_equal(a, b)


# -- weight decay is not in the gradient ----------------------------------------------------
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_weight_decay_does_not_change_backward(optimizer):
    plain = NeuralNetwork(config("tanh", "cross_entropy", [5, 3], optimizer=optimizer, weight_decay=0.0))
    decayed = NeuralNetwork(config("tanh", "cross_entropy", [5, 3], optimizer=optimizer, weight_decay=0.5))
    for key, value in plain.get_weights().items():
        np.testing.assert_array_equal(value, decayed.get_weights()[key])
    X, y, onehot = batch(seed=7)
    gW0, gb0 = analytical(plain, X, y)
    gW1, gb1 = analytical(decayed, X, y)
    for a, b in zip([*gW0, *gb0], [*gW1, *gb1]):
        np.testing.assert_array_equal(a, b)
    # and it is the gradient of the *data* loss alone
    cfg = config("tanh", "cross_entropy", [5, 3], optimizer=optimizer, weight_decay=0.5)
    check_against_fd(cfg, decayed.get_weights(), X, y, onehot, y, "cross_entropy")


# -- the loss values, worked by hand ---------------------------------------------------------
def test_cross_entropy_worked_by_hand():
    model = NeuralNetwork(config("relu", "cross_entropy", [3]))
    # softmax([0, ln 3]) = [1/4, 3/4]; label 1 -> -ln(3/4) = ln(4/3)
    assert model.compute_loss(np.array([1]), np.array([[0.0, math.log(3)]])) == pytest.approx(math.log(4 / 3), abs=1e-15)
    assert model.compute_loss(np.array([[0.0, 1.0]]), np.array([[0.0, math.log(3)]])) == pytest.approx(math.log(4 / 3), abs=1e-15)
    # a batch is averaged: second row softmax([ln 3, 0]) = [3/4, 1/4]; label 1 -> ln 4
    logits = np.array([[0.0, math.log(3)], [math.log(3), 0.0]])
    assert model.compute_loss(np.array([1, 1]), logits) == pytest.approx((math.log(4 / 3) + math.log(4)) / 2, abs=1e-15)
    # stable for huge logits (log-sum-exp): -log softmax([1000, 0])[1] = 1000 (+ log(1 + e^-1000))
    huge = model.compute_loss(np.array([1]), np.array([[1000.0, 0.0]]))
    assert math.isfinite(huge) and huge == pytest.approx(1000.0, rel=1e-12)
    assert model.compute_loss(np.array([0]), np.array([[1000.0, 0.0]])) == pytest.approx(0.0, abs=1e-12)


def test_mean_squared_error_worked_by_hand():
    model = NeuralNetwork(config("relu", "mean_squared_error", [3]))
    # softmax([0, ln 3]) = [1/4, 3/4] vs [0, 1]: ((1/4)^2 + (1/4)^2) / 2 = 1/16
    assert model.compute_loss(np.array([1]), np.array([[0.0, math.log(3)]])) == pytest.approx(1 / 16, abs=1e-15)
    # mean over samples *and* classes: rows give 2/16 and 18/16, four entries -> 20/64
    logits = np.array([[0.0, math.log(3)], [math.log(3), 0.0]])
    assert model.compute_loss(np.array([1, 1]), logits) == pytest.approx(5 / 16, abs=1e-15)
    assert model.compute_loss(np.eye(2)[[1, 1]], logits) == pytest.approx(5 / 16, abs=1e-15)


@pytest.mark.parametrize("loss, d_logits", [
    # cross-entropy: (softmax - onehot) / b = [1/4, -1/4]
    ("cross_entropy", [0.25, -0.25]),
    # MSE: dL/dp = 2 (p - y) / (b C) = [1/4, -1/4]; dL/dz_j = p_j (dL/dp_j - sum_k dL/dp_k p_k), sum = -1/8
    #      -> [1/4 * (1/4 + 1/8), 3/4 * (-1/4 + 1/8)] = [3/32, -3/32]
    ("mean_squared_error", [3 / 32, -3 / 32]),
])
def test_gradient_of_a_linear_model_worked_by_hand(loss, d_logits):
    """One layer (no hidden): x = [1, 2], W = [[0, ln 3], [0, 0]], b = 0 -> logits [0, ln 3]; label 1."""
    model = NeuralNetwork(config("relu", loss, [3], input_size=2, output_size=2))
    model.set_weights({"W0": np.array([[0.0, math.log(3)], [0.0, 0.0]]), "b0": np.zeros(2)})
    X = np.array([[1.0, 2.0]])
    logits = model.forward(X)
    np.testing.assert_allclose(logits, [[0.0, math.log(3)]], atol=1e-15)
    grad_W, grad_b = model.backward(np.array([1]), logits)
    assert len(grad_W) == 1
    d = np.array([d_logits])
    np.testing.assert_allclose(grad_b[0], d, atol=1e-15)
    np.testing.assert_allclose(grad_W[0], X.T @ d, atol=1e-15)  # [[d0, d1], [2 d0, 2 d1]]
    np.testing.assert_allclose(grad_W[0][1], 2 * np.array(d_logits), atol=1e-15)


# -- dropout: with the masks held fixed, backward is the exact gradient of the masked network ---------------
REF_ACTIVATIONS = {"sigmoid": lambda Z: 1 / (1 + np.exp(-Z)), "tanh": np.tanh, "relu": lambda Z: np.maximum(Z, 0)}


def masked_reference_loss(weights, masks, activation, loss, X, onehot):
    """The network written out here: each hidden output times its dropout mask (0 or 1/(1-p))."""
    A, n = X, len(masks) + 1
    for i in range(n):
        Z = A @ weights[f"W{i}"] + np.reshape(weights[f"b{i}"], (1, -1))
        A = REF_ACTIVATIONS[activation](Z) * masks[i] if i < n - 1 else Z
    return ref_loss(loss, A, onehot)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_dropout_backward_matches_finite_differences_of_the_masked_network(activation, loss):
    rate = 0.4
    cfg = config(activation, loss, [6, 5], seed=7, dropout=rate)
    X, y, onehot = batch(seed=7)
    model = NeuralNetwork(cfg)
    weights = randomized_weights(model, seed=8)
    model.set_weights(weights)
    grad_W, grad_b = model.backward(y, model.forward(X, dropout_rng=np.random.default_rng(0)))
    masks = [layer.keep.copy() for layer in model.layers[:-1]]
    assert all(set(np.unique(m)) == {0.0, 1 / (1 - rate)} for m in masks), "masks are 0 or 1/(1-p)"
    assert model.layers[-1].keep is None, "the output layer is never dropped"
    worst = 0.0
    for i in range(len(model.layers)):
        for key, analytic in ((f"W{i}", grad_W[-1 - i]), (f"b{i}", np.reshape(grad_b[-1 - i], -1))):
            for idx in np.ndindex(*weights[key].shape):
                values = []
                for sign in (+1, -1):
                    shifted = {k: v.copy() for k, v in weights.items()}
                    shifted[key][idx] += sign * EPS
                    values.append(masked_reference_loss(shifted, masks, activation, loss, X, onehot))
                worst = max(worst, abs((values[0] - values[1]) / (2 * EPS) - np.reshape(analytic, weights[key].shape)[idx]))
    assert worst <= TOL, f"max |analytical - finite difference| = {worst:.3g} > {TOL}"


def test_dropout_is_off_without_a_generator_and_at_rate_zero():
    X, _, _ = batch(seed=9)
    dropped = NeuralNetwork(config("relu", "cross_entropy", [6, 5], dropout=0.5))
    plain = NeuralNetwork(config("relu", "cross_entropy", [6, 5]))
    np.testing.assert_array_equal(dropped.forward(X), plain.forward(X))  # evaluation never drops
    np.testing.assert_array_equal(plain.forward(X, dropout_rng=np.random.default_rng(0)), plain.forward(X))
    assert not np.array_equal(dropped.forward(X, dropout_rng=np.random.default_rng(0)), plain.forward(X))
