"""A grader written for the course skeleton, as it runs: from ``src/``, with the skeleton's names only.

It imports ``ann.*``, ``train`` and ``inference`` as the skeleton names them, NumPy and the
standard library, nothing else of the project, and reads the test split with its own IDX
reader (uint8 images, as ``keras.datasets`` gives them). Copied into a checkout's ``src/`` and
run there as ``python skeleton_grader.py CHECK``; a failed check raises (exit status 1).
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

SRC = Path.cwd()
ROOT = SRC.parent
SKELETON_MODULES = ("activations", "neural_layer", "neural_network", "objective_functions", "optimizers")


def read_idx(path):
    with gzip.open(path) as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


def mnist_test_split():
    folder = Path(os.environ["MLP_DATA_DIR"]) / "mnist"
    return read_idx(folder / "t10k-images-idx3-ubyte.gz"), read_idx(folder / "t10k-labels-idx1-ubyte.gz")


def skeleton_args(**overrides):
    """The grader's own Namespace, with train.py's option names."""
    values = dict(dataset="mnist", epochs=1, batch_size=32, loss="cross_entropy", optimizer="sgd",
                  learning_rate=0.1, weight_decay=0.0, num_layers=2, hidden_size=[64, 32], activation="tanh",
                  weight_init="xavier", wandb_project="grader", wandb_entity=None)
    return argparse.Namespace(**{**values, **overrides})


def reference_logits(weights, X, activation):
    f = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0)}[activation]
    n = len(weights) // 2
    A = X
    for i in range(n):
        Z = A @ weights[f"W{i}"] + weights[f"b{i}"].reshape(1, -1)
        A = f(Z) if i < n - 1 else Z
    return A


def reference_loss(logits, y, loss):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    onehot = np.eye(logits.shape[1])[y]
    if loss == "cross_entropy":
        return -np.mean(np.sum(onehot * log_p, axis=1))
    return np.mean((np.exp(log_p) - onehot) ** 2)


def random_weights(sizes, rng):
    weights = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        weights[f"W{i}"] = rng.normal(0, 0.3, (n_in, n_out))
        weights[f"b{i}"] = rng.normal(0, 0.1, n_out)
    return weights


def check_imports():
    import importlib

    for name in SKELETON_MODULES:
        module = importlib.import_module(f"ann.{name}")
        assert Path(module.__file__).resolve().is_relative_to(ROOT.resolve()), (name, module.__file__)
    from ann.activations import softmax
    from ann.neural_layer import NeuralLayer  # noqa: F401
    from ann.neural_network import NeuralNetwork  # noqa: F401

    np.testing.assert_allclose(softmax(np.array([[0.0, np.log(3.0)]])), [[0.25, 0.75]], rtol=1e-12)


def check_forward_on_fixed_weights():
    from ann.neural_network import NeuralNetwork

    rng = np.random.default_rng(7)
    X = rng.random((5, 784))
    for activation in ("sigmoid", "tanh", "relu"):
        model = NeuralNetwork(skeleton_args(activation=activation))
        weights = random_weights([784, 20, 15, 10], rng)  # another architecture than the Namespace's
        model.set_weights(weights)
        logits = model.forward(X)
        assert logits.dtype == np.float64 and logits.shape == (5, 10)
        np.testing.assert_allclose(logits, reference_logits(weights, X, activation), rtol=1e-10, atol=1e-12)
        path = SRC / f"fixed-{activation}.npy"
        np.save(path, weights)
        again = NeuralNetwork(skeleton_args(activation=activation))
        again.set_weights(np.load(path, allow_pickle=True))  # the 0-d object array, no .item()
        np.testing.assert_array_equal(again.forward(X), logits)
        path.unlink()


def check_assigned_weights_keep_training():
    from ann.neural_network import NeuralNetwork

    rng = np.random.default_rng(3)
    model = NeuralNetwork(skeleton_args(hidden_size=[16], num_layers=1, optimizer="sgd", learning_rate=0.1))
    new_W0 = rng.normal(0, 0.1, (784, 16))
    model.layers[0].W = new_W0  # what the skeleton's own loading code does
    model.layers[0].b = np.full(16, 0.5)
    X, y = rng.random((8, 784)), rng.integers(0, 10, 8)
    grad_W, _ = model.backward(y, model.forward(X))
    model.update_weights()
    np.testing.assert_allclose(model.get_weights()["W0"], new_W0 - 0.1 * grad_W[-1], rtol=1e-12, atol=1e-15)


def numeric_gradient(model, X, y, loss, layer, name, entries, h=1e-6):
    array = getattr(model.layers[layer], name)
    numeric = []
    for index in entries:
        saved = array[index]
        array[index] = saved + h
        up = reference_loss(model.forward(X), y, loss)
        array[index] = saved - h
        down = reference_loss(model.forward(X), y, loss)
        array[index] = saved
        numeric.append((up - down) / (2 * h))
    return np.array(numeric)


def assert_gradients_match(model, X, y, loss, samples, rng):
    labels = [y, np.eye(10)[y]]  # integer labels and one-hot
    for given in labels:
        grad_W, grad_b = model.backward(given, model.forward(X))
        n = len(model.layers)
        for layer in range(n):
            for name, grads in (("W", grad_W), ("b", grad_b)):
                analytic = grads[n - 1 - layer]  # index 0 = the output layer
                shape = getattr(model.layers[layer], name).shape
                assert analytic.shape == shape, (name, layer, analytic.shape, shape)
                flat = rng.choice(int(np.prod(shape)), size=min(samples, int(np.prod(shape))), replace=False)
                entries = [np.unravel_index(i, shape) for i in flat]
                numeric = numeric_gradient(model, X, y, loss, layer, name, entries)
                gap = np.max(np.abs(np.array([analytic[e] for e in entries]) - numeric))
                assert gap < 1e-7, (loss, model.config["activation"], name, layer, gap)


def check_gradients():
    from ann.neural_network import NeuralNetwork

    rng = np.random.default_rng(11)
    X, y = rng.random((6, 784)), rng.integers(0, 10, 6)
    for activation in ("sigmoid", "tanh", "relu"):
        for loss in ("cross_entropy", "mean_squared_error"):
            for widths in ([7], [9, 5], [6, 6, 4]):
                model = NeuralNetwork(skeleton_args(activation=activation, loss=loss, hidden_size=widths,
                                                    num_layers=len(widths), weight_init="random"))
                model.set_weights(random_weights([784, *widths, 10], rng))
                assert_gradients_match(model, X, y, loss, samples=40, rng=rng)


def check_gradients_of_a_model_built_from_best_config():
    from ann.neural_network import NeuralNetwork

    config = json.loads((ROOT / "best_config.json").read_text())
    model = NeuralNetwork(argparse.Namespace(**config))
    rng = np.random.default_rng(5)
    X, y = rng.random((4, 784)), rng.integers(0, 10, 4)
    assert model.forward(X).dtype == np.float64
    assert_gradients_match(model, X, y, config["loss"], samples=25, rng=rng)


def check_inference_functions():
    import inference

    args = inference.parse_arguments()
    model = inference.load_model(args.model_path)
    assert model.forward(np.zeros((1, 784))).dtype == np.float64
    images, labels = mnist_test_split()
    X = images.reshape(len(images), -1) / 255.0
    scores = inference.evaluate_model(model, X, labels)
    assert {"logits", "loss", "accuracy", "f1", "precision", "recall"} <= set(scores), sorted(scores)
    printed = inference.main()
    assert (printed["accuracy"], printed["f1"]) == (scores["accuracy"], scores["f1"])
    beside = inference.load_model("models/best_model.npy")
    np.testing.assert_array_equal(beside.forward(X[:50]), model.forward(X[:50]))
    for form in (images, images.reshape(-1, 1, 28, 28) / 255.0, images.reshape(len(images), -1), X):
        for given in (labels, np.eye(10)[labels]):
            other = inference.evaluate_model(model, form, given)
            assert (other["accuracy"], other["f1"]) == (scores["accuracy"], scores["f1"]), (form.shape, form.dtype)
    print(json.dumps({"accuracy": scores["accuracy"], "f1": scores["f1"]}))


COMMON_FLAGS = ["-d", "mnist", "-e", "1", "-b", "128", "-l", "cross_entropy", "-o", "adam", "-lr", "0.001",
                "-wd", "0", "-a", "relu", "-w_i", "xavier", "-wp", "grader"]
TRAIN_FLAGS = [*COMMON_FLAGS, "-nhl", "1", "-sz", "16"]


def train(*flags):
    done = subprocess.run([sys.executable, "train.py", *flags], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done


def check_train_twice():
    for _ in range(2):
        assert "epoch   1" in train(*TRAIN_FLAGS).stdout


def check_widths_alone_and_a_new_save_folder():
    target = Path("models") / "grader" / "deep" / "model.npy"
    train(*COMMON_FLAGS, "-sz", "24", "12", "--model_save_path", str(target))  # no -nhl: two layers
    weights = np.load(target, allow_pickle=True).item()
    assert [weights[f"W{i}"].shape for i in range(3)] == [(784, 24), (24, 12), (12, 10)]


def check_unknown_flags():
    done = train(*TRAIN_FLAGS, "-mp", "models/m.npy", "--flag", "3", "-bs", "64", "-ep", "1", "-mode", "online")
    assert "epoch   1" in done.stdout
    warning = [line for line in done.stderr.splitlines() if "unknown" in line]
    assert warning and all(flag in warning[0] for flag in ("-mp models/m.npy", "--flag 3", "-bs 64", "-ep 1")), \
        done.stderr


if __name__ == "__main__":
    globals()[f"check_{sys.argv[1]}"]()
