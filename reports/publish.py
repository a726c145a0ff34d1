"""python -m reports.publish: copy the built report and the run store behind it into docs/report/.

The copy ships with the repository, so anyone can read the answers, query the
runs and rebuild every section without training: index.html, its figures and
section parts, the W&B report's JSON when one was written, runs.db taken with
SQLite's backup API (a consistent snapshot even while a sweep writes), and the
probe files the sections read, under probes/. Weights are not shipped, but
each run keeps its weights' SHA-256, and publishing refuses a store whose best
run by test F1 is not the shipped best_model.npy. The whole folder must stay
under 15 MB.
"""
import json
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

from mlp.files import file_sha256
from store import RunStore, StoreError

from . import queries as q
from .context import ROOT

DEFAULT_DOCS = ROOT / "docs" / "report"
SHIPPED_MODEL = ROOT / "best_model.npy"
MAX_BYTES = 15 * 1024 * 1024
COPIED = ("index.html", "figures", "wandb_report.json")
PUBLISHED_STORE = "runs.db"


def folder_bytes(folder):
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def check_shipped_model(store, model):
    """Refuse unless ``model`` is a copy of the weights of the store's best MNIST run by test F1."""
    run = q.best_run(store)
    if run is None:
        raise StoreError(f"{store.path} holds no finished MNIST run with a test F1; there is no best model to ship")
    if not Path(model).is_file():
        raise StoreError(f"no {model} to check against run {run['id']}, the store's best by test F1; "
                         f"write it with `make best`")
    if run["weights_sha256"] != file_sha256(model):
        raise StoreError(f"{model} is not the weights of run {run['id']}, the best of {store.path} by test F1; "
                         f"export it with `make best` (same MLP_DB) before publishing")
    return run


def probed_sweeps():
    """The sweeps whose probe files a section reads (its SPEC names probe arrays)."""
    from .sections import SECTIONS  # noqa: PLC0415 - the sections import this package's modules

    return sorted({module.SPEC.sweep for module in SECTIONS.values() if module.SPEC.probes})


def copy_probes(store, folder):
    """The probe files the sections read (of the runs of ``probed_sweeps``) still at hand, copied to
    probes/<run id>.npz in ``folder`` -> {run id: its path relative to ``folder``}. A search's hundreds of probe
    files stay out: no section reads them."""
    kept = {}
    for run in (run for sweep in probed_sweeps() for run in store.runs(sweep=sweep)):
        if run["probe_path"] and Path(run["probe_path"]).is_file():
            kept[run["id"]] = f"probes/{run['id']}.npz"
            (folder / "probes").mkdir(exist_ok=True)
            shutil.copy2(run["probe_path"], folder / kept[run["id"]])
    return kept


def copy_parts(report, folder):
    """The section parts, each naming the published store beside it as the one it was built from."""
    (folder / "sections").mkdir()
    for source in sorted((report / "sections").glob("*.json")):
        part = json.loads(source.read_text())
        part["store"] = PUBLISHED_STORE
        (folder / "sections" / source.name).write_text(json.dumps(part, indent=2))


def snapshot(store, target, probe_paths):
    """Copy ``store`` to ``target`` as one file (SQLite's backup API: consistent while runners write).
    Weights do not travel with it: their paths are cleared, their hashes kept. Probe files travel where
    ``copy_probes`` put them: ``probe_paths`` maps a run id to its copy's path relative to ``target``'s
    folder; the other runs' probe paths are cleared."""
    copy = sqlite3.connect(target)
    try:
        store.db.conn.backup(copy)
        copy.execute("UPDATE runs SET weights_path = NULL, probe_path = NULL")
        copy.executemany("UPDATE runs SET probe_path = ? WHERE id = ?", [(path, run_id) for run_id, path in
                                                                          probe_paths.items()])
        copy.commit()
        copy.execute("VACUUM")
        copy.execute("PRAGMA journal_mode = WAL")  # the store's own mode: a query then leaves the file as it is
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"copying run store {store.path} to {target}: {exc}") from None
    finally:
        copy.close()


def publish(report, db, docs, model=SHIPPED_MODEL):
    """Build the copy beside ``docs`` and swap it in only once it is complete and small enough."""
    report, docs = Path(report), Path(docs)
    docs.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".report-", dir=docs.parent))
    try:
        store = RunStore(db, create=False)
        try:
            check_shipped_model(store, model)
            snapshot(store, staging / PUBLISHED_STORE, copy_probes(store, staging))
        finally:
            store.close()
        for name in COPIED:
            source = report / name
            if source.is_dir():
                shutil.copytree(source, staging / name)
            elif source.is_file():
                shutil.copy2(source, staging / name)
        copy_parts(report, staging)
        size = folder_bytes(staging)
        if size > MAX_BYTES:
            raise ValueError(f"the published report would take {size / 1e6:.1f} MB, over the 15 MB limit")
        if docs.exists():
            shutil.rmtree(docs)
        staging.rename(docs)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return size


if __name__ == "__main__":  # the command is cli/publish.py
    from cli.publish import command  # noqa: PLC0415 - the door only: the library never imports cli

    sys.exit(command())
