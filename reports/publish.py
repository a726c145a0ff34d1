"""python -m reports.publish: copy the built report and the run store behind it into docs/report/.

The copy ships with the repository, so anyone can read the answers and query
the runs without training: index.html, its figures, the W&B report's JSON when
one was written, and runs.db taken with SQLite's backup API (a consistent
snapshot even while a sweep writes), its weight and probe paths cleared because
those files are not shipped. The whole folder must stay under 10 MB.
"""
import shutil
import sys
import tempfile
from pathlib import Path

from cli import OneLineParser, add_db_option, exit_with_error
from store import RunStore, StoreError, store_path

from .context import DEFAULT_OUT, ROOT

PROG = "python -m reports.publish"
DEFAULT_DOCS = ROOT / "docs" / "report"
MAX_BYTES = 10 * 1024 * 1024
COPIED = ("index.html", "figures", "sections", "wandb_report.json")


def folder_bytes(folder):
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def publish(report, db, docs):
    """Build the copy beside ``docs`` and swap it in only once it is complete and small enough."""
    report, docs = Path(report), Path(docs)
    docs.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".report-", dir=docs.parent))
    try:
        for name in COPIED:
            source = report / name
            if source.is_dir():
                shutil.copytree(source, staging / name)
            elif source.is_file():
                shutil.copy2(source, staging / name)
        store = RunStore(db, create=False)
        try:
            store.snapshot(staging / "runs.db")
        finally:
            store.close()
        size = folder_bytes(staging)
        if size > MAX_BYTES:
            raise ValueError(f"the published report would take {size / 1e6:.1f} MB, over the 10 MB limit")
        if docs.exists():
            shutil.rmtree(docs)
        staging.rename(docs)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return size


def main(argv=None):
    parser = OneLineParser(prog=PROG, description=__doc__.split(":", 1)[1].splitlines()[0].strip())
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="the built report folder")
    add_db_option(parser)
    parser.add_argument("--docs", default=str(DEFAULT_DOCS), help="where the copy goes")
    args = parser.parse_args(argv)
    db = store_path(args.db)
    if not (Path(args.out) / "index.html").is_file():
        exit_with_error(PROG, f"no report at {args.out}/index.html; build it first with `make report`")
    if not db.is_file():
        exit_with_error(PROG, f"no run store at {db}; build the report first with `make report`")
    try:
        size = publish(args.out, db, args.docs)
    except (ValueError, StoreError) as exc:
        exit_with_error(PROG, exc)
    print(f"published {args.docs} ({size / 1e6:.2f} MB): open {args.docs}/index.html, "
          f"query with python -m store --db {args.docs}/runs.db list")
    return 0


if __name__ == "__main__":
    sys.exit(main())
