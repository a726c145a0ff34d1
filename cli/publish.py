"""The command ``python -m reports.publish`` (its library is reports/publish.py, whose docstring tells it)."""
from pathlib import Path

from cli import OneLineParser, add_db_option, exit_with_error, run_command
from reports import publish as library
from reports.context import DEFAULT_OUT
from store import StoreError, store_path

PROG = "python -m reports.publish"


def main(argv=None):
    parser = OneLineParser(prog=PROG, description=library.__doc__.split(":", 1)[1].splitlines()[0].strip())
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="the built report folder")
    add_db_option(parser)
    parser.add_argument("--docs", default=str(library.DEFAULT_DOCS), help="where the copy goes")
    parser.add_argument("--model", default=str(library.SHIPPED_MODEL), help="the shipped best model it must agree with")
    args = parser.parse_args(argv)
    db = store_path(args.db)
    if not (Path(args.out) / "index.html").is_file():
        exit_with_error(PROG, f"no report at {args.out}/index.html; build it first with `make report`")
    if not db.is_file():
        exit_with_error(PROG, f"no run store at {db}; build the report first with `make report`")
    try:
        size = library.publish(args.out, db, args.docs, args.model)
    except (ValueError, StoreError) as exc:
        exit_with_error(PROG, exc)
    print(f"published {args.docs} ({size / 1e6:.2f} MB): open {args.docs}/index.html, "
          f"query with python -m store --db {args.docs}/runs.db list")
    return 0


def command():
    return run_command(PROG, main)
