"""Reading a model file without running code from it.

A model file is ``np.save(path, get_weights())``: a pickled dict inside a
``.npy``. ``np.load(..., allow_pickle=True)`` would import and call whatever
the pickle names, so we read the header with NumPy and unpickle the body with
an unpickler that admits only what a dict of NumPy float arrays needs.
"""
import pickle

import numpy as np

from .weights import WeightsError, checked_layers

ALLOWED_GLOBALS = {
    ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
}


class ModelFileError(WeightsError):
    """The file is missing, corrupt, or not a dict of weight arrays; the message says which."""


class _ArraysOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise ModelFileError(f"refuses to load {module}.{name}: a model file holds only NumPy arrays")


def load_weights(path):
    """``{"W0": ..., "b0": ...}`` from a model file: float arrays that make a network (mlp.weights)."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            _, _, dtype = read_header(f)
            if not dtype.hasobject:
                raise ModelFileError("holds a plain array, not a dict of weights W0, b0, ...")
            array = _ArraysOnlyUnpickler(f).load()
    except FileNotFoundError:
        raise ModelFileError(f"model file {path} does not exist") from None
    except ModelFileError as exc:
        raise ModelFileError(f"{path} {exc}") from None
    except Exception as exc:  # truncated, not a .npy, a broken pickle: all are "corrupt"
        raise ModelFileError(f"{path} is not a readable model file ({type(exc).__name__}: {exc})") from None
    weights = array.item() if isinstance(array, np.ndarray) and array.shape == () else array
    if not isinstance(weights, dict) or not any(str(k).startswith("W") for k in weights):
        raise ModelFileError(f"{path} does not hold a dict of weights W0, b0, W1, b1, ...")
    for key, value in weights.items():
        if not isinstance(value, np.ndarray) or not np.issubdtype(value.dtype, np.floating):
            raise ModelFileError(f"{path}: {key} is not a float array")
    try:
        checked_layers(weights)
    except WeightsError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    return weights
