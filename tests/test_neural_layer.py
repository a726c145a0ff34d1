"""mlp/neural_layer.py: the three initialisations, each against its definition, and seeded."""
import math

import numpy as np
import pytest

from mlp import NeuralNetwork


def test_zeros_init_is_all_zero():
    weights = NeuralNetwork({"weight_init": "zeros", "num_layers": 2, "hidden_size": [50]}).get_weights()
    assert len(weights) == 6
    assert all(np.all(v == 0) for v in weights.values())


def test_random_init_is_small_gaussian_with_zero_biases():
    weights = NeuralNetwork({"weight_init": "random", "num_layers": 1, "hidden_size": [300], "seed": 4}).get_weights()
    W = weights["W0"]
    assert 0 < W.std() < 0.1 and abs(W.mean()) < 0.1 * W.std()
    # Gaussian: about 68% within one standard deviation (uniform would give ~58%)
    assert 0.66 < np.mean(np.abs(W - W.mean()) < W.std()) < 0.70
    assert all(np.all(weights[k] == 0) for k in weights if k.startswith("b"))


def test_xavier_init_has_glorot_scale():
    """Glorot uniform on [-l, l], l = sqrt(6 / (fan_in + fan_out)): with 156,800 draws in W0 the largest |w|
    lies within 0.1% of l, and the std is l / sqrt(3) within 1% (a limit off by a few percent fails)."""
    weights = NeuralNetwork({"weight_init": "xavier", "num_layers": 1, "hidden_size": [200], "seed": 4}).get_weights()
    # 784x200 and 200x10 draws: the max's slack and the std's tolerance are over 5 standard errors
    for W, slack, rel in ((weights["W0"], 0.001, 0.01), (weights["W1"], 0.01, 0.05)):
        n_in, n_out = W.shape
        limit = math.sqrt(6.0 / (n_in + n_out))
        assert limit * (1 - slack) < np.abs(W).max() <= limit
        assert W.std() == pytest.approx(limit / math.sqrt(3), rel=rel)


def test_init_is_seeded():
    def weights(seed):
        return NeuralNetwork({"num_layers": 1, "hidden_size": [10], "seed": seed}).get_weights()["W0"]

    np.testing.assert_array_equal(weights(1), weights(1))
    assert not np.array_equal(weights(1), weights(2))
