"""mlp/weights.py: the one check of a weights dict, and its fit to a configuration, each fault named exactly."""
import numpy as np
import pytest

from mlp.options import resolve_config
from mlp.weights import WeightsError, check_fit, checked_layers


def weights_of(sizes):
    return {k: v for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]))
            for k, v in ((f"W{i}", np.ones((n_in, n_out))), (f"b{i}", np.zeros(n_out)))}


def test_checked_layers_gives_float64_arrays_in_order():
    Ws, bs = checked_layers({**weights_of([3, 4, 2]), "W1": np.ones((4, 2), dtype=np.float32)})
    assert [W.shape for W in Ws] == [(3, 4), (4, 2)] and [b.shape for b in bs] == [(4,), (2,)]
    assert all(a.dtype == np.float64 for a in (*Ws, *bs))


def test_weights_that_fit_the_configuration_pass():
    check_fit(weights_of([784, 32, 16, 10]), resolve_config({"hidden_size": [32, 16]}))


@pytest.mark.parametrize("sizes, message", [
    ([3, 32, 10], "weights map 3 inputs to 10 classes, but mnist needs 784 inputs and 10 classes"),
    ([784, 32, 5], "weights map 784 inputs to 5 classes, but mnist needs 784 inputs and 10 classes"),
    ([784, 32, 16, 10], "weights have hidden widths [32, 16] but the config says [32]: "
                        "pass the matching --config or -nhl/-sz"),
])
def test_weights_that_do_not_fit_are_named_with_what_the_configuration_needs(sizes, message):
    with pytest.raises(WeightsError) as refused:
        check_fit(weights_of(sizes), resolve_config({"hidden_size": [32]}))
    assert str(refused.value) == message
