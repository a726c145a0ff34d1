"""The command ``python -m reports.export`` (its library is reports/export.py, whose docstring tells it)."""
from pathlib import Path

from cli import OneLineParser, add_db_option, one_line_errors, run_command
from mlp.data import DATASETS
from reports import export as library
from reports.context import ROOT
from reports.findings import describe
from store import RunStore

PROG = "python -m reports.export"


def main(argv=None):
    parser = OneLineParser(prog=PROG, description=library.__doc__.split(":", 1)[1].splitlines()[0].strip())
    add_db_option(parser)
    parser.add_argument("--out_dir", default=str(ROOT), help="where the pair goes (the project root)")
    parser.add_argument("-d", "--dataset", default="mnist", choices=DATASETS, help="choose among runs on this dataset")
    args = parser.parse_args(argv)
    with one_line_errors(PROG):
        run = library.export(RunStore(args.db, create=False), args.out_dir, args.dataset)
    print(f"run {run['id']} of sweep {run['sweep']}: {describe(run['config'])}")
    print(f"stored test accuracy {run['test_acc']:.4f}  precision {run['test_precision']:.4f}  "
          f"recall {run['test_recall']:.4f}  f1 {run['test_f1']:.4f}")
    print(f"wrote {Path(args.out_dir) / 'best_model.npy'} and {Path(args.out_dir) / 'best_config.json'}")
    return 0


def command():
    return run_command(PROG, main)
