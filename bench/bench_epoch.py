"""Seconds per epoch: our NumPy MLP (float64 and float32) against scikit-learn's MLPClassifier.

784-128-128-128-10 ReLU, Adam (lr 1e-3), batch 64, on the MNIST training split
(54,000 images), one BLAS thread for everyone, all measured in this run.
Printed as ratios to scikit-learn's epoch time (lower is faster).
"""
import argparse
import time
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from mlp import NeuralNetwork
from mlp.data import load_dataset, validation_split
from mlp.training import fit
from ratios import print_ratios

ARCH = dict(num_layers=3, hidden_size=[128], activation="relu", optimizer="adam", learning_rate=1e-3,
            weight_init="xavier", batch_size=64)


def ours(X, y, dtype, epochs):
    model = NeuralNetwork({**ARCH, "epochs": epochs}, dtype=dtype)
    X = X.astype(dtype)
    return [m["seconds"] for m in fit(model, X, y)]


def sklearn(X, y, epochs):
    clf = MLPClassifier(hidden_layer_sizes=(128, 128, 128), activation="relu", solver="adam", alpha=0.0,
                        batch_size=ARCH["batch_size"], learning_rate_init=1e-3, max_iter=1, shuffle=True,
                        tol=0.0, random_state=0, warm_start=True)
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(epochs):  # warm_start + max_iter=1: one epoch per fit call
            started = time.perf_counter()
            clf.fit(X, y)
            times.append(time.perf_counter() - started)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per implementation and round")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (median taken)")
    args = parser.parse_args()
    data = load_dataset("mnist")
    X, _, y, _ = validation_split(data.X_train, data.y_train, 0.1, 0)
    times = {"sklearn float64": [], "ours float64": [], "ours float32": []}
    with threadpool_limits(limits=1):
        for r in range(args.rounds):
            times["sklearn float64"] += sklearn(X, y, args.epochs)
            times["ours float64"] += ours(X, y, "float64", args.epochs)
            times["ours float32"] += ours(X, y, "float32", args.epochs)
            print(f"round {r + 1}/{args.rounds} done", flush=True)
    print_ratios(f"{len(y)} images, batch {ARCH['batch_size']}, 784-128-128-128-10 ReLU, Adam, 1 BLAS thread",
                 times, "sklearn float64", "s/epoch")

if __name__ == "__main__":
    main()
