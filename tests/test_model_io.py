"""mlp/model_io.py: a model file is np.save(get_weights()); loading it never runs code and names every fault."""
import numpy as np
import pytest

from mlp import NeuralNetwork
from mlp.model_io import ModelFileError, load_weights


def test_save_load_round_trip_gives_identical_logits(tmp_path, mnist_slice):
    cfg = {"num_layers": 2, "hidden_size": [24, 12], "activation": "tanh", "seed": 5}
    model = NeuralNetwork(cfg)
    X = mnist_slice.X[:100]
    path = tmp_path / "model.npy"
    np.save(path, model.get_weights())
    loaded = np.load(path, allow_pickle=True).item()
    assert sorted(loaded) == ["W0", "W1", "W2", "b0", "b1", "b2"]
    fresh = NeuralNetwork({**cfg, "seed": 99})
    assert not np.array_equal(fresh.forward(X), model.forward(X))
    fresh.set_weights(loaded)
    np.testing.assert_array_equal(fresh.forward(X), model.forward(X))
    # a fresh model of a different shape is rebuilt from the file's shapes
    other = NeuralNetwork({"activation": "tanh"})
    other.set_weights(loaded)
    np.testing.assert_array_equal(other.forward(X), model.forward(X))
    # the project's safe loader reads the same dict
    safe = load_weights(path)
    assert sorted(safe) == sorted(loaded)
    for key in loaded:
        np.testing.assert_array_equal(safe[key], loaded[key])


class _Runs:
    """Pickles as a call of print: a model file naming code to run."""
    def __reduce__(self):
        return print, ("unpickled and ran",)


BAD_MODEL_FILES = {
    "missing": (None, "does not exist"),
    "plain array": (np.zeros((3, 3)), "holds a plain array, not a dict of weights W0, b0, ..."),
    "no W": ({"b0": np.zeros(3)}, "does not hold a dict of weights W0, b0, W1, b1, ..."),
    "two dicts": (np.array([{"W0": np.zeros((2, 2))}, {}], dtype=object), "does not hold a dict of weights"),
    "a list": ({"W0": [[1.0]]}, ": W0 is not a float array"),
    "integers": ({"W0": np.zeros((2, 2), dtype=np.int64)}, ": W0 is not a float array"),
    "1-D W": ({"W0": np.zeros(3), "b0": np.zeros(3)}, ": weights need 2-D arrays W0, W1, ... and biases b0, b1, ..."),
    "2-D b": ({"W0": np.zeros((2, 3)), "b0": np.zeros((2, 3))}, ": layer 0: b0 has shape (2, 3); expected (3,) or (1, 3)"),
    "no b": ({"W0": np.zeros((2, 3))}, ": weights need W0..W0 and b0..b0; missing b0"),
    "code": ({"W0": _Runs()}, "refuses to load builtins.print: a model file holds only NumPy arrays"),
    "not npy": (b"\x93NUMPY garbage", "is not a readable model file (ValueError: "),
}


@pytest.mark.parametrize("kind", BAD_MODEL_FILES)
def test_a_bad_model_file_is_refused_naming_the_file_and_the_fault(kind, tmp_path, capsys):
    content, message = BAD_MODEL_FILES[kind]
    path = tmp_path / "model.npy"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        np.save(path, content, allow_pickle=True)
    with pytest.raises(ModelFileError) as refused:
        load_weights(path)
    assert str(path) in str(refused.value) and message in str(refused.value)
    assert "unpickled and ran" not in capsys.readouterr().out


def test_a_model_file_in_npy_format_2_loads_like_format_1(tmp_path):
    weights = NeuralNetwork({"num_layers": 1, "hidden_size": [4]}).get_weights()
    boxed = np.empty((), dtype=object)
    boxed[()] = weights
    with open(tmp_path / "v2.npy", "wb") as f:
        np.lib.format.write_array(f, boxed, version=(2, 0), allow_pickle=True)
    loaded = load_weights(tmp_path / "v2.npy")
    assert sorted(loaded) == sorted(weights)
    for key in weights:
        np.testing.assert_array_equal(loaded[key], weights[key])


def _calls(function, *args):
    """An object that pickles as a call of ``function`` (named by module and name in the file)."""
    class Call:
        def __reduce__(self):
            return function, args
    return Call()


@pytest.mark.parametrize("function, args", [
    (np.testing._private.utils.runstring, ("print('unpickled and ran')", {})),  # NumPy's own exec
    (np.load, ("elsewhere.npy",)),  # NumPy reading another file, which could hold anything
    (np.lib.format.read_array, (None,)),
    (getattr, ("a string", "upper")),  # a step towards any attribute of anything
], ids=["numpy runstring", "numpy.load", "numpy read_array", "builtins.getattr"])
def test_the_loader_refuses_every_global_outside_its_allow_list_numpy_ones_too(function, args, tmp_path, capsys):
    path = tmp_path / "model.npy"
    np.save(path, {"W0": _calls(function, *args)}, allow_pickle=True)
    with pytest.raises(ModelFileError) as refused:
        load_weights(path)
    assert f"refuses to load {function.__module__}.{function.__name__}: a model file holds only NumPy arrays" in str(
        refused.value)
    assert "unpickled and ran" not in capsys.readouterr().out
