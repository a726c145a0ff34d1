"""mlp/metrics.py: macro precision, recall and F1 pinned against a hand-worked count."""
import warnings

import numpy as np
import pytest

from mlp import NeuralNetwork
from mlp.metrics import evaluate


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


def identity_classifier():
    """3 inputs -> 3 classes through identity layers: a one-hot input row predicts its own class."""
    model = NeuralNetwork({"num_layers": 1, "hidden_size": [3], "activation": "relu"})
    model.set_weights({"W0": np.eye(3), "b0": np.zeros(3), "W1": np.eye(3), "b1": np.zeros(3)})
    return model
