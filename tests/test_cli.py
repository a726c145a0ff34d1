"""What the command lines share: every --help shows each default, the store's CLI starts light and takes
--db on either side of its subcommand, and every error the project raises for bad input is one InputError."""
import argparse
import json
import subprocess
import sys

import pytest

import cli
from mlp.data_sources import DataError
from mlp.model_io import ModelFileError
from mlp.neural_network import WeightsError
from mlp.options import ConfigError, resolve_config
from reports.context import SectionError
from runner.sweep_file import SweepError
from store import StoreError
from conftest import as_record


def parsers(train_module, inference_module):
    import reports.__main__
    import runner.__main__
    import store.__main__

    main_store = store.__main__.build_parser()
    subcommands = next(a for a in main_store._actions if isinstance(a, argparse._SubParsersAction)).choices
    return {"train.py": train_module.build_parser(), "inference.py": inference_module.build_parser({}),
            "runner": runner.__main__.build_parser(), "reports": reports.__main__.build_parser(),
            "store": main_store, **{f"store {name}": p for name, p in subcommands.items()}}


def test_every_help_shows_each_default(train_module, inference_module):
    for name, parser in parsers(train_module, inference_module).items():
        text = " ".join(parser.format_help().split())
        for action in parser._actions:
            if action.option_strings and action.default is not argparse.SUPPRESS and action.help:
                assert f"(default: {action.default})" in text, (name, action.dest)


def test_store_cli_takes_db_after_the_subcommand_and_imports_neither_sklearn_nor_wandb(tmp_path, repo):
    from store import RunStore

    db = tmp_path / "elsewhere.db"
    RunStore(db).record("s", as_record({"epochs": 1}, {"status": "failed", "error": "boom"}))
    before = subprocess.run([sys.executable, "-m", "store", "--db", str(db), "list", "--json"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    after = subprocess.run([sys.executable, "-m", "store", "list", "--json", "--db", str(db)], cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
    assert before.returncode == after.returncode == 0, (before.stderr, after.stderr)
    assert before.stdout == after.stdout and json.loads(after.stdout)["error"] == "boom"
    code = "import sys, runpy; sys.argv = ['store', '--help']\ntry:\n    runpy.run_module('store', run_name='__main__')\n" \
           "except SystemExit:\n    pass\nprint(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'wandb')))"
    loaded = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=60)
    assert loaded.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("error", [ConfigError, DataError, ModelFileError, WeightsError, StoreError, SweepError,
                                   SectionError])
def test_every_bad_input_error_ends_in_one_line_and_status_2(error, capsys):
    with pytest.raises(SystemExit) as exit_info, cli.one_line_errors("prog"):
        raise error("what is wrong and how to fix it")
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "prog: error: what is wrong and how to fix it\n"


def test_other_exceptions_are_not_swallowed():
    with pytest.raises(ZeroDivisionError), cli.one_line_errors("prog"):
        1 / 0


@pytest.mark.parametrize("values, message", [
    ({"epochs": True}, "epochs must be int; got True"),
    ({"epochs": 2.5}, "epochs must be int; got 2.5"),
    ({"hidden_size": []}, "hidden_size needs at least one value"),
    ({"num_layers": 2, "hidden_size": [8, 8, 8]}, "hidden_size has 3 values but num_layers is 2: give one value or 2"),
    ({"learning_rate": 0}, "learning_rate must be > 0; got 0"),
    ({"momentum": 1}, "momentum must be < 1; got 1"),
    ({"dropout": float("nan")}, "dropout must be a finite number; got nan"),
    ({"dtype": "float16"}, "dtype must be one of float64, float32; got 'float16'"),
])
def test_a_bad_option_value_is_named_with_what_it_must_be(values, message):
    with pytest.raises(ConfigError) as error:
        resolve_config(values)
    assert str(error.value) == message


def test_whole_numbers_may_come_as_text_or_as_floats():
    """YAML 1.1 reads ``1e3`` as text, and JSON writes whole floats such as ``32.0``."""
    config = resolve_config({"epochs": "1e3", "batch_size": 32.0, "seed": "7"})
    assert (config["epochs"], config["batch_size"], config["seed"]) == (1000, 32, 7)
    assert all(type(config[k]) is int for k in ("epochs", "batch_size", "seed"))


def test_num_neurons_agreeing_with_per_layer_widths_is_no_conflict():
    """``--num_layers 2 --hidden_size 32 32 --num_neurons 32`` says one thing three ways."""
    values = argparse.Namespace(num_layers=2, hidden_size=[32, 32], num_neurons=32,
                                given_flags={"num_layers", "hidden_size", "num_neurons"})
    config = resolve_config(values)
    assert (config["num_layers"], config["hidden_size"]) == (2, [32, 32])
