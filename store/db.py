"""The SQLite run store: sweeps, runs and per-epoch metrics, through sqlite-utils.

One row per (sweep, config_hash) makes resuming an upsert: a configuration
is finished at most once, whatever was killed and rerun. WAL mode and a busy
timeout let a reader query while the runner writes; writes that read first
take the lock up front (BEGIN IMMEDIATE) so WAL never refuses them midway.
"""
import contextlib
import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path

import sqlite_utils

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "runs.db"
STATUSES = ("running", "finished", "failed", "diverged", "stopped")
DONE = ("finished", "diverged", "stopped")  # a resumed sweep skips these; running and failed run again
METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "val_f1",
           "test_loss", "test_acc", "test_precision", "test_recall", "test_f1")
RUN_COLUMNS = {
    "id": int, "sweep": str, "config": str, "config_hash": str, "status": str,
    "started_at": float, "ended_at": float, "seconds": float, "epochs_done": int,
    **{m: float for m in METRICS},
    "weights_path": str, "probe_path": str, "wandb_run_id": str, "error": str,
}
EPOCH_COLUMNS = {"run_id": int, "epoch": int, "train_loss": float, "train_acc": float,
                 "val_loss": float, "val_acc": float, "val_f1": float,
                 "learning_rate": float, "seconds": float}


class StoreError(RuntimeError):
    """The store cannot be opened or read; the message names the file."""


def store_path(path=None):
    """An explicit path, else $MLP_DB, else runs.db at the project root."""
    return Path(path or os.environ.get("MLP_DB") or DEFAULT_PATH)


def config_hash(config):
    """A stable key of a configuration: sha256 of its canonical JSON, 16 hex digits."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def _plain(value):
    """NumPy scalars would be stored as blobs: turn them into Python numbers first."""
    return value.item() if hasattr(value, "item") else value


class RunStore:
    """The store at ``path``; waits up to $MLP_DB_TIMEOUT seconds (default 30) for a lock."""

    def __init__(self, path=None, create=True):
        self.path = store_path(path)
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a folder; --db or MLP_DB must name a run store file")
        if not create and not self.path.is_file():
            raise StoreError(f"no run store at {self.path}; run a sweep or train.py first, or set MLP_DB")
        try:
            self.db = sqlite_utils.Database(self.path)
            self.db.execute(f"PRAGMA busy_timeout = {int(float(os.environ.get('MLP_DB_TIMEOUT', 30)) * 1000)}")
            self.db.execute("PRAGMA foreign_keys = ON")
            if create:
                self.ensure_schema()
            elif "runs" not in self.db.table_names():
                raise StoreError(f"{self.path} is not a run store (no runs table)")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open run store {self.path}: {exc}") from None

    def ensure_schema(self):
        """Create the tables once, before any worker starts (concurrent creation collides)."""
        if self.db.journal_mode != "wal":
            self.db.enable_wal()
        with self._immediate():
            self.db["sweeps"].create({"name": str, "spec": str, "created_at": float}, pk="name", if_not_exists=True)
            self.db["runs"].create(RUN_COLUMNS, pk="id", not_null={"sweep", "config", "config_hash", "status"},
                                   if_not_exists=True)
            self.db["runs"].create_index(["sweep", "config_hash"], unique=True, if_not_exists=True)
            self.db["runs"].create_index(["status"], if_not_exists=True)
            self.db["epochs"].create(EPOCH_COLUMNS, pk=("run_id", "epoch"),
                                     foreign_keys=[("run_id", "runs", "id")], if_not_exists=True)

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

    # -- writes ------------------------------------------------------------------------
    def add_sweep(self, name, spec):
        with self._immediate():
            sweeps = self.db["sweeps"]
            spec_text = json.dumps(spec, sort_keys=True)
            if sweeps.count_where("name = ?", [name]):  # a resume keeps the sweep's creation time
                sweeps.update(name, {"spec": spec_text})
            else:
                sweeps.insert({"name": name, "spec": spec_text, "created_at": time.time()})

    def mark_running(self, sweep, config):
        """Claim (sweep, config) as running; returns the run id, reusing an unfinished row.

        A row that is already done keeps its status: a late claim never undoes a result.
        """
        key = config_hash(config)
        with self._immediate():
            row = self._row(sweep, key)
            fields = {"status": "running", "started_at": time.time(), "ended_at": None, "error": None}
            if row is None:
                return self.db["runs"].insert({"sweep": sweep, "config": json.dumps(config, sort_keys=True),
                                               "config_hash": key, **fields}).last_pk
            if row["status"] not in DONE:
                self.db["runs"].update(row["id"], fields)
            return row["id"]

    def record(self, sweep, config, result):
        """Write a run's outcome (finished, stopped, failed or diverged) and its epochs in one transaction."""
        key = config_hash(config)
        fields = {k: _plain(result.get(k)) for k in RUN_COLUMNS if k in result and k not in ("id", "sweep", "config")}
        fields.update(config_hash=key, status=result["status"])
        epochs = result.get("epochs", [])
        fields["epochs_done"] = len(epochs)
        with self._immediate():
            row = self._row(sweep, key)
            if row is None:
                run_id = self.db["runs"].insert({"sweep": sweep, "config": json.dumps(config, sort_keys=True),
                                                 **fields}).last_pk
            else:
                run_id = row["id"]
                self.db["runs"].update(run_id, fields)
            self.db.execute("DELETE FROM epochs WHERE run_id = ?", [run_id])
            self.db["epochs"].insert_all(
                [{"run_id": run_id, **{k: _plain(e.get(k)) for k in EPOCH_COLUMNS if k != "run_id"}} for e in epochs])
        return run_id

    def record_report(self, title, url):
        """Remember where a published W&B report lives (make wandb-report, online)."""
        with self._immediate():
            self.db["reports"].insert({"title": title, "url": url, "saved_at": time.time()}, pk="url", replace=True)

    def mark_interrupted(self, sweep):
        """Runs left 'running' by an interrupted sweep become 'failed' (they rerun on resume)."""
        with self._immediate():
            self.db.execute("UPDATE runs SET status = 'failed', error = 'interrupted', ended_at = ? "
                            "WHERE sweep = ? AND status = 'running'", [time.time(), sweep])

    # -- reads -------------------------------------------------------------------------
    def _row(self, sweep, key):
        rows = list(self.db["runs"].rows_where("sweep = ? AND config_hash = ?", [sweep, key]))
        return rows[0] if rows else None

    def done_runs(self, sweep):
        """The sweep's runs that need no rerun: finished, diverged or stopped by early termination.

        'running' (interrupted) and 'failed' runs are rerun when the sweep resumes.
        """
        return self.runs(sweep=sweep, where=f"status IN {DONE}")

    def runs(self, sweep=None, status=None, where=None, where_args=None, order_by="id", limit=None):
        """Runs as dicts with ``config`` parsed; ``where`` may use json_extract(config, '$.name')."""
        clauses, args = [], []
        if sweep is not None:
            clauses.append("sweep = ?")
            args.append(sweep)
        if status is not None:
            clauses.append("status = ?")
            args.append(status)
        if where:
            clauses.append(f"({where})")
            args.extend(where_args or [])
        rows = self.db["runs"].rows_where(" AND ".join(clauses) or None, args, order_by=order_by, limit=limit)
        return [{**row, "config": json.loads(row["config"])} for row in rows]

    def get(self, run_id):
        rows = self.runs(where="id = ?", where_args=[run_id])
        return rows[0] if rows else None

    def epochs(self, run_id):
        return list(self.db["epochs"].rows_where("run_id = ?", [run_id], order_by="epoch"))

    def val_acc_at(self, sweep, epoch, exclude_hash=None):
        """Validation accuracies of the sweep's recorded runs at ``epoch`` (early-termination peers)."""
        rows = self.db.execute(
            "SELECT e.val_acc FROM epochs e JOIN runs r ON r.id = e.run_id WHERE r.sweep = ? AND e.epoch = ? "
            "AND r.config_hash != ? AND e.val_acc IS NOT NULL", [sweep, epoch, exclude_hash or ""]).fetchall()
        return [r[0] for r in rows]

    def best(self, metric="test_f1", sweep=None, lowest=False, where=None, where_args=None):
        """The finished run with the highest (or lowest) ``metric``, among those matching ``where``."""
        if metric not in METRICS:
            raise StoreError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
        clause = f"{metric} IS NOT NULL" + (f" AND ({where})" if where else "")
        rows = self.runs(sweep=sweep, status="finished", where=clause, where_args=where_args,
                         order_by=f"{metric} {'ASC' if lowest else 'DESC'}, id", limit=1)
        return rows[0] if rows else None
