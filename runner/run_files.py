"""A run's files: where they go, how they are written, and how they go again.

Beside each recorded run that keeps them: its weights (``np.save(get_weights())``), its resolved configuration as
JSON (so any .npy can be rebuilt) and its probe arrays. They live under runs/<sweep>/<first two hex digits of the
key>/, so no folder holds more than a few thousand files even for a sweep of 100,000 runs (256 shards). The store
keeps each path relative to its own folder, so a store moved with its runs folder still finds them.
"""
import json
from pathlib import Path

import numpy as np

from mlp.files import file_sha256, remove_orphans, save_atomically

SUFFIXES = (".npy", ".json", ".probe.npz")  # a run's weights, configuration and probe arrays
SHARDS = "[0-9a-f][0-9a-f]"  # the shard folders of a sweep's folder


def stem(runs_dir, sweep, key, repeat=0):
    """Where a run's files go, without their suffix: in its sweep's folder, in the shard of its key."""
    return (Path(runs_dir) / sweep / key[:2] / (key + (f"-{repeat}" if repeat else ""))).resolve()


def save_files(result, stem):
    """Write a JobResult's arrays at ``stem`` + SUFFIXES; its record gets their paths and the weights' SHA-256."""
    record = result.record
    weights, config, probe = (stem.with_suffix(suffix) for suffix in SUFFIXES)
    record.weights_path = str(weights)
    save_atomically(weights, lambda f: np.save(f, result.weights, allow_pickle=True), "the weights")
    record.weights_sha256 = file_sha256(weights)
    save_atomically(config, lambda f: f.write(json.dumps(record.config, indent=2, sort_keys=True).encode()),
                    "the configuration")
    record.probe_path = str(probe)
    save_atomically(probe, lambda f: np.savez_compressed(f, **result.probe), "the probe data")


def remove_files(weights_path):
    """Remove the files of the run whose weights are at ``weights_path`` (those that exist)."""
    base = Path(weights_path).with_suffix("")
    for suffix in SUFFIXES:
        base.with_suffix(suffix).unlink(missing_ok=True)


def remove_dead_writes(folder):
    """The temporary files a killed runner left in a sweep's folder and its shards; a live runner's stay."""
    for place in (Path(folder), *Path(folder).glob(SHARDS)):
        remove_orphans(place)
