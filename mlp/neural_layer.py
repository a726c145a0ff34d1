"""One dense layer: ``A = f(X @ W + b)`` and its backward pass."""
import numpy as np


def random_init(n_in, n_out, rng):
    return rng.normal(0.0, 0.01, size=(n_in, n_out))


def xavier_init(n_in, n_out, rng):
    # Glorot uniform: keeps activation variance roughly constant across layers.
    limit = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, size=(n_in, n_out))


def zeros_init(n_in, n_out, rng):
    return np.zeros((n_in, n_out))


# name -> function(n_in, n_out, rng) -> W (n_in, n_out); biases always start at 0.
INITIALIZERS = {
    "random": random_init,
    "xavier": xavier_init,
    "zeros": zeros_init,
}


class NeuralLayer:
    """A dense layer whose parameters and gradients may be views into flat buffers.

    ``W`` (in, out), ``b`` (1, out), ``grad_W`` (in, out) and ``grad_b`` (1, out)
    are written in place so the optimizer can update every layer in one sweep
    over the network's flat parameter vector.
    """

    def __init__(self, W, b, grad_W, grad_b, activation=None):
        """``activation`` is a (function, backward) pair working in place (see activations), or None
        for a linear output layer."""
        self._W, self._b = W, b
        self.grad_W, self.grad_b = grad_W, grad_b
        self.activation = activation
        self.X = self.A = None
        self.keep = None  # dropout's scaled mask of the last forward, or None
        self._ones = np.ones((1, 0), dtype=W.dtype)  # a row of ones: grad_b = ones @ dZ, one BLAS call

    # Assigning ``layer.W = array`` (as the skeleton's loading code does) copies into the buffer the
    # optimizer steps, so the layer goes on training; a new shape needs ``set_weights``, which rebuilds.
    @property
    def W(self):
        return self._W

    @W.setter
    def W(self, value):
        self._W[...] = self._fitting("W", value, self._W.shape)

    @property
    def b(self):
        return self._b

    @b.setter
    def b(self, value):
        self._b[...] = self._fitting("b", value, self._b.shape, (self._b.shape[1],))

    @staticmethod
    def _fitting(name, value, shape, *other_shapes):
        value = np.asarray(value)
        if value.shape not in (shape, *other_shapes):
            raise ValueError(f"layer.{name} has shape {shape}; got {value.shape} "
                             f"(set_weights rebuilds the network for new shapes)")
        return value.reshape(shape)

    def _ones_row(self, n):
        if self._ones.shape[1] < n:
            self._ones = np.ones((1, n), dtype=self.W.dtype)
        return self._ones[:, :n]

    def forward(self, X, keep=None):
        """(b, in) -> (b, out); keeps X and A for the backward pass.

        ``keep`` (b, out), optional: inverted dropout's mask, 0 or 1/(1 - p), multiplied
        into the output; ``A`` stays the activation before it.
        """
        self.X, self.keep = X, keep
        A = X @ self.W
        A += self.b
        self.A = A if self.activation is None else self.activation[0](A)
        return self.A if keep is None else self.A * keep

    def backward(self, dA, need_input_grad=True):
        """dL/d(output) (b, out) -> dL/dX (b, in); fills grad_W and grad_b in place and may overwrite ``dA``."""
        if self.keep is not None:
            dA = dA * self.keep
        dZ = dA if self.activation is None else self.activation[1](dA, self.A)
        np.matmul(self.X.T, dZ, out=self.grad_W)
        np.matmul(self._ones_row(len(dZ)), dZ, out=self.grad_b)  # the batch sum, 3x faster than np.sum
        return dZ @ self.W.T if need_input_grad else None
