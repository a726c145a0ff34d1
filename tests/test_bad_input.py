"""The bad-input catalogue (SPEC §8): every mistake ends in one line, exit status 2,
no traceback, and the run store left byte for byte as it was.

Each case runs a real command against a small real store (one finished run of
train.py), then compares the store file's hash with the one taken before.
Arguments name the fixture files as {db}, {weights}, {config} and {tmp}.
"""
import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import MaliciousPickle

ROOT = Path(__file__).resolve().parent.parent
DB = ["--db", "{db}"]
NOWHERE = {"MLP_DATA_DIR": "{tmp}/nowhere"}
GOOD_SWEEP = "{tmp}/good.yaml"

# name -> (argv after `python`, extra environment, text the one error line must contain)
CATALOGUE = {
    "train unknown optimizer": (["train.py", "-o", "lion", *DB], {}, "optimizer"),
    "train unknown activation": (["train.py", "-a", "swish", *DB], {}, "activation"),
    "train unknown dataset": (["train.py", "-d", "cifar10", *DB], {}, "dataset"),
    "train zero batch": (["train.py", "-b", "0", *DB], {}, "batch_size"),
    "train negative epochs": (["train.py", "-e", "-2", *DB], {}, "epochs"),
    "train zero width": (["train.py", "-sz", "0", *DB], {}, "hidden_size"),
    "train widths vs layers": (["train.py", "-nhl", "2", "-sz", "8", "8", "8", *DB], {}, "num_layers"),
    "train nan learning rate": (["train.py", "-lr", "nan", *DB], {}, "learning_rate"),
    "train negative weight decay": (["train.py", "-wd", "-0.1", *DB], {}, "weight_decay"),
    "train text for a number": (["train.py", "-e", "ten", *DB], {}, "epochs"),
    "train missing data folder": (["train.py", *DB], NOWHERE, "MLP_DATA_DIR"),
    "train corrupt store": (["train.py", "--db", "{tmp}/corrupt.db"], {}, "corrupt.db"),
    "train locked store": (["train.py", "--db", "{tmp}/locked.db"], {"MLP_DB_TIMEOUT": "0.5"}, "locked"),
    "inference missing npy": (["inference.py", "--model_path", "{tmp}/none.npy"], {}, "does not exist"),
    "inference corrupt npy": (["inference.py", "--model_path", "{tmp}/garbage.npy"], {}, "garbage.npy"),
    "inference truncated npy": (["inference.py", "--model_path", "{tmp}/truncated.npy", "--config", "{config}"], {},
                                "truncated.npy"),
    "inference weights do not fit": (["inference.py", "--model_path", "{tmp}/narrow.npy", "--config", "{config}"],
                                     {}, "hidden widths"),
    "inference unknown loss": (["inference.py", "--model_path", "{weights}", "-l", "hinge"], {}, "loss"),
    "inference corrupt config": (["inference.py", "--model_path", "{weights}", "--config", "{tmp}/bad.json"], {},
                                 "bad.json"),
    "inference config not an object": (["inference.py", "--model_path", "{weights}", "--config", "{tmp}/list.json"],
                                       {}, "list.json"),
    "inference config bad value": (["inference.py", "--model_path", "{weights}", "--config", "{tmp}/neg.json"], {},
                                   "num_layers"),
    "inference missing config file": (["inference.py", "--model_path", "{weights}", "--config", "{tmp}/none.json"],
                                      {}, "none.json"),
    "train save_model under a file": (["train.py", "--save_model", "{weights}/best.npy", *DB], {}, "--save_model"),
    "inference missing data folder": (["inference.py", "--model_path", "{weights}", "--config", "{config}"], NOWHERE,
                                      "MLP_DATA_DIR"),
    "runner zero jobs": (["-m", "runner", GOOD_SWEEP, "--jobs", "0", *DB], {}, "--jobs"),
    "runner unknown backend": (["-m", "runner", GOOD_SWEEP, "--backend", "ray", *DB], {}, "backend"),
    "runner dask without scheduler": (["-m", "runner", GOOD_SWEEP, "--backend", "dask", *DB], {}, "--scheduler"),
    "runner missing sweep file": (["-m", "runner", "{tmp}/none.yaml", *DB], {}, "does not exist"),
    "runner sweep with a bad value": (["-m", "runner", "{tmp}/bad.yaml", *DB], {}, "batch_size"),
    "runner missing data folder": (["-m", "runner", GOOD_SWEEP, *DB], NOWHERE, "MLP_DATA_DIR"),
    "runner corrupt store": (["-m", "runner", GOOD_SWEEP, "--db", "{tmp}/corrupt.db"], {}, "corrupt.db"),
    "runner locked store": (["-m", "runner", GOOD_SWEEP, "--db", "{tmp}/locked.db"], {"MLP_DB_TIMEOUT": "0.5"},
                            "locked"),
    "store no command": (["-m", "store", *DB], {}, "required"),
    "store unknown command": (["-m", "store", *DB, "drop"], {}, "invalid choice"),
    "store bad sort column": (["-m", "store", *DB, "list", "--sort", "colour"], {}, "--sort"),
    "store filter without value": (["-m", "store", *DB, "list", "--filter", "optimizer"], {}, "KEY=VALUE"),
    "store unknown status": (["-m", "store", *DB, "list", "--status", "paused"], {}, "status"),
    "store show missing run": (["-m", "store", *DB, "show", "999"], {}, "999"),
    "store show non-number": (["-m", "store", *DB, "show", "first"], {}, "run_id"),
    "store best unknown metric": (["-m", "store", *DB, "best", "--metric", "speed"], {}, "metric"),
    "store best of an empty sweep": (["-m", "store", *DB, "best", "--sweep", "nothing"], {}, "nothing"),
    "store missing file": (["-m", "store", "--db", "{tmp}/none.db", "list"], {}, "none.db"),
    "store corrupt file": (["-m", "store", "--db", "{tmp}/corrupt.db", "list"], {}, "corrupt.db"),
    "store not a run store": (["-m", "store", "--db", "{tmp}/other.db", "list"], {}, "other.db"),
    "store a folder": (["-m", "store", "--db", "{tmp}", "list"], {}, "is a folder"),
    "export missing store": (["-m", "reports.export", "--db", "{tmp}/none.db", "--out_dir", "{tmp}/out"], {},
                             "none.db"),
    "export store without runs": (["-m", "reports.export", "--db", "{tmp}/empty.db", "--out_dir", "{tmp}/out"], {},
                                  "no finished"),
    "export unknown dataset": (["-m", "reports.export", *DB, "-d", "cifar10", "--out_dir", "{tmp}/out"], {},
                               "dataset"),
    "export corrupt weights": (["-m", "reports.export", "--db", "{tmp}/corrupt_weights.db", "--out_dir", "{tmp}/out"],
                               {}, "garbage.npy"),
    "export malicious weights": (["-m", "reports.export", "--db", "{tmp}/evil.db", "--out_dir", "{tmp}/out"], {},
                                 "is not the file the run recorded (its SHA-256 differs)"),
    "inference malicious weights": (["inference.py", "--model_path", "{tmp}/evil.npy", "--config", "{config}"], {},
                                    "refuses"),
}


def store_pointing_at(source, target, weights):
    """A copy of the store whose one run's weights file is ``weights``."""
    target.write_bytes(source.read_bytes())
    con = sqlite3.connect(target)
    con.execute("UPDATE runs SET weights_path = ?", [str(weights)])
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The real store with one finished run, and every broken file the catalogue names."""
    tmp = tmp_path_factory.mktemp("bad")
    out = subprocess.run([sys.executable, "train.py", "-e", "1", "-nhl", "1", "-sz", "16", "--train_size", "1000",
                          "--dtype", "float32", "--wandb_mode", "disabled", "--db", str(tmp / "runs.db"),
                          "--runs_dir", str(tmp / "runs")], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    con = sqlite3.connect(tmp / "runs.db")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # reading must then leave the file's bytes alone
    con.close()
    weights = next((tmp / "runs" / "train").glob("*/*.npy"))  # in the shard of its key
    (tmp / "good.yaml").write_text("method: grid\nparameters: {epochs: {value: 1}, train_size: {value: 500}}\n")
    (tmp / "bad.yaml").write_text("method: grid\nparameters: {batch_size: {value: 0}}\n")
    (tmp / "corrupt.db").write_bytes(os.urandom(4096))
    sqlite3.connect(tmp / "other.db").execute("CREATE TABLE t (x)").connection.close()
    (tmp / "locked.db").write_bytes((tmp / "runs.db").read_bytes())
    (tmp / "garbage.npy").write_bytes(os.urandom(300))
    (tmp / "truncated.npy").write_bytes(weights.read_bytes()[:200])
    np.save(tmp / "narrow.npy", {"W0": np.zeros((784, 8)), "b0": np.zeros(8), "W1": np.zeros((8, 10)),
                                 "b1": np.zeros(10)})
    (tmp / "bad.json").write_text("{oops")
    (tmp / "list.json").write_text("[1, 2]")
    (tmp / "neg.json").write_text('{"num_layers": -1}')
    np.save(tmp / "evil.npy", np.array({"W0": MaliciousPickle(f"touch {tmp / 'pwned'}")}, dtype=object), allow_pickle=True)
    store_pointing_at(tmp / "runs.db", tmp / "evil.db", tmp / "evil.npy")
    store_pointing_at(tmp / "runs.db", tmp / "corrupt_weights.db", tmp / "garbage.npy")
    subprocess.run([sys.executable, "-c", f"from store import RunStore; RunStore('{tmp / 'empty.db'}')"], check=True)
    return {"tmp": tmp, "db": tmp / "runs.db", "weights": weights, "config": weights.with_suffix(".json")}


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.mark.parametrize("case", sorted(CATALOGUE))
def test_bad_input_gives_one_line_exit_2_and_leaves_the_store_alone(case, files):
    argv, extra_env, named = CATALOGUE[case]
    argv = [str(ROOT / a) if a.endswith(".py") and i == 0 else a.format(**files) for i, a in enumerate(argv)]
    env = {**os.environ, **{k: v.format(**files) for k, v in extra_env.items()}}
    env.pop("MLP_DB", None)
    before = {path.name: digest(path) for path in files["tmp"].glob("*.db")}
    lock = sqlite3.connect(files["tmp"] / "locked.db", isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # another writer holds the locked store throughout
    try:
        out = subprocess.run([sys.executable, *argv], cwd=files["tmp"], env=env, capture_output=True, text=True,
                             timeout=120)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, out.stderr
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert named in lines[0], lines[0]
    assert {name: digest(files["tmp"] / name) for name in before} == before
    assert not (files["tmp"] / "runs" / "good").exists() and not (files["tmp"] / "none.db").exists()
    assert not (files["tmp"] / "out").exists() and not (files["tmp"] / "pwned").exists()


def test_the_malicious_file_really_runs_code_when_unpickled_naively(files, tmp_path):
    """The control: np.load with pickles allowed does run the payload, so refusing it above means something."""
    marker = files["tmp"] / "pwned"
    np.load(files["tmp"] / "evil.npy", allow_pickle=True)
    assert marker.exists()
    marker.unlink()


def test_the_catalogue_is_large_enough():
    assert len(CATALOGUE) >= 30
