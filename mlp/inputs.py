"""What the network takes as images, whoever loaded them.

The rule: a batch of ``(N, 784)``, ``(N, 28, 28)`` or ``(N, 1, 28, 28)``; integer pixels
(uint8 0-255, as ``keras.datasets`` gives them) are scaled to [0, 1]; float input is used
exactly as given, since a fixed-weights check feeds floats it computed itself.
"""
import numpy as np


def to_unit_float(X, dtype=np.float64):
    """Integer pixels 0-255 -> ``dtype`` in [0, 1], cast and scaled in one pass."""
    return np.multiply(X, np.asarray(1 / 255, dtype=dtype), dtype=dtype)


def as_inputs(X, dtype=np.float64):
    """Images in any of the accepted forms -> (N, D) in ``dtype``; one flat sample (D,) stays (D,)."""
    X = np.asarray(X)
    if X.ndim > 2:
        X = X.reshape(X.shape[0], -1)
    if np.issubdtype(X.dtype, np.integer):
        return to_unit_float(X, dtype)
    return np.asarray(X, dtype=dtype)
