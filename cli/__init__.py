"""What every command line of the project shares, and nothing else.

The one-line errors and the parser live in ``mlp.command_line`` (the network carries
them when it is copied alone); here are the flags that say where a job reads and
writes. Nothing here imports NumPy, so ``python -m store`` starts at once.
"""
import os
from pathlib import Path

from mlp.command_line import InputError, OneLineParser, exit_with_error, one_line_errors, parse_known, run_command

__all__ = ["DEFAULT_RUNS_DIR", "WANDB_MODES", "WANDB_PROJECT", "InputError", "OneLineParser", "add_db_option", "add_job_options",
           "exit_with_error", "one_line_errors", "parse_known", "run_command"]

WANDB_MODES = ("auto", "online", "offline", "disabled")
WANDB_PROJECT = "mlp-sweeps"  # the W&B project every run, sweep and report goes to unless -wp says
# Weights go beside the default store (runs.db at the project root), wherever a command is run from.
DEFAULT_RUNS_DIR = os.environ.get("MLP_RUNS_DIR") or str(Path(__file__).resolve().parent.parent / "runs")


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
    parser.add_argument("-wp", "--wandb_project", default=WANDB_PROJECT, help="W&B project")
    parser.add_argument("-we", "--wandb_entity", default=None, help="W&B entity (user or team)")
    return parser
