"""One training step, part by part, against the time of its own matrix products on this machine.

784-128-128-128-10 ReLU, Adam, batch 64, one BLAS thread. The bound is the
step's matrix products alone (the same shapes and layouts as the layers use:
X @ W forward; X.T @ dZ and dZ @ W.T backward), timed in this run, interleaved
with the step so both see the same load.
"""
import argparse
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from mlp import NeuralNetwork
from mlp.objective_functions import one_hot

SIZES = (784, 128, 128, 128, 10)
BATCH = 64
CONFIG = dict(num_layers=3, hidden_size=[128], activation="relu", optimizer="adam", learning_rate=1e-3,
              weight_init="xavier")


def matmul_flops(sizes=SIZES, batch=BATCH):
    """Forward and backward FLOPs of one step: 2*b*in*out per product; no input gradient for layer 0."""
    pairs = list(zip(sizes[:-1], sizes[1:]))
    forward = sum(2 * batch * i * o for i, o in pairs)
    return forward, 2 * forward + sum(2 * batch * i * o for i, o in pairs[1:])


def matmul_bound(dtype, rng, sizes=SIZES, batch=BATCH):
    """A function running exactly the step's matrix products (outputs preallocated) -> (forward s, backward s)."""
    pairs = list(zip(sizes[:-1], sizes[1:]))
    X = [rng.random((batch, i)).astype(dtype) for i, _ in pairs]
    W = [rng.random((i, o)).astype(dtype) for i, o in pairs]
    dZ = [rng.random((batch, o)).astype(dtype) for _, o in pairs]
    Z = [np.empty((batch, o), dtype) for _, o in pairs]
    gW = [np.empty_like(w) for w in W]
    dX = [np.empty_like(x) for x in X]

    def run():
        started = time.perf_counter()
        for k in range(len(pairs)):
            np.matmul(X[k], W[k], out=Z[k])
        middle = time.perf_counter()
        for k in reversed(range(len(pairs))):
            np.matmul(X[k].T, dZ[k], out=gW[k])
            if k:
                np.matmul(dZ[k], W[k].T, out=dX[k])
        return middle - started, time.perf_counter() - middle

    return run


def adam_floor(model):
    """A function running the two passes no Adam can skip (a square root and a division over every
    parameter, through preallocated buffers) -> seconds: the least an Adam step costs in NumPy."""
    v, m, out = np.abs(model.params) + 1, model.params.copy(), np.empty_like(model.params)

    def run():
        started = time.perf_counter()
        np.sqrt(v, out=out)
        np.divide(m, out, out=out)
        return time.perf_counter() - started

    return run


def step_parts(model, batches):
    """Run model.train_step's parts on each (X, Y) batch -> seconds per part, summed."""
    totals = dict(forward=0.0, loss=0.0, backward=0.0, optimizer=0.0)
    for X, Y in batches:
        t0 = time.perf_counter()
        logits = model.forward(X)
        t1 = time.perf_counter()
        _, dlogits = model.loss_function(logits, Y)
        t2 = time.perf_counter()
        model._backpropagate(dlogits)
        t3 = time.perf_counter()
        model.optimizer.step(model.params, model.grads)
        t4 = time.perf_counter()
        for part, seconds in zip(totals, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            totals[part] += seconds
    return totals


def whole_steps(model, batches):
    started = time.perf_counter()
    for X, Y in batches:
        model.train_step(X, Y)
    return time.perf_counter() - started


def measure(dtype, steps, rounds, X, y):
    """Median over interleaved rounds of ms per step: the bound's parts, the step's parts, whole train_step."""
    rng = np.random.default_rng(0)
    model = NeuralNetwork(CONFIG, dtype=dtype)
    X = X.astype(dtype)
    Y = one_hot(y, 10, model.dtype)
    order = rng.permutation(len(X))[: steps * BATCH].reshape(steps, BATCH)
    batches = [(X[idx], Y[idx]) for idx in order]
    bound, floor = matmul_bound(dtype, rng), adam_floor(model)
    samples = {k: [] for k in ("bound forward", "bound backward", "forward", "loss", "backward", "optimizer",
                               "adam floor", "step")}
    for _ in range(rounds):
        forward = backward = least = 0.0
        for _ in range(steps):
            f, b = bound()
            forward, backward, least = forward + f, backward + b, least + floor()
        parts = step_parts(model, batches)
        whole = whole_steps(model, batches)
        for key, seconds in (("bound forward", forward), ("bound backward", backward), *parts.items(),
                             ("adam floor", least), ("step", whole)):
            samples[key].append(seconds / steps * 1e3)
    return {k: statistics.median(v) for k, v in samples.items()}


def report(dtype, ms):
    bound = ms["bound forward"] + ms["bound backward"]
    _, flops = matmul_flops()
    print(f"\n{dtype}: matmul rate {flops / bound / 1e6:.1f} GFLOP/s on the step's shapes "
          f"({flops / 1e6:.1f} MFLOP per step)")
    print(f"{'part':<26}{'ms/step':>9}{'bound ms':>10}{'ratio':>8}")
    rows = (("forward", ms["forward"], ms["bound forward"]),
            ("loss (softmax, gradient)", ms["loss"], None),
            ("backward", ms["backward"], ms["bound backward"]),
            ("optimizer (adam)", ms["optimizer"], None),
            ("train_step, whole", ms["step"], bound))
    for name, value, limit in rows:
        tail = f"{limit:>10.3f}{value / limit:>8.2f}" if limit else f"{'':>10}{'':>8}"
        print(f"{name:<26}{value:>9.3f}{tail}")
    rest = ms["step"] - bound - ms["optimizer"]
    print(f"beyond the matmuls: optimizer {ms['optimizer'] / bound:.2f}x of them, everything else {rest / bound:.2f}x")
    least = (ms["forward"] + ms["loss"] + ms["backward"] + ms["adam floor"]) / bound
    print(f"Adam's unavoidable sqrt and divide alone: {ms['adam floor']:.3f} ms ({ms['adam floor'] / bound:.2f}x); "
          f"with this forward, loss and backward the step cannot go below {least:.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="steps per round")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (median taken)")
    args = parser.parse_args()
    from mlp.data import load_dataset  # noqa: PLC0415

    data = load_dataset("mnist")
    with threadpool_limits(limits=1):
        for dtype in ("float64", "float32"):
            report(dtype, measure(dtype, args.steps, args.rounds, data.X_train, data.y_train))


if __name__ == "__main__":
    main()
