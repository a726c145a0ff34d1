"""train.py and inference.py as a user and a grader run them (subprocesses), and every bad input of SPEC 8."""
import json
import os
import re
import shlex
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from conftest import MaliciousPickle
from mlp import NeuralNetwork

TRAIN_ARGS = ["-d", "mnist", "-e", "2", "-b", "128", "-nhl", "2", "-sz", "32", "16", "-a", "relu", "-o", "adam",
              "-lr", "0.002", "-w_i", "xavier", "--wandb_mode", "disabled"]
FINAL_LINE = re.compile(r"test accuracy (\d\.\d{4})\s+precision (\d\.\d{4})\s+recall (\d\.\d{4})\s+f1 (\d\.\d{4})")
METRIC_KEYS = {"logits", "loss", "accuracy", "f1", "precision", "recall"}


def tree(folder):
    """Every path under ``folder`` (relative), to compare before and after."""
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*"))


def runs_rows(db):
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM runs")]


# -- one real training run, shared by the tests below -----------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory, run_script, repo):
    root = tmp_path_factory.mktemp("train")
    db, runs_dir = root / "store" / "runs.db", root / "runs"
    (root / "store").mkdir()
    best = repo / "best_model.npy"
    best_before = best.read_bytes() if best.exists() else None
    result = run_script("train.py", *TRAIN_ARGS, "--db", db, "--runs_dir", runs_dir, "--not_a_real_flag", "7",
                        cwd=root)
    rows = runs_rows(db) if db.exists() else []
    return {"root": root, "db": db, "runs_dir": runs_dir, "result": result, "rows": rows,
            "best_before": best_before, "best": best}


def test_train_succeeds_and_prints_each_epoch_and_the_final_metrics(trained):
    result = trained["result"]
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    epoch_lines = [line for line in result.stdout.splitlines() if re.match(r"^epoch\s+\d+\b", line)]
    assert [int(line.split()[1]) for line in epoch_lines] == [1, 2]
    for line in epoch_lines:
        assert re.search(r"train loss \d+\.\d+ acc 0\.\d+", line) and re.search(r"val loss \d+\.\d+ acc 0\.\d+", line)
    assert FINAL_LINE.search(result.stdout.splitlines()[-1])


def test_unknown_flag_gives_a_warning_naming_it_and_still_succeeds(trained):
    result = trained["result"]
    assert result.returncode == 0
    warnings = [line for line in result.stderr.splitlines() if "--not_a_real_flag" in line]
    assert len(warnings) == 1 and "warning" in warnings[0].lower()


def test_store_holds_one_finished_run_with_the_printed_metrics(trained):
    assert trained["result"].returncode == 0
    rows = trained["rows"]
    assert len(rows) == 1
    row = rows[0]
    assert row["status"] == "finished" and row["epochs_done"] == 2 and not row["error"]
    config = json.loads(row["config"])
    assert config["hidden_size"] == [32, 16] and config["num_layers"] == 2 and config["epochs"] == 2
    assert config["optimizer"] == "adam" and config["batch_size"] == 128 and config["learning_rate"] == 0.002
    acc, precision, recall, f1 = FINAL_LINE.search(trained["result"].stdout).groups()
    assert f"{row['test_acc']:.4f}" == acc
    assert f"{row['test_precision']:.4f}" == precision
    assert f"{row['test_recall']:.4f}" == recall
    assert f"{row['test_f1']:.4f}" == f1
    assert row["test_acc"] > 0.9
    for metric in ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss"):
        assert isinstance(row[metric], float)
    with sqlite3.connect(trained["db"]) as conn:
        epochs = conn.execute("SELECT epoch, train_loss, val_acc FROM epochs WHERE run_id = ? ORDER BY epoch",
                              [row["id"]]).fetchall()
    assert [e[0] for e in epochs] == [1, 2]
    assert epochs[1][1] < epochs[0][1]


def test_weights_file_loads_and_scores_the_stored_test_accuracy(trained, mnist):
    row = trained["rows"][0]
    path = Path(row["weights_path"])
    assert path.is_file() and path.suffix == ".npy"
    assert trained["runs_dir"] in path.parents
    weights = np.load(path, allow_pickle=True).item()
    assert sorted(weights) == ["W0", "W1", "W2", "b0", "b1", "b2"]
    assert [weights[f"W{i}"].shape for i in range(3)] == [(784, 32), (32, 16), (16, 10)]
    model = NeuralNetwork()
    model.set_weights(weights)
    assert np.mean(model.predict(mnist.X_test) == mnist.y_test) == row["test_acc"]
    # the resolved config is saved beside the weights
    saved = json.loads(path.with_suffix(".json").read_text())
    assert saved["hidden_size"] == [32, 16] and saved["activation"] == "relu"


def test_train_writes_only_the_store_and_the_run_folder(trained):
    assert trained["result"].returncode == 0
    top = {p.name for p in trained["root"].iterdir()}
    assert top == {"store", "runs"}, top  # no runs.db in the working folder, no wandb/, no best_model.npy
    best = trained["best"]
    assert (best.read_bytes() if best.exists() else None) == trained["best_before"]


# -- inference on the trained files ------------------------------------------------------------------------------
def test_inference_script_reproduces_the_stored_metrics(trained, run_script):
    row = trained["rows"][0]
    root = trained["root"]
    weights = Path(row["weights_path"])
    # relative paths, from the working folder
    result = run_script("inference.py", "--model_path", os.path.relpath(weights, root),
                        "--config", os.path.relpath(weights.with_suffix(".json"), root), cwd=root)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    match = re.search(r"accuracy (\d\.\d{4})\s+precision (\d\.\d{4})\s+recall (\d\.\d{4})\s+f1 (\d\.\d{4})",
                      result.stdout)
    assert match, result.stdout
    assert match.groups() == (f"{row['test_acc']:.4f}", f"{row['test_precision']:.4f}",
                              f"{row['test_recall']:.4f}", f"{row['test_f1']:.4f}")


def test_inference_main_returns_the_metrics_dict(trained, inference_module, mnist):
    row = trained["rows"][0]
    weights = Path(row["weights_path"])
    scores = inference_module.main(["--model_path", str(weights), "--config", str(weights.with_suffix(".json"))])
    assert isinstance(scores, dict)
    assert set(scores) == METRIC_KEYS
    assert scores["logits"].shape == (10000, 10)
    assert scores["accuracy"] == row["test_acc"]  # exactly
    assert scores["f1"] == row["test_f1"]
    assert scores["precision"] == row["test_precision"]
    assert scores["recall"] == row["test_recall"]
    assert scores["loss"] == pytest.approx(row["test_loss"], rel=1e-12)
    # evaluate_model gives the same dict for a model built by hand
    model = NeuralNetwork(json.loads(weights.with_suffix(".json").read_text()))
    model.set_weights(np.load(weights, allow_pickle=True).item())
    again = inference_module.evaluate_model(model, mnist.X_test, mnist.y_test)
    assert set(again) == METRIC_KEYS
    assert again["accuracy"] == row["test_acc"]
    np.testing.assert_array_equal(again["logits"], scores["logits"])


REFERENCE_ACTIVATIONS = {"tanh": np.tanh, "relu": lambda Z: np.maximum(Z, 0.0)}


@pytest.mark.parametrize("activation, wrong", [("tanh", "relu"), ("relu", "tanh")])
def test_inference_uses_the_activation_of_its_config(activation, wrong, inference_module, mnist, tmp_path):
    """inference.py's logits are a plain NumPy forward pass with the config's activation, not with another one."""
    rng = np.random.default_rng(7)
    weights = {"W0": rng.normal(0, 0.1, (784, 16)), "b0": rng.normal(0, 0.5, 16),
               "W1": rng.normal(0, 1.0, (16, 10)), "b1": np.zeros(10)}
    np.save(tmp_path / "model.npy", weights)
    (tmp_path / "config.json").write_text(json.dumps({"num_layers": 1, "hidden_size": [16], "activation": activation}))
    scores = inference_module.main(["--model_path", str(tmp_path / "model.npy"),
                                    "--config", str(tmp_path / "config.json")])

    def reference(f):
        return f(mnist.X_test @ weights["W0"] + weights["b0"]) @ weights["W1"] + weights["b1"]

    np.testing.assert_allclose(scores["logits"], reference(REFERENCE_ACTIVATIONS[activation]), rtol=1e-10, atol=1e-10)
    assert scores["accuracy"] == np.mean(reference(REFERENCE_ACTIVATIONS[activation]).argmax(1) == mnist.y_test)
    assert np.mean(scores["logits"].argmax(1) != reference(REFERENCE_ACTIVATIONS[wrong]).argmax(1)) > 0.1


def test_unknown_flag_that_prefixes_a_known_flag_is_warned_not_taken(train_module, capsys):
    """SPEC 4: unknown flags give a warning that names them, not a crash. ``--lr`` is not a train.py flag
    (the flags are -lr and --learning_rate), but argparse's prefix matching takes it for --lr_schedule and
    exits with 'invalid choice'."""
    from cli import parse_known

    try:
        args = parse_known(train_module.build_parser(), ["--lr", "0.01", "-e", "1"])
    except SystemExit as exc:
        pytest.fail(f"unknown flag --lr made train.py exit ({exc.code}): {capsys.readouterr().err.strip()}")
    assert args.lr_schedule == "constant" and args.learning_rate == 1e-3 and args.epochs == 1
    assert "--lr" in capsys.readouterr().err


# -- bad input: one line, exit 2, no traceback, nothing written ----------------------------------------------------
def assert_clean_failure(result, *expected):
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for text in expected:
        assert text in lines[0], (text, lines[0])


TRAIN_BAD = {
    "optimizer-foo": (["-o", "foo"], "foo"),
    "activation-foo": (["-a", "foo"], "foo"),
    "dataset-foo": (["-d", "foo"], "foo"),
    "loss-foo": (["-l", "foo"], "foo"),
    "weight_init-foo": (["-w_i", "foo"], "foo"),
    "batch_size-0": (["-b", "0"], "batch_size"),
    "batch_size-negative": (["-b", "-5"], "batch_size"),
    "epochs-0": (["-e", "0"], "epochs"),
    "num_layers-0": (["-nhl", "0"], "num_layers"),
    "hidden_size-0": (["-sz", "0"], "hidden_size"),
    "hidden_size-negative": (["-sz", "-3"], "hidden_size"),
    "hidden_size-list-mismatch": (["-nhl", "2", "-sz", "3", "4", "5"], "hidden_size"),
    "learning_rate-nan": (["-lr", "nan"], "learning_rate"),
    "learning_rate-0": (["-lr", "0"], "learning_rate"),
    "epochs-not-an-int": (["-e", "1.5"], "epochs"),
    "weight_decay-negative": (["-wd", "-0.1"], "weight_decay"),
}


@pytest.mark.parametrize("args, named", TRAIN_BAD.values(), ids=TRAIN_BAD.keys())
def test_train_bad_input(args, named, store_paths, run_script):
    result = run_script("train.py", *args, "--wandb_mode", "disabled", "--db", store_paths.db,
                        "--runs_dir", store_paths.runs_dir, cwd=store_paths.root)
    assert_clean_failure(result, named)
    assert not store_paths.db.exists() and not store_paths.runs_dir.exists()
    assert tree(store_paths.root) == []


@pytest.mark.parametrize("how", ("env", "flag"))
def test_train_missing_data_folder(how, store_paths, run_script):
    extra = ["--data_dir", "/nonexistent"] if how == "flag" else []
    env = {"MLP_DATA_DIR": "/nonexistent"} if how == "env" else {}
    result = run_script("train.py", "-e", "1", *extra, "--wandb_mode", "disabled", "--db", store_paths.db,
                        "--runs_dir", store_paths.runs_dir, cwd=store_paths.root, env=env)
    assert_clean_failure(result, "/nonexistent", "MLP_DATA_DIR")
    assert tree(store_paths.root) == []


# -- inference bad inputs: files built here, run from an empty working folder -----------------------------------------
def small_weights(sizes, seed=0):
    rng = np.random.default_rng(seed)
    weights = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        weights[f"W{i}"] = rng.normal(0, 0.1, size=(n_in, n_out))
        weights[f"b{i}"] = np.zeros((1, n_out))
    return weights


def write_config(path, hidden):
    path.write_text(json.dumps({"dataset": "mnist", "num_layers": len(hidden), "hidden_size": hidden,
                                "activation": "relu", "loss": "cross_entropy"}))
    return path


def build_inference_case(kind, folder):
    """-> (args, text the error must name, marker path that must not appear or None)."""
    good = folder / "good.npy"
    np.save(good, small_weights([784, 32, 10]))
    config = write_config(folder / "config.json", [32])
    model = folder / "model.npy"
    marker = None
    if kind == "missing-npy":
        model = folder / "absent.npy"
        named = "absent.npy"
    elif kind == "corrupt-npy":
        model.write_bytes(np.random.default_rng(1).bytes(5000))
        named = "model.npy"
    elif kind == "truncated-npy":
        data = good.read_bytes()
        model.write_bytes(data[: len(data) // 2])
        named = "model.npy"
    elif kind == "truncated-header":
        model.write_bytes(good.read_bytes()[:40])
        named = "model.npy"
    elif kind == "plain-array-npy":
        np.save(model, np.zeros((784, 10)))
        named = "model.npy"
    elif kind == "width-mismatch":  # a 128-wide model, -sz 64 on the command line
        np.save(model, small_weights([784, 128, 10]))
        config = write_config(folder / "config.json", [128])
        return ["--model_path", model, "--config", config, "-sz", "64"], "64", None
    elif kind == "depth-mismatch":  # two hidden layers, the config says one
        np.save(model, small_weights([784, 32, 16, 10]))
        named = "32"
    elif kind == "input-size-mismatch":  # W0 takes 100 inputs; MNIST images have 784
        np.save(model, small_weights([100, 32, 10]))
        named = "784"
    elif kind == "output-size-mismatch":  # 5 outputs; MNIST has 10 classes
        np.save(model, small_weights([784, 32, 5]))
        named = "10"
    elif kind == "one-dimensional-W0":
        weights = small_weights([784, 32, 10])
        weights["W0"] = weights["W0"][:, 0]
        np.save(model, weights)
        named = "W0"
    elif kind in ("malicious-pickle-in-dict", "malicious-pickle-top-level"):
        marker = folder / "pwned-marker"
        payload = MaliciousPickle(f"touch {shlex.quote(str(marker))}")
        np.save(model, {"W0": payload, "b0": np.zeros(3)} if kind.endswith("dict") else payload, allow_pickle=True)
        named = "model.npy"
    elif kind == "unknown-choice":
        np.save(model, small_weights([784, 32, 10]))
        return ["--model_path", model, "--config", config, "-a", "foo"], "foo", None
    elif kind == "bad-config-json":
        np.save(model, small_weights([784, 32, 10]))
        config.write_text("{not json")
        named = "config.json"
    else:
        raise AssertionError(kind)
    return ["--model_path", model, "--config", config], named, marker


INFERENCE_BAD = ("missing-npy", "corrupt-npy", "truncated-npy", "truncated-header", "plain-array-npy",
                 "width-mismatch", "depth-mismatch", "input-size-mismatch", "output-size-mismatch",
                 "one-dimensional-W0", "malicious-pickle-in-dict", "malicious-pickle-top-level",
                 "unknown-choice", "bad-config-json")


@pytest.mark.parametrize("kind", INFERENCE_BAD)
def test_inference_bad_input(kind, tmp_path, run_script):
    inputs, cwd = tmp_path / "inputs", tmp_path / "cwd"
    inputs.mkdir()
    cwd.mkdir()
    args, named, marker = build_inference_case(kind, inputs)
    before = {p: p.read_bytes() for p in inputs.iterdir()}
    result = run_script("inference.py", *args, cwd=cwd)
    if marker is not None:
        assert not marker.exists(), "loading the model file ran code from it"
    assert_clean_failure(result, named)
    assert tree(cwd) == []
    assert {p: p.read_bytes() for p in inputs.iterdir()} == before


def test_malicious_pickle_payload_is_real(tmp_path):
    """Control for the malicious-pickle cases: the same file does run its payload under np.load(allow_pickle)."""
    args, _, marker = build_inference_case("malicious-pickle-in-dict", tmp_path)
    assert not marker.exists()
    np.load(args[1], allow_pickle=True)
    assert marker.exists()


def test_inference_missing_data_folder(tmp_path, run_script):
    inputs, cwd = tmp_path / "inputs", tmp_path / "cwd"
    inputs.mkdir()
    cwd.mkdir()
    np.save(inputs / "model.npy", small_weights([784, 32, 10]))
    config = write_config(inputs / "config.json", [32])
    result = run_script("inference.py", "--model_path", inputs / "model.npy", "--config", config, cwd=cwd,
                        env={"MLP_DATA_DIR": "/nonexistent"})
    assert_clean_failure(result, "MLP_DATA_DIR")
    assert tree(cwd) == []
