"""Hidden-layer activations, each beside its derivative.

A derivative takes both the pre-activation ``Z`` and the activation ``A = f(Z)``
because the cheap form differs per function (sigmoid and tanh reuse ``A``,
ReLU needs the sign of ``Z``).
"""
import numpy as np


def sigmoid(Z):
    # The tanh form never overflows, unlike 1 / (1 + exp(-Z)) for large negative Z.
    return 0.5 * (np.tanh(0.5 * Z) + 1.0)


def sigmoid_derivative(Z, A):
    return A * (1.0 - A)


def tanh(Z):
    return np.tanh(Z)


def tanh_derivative(Z, A):
    return 1.0 - A * A


def relu(Z):
    return np.maximum(Z, 0)


def relu_derivative(Z, A):
    return A > 0


# name -> (function, derivative); read by the option table, parsers and sweeps alike.
ACTIVATIONS = {
    "sigmoid": (sigmoid, sigmoid_derivative),
    "tanh": (tanh, tanh_derivative),
    "relu": (relu, relu_derivative),
}
