"""Shared set-up: the real data, W&B off, a small real MNIST slice, isolated store paths.

The environment is set at import time, before any test module imports ``mlp``
or the scripts, so every test and every subprocess reads the real IDX files and
never talks to W&B. The files come from ``MLP_DATA_DIR`` when set, else
``../shared/data`` when it exists (this workspace and CI), else the project's
own download into the per-user cache (a fresh machine; ``MLP_DATA_URL`` may name
a mirror): never a skip.
"""
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[1]

SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()
if not os.environ.get("MLP_DATA_DIR") and (SHARED_DATA / "mnist").is_dir():
    os.environ["MLP_DATA_DIR"] = str(SHARED_DATA)
os.environ["WANDB_MODE"] = "disabled"
# make mutate: mutmut names the mutant under test in MUTANT_UNDER_TEST, and the scripts and runners the tests start
# inherit it, so they run that mutant too. Its stats phase ("stats") records which tests call what in this process
# only; a subprocess would try to as well and fail (it reads mutmut's config from its own working folder), so
# subprocesses run the plain code then. mutmut keeps its own copy of the value for this process.
if os.environ.get("MUTANT_UNDER_TEST") == "stats":
    del os.environ["MUTANT_UNDER_TEST"]
os.environ["WANDB_SILENT"] = "true"
# A user's shell does not set PYTHONUNBUFFERED (some CI machines do): the commands the tests start buffer their
# output as a user's do, so what is still buffered when a command ends (and a closed pipe's error) shows.
os.environ.pop("PYTHONUNBUFFERED", None)
# One BLAS thread (here and in the scripts run as subprocesses): with two, small matmuls are erratic on
# these machines (LIBRARY_NOTES: 0.57 s or 1.10 s for the same epoch), and far slower under load.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
try:  # numpy may already be loaded (a plugin): limit its pool directly too
    from threadpoolctl import threadpool_limits

    threadpool_limits(int(os.environ["OPENBLAS_NUM_THREADS"]))
except ImportError:
    pass

# The signals every command a test starts inherits from this process. exec resets a handled signal, but not an
# ignored one, nor the blocked-signal mask. A shell without job control starts a background job with SIGINT
# ignored (`make test > log &` in a script), Python keeps that, and so every runner a test started ignored the
# test's Ctrl-C as the product should (docs/runner.md): test_signals' SIGINT case failed with exit status 0. The
# suite starts from the defaults whatever started it, and the guard below holds every test to them.
DEFAULT_HANDLERS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}


def signals_off_default():
    """How this process's signals differ from the defaults a command should inherit -> phrases (none: default)."""
    off = [f"{signum.name} handled by {signal.getsignal(signum)!r}" for signum, handler in DEFAULT_HANDLERS.items()
           if signal.getsignal(signum) != handler]
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    return off + ([f"{', '.join(sorted(s.name for s in blocked))} blocked"] if blocked else [])


def reset_signals():
    for signum, handler in DEFAULT_HANDLERS.items():
        signal.signal(signum, handler)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


reset_signals()


@pytest.fixture(autouse=True)
def signals_at_default():
    """Every test starts with SIGINT and SIGTERM at their defaults and nothing blocked, and leaves them so. A test
    that changes them fails here, by name, and they are reset, so no later test's commands inherit the change."""
    before = signals_off_default()
    reset_signals()
    if before:
        pytest.fail(f"signals changed before this test began (by a wider fixture or a plugin): "
                    f"{'; '.join(before)}")
    yield
    after = signals_off_default()
    reset_signals()
    if after:
        pytest.fail(f"this test left the process's signals changed, and commands started after it would inherit "
                    f"that: {'; '.join(after)}")


N_SLICE = 2000  # training images in the small real slice


@pytest.fixture(scope="session")
def repo():
    return REPO


@pytest.fixture(scope="session")
def data_dir():
    """A folder with mnist/ and fashion_mnist/ holding the eight real IDX files."""
    from mlp.data_sources import DATASETS, cache_dir, fetch

    if os.environ.get("MLP_DATA_DIR"):
        path = Path(os.environ["MLP_DATA_DIR"])
    else:
        path = cache_dir()
        for name in DATASETS:
            fetch(name, path / name, progress=False)
    assert (path / "mnist" / "train-images-idx3-ubyte.gz").is_file(), f"real MNIST files not found under {path}"
    return path


@pytest.fixture(scope="session")
def mnist(data_dir):
    """The full real MNIST train and test splits (float64 in [0, 1])."""
    from mlp.data import load_dataset

    return load_dataset("mnist")


@pytest.fixture(scope="session")
def mnist_slice(mnist):
    """The first 2000 real training images and labels (copies: tests may not disturb the session data)."""
    return SimpleNamespace(X=mnist.X_train[:N_SLICE].copy(), y=mnist.y_train[:N_SLICE].copy())


@pytest.fixture
def store_paths(tmp_path):
    """An isolated run store file and runs folder, neither created yet."""
    return SimpleNamespace(root=tmp_path, db=tmp_path / "runs.db", runs_dir=tmp_path / "runs")


def _run_script(script, *args, cwd, env=None, timeout=300):
    """Run ``python REPO/script args...`` in ``cwd``; returns the CompletedProcess (text mode)."""
    full_env = {**os.environ, "WANDB_MODE": "disabled", "WANDB_SILENT": "true", **(env or {})}
    full_env.pop("MLP_DB", None)
    return subprocess.run([sys.executable, str(REPO / script), *map(str, args)], cwd=str(cwd), env=full_env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def run_script():
    return _run_script


def _load_script_module(name):
    spec = importlib.util.spec_from_file_location(f"_script_{name}", REPO / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def inference_module():
    """inference.py imported as a module (it is a script, not part of a package)."""
    return _load_script_module("inference")


@pytest.fixture(scope="session")
def train_module():
    """train.py imported as a module."""
    return _load_script_module("train")


def as_record(config, fields):
    """A RunRecord from a dict of row fields, as the tests write them ({"status": ..., "val_acc": ...})."""
    from store import METRICS, RunRecord  # noqa: PLC0415 - after the environment above is set

    fields = dict(fields)
    scores = {m: fields.pop(m) for m in METRICS if m in fields}
    return RunRecord(config=config, scores=scores, **fields)


class MaliciousPickle:
    """Unpickling this runs ``command`` in a shell: what a crafted model file could make
    np.load(allow_pickle=True) do, and what the loader must refuse."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


# A small real sweep: runs of it take seconds. One that polls forever (a mutant's, a bug's) fails in a minute, not 300 s.
SWEEP_DEADLINE = pytest.mark.timeout(60)
QUICK = {"dataset": {"value": "mnist"}, "dtype": {"value": "float32"}, "train_size": {"value": 2000},
         "num_layers": {"value": 1}, "hidden_size": {"value": 16}, "batch_size": {"value": 64}}
QUICK_VALUES = {name: p["value"] for name, p in QUICK.items()}  # the same, as a config's values


def write_sweep(folder, name, parameters, **top):
    """A grid sweep file of QUICK plus ``parameters`` in ``folder`` -> its path."""
    import yaml  # noqa: PLC0415

    spec = {"name": name, "method": "grid", "metric": {"name": "val_acc", "goal": "maximize"},
            "parameters": {**QUICK, **parameters}, **top}
    path = Path(folder) / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def runner_cmd(sweep_file, tmp_path, jobs=2):
    """``python -m runner`` on ``sweep_file`` with its store and runs folder in ``tmp_path``, quiet, W&B off."""
    return [sys.executable, "-m", "runner", str(sweep_file), "--jobs", str(jobs), "--quiet",
            "--db", str(tmp_path / "runs.db"), "--runs_dir", str(tmp_path / "runs"), "--wandb_mode", "disabled"]


def wait_for(condition, timeout=120):
    """Until ``condition()`` holds; the timeout only guards against a hang."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


# What a fresh clone lacks: generated files (git ignores them) and the tools' folders.
NOT_IN_A_CLONE = {".git", ".venv", "runs", "wandb", "mutants", "report", ".pytest_cache", ".hypothesis", "runs.db",
                  "runs.db-wal", "runs.db-shm"}


def copy_checkout(root):
    """This checkout as a fresh clone has it, copied to ``root`` (symlinks kept, no caches) -> ``root``."""
    shutil.copytree(REPO, root, symlinks=True,
                    ignore=lambda folder, names: NOT_IN_A_CLONE & set(names) if Path(folder) == REPO else
                    {n for n in names if n == "__pycache__" or n.endswith(("-wal", "-shm"))})  # a reader's
    return root


def clean_env(home, data_dir, **extra):
    """A user's environment: an empty HOME, the data folder, one BLAS thread, none of the suite's settings."""
    return {"PATH": os.environ["PATH"], "HOME": str(home), "MLP_DATA_DIR": str(data_dir),
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", **extra}


@contextlib.contextmanager
def small_disk(folder, megabytes):
    """A tmpfs of ``megabytes`` mounted at ``folder`` (made if missing), unmounted after: a disk to fill or to
    remount read-only. Skips where that is impossible (mounting needs root), saying so."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(folder)],
                             capture_output=True, text=True) if os.geteuid() == 0 else None
    if mounted is None or mounted.returncode != 0:
        pytest.skip(f"a small disk needs root and mount -t tmpfs ({mounted.stderr.strip() if mounted else 'not root'})")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def remount(folder, options):
    """Remount a small_disk with new options: ``ro``, or ``rw,size=50m`` to free space."""
    subprocess.run(["mount", "-o", f"remount,{options}", str(folder)], check=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read().decode()


class UI:
    """``make ui DB=... PORT=...`` as a user starts it, stopped (the whole make process group) at the end."""

    def __init__(self, db, log=None):
        self.db, self.port = Path(db), free_port()
        self.home = f"http://127.0.0.1:{self.port}/"  # the dashboard's home page
        self.base = f"{self.home}{self.db.stem}"  # Datasette's pages of the store
        self.log = log or self.db.with_suffix(".ui.log")  # a file, not a pipe: a full pipe would stall the log
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(["make", "--no-print-directory", "ui", f"DB={db}", f"PORT={self.port}",
                                             f"PY={sys.executable}"], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        wait_for(self.answers, timeout=60)

    def answers(self):
        assert self.process.poll() is None, self.log.read_text()
        try:
            return fetch(f"{self.base}.json")[0] == 200
        except OSError:
            return False

    def json(self, query, **params):
        url = f"{self.base}/{query}.json?_shape=array&" + "&".join(f"{k}={v}" for k, v in params.items())
        return json.loads(fetch(url)[1])

    def stop(self):
        """-> what the server wrote."""
        os.killpg(self.process.pid, signal.SIGINT)
        self.process.wait(timeout=30)
        return self.log.read_text()
