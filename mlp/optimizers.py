"""Optimizers over one flat parameter vector.

Every optimizer updates ``params`` in place from ``grads`` with a handful of
vectorised operations over the whole network. L2 weight decay is added here,
never to the gradients the network exposes, and only to the first
``n_decay`` entries (the weights; biases are not decayed).
"""
import math

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
    """The shared part: a step counter, weight decay, flushing, and one preallocated scratch vector.

    Every update is written as in-place ufunc calls (``out=``) on whole flat
    buffers, each one pass over memory, with every scalar factor folded into
    a single multiplication: no temporary array is made in a step.

    ``adaptive``: the update divides each weight's step by a running measure of its own gradients' size
    (report 2.3 explains a race won by such a method differently).
    """

    adaptive = False

    def __init__(self, size, learning_rate, weight_decay=0.0, n_decay=None, dtype=np.float64, **_):
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.n_decay = size if n_decay is None else n_decay
        self.t = 0
        self._decayed = np.empty(size, dtype=dtype) if weight_decay else None
        self._scratch = np.empty(size, dtype=dtype)
        self.state = []  # per-parameter buffers (moments, velocities), flushed with the parameters

    def _gradient(self, params, grads):
        """grads plus weight_decay * weights (two passes over the weights), without touching ``grads``."""
        if not self.weight_decay:
            return grads
        g, n = self._decayed, self.n_decay
        np.multiply(params[:n], self.weight_decay, out=g[:n])
        np.add(g[:n], grads[:n], out=g[:n])
        g[n:] = grads[n:]
        return g

    def step(self, params, grads, learning_rate=None):
        """One update; ``learning_rate`` is this step's rate from a schedule (None: the base rate)."""
        self.t += 1
        lr = self.learning_rate if learning_rate is None else learning_rate
        self._update(params, self._gradient(params, grads), lr)
        if self.t % FLUSH_EVERY == 0:
            for array in (params, *self.state):
                flush_subnormals(array)

    def _descend(self, p, direction, scale):
        """p -= scale * direction, through the scratch vector (``direction`` may be it)."""
        np.multiply(direction, scale, out=self._scratch)
        p -= self._scratch


class SGD(Optimizer):
    def _update(self, p, g, lr):
        self._descend(p, g, lr)


class Momentum(Optimizer):
    def __init__(self, size, learning_rate, momentum=0.9, dtype=np.float64, **kw):
        super().__init__(size, learning_rate, dtype=dtype, **kw)
        self.momentum = momentum
        self.velocity = np.zeros(size, dtype=dtype)
        self.state = [self.velocity]

    def _update(self, p, g, lr):
        v = self.velocity
        v *= self.momentum
        v += g
        self._descend(p, v, lr)


class NAG(Momentum):
    """Nesterov momentum in its look-ahead-free form: step along g + momentum * v."""

    def _update(self, p, g, lr):
        v, s = self.velocity, self._scratch
        v *= self.momentum
        v += g
        np.multiply(v, self.momentum, out=s)
        s += g
        self._descend(p, s, lr)


class RMSProp(Optimizer):
    adaptive = True

    def __init__(self, size, learning_rate, beta=0.9, epsilon=1e-8, dtype=np.float64, **kw):
        super().__init__(size, learning_rate, dtype=dtype, **kw)
        self.beta, self.epsilon = beta, epsilon
        self.square_avg = np.zeros(size, dtype=dtype)
        self.state = [self.square_avg]

    def _update(self, p, g, lr):
        s, avg = self._scratch, self.square_avg
        np.multiply(g, 1 - self.beta, out=s)
        s *= g
        avg *= self.beta
        avg += s
        divide_by_root(p, g, avg, self.epsilon, lr, s)


class Adam(Optimizer):
    """Adam with both moments kept without their (1 - beta) factors, and those and the bias
    corrections folded into two scalars: 10 passes over the buffers per step, the fewest in-place ufuncs allow."""

    adaptive = True

    def __init__(self, size, learning_rate, beta1=0.9, beta2=0.999, epsilon=1e-8, dtype=np.float64, **kw):
        super().__init__(size, learning_rate, dtype=dtype, **kw)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.m = np.zeros(size, dtype=dtype)  # = first moment / (1 - beta1)
        self.v = np.zeros(size, dtype=dtype)  # = second moment / (1 - beta2)
        self.state = [self.m, self.v]

    def _moments(self, g):
        """m = beta1 m + g;  v = beta2 v + g^2: five passes."""
        m, v, s = self.m, self.v, self._scratch
        m *= self.beta1
        m += g
        np.multiply(g, g, out=s)
        v *= self.beta2
        v += s

    def _apply(self, p, numerator, scale):
        """p -= scale * numerator / (sqrt(v_hat) + epsilon), v_hat = (1 - beta2) v / (1 - beta2^t)."""
        root = math.sqrt((1 - self.beta2) / (1 - self.beta2 ** self.t))  # sqrt(v_hat) = root * sqrt(v)
        divide_by_root(p, numerator, self.v, self.epsilon / root, scale / root, self._scratch)

    def _update(self, p, g, lr):
        self._moments(g)
        # m_hat = (1 - beta1) m / (1 - beta1^t)
        self._apply(p, self.m, lr * (1 - self.beta1) / (1 - self.beta1 ** self.t))


class Nadam(Adam):
    """Adam with a Nesterov look-ahead on the first moment (Dozat, 2016)."""

    def __init__(self, size, learning_rate, dtype=np.float64, **kw):
        super().__init__(size, learning_rate, dtype=dtype, **kw)
        self._numerator = np.empty(size, dtype=dtype)

    def _update(self, p, g, lr):
        self._moments(g)
        b1, t = self.beta1, self.t
        # lr (b1 m_hat' + (1 - b1) g / (1 - b1^t)) with m_hat' = (1 - b1) m / (1 - b1^(t+1)),
        # factored as lr (1 - b1) / (1 - b1^t) * (ratio * m + g)
        ratio = b1 * (1 - b1 ** t) / (1 - b1 ** (t + 1))
        n = self._numerator
        np.multiply(self.m, ratio, out=n)
        n += g
        self._apply(p, n, lr * (1 - b1) / (1 - b1 ** t))


def divide_by_root(p, numerator, total, epsilon, scale, scratch):
    """p -= scale * numerator / (sqrt(total) + epsilon), in five passes through ``scratch``."""
    np.sqrt(total, out=scratch)
    scratch += epsilon
    np.divide(numerator, scratch, out=scratch)
    scratch *= scale
    p -= scratch


# name -> class(size, learning_rate, weight_decay, n_decay, dtype, **hyperparameters)
OPTIMIZERS = {
    "sgd": SGD,
    "momentum": Momentum,
    "nag": NAG,
    "rmsprop": RMSProp,
    "adam": Adam,
    "nadam": Nadam,
}
