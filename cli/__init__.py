"""What every command line of the project shares, and nothing else.

One base class for bad input, whose message is the one line the user sees
before exit status 2; a parser that reports its own errors the same way and
shows every default in ``--help``; the flags that say where a job reads and
writes. Standard library only, so that ``python -m store`` starts without
importing the network's dependencies.
"""
import argparse
import contextlib
import os
import sys
from pathlib import Path

WANDB_MODES = ("auto", "online", "offline", "disabled")
# Weights go beside the default store (runs.db at the project root), wherever a command is run from.
DEFAULT_RUNS_DIR = os.environ.get("MLP_RUNS_DIR") or str(Path(__file__).resolve().parent.parent / "runs")


class InputError(Exception):
    """Bad input or an unusable file: the message names what is wrong and how to fix it."""


def exit_with_error(prog, message):
    """Bad input ends here: one line on stderr, exit status 2."""
    sys.stderr.write(f"{prog}: error: {message}\n")
    sys.exit(2)


@contextlib.contextmanager
def one_line_errors(prog):
    """Inside, an InputError ends the command in one line with exit status 2, never a traceback."""
    try:
        yield
    except InputError as exc:
        exit_with_error(prog, exc)


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line and exit status 2, and shows every default in --help.

    Abbreviations are off: ``--lr`` must not silently mean ``--lr_schedule``.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        exit_with_error(self.prog, f"{message} (see --help)")


def parse_known(parser, argv=None):
    """Parse ``argv``; unknown flags are named in a warning, not a crash."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        print(f"warning: ignoring unknown argument(s): {' '.join(unknown)}", file=sys.stderr)
    return args


def add_db_option(parser, default=None):
    parser.add_argument("--db", default=default, help="run store file (None: $MLP_DB, else runs.db at the project root)")
    return parser


def add_job_options(parser):
    """The flags saying where a job reads and writes, shared by train.py, the runner and the reports."""
    add_db_option(parser)
    parser.add_argument("--runs_dir", default=DEFAULT_RUNS_DIR,
                        help="where weights go, one folder per sweep ($MLP_RUNS_DIR, else runs/ at the project root)")
    parser.add_argument("--data_dir", default=None,
                        help="folder with mnist/ and fashion_mnist/ (None: $MLP_DATA_DIR, else the per-user cache)")
    parser.add_argument("--wandb_mode", choices=WANDB_MODES, default="auto",
                        help="auto: online with credentials, offline without; disabled: no W&B")
    parser.add_argument("-wp", "--wandb_project", default="mlp-sweeps", help="W&B project")
    parser.add_argument("-we", "--wandb_entity", default=None, help="W&B entity (user or team)")
    return parser
