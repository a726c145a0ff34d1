"""Losses on logits: each returns the mean data loss and its exact gradient.

Both losses start from a stable log-softmax (log-sum-exp), so finite
differences of the reported loss match the analytical gradient to round-off.
"""
import numpy as np

from .activations import softmax


def one_hot(y, n_classes, dtype=np.float64):
    """Integer labels (b,) -> one-hot (b, C); a (b, C) array passes through."""
    y = np.asarray(y)
    if y.ndim == 2:
        return y.astype(dtype, copy=False)
    Y = np.zeros((y.shape[0], n_classes), dtype=dtype)
    Y[np.arange(y.shape[0]), y.astype(np.int64)] = 1
    return Y


def labels_of(y):
    """Integer labels (b,) pass through; one-hot rows (b, C) -> their class indices."""
    y = np.asarray(y)
    return y.argmax(axis=1) if y.ndim == 2 else y


def cross_entropy(logits, Y):
    """Mean over the batch of -sum(Y * log softmax(logits)); Y is one-hot (b, C).

    The log-sum-exp written out so that exp is taken once and shared by the loss and the gradient.
    """
    b = logits.shape[0]
    log_p = logits - logits.max(axis=1, keepdims=True)
    grad = np.exp(log_p)
    total = grad.sum(axis=1, keepdims=True)
    log_p -= np.log(total)
    loss = -np.vdot(Y, log_p) / b
    grad /= total  # softmax
    grad -= Y
    grad *= 1.0 / b
    return float(loss), grad


def mean_squared_error(logits, Y):
    """mean((softmax(logits) - Y)**2) over samples and classes, through the full softmax Jacobian."""
    p = softmax(logits)
    diff = p - Y
    loss = np.mean(diff * diff)
    dp = 2.0 * diff / diff.size
    grad = p * (dp - np.sum(dp * p, axis=1, keepdims=True))
    return float(loss), grad


# name -> function(logits, one_hot_targets) -> (mean loss, d loss / d logits)
LOSSES = {
    "cross_entropy": cross_entropy,
    "mean_squared_error": mean_squared_error,
}
