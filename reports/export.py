"""python -m reports.export: write best_model.npy and best_config.json from the run with the highest test F1.

The weights file is copied byte for byte from the run's weights (checked against
the SHA-256 the store holds, which then names best_model.npy too) and the config
is the run's stored train.py options, so ``python inference.py`` (which reads the
pair by default) reproduces the run's stored test metrics exactly.
"""
import json
import sys
from pathlib import Path

from cli import OneLineParser, add_db_option, one_line_errors, run_command
from mlp.data import DATASETS
from mlp.files import save_atomically
from mlp.model_io import load_weights
from store import RunStore, StoreError

from . import queries as q
from .context import ROOT, describe

PROG = "python -m reports.export"


def export(store, out_dir, dataset="mnist"):
    """Write the pair for the best finished ``dataset`` run by test F1 into ``out_dir``; returns the run."""
    run = q.best_run(store, "test_f1", dataset=dataset)
    if run is None:
        raise StoreError(f"no finished {dataset} run with a test F1 in {store.path}; run a sweep or train.py first")
    weights_path = Path(q.weights_file(store, run))
    load_weights(weights_path)  # refuse to ship a corrupt file
    content = weights_path.read_bytes()
    out_dir = Path(out_dir)
    save_atomically(out_dir / "best_model.npy", lambda f: f.write(content))
    save_atomically(out_dir / "best_config.json",
                    lambda f: f.write(json.dumps(run["config"], indent=2, sort_keys=True).encode() + b"\n"))
    return run


def main(argv=None):
    parser = OneLineParser(prog=PROG, description=__doc__.split(":", 1)[1].splitlines()[0].strip())
    add_db_option(parser)
    parser.add_argument("--out_dir", default=str(ROOT), help="where the pair goes (the project root)")
    parser.add_argument("-d", "--dataset", default="mnist", choices=DATASETS, help="choose among runs on this dataset")
    args = parser.parse_args(argv)
    with one_line_errors(PROG):
        run = export(RunStore(args.db, create=False), args.out_dir, args.dataset)
    print(f"run {run['id']} of sweep {run['sweep']}: {describe(run['config'])}")
    print(f"stored test accuracy {run['test_acc']:.4f}  precision {run['test_precision']:.4f}  "
          f"recall {run['test_recall']:.4f}  f1 {run['test_f1']:.4f}")
    print(f"wrote {Path(args.out_dir) / 'best_model.npy'} and {Path(args.out_dir) / 'best_config.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_command(PROG, main))
