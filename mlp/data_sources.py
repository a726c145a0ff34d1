"""Where the IDX files come from: a named folder, the per-user cache, keras's cache, or a download.

Order: ``--data_dir``/``$MLP_DATA_DIR`` when given (nothing else is tried, so a
wrong setting is never papered over); else the per-user cache; else keras's own
download cache, read with NumPy; else a download into the per-user cache from
the standard mirrors, or from ``$MLP_DATA_URL`` instead. A download is written
under a temporary name and renamed only once its MD5 is the official one, so
the cache never holds a partial or corrupt file, whatever stops the download.
Standard library only: keras cannot even be imported without a backend framework.
"""
import gzip
import hashlib
import os
import zlib
from pathlib import Path

import numpy as np

from .errors import InputError
from .files import DiskError, remove_orphans, save_atomically

DATASETS = ("mnist", "fashion_mnist")
FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")  # X_train, y_train, X_test, y_test
OFFICIAL_MD5 = {
    "mnist": dict(zip(FILES, ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
                              "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"))),
    "fashion_mnist": dict(zip(FILES, ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                                      "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"))),
}
MIRRORS = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/",
              "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    "fashion_mnist": ("https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
                      "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
}
ATTEMPTS_PER_MIRROR = 2  # a first try and one retry
HINT = ("set MLP_DATA_DIR (or --data_dir) to a folder with mnist/ and fashion_mnist/ holding the four IDX .gz "
        "files, or MLP_DATA_URL to a mirror laid out as BASE/mnist/<file>")


class DataError(InputError, RuntimeError):
    """The data cannot be had; the message says which files and which setting."""


class _ChecksumMismatch(Exception):
    pass


def cache_dir():
    """The per-user cache: ``$XDG_CACHE_HOME/mlp-sweeps``, else ``~/.cache/mlp-sweeps``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlp-sweeps"


def keras_cache():
    return Path.home() / ".keras" / "datasets"


def mirrors(name):
    """URL prefixes that hold ``name``'s four files, in the order they are tried."""
    base = os.environ.get("MLP_DATA_URL")
    return (f"{base.rstrip('/')}/{name}/",) if base else MIRRORS[name]


def read_idx(path):
    """An IDX .gz file -> uint8 array: (n, 784) images or (n,) labels."""
    raw = gzip.decompress(Path(path).read_bytes())  # one zlib call: a third faster than reading a GzipFile
    magic = int.from_bytes(raw[:4], "big")
    if magic == 2051:
        n, rows, cols = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
        return np.frombuffer(raw, np.uint8, offset=16).reshape(n, rows * cols)
    if magic == 2049:
        n = int.from_bytes(raw[4:8], "big")
        return np.frombuffer(raw, np.uint8, offset=8)[:n]
    raise DataError(f"{path} is not an IDX file (magic number {magic})")


def read_source(path):
    """A folder of the four IDX files, or keras's ``mnist.npz`` -> [X_train, y_train, X_test, y_test] (uint8)."""
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as f:
            return [f["x_train"].reshape(-1, 784), f["y_train"], f["x_test"].reshape(-1, 784), f["y_test"]]
    arrays = []
    for name in FILES:
        if not (path / name).is_file():
            raise DataError(f"missing {path / name}; the folder needs {', '.join(FILES)}")
        try:
            arrays.append(read_idx(path / name))
        except (OSError, EOFError, ValueError, zlib.error) as exc:
            raise DataError(f"cannot read {path / name}: {exc}") from None
    return arrays


def locate(name, data_dir=None, progress=True):
    """The folder (or keras's ``mnist.npz``) that holds ``name``, downloading into the cache if nothing does."""
    if data_dir:
        folder = Path(data_dir) / name
        if not folder.is_dir():
            raise DataError(f"data folder {folder} does not exist; set MLP_DATA_DIR or --data_dir to a folder "
                            f"with mnist/ and fashion_mnist/ holding the four IDX .gz files")
        return folder
    cached = cache_dir() / name
    if all((cached / f).is_file() for f in FILES):
        return cached
    keras = keras_cache() / ("mnist.npz" if name == "mnist" else "fashion-mnist")
    if keras.exists():
        return keras
    fetch(name, cached, progress)
    return cached


def fetch(name, folder, progress=True):
    """Download every file of ``name`` that ``folder`` lacks, each verified against its official MD5."""
    folder.mkdir(parents=True, exist_ok=True)
    remove_orphans(folder)  # downloads cut short by a kill; a live download is left alone
    for filename, md5 in OFFICIAL_MD5[name].items():
        if not (folder / filename).is_file():
            _fetch_file(name, filename, md5, folder / filename, progress)


def _fetch_file(name, filename, md5, dest, progress):
    import http.client  # noqa: PLC0415 - only a download needs them: the network itself loads none
    import urllib.error  # noqa: PLC0415

    tried = []
    for prefix in mirrors(name):
        url = prefix + filename
        for _ in range(ATTEMPTS_PER_MIRROR):
            try:
                return _download(url, dest, md5, progress)
            except urllib.error.HTTPError as exc:
                tried.append(f"{url} (HTTP {exc.code})")
                if exc.code < 500:  # not there: a retry would say the same
                    break
            except _ChecksumMismatch as exc:
                tried.append(f"{url} ({exc})")
            except DiskError:  # our disk, not the mirror: another mirror would fill it the same way
                raise
            except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts
                tried.append(f"{url} ({getattr(exc, 'reason', None) or exc or type(exc).__name__})")
    raise DataError(f"cannot download {name}/{filename}: tried {'; '.join(tried)}. No part of it was kept in "
                    f"{dest.parent}; {HINT}")


def _download(url, dest, md5, progress):
    """One attempt: stream ``url`` into ``dest`` through a temporary file, renamed into place only if its MD5 is ``md5``."""
    import urllib.request  # noqa: PLC0415 - only a download needs it

    from tqdm import tqdm  # noqa: PLC0415

    def stream(out):
        digest = hashlib.md5()
        with urllib.request.urlopen(url, timeout=float(os.environ.get("MLP_DATA_TIMEOUT", 30))) as response, \
                tqdm(total=int(response.headers.get("Content-Length") or 0) or None, unit="B", unit_scale=True,
                     desc=f"{dest.parent.name}/{dest.name}", disable=None if progress else True,
                     leave=False) as bar:  # a bar on a terminal only, so a failure stays one line
            while chunk := response.read(1 << 16):
                digest.update(chunk)
                out.write(chunk)
                bar.update(len(chunk))
        if digest.hexdigest() != md5:
            raise _ChecksumMismatch(f"MD5 {digest.hexdigest()} is not the official {md5}")

    save_atomically(dest, stream, "the download")
