"""MNIST and Fashion-MNIST as arrays, and the validation split; ``python -m mlp.data fetch`` pre-fetches.

Where the files come from (a folder, the per-user cache, keras's cache or a
download) is ``data_sources``' job; this module turns them into scaled arrays.
"""
import functools
import os
import sys
from dataclasses import dataclass

import numpy as np

from .command_line import OneLineParser, one_line_errors, run_command
from .data_sources import DATASETS, DataError, locate, read_source
from .inputs import to_unit_float

CLASS_NAMES = {
    "mnist": tuple(str(d) for d in range(10)),
    "fashion_mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
}


@dataclass
class Dataset:
    X_train: np.ndarray  # (60000, 784) in [0, 1]
    y_train: np.ndarray  # (60000,) int64
    X_test: np.ndarray  # (10000, 784)
    y_test: np.ndarray  # (10000,)


@functools.lru_cache(maxsize=4)
def _load_uint8(name, data_dir):
    return read_source(locate(name, data_dir))


def _raw(name, data_dir):
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    data_dir = data_dir or os.environ.get("MLP_DATA_DIR") or None
    return _load_uint8(name, str(data_dir) if data_dir else None)


def check_available(name, data_dir=None):
    """Raise DataError unless the dataset can be read; cheap (the raw bytes are cached for the run)."""
    _raw(name, data_dir)


def load_dataset(name, data_dir=None, dtype=np.float64):
    """The full train and test splits, pixels scaled to [0, 1] in ``dtype``."""
    raw = load_uint8(name, data_dir)
    return Dataset(to_unit_float(raw.X_train, dtype), raw.y_train, to_unit_float(raw.X_test, dtype), raw.y_test)


def load_uint8(name, data_dir=None):
    """The full train and test splits with the pixels as stored (uint8 0-255): split first, cast the parts."""
    X_train, y_train, X_test, y_test = _raw(name, data_dir)
    return Dataset(X_train, y_train.astype(np.int64), X_test, y_test.astype(np.int64))


def validation_split(X, y, fraction, seed, train_size=0):
    """Stratified, seeded split of the *training* data -> X_tr, X_val, y_tr, y_val.

    ``train_size`` > 0 keeps only that many training images (stratified), for quick runs.
    """
    from sklearn.model_selection import train_test_split  # noqa: PLC0415 - 2 s to import

    X_tr, X_val, y_tr, y_val = train_test_split(X, y, test_size=fraction, stratify=y, random_state=seed)
    if 0 < train_size < len(y_tr):
        X_tr, _, y_tr, _ = train_test_split(X_tr, y_tr, train_size=train_size, stratify=y_tr, random_state=seed)
    return X_tr, X_val, y_tr, y_val


def main(argv=None):
    """Make the datasets available now: a download into the per-user cache where no source has them."""
    parser = OneLineParser(prog="python -m mlp.data", description=main.__doc__)
    parser.add_argument("command", choices=("fetch",))
    parser.add_argument("-d", "--dataset", nargs="+", choices=DATASETS, default=list(DATASETS),
                        help="datasets to fetch")
    parser.add_argument("--data_dir", default=None, help="folder with mnist/ and fashion_mnist/ (None: $MLP_DATA_DIR, else the per-user cache)")
    args = parser.parse_args(argv)
    with one_line_errors(parser.prog):
        for name in args.dataset:
            print(f"{name}: {locate(name, args.data_dir or os.environ.get('MLP_DATA_DIR'))}")
    return 0


if __name__ == "__main__":
    sys.exit(run_command("python -m mlp.data", main))
