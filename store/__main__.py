"""python -m store: query the run store.

    python -m store [--db FILE] list [--sweep S] [--status finished] [--filter optimizer=adam] [--sort test_f1] [--limit 10]
    python -m store show RUN_ID
    python -m store best [--metric val_acc] [--sweep S]
    python -m store sweeps
"""
import argparse
import json
import sys

from cli import OneLineParser, add_db_option, one_line_errors, run_command

from .db import METRICS, RUN_COLUMNS, STATUSES, RunStore, StoreError

PROG = "python -m store"
LIST_COLUMNS = ("id", "sweep", "status", "val_acc", "test_acc", "test_f1", "seconds")
CONFIG_SUMMARY = ("optimizer", "learning_rate", "num_layers", "hidden_size", "activation", "batch_size", "epochs")


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
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    show = sub.add_parser("show", help="one run with its epochs")
    show.add_argument("run_id", type=int)
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


def _row_line(run):
    cells = [f"{run[c]:.4f}" if isinstance(run[c], float) else str(run[c]) for c in LIST_COLUMNS]
    config = " ".join(f"{k}={run['config'].get(k)}" for k in CONFIG_SUMMARY)
    return "  ".join(cells) + "  " + config


def cmd_list(store, args):
    if args.sort not in RUN_COLUMNS:
        raise StoreError(f"--sort must be a run column ({', '.join(RUN_COLUMNS)}); got {args.sort!r}")
    runs = store.runs(sweep=args.sweep, status=args.status, match=_match(args.filter), sort=args.sort,
                      descending=args.sort in METRICS, limit=args.limit)
    if args.json:
        for run in runs:
            print(json.dumps(run))
        return
    print("  ".join(LIST_COLUMNS) + "  config")
    for run in runs:
        print(_row_line(run))


def cmd_show(store, args):
    run = store.get(args.run_id)
    if run is None:
        raise StoreError(f"no run with id {args.run_id}")
    print(json.dumps({**run, "epochs": store.epochs(args.run_id)}, indent=2))


def cmd_best(store, args):
    run = store.best(args.metric, sweep=args.sweep)
    if run is None:
        raise StoreError("no finished run" + (f" in sweep {args.sweep}" if args.sweep else ""))
    print(json.dumps(run, indent=2))


def cmd_sweeps(store, args):
    for (sweep, status), n in store.status_counts().items():
        print(f"{sweep}  {status}  {n}")


def main(argv=None):
    args = build_parser().parse_args(argv)
    with one_line_errors(PROG):
        store = RunStore(args.db, create=False)
        {"list": cmd_list, "show": cmd_show, "best": cmd_best, "sweeps": cmd_sweeps}[args.command](store, args)
    return 0


if __name__ == "__main__":
    sys.exit(run_command(PROG, main))
