"""The SQLite run store: sweeps, runs and per-epoch metrics, through sqlite-utils; this module opens and migrates
it and keys its configurations.

One row per (sweep, config key) makes resuming an upsert; train.py, which trains every
time it is run, adds repeats 1, 2, ... of a configuration beside it. A run moves
``running -> finished | failed | diverged | stopped``; a failed run may be claimed
again, the other three are final unless a rerun is asked for explicitly. Several
runners share a store by claiming runs with a lease that the holder renews; a
lease that lapses, or whose holder on this machine is gone, can be taken over.
WAL mode and a busy timeout let readers query while runners write; writes that
read first take the lock up front (BEGIN IMMEDIATE) so WAL never refuses them midway.
"""
import contextlib
import errno
import functools
import hashlib
import inspect
import json
import os
import sqlite3
from pathlib import Path

import sqlite_utils

from mlp.files import refused_write

from .claims import Claims
from .errors import StoreError
from .migrations import MIGRATIONS, NAMES, flat_view
from .queries import Queries
from .recording import Recording
from .run import Status

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "runs.db"
# Weights go beside the default store (runs/ at the project root), wherever a command is run from.
DEFAULT_RUNS_DIR = os.environ.get("MLP_RUNS_DIR") or str(DEFAULT_PATH.parent / "runs")
STATUSES = tuple(status.value for status in Status)


def store_path(path=None):
    """An explicit path, else $MLP_DB, else runs.db at the project root."""
    return Path(path or os.environ.get("MLP_DB") or DEFAULT_PATH)


def config_hash(config, defaults=None):
    """A stable key of a configuration: sha256 of the canonical JSON of its options that differ
    from ``defaults``, 16 hex digits. An option added later, whose default keeps the old behaviour,
    leaves every key as it was; with no defaults this is the key of the first stores."""
    defaults = defaults or {}
    kept = {k: v for k, v in config.items() if k not in defaults or defaults[k] != v}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def _one_line_errors(method):
    """SQLite errors after opening (a lock held too long, a corrupt page, a full or read-only disk) become
    one-line StoreErrors, also those met while a method's generator is read."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            result = method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            raise _store_error(self.path, exc) from None
        return _guarded_items(self.path, result) if inspect.isgenerator(result) else result
    return wrapper


def _guarded_items(path, items):
    try:
        yield from items
    except sqlite3.DatabaseError as exc:
        raise _store_error(path, exc) from None


SQLITE_READONLY, SQLITE_FULL = 8, 13  # primary result codes (sqlite3 names them only from Python 3.11)


def _store_error(path, exc):
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF  # an extended code's low byte is its primary
    if code == SQLITE_FULL or "disk is full" in str(exc):
        return StoreError(refused_write(errno.ENOSPC, path, "run store"))
    if code == SQLITE_READONLY or "readonly database" in str(exc):
        return StoreError(f"run store {path} is read-only; reading it works, but this command must write to it "
                          f"(copy it somewhere writable, or set --db or MLP_DB)")
    return StoreError(f"run store {path}: {exc}")


def _guarded(cls):
    """Every public method of ``cls`` and its parts raises one-line StoreErrors. A class decorator rather than
    one per method, so the methods stay plain functions that mutation testing (mutmut skips decorated ones)
    reaches."""
    for part in reversed(cls.__mro__[:-1]):
        for name, method in list(vars(part).items()):
            if callable(method) and not name.startswith("_") and not isinstance(method, type):
                setattr(cls, name, _one_line_errors(method))
    return cls


@_guarded
class RunStore(Claims, Recording, Queries):
    """The store at ``path``, migrated on open; waits up to $MLP_DB_TIMEOUT seconds (default 30) for a lock.

    This module opens, migrates and keys it; its claims and leases (store/claims.py), its writes
    (store/recording.py) and its reads (store/queries.py) are parts of the class in modules of their own.
    """

    def __init__(self, path=None, create=True, key_defaults=None, read_only=False):
        """``key_defaults``: the option defaults that config keys leave out (see ``use_defaults``); a store
        opened without them keys configs as it did when they were last given. ``read_only``: never written
        nor migrated, while runners may write (the dashboard)."""
        self.path = store_path(path)
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a folder; --db or MLP_DB must name a run store file")
        if not create and not self.path.is_file():
            raise StoreError(f"no run store at {self.path}; run a sweep or train.py first, or set MLP_DB")
        self.folder = self.path.resolve().parent
        # A store on a read-only disk (or a file we may not write) is opened read-only and immutable: SQLite
        # then needs no -shm file beside it, which it could not make there. Nothing can write to it meanwhile.
        unwritable = self.path.is_file() and not (os.access(self.path, os.W_OK) and os.access(self.folder, os.W_OK))
        self.read_only = read_only or unwritable
        if self.read_only and create:
            raise StoreError(f"run store {self.path} is read-only; this command must write to it (copy it somewhere "
                             f"writable, or set --db or MLP_DB)")
        try:
            self.db = sqlite_utils.Database(
                sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro{'&immutable=1' * unwritable}", uri=True)
                if self.read_only
                else self.path)
            self.db.execute(f"PRAGMA busy_timeout = {int(float(os.environ.get('MLP_DB_TIMEOUT', 30)) * 1000)}")
            self.db.execute("PRAGMA foreign_keys = ON")
            if not create and "runs" not in self.db.table_names():
                raise StoreError(f"{self.path} is not a run store (no runs table)")
            self._migrate()
            self.defaults = self._meta("key_defaults", {})
            if key_defaults is not None:
                self.use_defaults(key_defaults)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open run store {self.path}: {exc}") from None

    def _migrate(self):
        """Bring the schema up to this code's version; a store from newer code is refused, not damaged."""
        newer = [m.name for m in MIGRATIONS.applied(self.db) if m.name not in NAMES]
        if newer:
            raise StoreError(f"run store {self.path} was made by newer code (schema {', '.join(newer)}); "
                             f"update this checkout to use it")
        if self.read_only:
            if MIGRATIONS.pending(self.db):
                raise StoreError(f"run store {self.path} is read-only and older than this code (it lacks "
                                 f"{', '.join(m.name for m in MIGRATIONS.pending(self.db))}); copy it somewhere "
                                 f"writable to upgrade it")
            return
        if self.db.journal_mode != "wal":
            self.db.enable_wal()
        if MIGRATIONS.pending(self.db):
            with self._immediate():  # several processes may open an old store at once: one migrates
                MIGRATIONS.apply(self.db)

    @property
    def schema_version(self):
        return len(MIGRATIONS.applied(self.db))

    @contextlib.contextmanager
    def _immediate(self):
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def close(self):
        self.db.close()

    # -- keys --------------------------------------------------------------------------
    def _meta(self, name, default=None):
        rows = self.db.execute("SELECT value FROM meta WHERE name = ?", [name]).fetchall()
        return json.loads(rows[0][0]) if rows else default

    def key(self, config):
        """The key of ``config`` in this store (its options that differ from the store's defaults)."""
        return config_hash(config, self.defaults)

    def use_defaults(self, defaults):
        """Key configs by their differences from ``defaults`` from now on, re-keying the stored runs, and give
        ``runs_flat`` a column per option they name.

        A stored config lacking an option (older than it) ran with the option's default of
        that time: the previous defaults' value, or for an option new to ``defaults`` its default (an option
        is only added with a default that keeps the old behaviour). It is stored completed so, and re-keyed,
        so every read gives a run's configuration with every option it ran with.
        """
        defaults = json.loads(json.dumps(defaults))
        if defaults == self.defaults:
            return
        with self._immediate():
            previous = self._meta("key_defaults", {})
            if previous != defaults:
                for run_id, config in self.db.execute("SELECT id, config FROM runs").fetchall():
                    ran = {**defaults, **previous, **json.loads(config)}
                    self.db.execute("UPDATE runs SET config_hash = ?, config = ? WHERE id = ?",
                                    [config_hash(ran, defaults), json.dumps(ran, sort_keys=True), run_id])
                self.db["meta"].upsert({"name": "key_defaults", "value": json.dumps(defaults, sort_keys=True)},
                                       pk="name")
                flat_view(self.db, list(defaults))
        self.defaults = defaults
