"""Optimizers over one flat parameter vector.

Every optimizer updates ``params`` in place from ``grads`` with a handful of
vectorised operations over the whole network. L2 weight decay is added here,
never to the gradients the network exposes, and only to the first
``n_decay`` entries (the weights; biases are not decayed).
"""
import numpy as np

FLUSH_EVERY = 200  # steps between flushes of subnormal numbers


def flush_subnormals(array):
    """Set |x| < the smallest normal number to 0, in place.

    Weights of always-blank pixels decay towards 0 under weight decay and pass
    into the subnormal range, where CPU arithmetic is about 100x slower: left
    alone, a float32 run's epochs grew from 1 s to 13 s. Their value is below
    1e-38, so zeroing them changes nothing else.
    """
    array[np.abs(array) < np.finfo(array.dtype).tiny] = 0


class Optimizer:
    def __init__(self, size, learning_rate, weight_decay=0.0, n_decay=None, dtype=np.float64, **_):
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.n_decay = size if n_decay is None else n_decay
        self.t = 0
        self._decayed = np.zeros(size, dtype=dtype) if weight_decay else None
        self.state = []  # per-parameter buffers (moments, velocities), flushed with the parameters

    def _gradient(self, params, grads):
        """grads plus weight_decay * weights, without touching ``grads``."""
        if not self.weight_decay:
            return grads
        g = self._decayed
        np.multiply(params[: self.n_decay], self.weight_decay, out=g[: self.n_decay])
        g[self.n_decay:] = 0
        g += grads
        return g

    def step(self, params, grads):
        self.t += 1
        self._update(params, self._gradient(params, grads))
        if self.t % FLUSH_EVERY == 0:
            for array in (params, *self.state):
                flush_subnormals(array)


class SGD(Optimizer):
    def _update(self, p, g):
        p -= self.learning_rate * g


class Momentum(Optimizer):
    def __init__(self, size, learning_rate, momentum=0.9, dtype=np.float64, **kw):
        super().__init__(size, learning_rate, dtype=dtype, **kw)
        self.momentum = momentum
        self.velocity = np.zeros(size, dtype=dtype)
        self.state = [self.velocity]

    def _update(self, p, g):
        v = self.velocity
        v *= self.momentum
        v += g
        p -= self.learning_rate * v


class NAG(Momentum):
    """Nesterov momentum in its look-ahead-free form: step along g + momentum * v."""

    def _update(self, p, g):
        v = self.velocity
        v *= self.momentum
        v += g
        p -= self.learning_rate * (g + self.momentum * v)


class RMSProp(Optimizer):
    def __init__(self, size, learning_rate, beta=0.9, epsilon=1e-8, dtype=np.float64, **kw):
        super().__init__(size, learning_rate, dtype=dtype, **kw)
        self.beta, self.epsilon = beta, epsilon
        self.square_avg = np.zeros(size, dtype=dtype)
        self.state = [self.square_avg]

    def _update(self, p, g):
        s = self.square_avg
        s *= self.beta
        s += (1 - self.beta) * g * g
        p -= self.learning_rate * g / (np.sqrt(s) + self.epsilon)


class Adam(Optimizer):
    """Adam with the bias corrections folded into two scalars (the update is unchanged)."""

    def __init__(self, size, learning_rate, beta1=0.9, beta2=0.999, epsilon=1e-8, dtype=np.float64, **kw):
        super().__init__(size, learning_rate, dtype=dtype, **kw)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.m = np.zeros(size, dtype=dtype)
        self.v = np.zeros(size, dtype=dtype)
        self._scratch = np.zeros(size, dtype=dtype)
        self.state = [self.m, self.v]

    def _moments(self, g):
        """m += (1 - beta1)(g - m);  v = beta2 (v - g^2) + g^2, all in place."""
        s, m, v = self._scratch, self.m, self.v
        np.subtract(g, m, out=s)
        s *= 1 - self.beta1
        m += s
        np.multiply(g, g, out=s)
        v -= s
        v *= self.beta2
        v += s

    def _apply(self, p, numerator, scale):
        """p -= scale * numerator / (sqrt(v) + epsilon * sqrt(1 - beta2^t))."""
        d = self._scratch
        np.sqrt(self.v, out=d)
        d += self.epsilon * np.sqrt(1 - self.beta2 ** self.t)
        np.divide(numerator, d, out=d)
        d *= scale * np.sqrt(1 - self.beta2 ** self.t)
        p -= d

    def _update(self, p, g):
        self._moments(g)
        self._apply(p, self.m, self.learning_rate / (1 - self.beta1 ** self.t))


class Nadam(Adam):
    """Adam with a Nesterov look-ahead on the first moment (Dozat, 2016)."""

    def _update(self, p, g):
        self._moments(g)
        b1, t = self.beta1, self.t
        numerator = (b1 / (1 - b1 ** (t + 1))) * self.m
        numerator += ((1 - b1) / (1 - b1 ** t)) * g
        self._apply(p, numerator, self.learning_rate)


# name -> class(size, learning_rate, weight_decay, n_decay, dtype, **hyperparameters)
OPTIMIZERS = {
    "sgd": SGD,
    "momentum": Momentum,
    "nag": NAG,
    "rmsprop": RMSProp,
    "adam": Adam,
    "nadam": Nadam,
}
