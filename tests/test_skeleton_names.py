"""What a harness written against the course skeleton does: class-attribute settings, `mse`, `--hidden_layers`,
`--num_neurons`, `--model_save_path`, `--config_path`, transposed weights, one 1-D sample."""
import argparse
import json
import shutil
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from mlp import NeuralNetwork
from mlp.neural_network import WeightsError
from mlp.options import ConfigError, resolve_config

SMALL = ["-d", "mnist", "-e", "1", "-b", "64", "--train_size", "600", "--wandb_mode", "disabled"]


def layer_shapes(model):
    return [model.get_weights()[f"W{i}"].shape for i in range(len(model.layers))]


class ClassAttributeArgs:
    """How skeleton harnesses write their settings: class attributes, which ``vars()`` does not see."""
    num_layers = 2
    hidden_size = [48]
    activation = "tanh"
    loss = "mse"
    weight_init = "zeros"
    optimizer = "nag"


@pytest.mark.parametrize("settings", [ClassAttributeArgs, ClassAttributeArgs()], ids=["class", "instance"])
def test_class_attributes_build_the_network_they_ask_for(settings):
    model = NeuralNetwork(settings)
    assert layer_shapes(model) == [(784, 48), (48, 48), (48, 10)]
    assert (model.config["activation"], model.config["loss"], model.config["optimizer"]) == \
        ("tanh", "mean_squared_error", "nag")
    assert not np.any(model.get_weights()["W0"])  # zeros init was read too
    logits = np.array([[2.0, -1.0, 0.5, 0, 0, 0, 0, 0, 0, 0]])
    probs = np.exp(logits) / np.exp(logits).sum()
    assert model.compute_loss(np.array([0]), logits) == pytest.approx(np.mean((probs - np.eye(10)[0]) ** 2))


def test_a_present_but_invalid_class_attribute_is_named():
    class Bad:
        activation = "swish"

    with pytest.raises(ConfigError, match="activation.*swish"):
        NeuralNetwork(Bad)


@pytest.mark.parametrize("settings, widths", [
    ({"hidden_layers": [64, 32, 16]}, [64, 32, 16]),  # the skeleton's list of hidden layer sizes
    ({"hidden_layers": [3], "num_neurons": 20}, [20, 20, 20]),  # a count of layers, each num_neurons wide
    ({"hidden_layers": 2, "num_neurons": 20}, [20, 20]),
    ({"num_neurons": 24, "num_layers": 2}, [24, 24]),
    ({"hidden_layers": [40]}, [40]),
    ({"hidden_layers": [30, 30], "num_neurons": 30}, [30, 30]),
    ({"hidden_layers": [30, 30], "num_layers": 2, "hidden_size": [30]}, [30, 30]),  # agreeing values are fine
])
def test_skeleton_layer_names(settings, widths):
    model = NeuralNetwork(settings)
    assert model.config["hidden_size"] == widths and model.config["num_layers"] == len(widths)
    assert [shape[1] for shape in layer_shapes(model)] == [*widths, 10]


@pytest.mark.parametrize("settings, named", [
    ({"num_layers": 2, "hidden_layers": [64, 64, 64]}, "num_layers 2 conflicts with hidden_layers 64 64 64"),
    ({"hidden_size": [32], "hidden_layers": [64, 64]}, "hidden_size [32] conflicts with hidden_layers 64 64"),
    ({"hidden_size": [32], "num_neurons": 64}, "hidden_size [32] conflicts with num_neurons 64"),
    ({"hidden_layers": [64, 32], "num_neurons": 64}, "disagree"),
    ({"hidden_layers": [0], "num_neurons": 8}, "num_layers must be >= 1"),
])
def test_conflicting_or_bad_skeleton_names_are_errors(settings, named):
    with pytest.raises(ConfigError, match=named.replace("[", r"\[").replace("]", r"\]")):
        resolve_config(settings)


def test_mse_is_the_same_config_as_mean_squared_error():
    assert resolve_config({"loss": "mse"}) == resolve_config({"loss": "mean_squared_error"})


def test_train_parser_takes_the_skeleton_names(train_module):
    parser = train_module.build_parser()
    config = resolve_config(parser.parse_args(["-l", "mse", "--hidden_layers", "4", "--num_neurons", "32"]))
    assert (config["loss"], config["num_layers"], config["hidden_size"]) == ("mean_squared_error", 4, [32] * 4)
    # a default (num_layers 3) is not a conflict; an explicit disagreeing flag is
    assert resolve_config(parser.parse_args(["--hidden_layers", "64", "64"]))["num_layers"] == 2
    with pytest.raises(ConfigError, match="num_layers 3 conflicts"):
        resolve_config(parser.parse_args(["-nhl", "3", "--hidden_layers", "64", "64"]))


def test_skeleton_flags_parse_as_numbers_num_neurons_alone_is_no_conflict_and_choices_are_checked(train_module):
    parser = train_module.build_parser()
    config = resolve_config(parser.parse_args(["--hidden_layers", "32", "32", "--num_neurons", "32"]))
    assert (config["num_layers"], config["hidden_size"]) == (2, [32, 32])  # 32 the width, not "32"
    alone = resolve_config(parser.parse_args(["--num_neurons", "32"]))  # the default width is no conflict
    assert (alone["num_layers"], alone["hidden_size"]) == (3, [32, 32, 32])
    with pytest.raises(ConfigError, match=r"hidden_size \[64\] conflicts with num_neurons 32"):
        resolve_config(parser.parse_args(["-sz", "64", "--num_neurons", "32"]))
    with pytest.raises(SystemExit):
        parser.parse_args(["-a", "swish"])


@pytest.mark.parametrize("script", ["train", "inference"])
def test_help_lists_the_aliases_and_every_default(script, train_module, inference_module):
    module = train_module if script == "train" else inference_module
    text = (module.build_parser() if script == "train" else module.build_parser({})).format_help()
    flat = " ".join(text.split())
    for alias in ("--hidden_layers", "--num_neurons", "mse"):
        assert alias in flat
    assert ("--model_save_path" if script == "train" else "--config_path") in flat
    for default in ("(default: 64)", "(default: cross_entropy)", "(default: 0.001)", "(default: xavier)"):
        assert default in flat, default


def test_set_weights_names_a_transposed_w():
    model = NeuralNetwork({"num_layers": 1, "hidden_size": [4]})
    good = {"W0": np.ones((3, 4)), "b0": np.zeros(4), "W1": np.ones((4, 2)), "b1": np.zeros(2)}
    model.set_weights(good)
    for bad in ({**good, "W0": good["W0"].T}, {**good, "W1": good["W1"].T}):
        with pytest.raises(ValueError, match="looks transposed"):
            model.set_weights(bad)


def test_set_weights_names_what_is_wrong_and_leaves_a_bad_dict_unapplied():
    good = {"W0": np.ones((3, 4)), "b0": np.zeros(4), "W1": np.ones((4, 5)), "b1": np.zeros((1, 5)),
            "W2": np.ones((5, 2)), "b2": np.zeros(2)}
    faults = {"weights need W0..W2 and b0..b2; missing b1": {k: v for k, v in good.items() if k != "b1"},
              "weights need 2-D arrays W0, W1, ... and biases b0, b1, ...": {**good, "W1": np.ones(4)},
              "layer 2: b2 has shape (3,); expected (2,) or (1, 2)": {**good, "b2": np.zeros(3)},
              "layer 1: W1 (6, 5) does not follow W0 (3, 4)": {**good, "W1": np.ones((6, 5))},
              "W0 has shape (3, 4) but b0 has 3 values: W0 looks transposed": {**good, "b0": np.zeros(3)},
              # W1 follows W0, so a bias as long as W1's input is a wrong bias, not a transposed W1
              "layer 1: b1 has shape (4,); expected (5,) or (1, 5)": {**good, "b1": np.zeros(4)}}
    model = NeuralNetwork({"num_layers": 1, "hidden_size": [7]})
    for message, bad in faults.items():
        with pytest.raises(WeightsError) as refused:
            model.set_weights(bad)
        assert str(refused.value).startswith(message)
        assert layer_shapes(model) == [(784, 7), (7, 10)]
    with pytest.raises(WeightsError, match="weights need 2-D arrays"):
        model.set_weights({})
    model.set_weights({k: v.astype(np.float32) for k, v in good.items()})
    assert layer_shapes(model) == [(3, 4), (4, 5), (5, 2)]
    assert (model.input_size, model.output_size) == (3, 2)
    assert (model.config["num_layers"], model.config["hidden_size"]) == (2, [4, 5])
    assert all(layer.W.dtype == np.float64 and layer.b.dtype == np.float64 for layer in model.layers)


def test_one_1d_sample_gives_its_logits_and_gradients(mnist_slice):
    model = NeuralNetwork({"num_layers": 2, "hidden_size": [16], "seed": 3})
    x, y = mnist_slice.X[7], mnist_slice.y[7]
    logits = model.forward(x)
    assert logits.shape == (10,)
    np.testing.assert_array_equal(logits, model.forward(mnist_slice.X[7:8])[0])
    grad_W, grad_b = model.backward(y, logits)
    batch_W, batch_b = model.backward(mnist_slice.y[7:8], model.forward(mnist_slice.X[7:8]))
    for mine, batch in zip([*grad_W, *grad_b], [*batch_W, *batch_b]):
        np.testing.assert_array_equal(mine, batch)


def test_train_and_inference_with_the_skeleton_flags(tmp_path, run_script):
    """A grader's command lines: train with --hidden_layers/--num_neurons/-l mse/--model_save_path, then
    inference with --config_path, and with the layer flags alone."""
    saved = tmp_path / "model.npy"
    result = run_script("train.py", *SMALL, "-l", "mse", "--hidden_layers", "2", "--num_neurons", "24",
                        "--model_save_path", saved, "--db", tmp_path / "runs.db", "--runs_dir", tmp_path / "runs",
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    weights = np.load(saved, allow_pickle=True).item()
    assert [weights[f"W{i}"].shape for i in range(3)] == [(784, 24), (24, 24), (24, 10)]
    with sqlite3.connect(tmp_path / "runs.db") as conn:
        (stored,) = conn.execute("SELECT config FROM runs").fetchone()
    stored = json.loads(stored)
    assert stored["loss"] == "mean_squared_error" and stored["hidden_size"] == [24, 24]
    config = tmp_path / "config.json"
    config.write_text(json.dumps(stored))
    by_config = run_script("inference.py", "--model_path", saved, "--config_path", config, cwd=tmp_path)
    by_flags = run_script("inference.py", "--model_path", saved, "--config_path", tmp_path / "none.json",
                          cwd=tmp_path)
    assert by_flags.returncode == 2 and "none.json" in by_flags.stderr  # a named config must exist
    by_flags = run_script("inference.py", "--model_path", saved, "--hidden_layers", "24", "24", "-l", "mse",
                          cwd=tmp_path)
    assert by_config.returncode == 0 and by_flags.returncode == 0, (by_config.stderr, by_flags.stderr)
    assert by_config.stdout.splitlines()[-1] == by_flags.stdout.splitlines()[-1]
    assert "accuracy" in by_config.stdout


def test_conflicting_flags_end_in_one_line(tmp_path, run_script):
    result = run_script("train.py", *SMALL, "-nhl", "2", "--hidden_layers", "64", "64", "64",
                        "--db", tmp_path / "runs.db", "--runs_dir", tmp_path / "runs", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "train.py: error: num_layers 2 conflicts with hidden_layers 64 64 64: give one of them"]
    assert not (tmp_path / "runs.db").exists() and not (tmp_path / "runs").exists()


def test_namespace_from_argparse_without_given_flags_still_reads_every_option():
    args = argparse.Namespace(num_layers=1, hidden_size=[8], activation="sigmoid", loss="mse")
    assert layer_shapes(NeuralNetwork(args)) == [(784, 8), (8, 10)]


@pytest.mark.parametrize("settings, widths", [
    ({"hidden_size": [5]}, [5]),  # a list alone: one layer per value
    ({"hidden_size": [64, 32]}, [64, 32]),
    ({"hidden_size": 5}, [5, 5, 5]),  # one number: every one of the default 3 layers
    ({"hidden_size": [64], "num_layers": 3}, [64, 64, 64]),
    (argparse.Namespace(hidden_size=[128, 64]), [128, 64]),
])
def test_hidden_widths_without_num_layers(settings, widths):
    assert [shape[1] for shape in layer_shapes(NeuralNetwork(settings))] == [*widths, 10]


@pytest.mark.parametrize("flags, widths", [
    (["-sz", "64", "32"], [64, 32]),
    (["-sz", "64"], [64]),
    (["-nhl", "3", "-sz", "64"], [64, 64, 64]),
    (["-nhl", "2"], [128, 128]),
    ([], [128, 128, 128]),
])
def test_train_py_widths_alone_are_that_many_layers(flags, widths, train_module):
    assert resolve_config(train_module.build_parser().parse_args(flags))["hidden_size"] == widths


@pytest.mark.parametrize("argv, unknown", [
    (["-mp", "models/m.npy", "-e", "2"], ["-mp", "models/m.npy"]),  # never -m pmodels/m.npy
    (["-ep", "1", "-e", "2"], ["-ep", "1"]),  # never an abbreviation of -eps
    (["--flag", "3", "-e", "2"], ["--flag", "3"]),
    (["-bs", "64", "-mode", "online", "-e", "2"], ["-bs", "64", "-mode", "online"]),
    (["-e", "2", "--verbose"], ["--verbose"]),
    (["-e", "2", "-lr=0.5", "-wd", "-0.0"], []),  # -name=value, and a negative number is a value
])
def test_an_unknown_flag_is_set_aside_with_its_values_and_no_short_flag_swallows_it(argv, unknown, train_module):
    args, left = train_module.build_parser().parse_known_args(argv)
    assert left == unknown
    assert (args.epochs, args.momentum) == (2, 0.9)


def test_parse_arguments_names_the_unknown_flags_in_a_warning(train_module, inference_module, capsys):
    args = train_module.parse_arguments(["-mp", "x.npy", "--flag", "3", "-e", "4"])
    assert args.epochs == 4
    assert capsys.readouterr().err.strip() == "warning: ignoring unknown argument(s): -mp x.npy --flag 3"
    assert inference_module.parse_arguments(["--flag", "3"]).model_path == "best_model.npy"
    assert "--flag 3" in capsys.readouterr().err


def test_assigning_a_layers_weights_keeps_training_it_and_a_new_shape_is_refused(mnist_slice):
    model = NeuralNetwork({"num_layers": 1, "hidden_size": [8], "optimizer": "sgd", "learning_rate": 0.5})
    W0 = np.full((784, 8), 0.01)
    model.layers[0].W = W0
    model.layers[1].b = np.arange(10.0)  # (out,) is taken as (1, out)
    assert np.shares_memory(model.layers[0].W, model.params)
    X, y = mnist_slice.X[:32], mnist_slice.y[:32]
    grad_W, grad_b = model.backward(y, model.forward(X))
    model.update_weights()
    np.testing.assert_allclose(model.layers[0].W, W0 - 0.5 * grad_W[1])
    np.testing.assert_allclose(model.layers[1].b, np.arange(10.0)[None, :] - 0.5 * grad_b[0])
    with pytest.raises(ValueError, match=r"layer.W has shape \(784, 8\); got \(8, 784\)"):
        model.layers[0].W = W0.T


def test_set_weights_takes_what_np_load_returns(tmp_path):
    source = NeuralNetwork({"hidden_size": [12, 6], "seed": 4})
    np.save(tmp_path / "m.npy", source.get_weights())
    model = NeuralNetwork()
    model.set_weights(np.load(tmp_path / "m.npy", allow_pickle=True))
    assert layer_shapes(model) == [(784, 12), (12, 6), (6, 10)]
    X = np.random.default_rng(0).random((3, 784))
    np.testing.assert_array_equal(model.forward(X), source.forward(X))
    with pytest.raises(WeightsError, match="must be a dict"):
        model.set_weights(np.zeros(3))


def test_images_in_every_form_and_one_hot_labels_score_alike(mnist):
    model = NeuralNetwork({"num_layers": 1, "hidden_size": [32], "seed": 1})
    model.train(mnist.X_train[:3000], np.eye(10)[mnist.y_train[:3000]], epochs=1, batch_size=64)  # one-hot
    X, y = mnist.X_test[:2000], mnist.y_test[:2000]
    raw = np.rint(X * 255).astype(np.uint8)  # the stored pixels, as keras.datasets gives them
    expected = model.evaluate(X, y)
    for images in (raw, raw.reshape(-1, 28, 28), X.reshape(-1, 1, 28, 28)):
        for labels in (y, np.eye(10)[y]):
            scores = model.evaluate(images, labels)
            assert (scores["accuracy"], scores["f1"]) == (expected["accuracy"], expected["f1"])
    np.testing.assert_array_equal(model.forward(raw[:5]), model.forward(X[:5]))
    one_hot_loss = model.compute_loss(np.eye(10)[y], model.forward(X))
    assert one_hot_loss == model.compute_loss(y, model.forward(X))


def test_a_network_built_from_best_config_computes_in_float64(repo):
    config = json.loads((repo / "best_config.json").read_text())
    assert config["dtype"] == "float32", "the shipped model trained in float32: the case this guards"
    model = NeuralNetwork(argparse.Namespace(**config))
    assert model.dtype == np.float64 and model.forward(np.zeros((2, 784))).dtype == np.float64
    assert NeuralNetwork(config, dtype=np.float32).forward(np.zeros((2, 784))).dtype == np.float32


def test_softmax_is_importable_from_activations():
    from mlp.activations import softmax

    p = softmax(np.array([[1000.0, 0.0], [0.0, np.log(3.0)]]))
    np.testing.assert_allclose(p, [[1.0, 0.0], [0.25, 0.75]], atol=1e-12)


def test_mlp_copied_alone_as_ann_imports_and_trains(tmp_path, repo, mnist_slice):
    """mlp/ imports nothing else of the project: copied as a skeleton checkout's src/ann/, it runs by itself."""
    shutil.copytree(repo / "mlp", tmp_path / "src" / "ann", ignore=shutil.ignore_patterns("__pycache__"))
    np.save(tmp_path / "X.npy", mnist_slice.X[:500])
    np.save(tmp_path / "y.npy", mnist_slice.y[:500])
    code = ("import sys, numpy as np\n"
            "from ann.neural_network import NeuralNetwork\n"
            "from ann.activations import softmax\n"
            "model = NeuralNetwork({'hidden_size': [16], 'optimizer': 'adam'})\n"
            "X, y = np.load('../X.npy'), np.load('../y.npy')\n"
            "before = model.evaluate(X, y)['loss']\n"
            "model.train(X, y, epochs=2, batch_size=50)\n"
            "print(before > model.evaluate(X, y)['loss'], sorted({m.split('.')[0] for m in sys.modules} & "
            "{'mlp', 'cli', 'runner', 'store', 'reports'}))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path / "src", capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "[]"]
