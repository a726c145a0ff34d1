"""mlp/options.py: the one table of options names each bad value with what it must be."""
import argparse

import pytest

from mlp.options import ConfigError, resolve_config


@pytest.mark.parametrize("values, message", [
    ({"epochs": True}, "epochs must be int; got True"),
    ({"epochs": 2.5}, "epochs must be int; got 2.5"),
    ({"hidden_size": []}, "hidden_size needs at least one value"),
    ({"num_layers": 2, "hidden_size": [8, 8, 8]}, "hidden_size has 3 values but num_layers is 2: give one value or 2"),
    ({"learning_rate": 0}, "learning_rate must be > 0; got 0"),
    ({"momentum": 1}, "momentum must be < 1; got 1"),
    ({"dropout": float("nan")}, "dropout must be a finite number; got nan"),
    ({"dtype": "float16"}, "dtype must be one of float64, float32; got 'float16'"),
])
def test_a_bad_option_value_is_named_with_what_it_must_be(values, message):
    with pytest.raises(ConfigError) as error:
        resolve_config(values)
    assert str(error.value) == message


def test_whole_numbers_may_come_as_text_or_as_floats():
    """YAML 1.1 reads ``1e3`` as text, and JSON writes whole floats such as ``32.0``."""
    config = resolve_config({"epochs": "1e3", "batch_size": 32.0, "seed": "7"})
    assert (config["epochs"], config["batch_size"], config["seed"]) == (1000, 32, 7)
    assert all(type(config[k]) is int for k in ("epochs", "batch_size", "seed"))


def test_num_neurons_agreeing_with_per_layer_widths_is_no_conflict():
    """``--num_layers 2 --hidden_size 32 32 --num_neurons 32`` says one thing three ways."""
    values = argparse.Namespace(num_layers=2, hidden_size=[32, 32], num_neurons=32,
                                given_flags={"num_layers", "hidden_size", "num_neurons"})
    config = resolve_config(values)
    assert (config["num_layers"], config["hidden_size"]) == (2, [32, 32])
