"""The runner's side of a run: it alone writes the weights, probe and config files and the store.

A worker returns its record with the weights (``get_weights()``) and probe arrays
in it; here they become files under ``runs_dir/<sweep>/<key>``, each written
atomically, and then the record without the arrays becomes a store row.
"""
import json
import os
from pathlib import Path

import numpy as np

from mlp.options import resolve_config
from store import DONE


def key_defaults():
    """The resolved default configuration: config keys leave out what equals it."""
    return resolve_config({})


def save_atomically(path, write):
    """Write through a temporary file and rename, so a kill never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def remove_partial_files(folder):
    """Temporary files of writes cut short by a kill."""
    for tmp in Path(folder).glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def save_files(result, stem):
    """Weights as ``np.save(get_weights())`` with the resolved config beside them (so any .npy can be
    rebuilt) and the probe arrays; the arrays leave ``result`` and their paths take their place."""
    weights, probe = result.pop("weights", None), result.pop("probe", None)
    if weights is None or result["status"] not in ("finished", "stopped"):  # nothing worth keeping
        return
    stem = Path(stem).resolve()
    result["weights_path"] = str(stem.with_suffix(".npy"))
    save_atomically(result["weights_path"], lambda f: np.save(f, weights, allow_pickle=True))
    save_atomically(stem.with_suffix(".json"),
                    lambda f: f.write(json.dumps(result["config"], indent=2, sort_keys=True).encode()))
    result["probe_path"] = str(stem.with_suffix(".probe.npz"))
    save_atomically(result["probe_path"], lambda f: np.savez(f, **probe))


def persist(store, sweep, runs_dir, result, run_id=None):
    """Files first, then the row: a kill between the two leaves a rerun, never a row without its files.
    -> the run id, or None when another runner had already recorded this configuration.
    ``run_id``: the claimed row (train.py's repeats); else the configuration's latest."""
    row = store.get(run_id) if run_id is not None else store.find(sweep, result["config"])
    if row is not None and row["status"] in DONE:  # its files are the recorded ones: keep them
        return None
    stem = store.key(result["config"]) + (f"-{row['repeat']}" if row is not None and row["repeat"] else "")
    save_files(result, Path(runs_dir) / sweep / stem)
    return store.record(sweep, result["config"], result, run_id)
