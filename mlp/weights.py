"""The one check of a weights dict ``{"W0", "b0", "W1", "b1", ...}``, wherever weights come from.

``set_weights``, the model file loader and inference.py's fit to a configuration all
ask it, so a fault is named the same way whichever door the weights came through.
"""
import numpy as np

from .errors import InputError

INPUT_SIZE = 784
N_CLASSES = 10


class WeightsError(InputError, ValueError):
    """Weights that cannot make a network; the message names the array and what is wrong with it."""


def checked_layers(weights):
    """-> ([W0, W1, ...], [b0, b1, ...]) as float64, W (in, out) chained layer to layer, b (out,) or (1, out)."""
    n = sum(1 for key in weights if str(key).startswith("W"))
    try:
        Ws = [np.asarray(weights[f"W{i}"], dtype=np.float64) for i in range(n)]
        bs = [np.asarray(weights[f"b{i}"], dtype=np.float64) for i in range(n)]
    except KeyError as exc:
        raise WeightsError(f"weights need W0..W{n - 1} and b0..b{n - 1}; missing {exc.args[0]}") from None
    if n == 0 or any(W.ndim != 2 for W in Ws):
        raise WeightsError("weights need 2-D arrays W0, W1, ... and biases b0, b1, ...")
    for i in range(n):
        n_in, n_out = Ws[i].shape
        if n_in != n_out and bs[i].size == n_in and (i == 0 or Ws[i - 1].shape[1] != n_in):
            raise WeightsError(f"W{i} has shape {Ws[i].shape} but b{i} has {n_in} values: W{i} looks transposed; "
                               f"weights are (in, out), so pass W{i}.T of shape {(n_out, n_in)}")
        if bs[i].shape not in ((n_out,), (1, n_out)):
            raise WeightsError(f"layer {i}: b{i} has shape {bs[i].shape}; expected ({n_out},) or (1, {n_out})")
        if i and Ws[i].shape[0] != Ws[i - 1].shape[1]:
            raise WeightsError(f"layer {i}: W{i} {Ws[i].shape} does not follow W{i - 1} {Ws[i - 1].shape}")
    return Ws, bs


def check_fit(weights, config):
    """Weights must map 784 pixels to 10 classes through the config's hidden widths."""
    Ws, _ = checked_layers(weights)
    if Ws[0].shape[0] != INPUT_SIZE or Ws[-1].shape[1] != N_CLASSES:
        raise WeightsError(f"weights map {Ws[0].shape[0]} inputs to {Ws[-1].shape[1]} classes, but "
                           f"{config['dataset']} needs {INPUT_SIZE} inputs and {N_CLASSES} classes")
    widths = [W.shape[1] for W in Ws[:-1]]
    if widths != config["hidden_size"]:
        raise WeightsError(f"weights have hidden widths {widths} but the config says {config['hidden_size']}: "
                           f"pass the matching --config or -nhl/-sz")
