"""forward() against an independent reference; weights in and out; initialisation; dtype."""
import argparse
import math

import numpy as np
import pytest

from mlp import NeuralNetwork
from mlp.activations import ACTIVATIONS


# -- an independent reference: its own activation formulas, plain loops or einsum ------------
def ref_sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def ref_tanh(z):
    return (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z))


def ref_relu(z):
    return np.where(z > 0, z, 0.0)


REF_ACTIVATIONS = {"sigmoid": ref_sigmoid, "tanh": ref_tanh, "relu": ref_relu}
SCALAR_ACTIVATIONS = {"sigmoid": lambda z: 1 / (1 + math.exp(-z)), "tanh": math.tanh, "relu": lambda z: max(z, 0.0)}


def reference_forward(weights, X, activation):
    """einsum layer by layer; the last layer is linear."""
    n = sum(1 for k in weights if k.startswith("W"))
    A = np.asarray(X, dtype=np.float64)
    for i in range(n):
        Z = np.einsum("bi,io->bo", A, weights[f"W{i}"]) + np.reshape(weights[f"b{i}"], -1)
        A = Z if i == n - 1 else REF_ACTIVATIONS[activation](Z)
    return A


def loop_forward(weights, X, activation):
    """Plain Python loops over samples, units and inputs."""
    f = SCALAR_ACTIVATIONS[activation]
    n = sum(1 for k in weights if k.startswith("W"))
    out = []
    for x in X:
        a = [float(v) for v in x]
        for i in range(n):
            W, b = weights[f"W{i}"], np.reshape(weights[f"b{i}"], -1)
            z = [sum(a[k] * W[k, j] for k in range(W.shape[0])) + b[j] for j in range(W.shape[1])]
            a = z if i == n - 1 else [f(v) for v in z]
        out.append(a)
    return np.array(out)


def random_weights(sizes, seed, bias_shape="flat"):
    rng = np.random.default_rng(seed)
    weights = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        weights[f"W{i}"] = rng.normal(0, 1, size=(n_in, n_out))
        b = rng.normal(0, 1, size=n_out)
        weights[f"b{i}"] = b if bias_shape == "flat" else b.reshape(1, n_out)
    return weights


# -- forward against the references --------------------------------------------------------
@pytest.mark.parametrize("hidden", [[16], [32, 8], [20, 12, 6]])
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_forward_matches_reference(activation, hidden, mnist_slice):
    model = NeuralNetwork({"num_layers": len(hidden), "hidden_size": hidden, "activation": activation, "seed": 3})
    X = mnist_slice.X[:50]
    logits = model.forward(X)
    assert logits.shape == (50, 10)
    np.testing.assert_allclose(logits, reference_forward(model.get_weights(), X, activation), rtol=1e-10, atol=1e-12)
    # logits, not probabilities
    assert not np.allclose(logits.sum(axis=1), 1.0)


@pytest.mark.parametrize("bias_shape", ("flat", "row"))
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_toy_network_through_set_weights(activation, bias_shape):
    """2 inputs, hidden [3], 2 outputs; b given as (out,) or (1, out)."""
    weights = random_weights([2, 3, 2], seed=7, bias_shape=bias_shape)
    model = NeuralNetwork({"activation": activation})  # default 784-128x3-10: set_weights rebuilds it
    model.set_weights(weights)
    X = np.random.default_rng(8).normal(size=(5, 2))
    logits = model.forward(X)
    assert logits.shape == (5, 2)
    np.testing.assert_allclose(logits, loop_forward(weights, X, activation), rtol=1e-12, atol=1e-12)
    # the rebuilt layers have the contract's shapes
    assert [layer.W.shape for layer in model.layers] == [(2, 3), (3, 2)]
    assert [layer.b.shape for layer in model.layers] == [(1, 3), (1, 2)]
    got = model.get_weights()
    assert sorted(got) == ["W0", "W1", "b0", "b1"]
    for key, value in weights.items():
        np.testing.assert_array_equal(np.reshape(got[key], -1), np.reshape(value, -1))


def test_bias_as_vector_or_row_gives_the_same_logits():
    flat = random_weights([2, 3, 2], seed=9, bias_shape="flat")
    row = {k: (v.reshape(1, -1) if k.startswith("b") else v) for k, v in flat.items()}
    a, b = NeuralNetwork({"activation": "tanh"}), NeuralNetwork({"activation": "tanh"})
    a.set_weights(flat)
    b.set_weights(row)
    X = np.array([[0.3, -1.2], [2.0, 0.5]])
    np.testing.assert_array_equal(a.forward(X), b.forward(X))


def test_hand_worked_example():
    """x = [1, 2]
    layer 0: W0 = [[1, 0, -1], [0, 1, 1]], b0 = [0, -3, 0.5]
             z0 = [1*1 + 2*0 + 0, 1*0 + 2*1 - 3, 1*(-1) + 2*1 + 0.5] = [1, -1, 1.5]
             relu -> a0 = [1, 0, 1.5]
    layer 1: W1 = [[1, -1], [2, 0], [0, 2]], b1 = [0.5, 0]
             logits = [1*1 + 0*2 + 1.5*0 + 0.5, 1*(-1) + 0*0 + 1.5*2 + 0] = [1.5, 2.0]
    tanh instead: a0 = [tanh 1, tanh -1, tanh 1.5] = [0.761594..., -0.761594..., 0.905148...]
             logits = [tanh1 - 2 tanh1 + 0.5, -tanh1 + 2 tanh1.5] = [0.5 - tanh 1, 2 tanh 1.5 - tanh 1]
    """
    weights = {"W0": np.array([[1.0, 0.0, -1.0], [0.0, 1.0, 1.0]]), "b0": np.array([0.0, -3.0, 0.5]),
               "W1": np.array([[1.0, -1.0], [2.0, 0.0], [0.0, 2.0]]), "b1": np.array([0.5, 0.0])}
    X = np.array([[1.0, 2.0]])
    relu_model = NeuralNetwork({"activation": "relu"})
    relu_model.set_weights(weights)
    np.testing.assert_allclose(relu_model.forward(X), [[1.5, 2.0]], rtol=0, atol=1e-15)
    np.testing.assert_allclose(relu_model.layers[0].A, [[1.0, 0.0, 1.5]], rtol=0, atol=1e-15)
    tanh_model = NeuralNetwork({"activation": "tanh"})
    tanh_model.set_weights(weights)
    t1, t15 = 0.7615941559557649, 0.9051482536448664
    np.testing.assert_allclose(tanh_model.forward(X), [[0.5 - t1, 2 * t15 - t1]], rtol=1e-14)
    sig_model = NeuralNetwork({"activation": "sigmoid"})
    sig_model.set_weights(weights)
    # sigmoid at x = 0: z0 = b0 = [0, -3, 0.5] -> a0 = [1/2, s(-3), s(0.5)]
    s = SCALAR_ACTIVATIONS["sigmoid"]
    a0 = [0.5, s(-3.0), s(0.5)]
    expected = [a0[0] * 1 + a0[1] * 2 + a0[2] * 0 + 0.5, a0[0] * -1 + a0[1] * 0 + a0[2] * 2 + 0.0]
    np.testing.assert_allclose(sig_model.forward(np.zeros((1, 2))), [expected], rtol=1e-14)


# -- saving and loading ------------------------------------------------------------------------


def test_get_weights_returns_copies_in_input_to_output_order():
    model = NeuralNetwork({"num_layers": 2, "hidden_size": [6, 4], "input_size": 5, "output_size": 3})
    weights = model.get_weights()
    assert [weights[f"W{i}"].shape for i in range(3)] == [(5, 6), (6, 4), (4, 3)]
    assert [np.reshape(weights[f"b{i}"], -1).shape for i in range(3)] == [(6,), (4,), (3,)]
    X = np.ones((2, 5))
    before = model.forward(X).copy()
    weights["W0"][...] = 123.0  # editing the returned dict must not change the model
    np.testing.assert_array_equal(model.forward(X), before)


@pytest.mark.parametrize("bad", [
    {"W0": np.zeros((2, 3)), "b0": np.zeros(3), "W1": np.zeros((4, 2)), "b1": np.zeros(2)},  # 3 -> 4 do not chain
    {"W0": np.zeros((2, 3)), "b0": np.zeros(5)},  # bias of the wrong width
    {"W0": np.zeros((2, 3))},  # bias missing
    {"W0": np.zeros(6), "b0": np.zeros(3)},  # W not 2-D
])
def test_set_weights_rejects_weights_that_do_not_chain(bad):
    with pytest.raises(ValueError):
        NeuralNetwork().set_weights(bad)


def test_set_weights_rejects_a_bias_that_is_neither_out_nor_1_by_out():
    """SPEC 3: b may be (out,) or (1, out). A (2, 3) bias for a 6-wide layer is neither and must not be
    silently flattened into place."""
    weights = {"W0": np.zeros((2, 6)), "b0": np.arange(6.0).reshape(2, 3)}
    with pytest.raises(ValueError):
        NeuralNetwork().set_weights(weights)


# -- dtype ---------------------------------------------------------------------------------------
def test_float32_on_request_gives_float32_logits_close_to_float64(mnist_slice):
    cfg = {"num_layers": 2, "hidden_size": [64, 32], "activation": "sigmoid", "seed": 2}
    m64 = NeuralNetwork({**cfg, "dtype": "float32"})  # the config's dtype is how the runner trains, not this
    m32 = NeuralNetwork(cfg, dtype=np.float32)
    X = mnist_slice.X[:200]
    l64, l32 = m64.forward(X), m32.forward(X)
    assert l64.dtype == np.float64
    assert l32.dtype == np.float32
    np.testing.assert_allclose(l32, l64, rtol=1e-4, atol=1e-5)
    m32.set_weights(m64.get_weights())
    assert m32.forward(X).dtype == np.float32
    np.testing.assert_allclose(m32.forward(X), l64, rtol=1e-4, atol=1e-5)
    grad_W, grad_b = m32.backward(mnist_slice.y[:200], m32.forward(X))
    assert all(g.dtype == np.float32 for g in (*grad_W, *grad_b))


# -- construction from train.py options ------------------------------------------------------
def test_namespace_with_missing_attributes_takes_defaults():
    model = NeuralNetwork(argparse.Namespace())
    shapes = [w.shape for k, w in sorted(model.get_weights().items()) if k.startswith("W")]
    assert shapes == [(784, 128), (128, 128), (128, 128), (128, 10)]
    assert model.forward(np.zeros((3, 784))).shape == (3, 10)
    partial = NeuralNetwork(argparse.Namespace(num_layers=2, hidden_size=[16, 8], activation="tanh"))
    assert [layer.W.shape for layer in partial.layers] == [(784, 16), (16, 8), (8, 10)]
    X = np.random.default_rng(0).uniform(size=(4, 784))
    np.testing.assert_allclose(partial.forward(X), reference_forward(partial.get_weights(), X, "tanh"), rtol=1e-10)


def test_train_py_namespace_builds_the_model(train_module):
    args = train_module.build_parser().parse_args(["-nhl", "2", "-sz", "32", "-a", "sigmoid", "-w_i", "zeros"])
    model = NeuralNetwork(args)
    assert [layer.W.shape for layer in model.layers] == [(784, 32), (32, 32), (32, 10)]
    assert all(not np.any(v) for v in model.get_weights().values())
    args = train_module.build_parser().parse_args(["-nhl", "3", "-sz", "40", "30", "20"])
    assert [layer.W.shape for layer in NeuralNetwork(args).layers] == [(784, 40), (40, 30), (30, 20), (20, 10)]


# -- initialisation --------------------------------------------------------------------------------


def test_log_softmax_is_exact_for_rows_far_apart_in_scale():
    """Each row is shifted by its own maximum: a row a thousand below another, or a logit of a thousand, loses
    nothing (shifting by the batch's maximum, or adding it, would underflow or overflow exp)."""
    from mlp.activations import log_softmax

    logits = np.array([[1000.0, 0.0], [-1000.0, -1001.0]])
    expected = np.array([[0.0, -1000.0], [-math.log1p(math.exp(-1)), -1 - math.log1p(math.exp(-1))]])
    np.testing.assert_allclose(log_softmax(logits), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("classes", [2, 3])
def test_one_sample_takes_dropout_and_a_one_hot_label_as_a_batch_of_one_does(classes):
    model = NeuralNetwork({"num_layers": 1, "hidden_size": [32], "dropout": 0.5, "input_size": 6,
                           "output_size": classes})
    x = np.random.default_rng(0).random(6)
    one = model.forward(x, np.random.default_rng(1))
    np.testing.assert_array_equal(one, model.forward(x[None, :], np.random.default_rng(1))[0])
    assert not np.allclose(one, model.forward(x))  # the masks were drawn
    label, one_hot_label = 1, np.eye(classes)[1]
    logits = model.forward(x)
    assert model.compute_loss(one_hot_label, logits) == model.compute_loss(label, logits)
    by_label, by_row = model.backward(label, logits), model.backward(one_hot_label, logits)
    for a, b in zip(by_label[0], by_row[0]):
        np.testing.assert_array_equal(a, b)


def test_a_float32_models_dropout_keeps_float32():
    model = NeuralNetwork({"num_layers": 2, "hidden_size": [16], "dropout": 0.3}, dtype=np.float32)
    out = model.forward(np.ones((4, 784), dtype=np.float32), np.random.default_rng(0))
    assert out.dtype == np.float32 and all(layer.A.dtype == np.float32 for layer in model.layers)
