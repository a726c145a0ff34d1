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
from mlp.options import ConfigError
from reports.queries import SectionError
from runner.sweep_file import SweepError
from store import StoreError
from conftest import as_record


def parsers(train_module, inference_module):
    import cli.reports
    import cli.runner
    import cli.store

    main_store = cli.store.build_parser()
    subcommands = next(a for a in main_store._actions if isinstance(a, argparse._SubParsersAction)).choices
    return {"train.py": train_module.build_parser(), "inference.py": inference_module.build_parser({}),
            "runner": cli.runner.build_parser(), "reports": cli.reports.build_parser(),
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


