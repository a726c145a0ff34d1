"""python -m reports.export: write best_model.npy and best_config.json from the run with the highest test F1.

The weights file is copied byte for byte from the run's weights (checked against
the SHA-256 the store holds, which then names best_model.npy too) and the config
is the run's stored train.py options, so ``python inference.py`` (which reads the
pair by default) reproduces the run's stored test metrics exactly.
"""
import json
import sys
from pathlib import Path

from mlp.files import save_atomically
from mlp.model_io import load_weights
from store import StoreError

from . import queries as q


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


if __name__ == "__main__":  # the command is cli/export.py
    from cli.export import command  # noqa: PLC0415 - the door only: the library never imports cli

    sys.exit(command())
