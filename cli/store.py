"""python -m store: query the run store, or serve it as a web app.

    python -m store [--db FILE] list [--sweep S] [--status finished] [--filter optimizer=adam] [--sort test_f1]
                                     [--limit 10] [--csv | --json]
    python -m store show RUN_ID
    python -m store compare RUN_ID RUN_ID ...
    python -m store best [--metric val_acc] [--sweep S]
    python -m store sweeps
    python -m store serve [--port 8001]
"""
import argparse
import csv
import itertools
import json
import sys

from cli import OneLineParser, add_db_option, one_line_errors, run_command

from store import METRICS, STATUSES, RunStore, StoreError
from store.run import RUN_COLUMNS

PROG = "python -m store"
LIST_COLUMNS = ("id", "sweep", "status", "val_acc", "test_acc", "test_f1", "seconds")
CONFIG_SUMMARY = ("optimizer", "learning_rate", "num_layers", "hidden_size", "activation", "batch_size", "epochs")
COMPARED = ("sweep", "status", "epochs_done", *METRICS, "seconds")  # beside the options that differ


def build_parser():
    parser = OneLineParser(prog=PROG, description="Query the run store.")
    add_db_option(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="list runs")
    ls.add_argument("--sweep")
    ls.add_argument("--status", choices=STATUSES)
    ls.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE",
                    help="a run column or config option equal to VALUE; repeatable")
    ls.add_argument("--sort", default="id", help="column to sort by, highest first for metrics")
    ls.add_argument("--limit", type=int, default=None)
    output = ls.add_mutually_exclusive_group()
    output.add_argument("--csv", action="store_true", help="comma-separated, with a header (the table's columns)")
    output.add_argument("--json", action="store_true", help="one JSON object per line, every field")
    show = sub.add_parser("show", help="one run with its epochs")
    show.add_argument("run_id", type=int)
    compare = sub.add_parser("compare", help="runs side by side: the options that differ, and their metrics")
    compare.add_argument("run_ids", type=int, nargs="+", metavar="RUN_ID")
    serve = sub.add_parser("serve", help="the store as a local web app (Datasette), read-only")
    serve.add_argument("--port", type=int, default=8001)
    serve.add_argument("--host", default="127.0.0.1", help="127.0.0.1: this machine only")
    best = sub.add_parser("best", help="the finished run with the best metric")
    best.add_argument("--metric", default="test_f1", choices=METRICS)
    best.add_argument("--sweep")
    sub.add_parser("sweeps", help="sweeps and their run counts")
    for p in sub.choices.values():
        p.error = parser.error
        add_db_option(p, default=argparse.SUPPRESS)  # --db after the subcommand too
    return parser


def _value(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def _match(filters):
    """--filter KEY=VALUE items -> {KEY: VALUE}, VALUE read as JSON where it is JSON (numbers, lists)."""
    match = {}
    for item in filters:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise StoreError(f"--filter needs KEY=VALUE with KEY a run column or option name; got {item!r}")
        match[key] = _value(value)
    return match


def _cell(value):
    """A value as a table shows it: numbers to 4 places, hidden_size as 3x128 (or 256x128x64)."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, list):
        return f"{len(value)}x{value[0]}" if len(set(value)) == 1 else "x".join(map(str, value))
    return value


def _table_row(run):
    return [_cell(run[c]) for c in LIST_COLUMNS] + [_cell(run["config"].get(k)) for k in CONFIG_SUMMARY]


def cmd_list(store, args):
    if args.sort not in RUN_COLUMNS:
        raise StoreError(f"--sort must be a run column ({', '.join(RUN_COLUMNS)}); got {args.sort!r}")
    runs = store.iter_runs(sweep=args.sweep, status=args.status, match=_match(args.filter), sort=args.sort,
                           descending=args.sort in METRICS, limit=args.limit)
    if args.json:
        for run in runs:
            print(json.dumps(dict(run)))
        return
    header = [*LIST_COLUMNS, *CONFIG_SUMMARY]
    if args.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(_table_row(run) for run in runs)
        return
    _print_table(header, (_table_row(run) for run in runs))


TABLE_BLOCK = 200  # rows that set a listing's column widths before its first line is printed


def _print_table(header, rows):
    """Left-aligned columns two spaces apart, under the header and its rule, printed as the rows are read: a
    listing of 100,000 runs starts at once. The header and the first rows set the widths; a longer value later
    shifts only its own row. (tabulate would align every row, but only once it has read them all.)"""
    first = [[_text(c) for c in row] for row in itertools.islice(rows, TABLE_BLOCK)]
    widths = [max(len(r[i]) for r in [list(header), *first]) for i in range(len(header))]

    def line(cells):
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    print(line(header))
    print(line("-" * w for w in widths))
    for row in itertools.chain(first, ([_text(c) for c in row] for row in rows)):
        print(line(row))


def _text(value):
    return "" if value is None else str(value)


def cmd_compare(store, args):
    runs = [store.get(run_id) for run_id in args.run_ids]
    missing = [str(i) for i, run in zip(args.run_ids, runs) if run is None]
    if missing:
        raise StoreError(f"no run with id {', '.join(missing)}")
    options = sorted({k for run in runs for k in run["config"]})
    differing = [k for k in options if len({json.dumps(run["config"].get(k)) for run in runs}) > 1]
    rows = [[k, *(_cell(run["config"].get(k)) for run in runs)] for k in differing]
    rows += [[c, *(_cell(run[c]) for run in runs)] for c in COMPARED]
    from tabulate import tabulate  # noqa: PLC0415

    print(tabulate(rows, headers=["run", *map(str, args.run_ids)], tablefmt="simple", disable_numparse=True))
    same = [f"{k}={_cell(runs[0]['config'].get(k))}" for k in options if k not in differing]
    print(f"\nthe same in all: {' '.join(same) or 'nothing'}")


def cmd_show(store, args):
    run = store.get(args.run_id)
    if run is None:
        raise StoreError(f"no run with id {args.run_id}")
    print(json.dumps({**run, "epochs": store.epochs(args.run_id)}, indent=2))


def cmd_best(store, args):
    run = store.best(args.metric, sweep=args.sweep)
    if run is None:
        raise StoreError("no finished run" + (f" in sweep {args.sweep}" if args.sweep else ""))
    print(json.dumps(dict(run), indent=2))


def cmd_sweeps(store, args):
    for (sweep, status), n in store.status_counts().items():
        print(f"{sweep}  {status}  {n}")


def main(argv=None):
    args = build_parser().parse_args(argv)
    with one_line_errors(PROG):
        if args.command == "serve":
            from dashboard.serve import serve  # noqa: PLC0415

            serve(args.db, args.port, args.host)
            return 0
        store = RunStore(args.db, create=False)
        commands = {"list": cmd_list, "show": cmd_show, "compare": cmd_compare, "best": cmd_best, "sweeps": cmd_sweeps}
        commands[args.command](store, args)
    return 0


def command():
    return run_command(PROG, main)
