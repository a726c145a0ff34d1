"""mlp/optimizers.py details the textbook-update tests leave open: a float32 network keeps every optimizer buffer in
float32, the periodic flush zeroes exactly the subnormal numbers (IEEE 754), and weight decay is applied in the step,
never to the exposed gradients."""
import numpy as np
import pytest

from mlp import NeuralNetwork
from mlp.optimizers import FLUSH_EVERY, OPTIMIZERS, flush_subnormals


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_a_float32_network_keeps_its_optimizer_buffers_in_float32(optimizer, mnist_slice):
    """float32 halves the memory each step sweeps through; one float64 buffer would double it for that pass."""
    model = NeuralNetwork({"num_layers": 1, "hidden_size": [8], "optimizer": optimizer, "weight_decay": 0.01},
                          dtype=np.float32)
    model.train_step(mnist_slice.X[:16].astype(np.float32), np.eye(10, dtype=np.float32)[mnist_slice.y[:16]])
    buffers = {name: value for name, value in vars(model.optimizer).items() if isinstance(value, np.ndarray)}
    assert buffers and {name: value.dtype for name, value in buffers.items()} == dict.fromkeys(buffers, np.float32)
    assert model.params.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flush_zeroes_the_subnormals_and_keeps_every_normal_number(dtype):
    tiny = np.finfo(dtype).tiny  # the smallest positive normal number
    values = np.array([tiny, -tiny, tiny / 2, -tiny / 4, np.nextafter(tiny, 0), 0.0, 1.0, -3.5], dtype=dtype)
    flush_subnormals(values)
    np.testing.assert_array_equal(values, np.array([tiny, -tiny, 0, 0, 0, 0, 1, -3.5], dtype=dtype))


def test_the_optimizer_flushes_subnormal_weights_as_it_steps():
    """A weight in the subnormal range is 0 after the next flush (every FLUSH_EVERY steps); the others stay."""
    tiny = np.finfo(np.float64).tiny
    weights = {"W0": np.array([[tiny / 8, 1.0], [2.0, -3.0]]), "b0": np.array([0.5, -tiny / 2]),
               "W1": np.array([[0.25, tiny], [-1.0, 0.125]]), "b1": np.zeros(2)}
    model = NeuralNetwork({"optimizer": "sgd", "learning_rate": 0.1})
    model.set_weights(weights)  # every gradient 0: only the flush can change a weight
    for _ in range(FLUSH_EVERY):
        model.update_weights()
    after = model.get_weights()
    expected = {**weights, "W0": np.array([[0.0, 1.0], [2.0, -3.0]]), "b0": np.array([[0.5, 0.0]])}
    for key, value in expected.items():
        np.testing.assert_array_equal(after[key].reshape(value.shape), value, err_msg=key)


@pytest.mark.parametrize("optimizer, name, value", [("momentum", "momentum", 0.5), ("rmsprop", "beta", 0.5),
                                                    ("adam", "beta1", 0.5), ("adam", "beta2", 0.5),
                                                    ("nadam", "epsilon", 1e-3)])
def test_the_network_hands_its_optimizer_every_hyperparameter_of_its_config(optimizer, name, value):
    model = NeuralNetwork({"num_layers": 1, "hidden_size": [4], "optimizer": optimizer, name: value})
    assert getattr(model.optimizer, name) == value


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
