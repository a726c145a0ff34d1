"""The store's schema history: each change is one named migration, applied once when a store is opened.

sqlite-utils keeps the names of the applied migrations in ``_sqlite_migrations``;
a store's schema version is how many of ours it has. A released migration is
never edited (stores in the wild have run it): a change of schema is a new one.
The column lists here are frozen copies, not the live table of run fields in ``run.py``.
"""
from pathlib import Path

import sqlite_utils

from mlp.files import file_sha256

from .run import RUN_FIELDS

MIGRATIONS = sqlite_utils.Migrations("mlp-sweeps-store")
NAMES = []  # ours, in the order they apply: a store's schema version is how many it has


def migration(function):
    """Register ``function`` as the next migration."""
    NAMES.append(function.__name__)
    return MIGRATIONS()(function)

_METRICS_V1 = ("train_loss", "train_acc", "val_loss", "val_acc", "val_f1",
               "test_loss", "test_acc", "test_precision", "test_recall", "test_f1")


@migration
def m001_tables(db):
    """The tables of the first store (commit d1d93f3, which created them if missing): a no-op on its stores."""
    db["sweeps"].create({"name": str, "spec": str, "created_at": float}, pk="name", if_not_exists=True)
    db["runs"].create({"id": int, "sweep": str, "config": str, "config_hash": str, "status": str,
                       "started_at": float, "ended_at": float, "seconds": float, "epochs_done": int,
                       **{m: float for m in _METRICS_V1},
                       "weights_path": str, "probe_path": str, "wandb_run_id": str, "error": str},
                      pk="id", not_null={"sweep", "config", "config_hash", "status"}, if_not_exists=True)
    db["runs"].create_index(["sweep", "config_hash"], unique=True, if_not_exists=True)
    db["runs"].create_index(["status"], if_not_exists=True)
    db["epochs"].create({"run_id": int, "epoch": int, "train_loss": float, "train_acc": float, "val_loss": float,
                         "val_acc": float, "val_f1": float, "learning_rate": float, "seconds": float},
                        pk=("run_id", "epoch"), foreign_keys=[("run_id", "runs", "id")], if_not_exists=True)


@migration
def m002_leases(db):
    """Cooperating runners: who holds a running run, until when, and how many times it was claimed."""
    runs = db["runs"]
    runs.add_column("claimed_by", str)
    runs.add_column("lease_until", float)
    runs.add_column("attempts", int)
    db.execute("UPDATE runs SET attempts = 1")


@migration
def m003_meta(db):
    """Store-wide settings, such as the option defaults that config keys leave out."""
    db["meta"].create({"name": str, "value": str}, pk="name")


@migration
def m004_relative_paths(db):
    """Absolute file paths inside the store's folder become relative to it, so the folder can move."""
    folder = Path(db.execute("PRAGMA database_list").fetchone()[2]).resolve().parent
    for run_id, *paths in db.execute("SELECT id, weights_path, probe_path FROM runs").fetchall():
        relative = [relative_to(folder, p) for p in paths]
        if relative != paths:
            db.execute("UPDATE runs SET weights_path = ?, probe_path = ? WHERE id = ?", [*relative, run_id])


@migration
def m005_repeats(db):
    """train.py trains every time it is run: a configuration's later runs in one sweep are repeats 1, 2, ...
    of it, kept beside the first (repeat 0) instead of replacing it."""
    db["runs"].add_column("repeat", int, not_null_default=0)
    db.execute("DROP INDEX IF EXISTS idx_runs_sweep_config_hash")
    db["runs"].create_index(["sweep", "config_hash", "repeat"], unique=True)


@migration
def m006_reports(db):
    """Where the published W&B reports live (make wandb-report, online); created here, never by a first insert."""
    db["reports"].create({"title": str, "url": str, "saved_at": float}, pk="url", if_not_exists=True)


@migration
def m007_tracebacks(db):
    """A failed run keeps the traceback its job caught, beside the one-line error."""
    db["runs"].add_column("traceback", str)


@migration
def m008_weights_hashes(db):
    """Each run's weights file is named by its SHA-256, so a copy of it (best_model.npy) can be traced to its
    run after the store has travelled without the runs folder; filled in for the files still at hand."""
    db["runs"].add_column("weights_sha256", str)
    folder = Path(db.execute("PRAGMA database_list").fetchone()[2]).resolve().parent
    for run_id, stored in db.execute("SELECT id, weights_path FROM runs WHERE weights_path IS NOT NULL").fetchall():
        path = Path(locate(folder, stored))
        if path.is_file():
            db.execute("UPDATE runs SET weights_sha256 = ? WHERE id = ?", [file_sha256(path), run_id])


@migration
def m009_proposals(db):
    """Why the sweep's method proposed each run (a random draw, or the model's prediction), kept beside the run
    so every choice a search makes can be read back."""
    db["runs"].add_column("proposal", str)


_OPTIONS_V10 = ("dataset", "epochs", "batch_size", "loss", "optimizer", "learning_rate", "momentum", "beta", "beta1",
                "beta2", "epsilon", "weight_decay", "num_layers", "hidden_size", "activation", "weight_init",
                "lr_schedule", "augment", "flip", "dropout", "val_fraction", "train_size", "seed", "dtype")


def flat_view(db, options):
    """(Re)make ``runs_flat``: the runs with each option in ``options`` as a column of its own (a view: nothing is
    copied), so Datasette and plain SQL can facet and sort by optimizer, activation, depth or learning rate without
    json_extract. ``width`` is the first hidden layer's; ``hidden_size`` keeps every layer's, as JSON; the run
    columns are the RUN_FIELDS marked ``shown``. The store remakes it from the option table's defaults whenever
    they change, so a new option needs no migration."""
    first = ("id", "sweep", "status")
    present = db["runs"].columns_dict  # a migration remakes it before later ones add their columns
    shown = [f"[{f.name}]" for f in RUN_FIELDS if f.shown and f.name not in first and f.name in present]
    columns = ", ".join(f"json_extract(config, '$.{name}') AS [{name}]" for name in options)
    db.create_view("runs_flat", f"SELECT {', '.join(first)}, {columns}, json_extract(config, '$.hidden_size[0]') "
                                f"AS width, {', '.join(shown)} FROM runs", replace=True)


@migration
def m010_runs_flat(db):
    """``runs_flat`` with the options of its time (see ``flat_view``)."""
    flat_view(db, _OPTIONS_V10)


@migration
def m011_indexes(db):
    """What a store of 100,000 runs is asked most, answered from indexes: a sweep's runs by status (the counts,
    the runs in flight, a resume), the best finished run by validation accuracy or test F1, and every run sorted
    by either (a listing's first lines come before the rest is sorted)."""
    db["runs"].create_index(["sweep", "status"], if_not_exists=True)
    for metric in ("val_acc", "test_f1"):
        db["runs"].create_index(["status", metric], if_not_exists=True)
        db["runs"].create_index([metric], if_not_exists=True)


_FLIP = _OPTIONS_V10.index("flip")
_OPTIONS_V12 = _OPTIONS_V10[:_FLIP] + ("rotate", "elastic") + _OPTIONS_V10[_FLIP:]


@migration
def m012_promotions(db):
    """Which run a promoted run was promoted from (a search whose budgets are runs of their own), as a column so
    the chain of promotions is data, and ``runs_flat`` with it and the options of its time."""
    db["runs"].add_column("promoted_from", int)
    flat_view(db, _OPTIONS_V12)


@migration
def m013_sequence(db):
    """A store-wide number each change of a run's status takes, set by triggers whoever writes, so a runner follows
    its sweep by reading only the runs that changed since its last look, from an index, instead of all of them."""
    db["runs"].add_column("sequence", int)
    db.execute("UPDATE runs SET sequence = id")
    db["runs"].create_index(["sequence"])
    db["runs"].create_index(["sweep", "sequence"])
    for name, event in (("insert", "INSERT"), ("status", "UPDATE OF status")):
        db.execute(f"CREATE TRIGGER runs_sequence_on_{name} AFTER {event} ON runs BEGIN UPDATE runs SET sequence = "
                   f"(SELECT COALESCE(MAX(sequence), 0) + 1 FROM runs) WHERE id = NEW.id; END")


def relative_to(folder, path):
    """``path`` relative to ``folder`` when it lies inside it, else unchanged (None stays None)."""
    if path is None:
        return None
    try:
        return str(Path(path).relative_to(folder))
    except ValueError:
        return str(path)


def locate(folder, stored):
    """A stored file path -> where the file is: relative paths from the store's ``folder``; an absolute
    one as it is if it exists, else the longest tail of it (at least sweep/file) found in the folder,
    which is where a store moved with its runs folder keeps them."""
    if stored is None:
        return None
    path = Path(stored)
    if not path.is_absolute():
        return str(folder / path)
    if not path.exists():
        for start in range(1, len(path.parts) - 1):
            moved = folder.joinpath(*path.parts[start:])
            if moved.exists():
                return str(moved)
    return str(path)
