"""The training loop: shuffled mini-batches, a schedule, a finiteness check.

It knows nothing of stores or trackers: callers observe it through
``on_epoch(metrics)`` and ``on_step(step, model)``.
"""
import math
import time

import numpy as np

from .augment import flip_images, shift_images, warp_images
from .inputs import as_inputs
from .objective_functions import one_hot
from .options import resolve_config
from .schedules import SCHEDULES


class Diverged(ArithmeticError):
    """The training loss stopped being finite."""


def fit(model, X, y, X_val=None, y_val=None, on_epoch=None, on_step=None, rng=None, **overrides):
    """Train ``model`` in place as its config says; returns one metrics dict per epoch.

    Every setting comes from ``model.config`` (epochs, batch_size, lr_schedule, augment,
    rotate, elastic, flip, dropout, seed), as scikit-learn's ``fit`` reads them from the estimator; ``overrides`` names
    options to change for this call only (``NeuralNetwork.train``'s explicit arguments). Each step's
    learning rate is the schedule's pure function of the step, handed to the optimizer's step.
    Shuffling, augmentation and dropout draw from ``rng`` (None: a generator of the config's seed);
    augmentation and dropout only when on, so runs without them follow the same random sequence as
    before they existed.

    Raises Diverged as soon as a batch loss is not finite (NumPy's overflow
    warnings on the way there are silenced: the check is the report).
    """
    settings = resolve_config({**model.config, **overrides})
    epochs, batch_size, augment, rotate, elastic, flip = (settings[k] for k in ("epochs", "batch_size", "augment",
                                                                               "rotate", "elastic", "flip"))
    rng = np.random.default_rng(settings["seed"]) if rng is None else rng
    X = as_inputs(X, model.dtype)
    Y = one_hot(y, model.output_size, model.dtype)
    labels = Y.argmax(axis=1)  # y may be integer labels or one-hot rows
    n = X.shape[0]
    total_steps = epochs * math.ceil(n / batch_size)
    lr_at = SCHEDULES[settings["lr_schedule"]]
    history, step = [], 0
    predicted = np.empty(n, dtype=np.intp)  # filled batch by batch; accuracy is counted once per epoch
    with np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(1, epochs + 1):
            started = time.perf_counter()
            loss_sum = 0.0
            order = rng.permutation(n)
            for start in range(0, n, batch_size):
                idx = order[start:start + batch_size]
                Xb = shift_images(X[idx], augment, rng) if augment else X[idx]
                Xb = warp_images(Xb, rng, rotate, elastic) if rotate or elastic else Xb
                Xb = flip_images(Xb, rng) if flip else Xb
                learning_rate = lr_at(settings["learning_rate"], step, total_steps)
                loss, logits = model.train_step(Xb, Y[idx], rng, learning_rate)
                if not math.isfinite(loss):
                    raise Diverged(f"loss became {loss} at epoch {epoch}, step {step}")
                loss_sum += loss * len(idx)
                np.argmax(logits, axis=1, out=predicted[start:start + len(idx)])
                step += 1
                if on_step is not None:
                    on_step(step, model)
            correct = np.count_nonzero(predicted == labels[order])
            metrics = {"epoch": epoch, "train_loss": loss_sum / n, "train_acc": correct / n,
                       "learning_rate": learning_rate}
            if X_val is not None:
                val = model.evaluate(X_val, y_val)
                metrics.update(val_loss=val["loss"], val_acc=val["accuracy"], val_f1=val["f1"],
                               val_precision=val["precision"], val_recall=val["recall"])
            metrics["seconds"] = time.perf_counter() - started
            history.append(metrics)
            if on_epoch is not None:
                on_epoch(metrics)
    return history
