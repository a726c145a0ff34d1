"""Hidden-layer activations, each beside its derivative.

Both work in place on arrays the layer owns, so a step makes no temporary of
a layer's size: the function overwrites the pre-activation ``Z`` with
``A = f(Z)``, and the backward part overwrites ``dA`` with ``dA * f'(Z)``,
written through ``A`` (sigmoid and tanh reuse ``A``; ReLU's ``Z > 0`` is ``A > 0``).
"""
import numpy as np


def sigmoid(Z):
    # The tanh form never overflows, unlike 1 / (1 + exp(-Z)) for large negative Z.
    Z *= 0.5
    np.tanh(Z, out=Z)
    Z += 1.0
    Z *= 0.5
    return Z


def sigmoid_backward(dA, A):
    slope = 1.0 - A
    slope *= A
    dA *= slope
    return dA


def tanh(Z):
    return np.tanh(Z, out=Z)


def tanh_backward(dA, A):
    slope = A * A
    np.subtract(1.0, slope, out=slope)
    dA *= slope
    return dA


def relu(Z):
    return np.maximum(Z, 0, out=Z)


def relu_backward(dA, A):
    return np.multiply(dA, A > 0, out=dA)


def log_softmax(logits):
    """(b, C) -> (b, C) log-probabilities via log-sum-exp."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(logits):
    """(b, C) -> (b, C) probabilities, rows summing to 1: the output layer's activation, applied by the losses
    (``forward`` returns logits)."""
    return np.exp(log_softmax(logits))


# name -> (function(Z) -> A in place, backward(dA, A) -> dA * f'(Z) in place);
# read by the option table, parsers and sweeps alike.
ACTIVATIONS = {
    "sigmoid": (sigmoid, sigmoid_backward),
    "tanh": (tanh, tanh_backward),
    "relu": (relu, relu_backward),
}
