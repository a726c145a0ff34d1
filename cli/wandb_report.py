"""The command ``python -m reports.wandb_report`` (its library is reports/wandb_report.py, whose docstring tells it)."""
import json
from pathlib import Path

from cli import WANDB_PROJECT, OneLineParser, exit_with_error, run_command
from mlp.files import save_atomically
from reports import wandb_report as library
from reports.context import DEFAULT_OUT
from reports.html import read_parts
from runner.tracking import has_credentials, resolve_mode
from store import RunStore, StoreError

PROG = "python -m reports.wandb_report"


def main(argv=None):
    parser = OneLineParser(prog=PROG, description=library.__doc__.split(":", 1)[1].splitlines()[0].strip())
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="the local report folder to read")
    parser.add_argument("--db", default=None, help="the run store behind the report (else the one its sections "
                                                   "were built from); online, the saved report's URL is recorded there")
    parser.add_argument("-wp", "--wandb_project", default=WANDB_PROJECT, help="W&B project")
    parser.add_argument("-we", "--wandb_entity", default=None, help="W&B entity (user or team)")
    parser.add_argument("--wandb_mode", choices=("auto", "online", "offline"), default="auto",
                        help="auto: save online with credentials, else write the JSON")
    args = parser.parse_args(argv)
    parts = read_parts(args.out)
    if not parts:
        exit_with_error(PROG, f"no report sections in {args.out}; build them first with `make report`")
    online = resolve_mode(args.wandb_mode) == "online" and has_credentials()
    entity = args.wandb_entity
    if online and entity is None:
        import wandb  # noqa: PLC0415 - heavy; only when saving

        entity = wandb.Api().default_entity
    entity = entity or ""  # offline without --wandb_entity: left for whoever publishes to fill in
    try:
        store = RunStore(args.db or library.built_from(parts, args.out), create=False)
    except StoreError as exc:
        exit_with_error(PROG, exc)
    report, plain = library.build(parts, args.wandb_project, entity, store)
    if not online:
        path = Path(args.out) / "wandb_report.json"
        save_atomically(path, lambda f: f.write(json.dumps(plain, indent=2).encode()))
        print(f"offline: wrote {path} ({len(parts)} sections); run `wandb login` and this command again to publish")
        return 0
    try:
        report.save()
    except Exception as exc:  # the server refused or could not be reached: one line, nothing recorded
        exit_with_error(PROG, f"saving the report failed ({type(exc).__name__}: {exc}); the JSON path works offline")
    try:
        store.record_report(library.TITLE, report.url)
    except StoreError as exc:
        exit_with_error(PROG, f"report saved at {report.url} but not recorded: {exc}")
    print(f"saved: {report.url}")
    return 0


def command():
    return run_command(PROG, main)
