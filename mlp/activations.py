"""Hidden-layer activations, each beside its derivative.

Both work in place on arrays the layer owns, so a step makes no temporary of
a layer's size: the function overwrites the pre-activation ``Z`` with
``A = f(Z)``, and the backward part overwrites ``dA`` with ``dA * f'(Z)``,
written through ``A`` (sigmoid and tanh reuse ``A``; ReLU's ``Z > 0`` is ``A > 0``).
"""
from typing import Callable, NamedTuple

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


SATURATED = 0.99  # tanh and sigmoid pass (almost) no gradient back beyond this share of their range


class Activation(NamedTuple):
    """A hidden activation and what the code must know of it, in one registry entry.

    ``forward(Z) -> A`` and ``backward(dA, A) -> dA * f'(Z)`` work in place; ``dead_when(A)`` marks the units
    that pass (almost) no gradient back at output ``A``: a neuron is dead when it holds on every probed input
    (report 2.5's count). It is a (forward, backward) pair to a layer.
    """

    forward: Callable
    backward: Callable
    dead_when: Callable


# name -> Activation; read by the option table, the parsers, sweeps and the probes alike.
ACTIVATIONS = {
    # output below 0.01 or above 0.99: derivative below 0.01
    "sigmoid": Activation(sigmoid, sigmoid_backward, lambda A: (A < 1 - SATURATED) | (A > SATURATED)),
    # |output| above 0.99: derivative below 0.02
    "tanh": Activation(tanh, tanh_backward, lambda A: np.abs(A) > SATURATED),
    # output 0: derivative exactly 0
    "relu": Activation(relu, relu_backward, lambda A: A <= 0),
}
