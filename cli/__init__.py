"""What every command line of the project shares, and nothing else.

The one-line errors and the parser live in ``mlp.command_line`` (the network carries
them when it is copied alone), the W&B settings in ``runner.tracking`` and the default
runs folder beside the default store; here are the flags that say where a job reads
and writes. It sits on top: of the library below, only the commands' modules import it.
"""
from mlp.command_line import InputError, OneLineParser, exit_with_error, one_line_errors, parse_known, run_command
from runner.tracking import WANDB_MODES, WANDB_PROJECT
from store.db import DEFAULT_RUNS_DIR

__all__ = ["DEFAULT_RUNS_DIR", "WANDB_MODES", "WANDB_PROJECT", "InputError", "OneLineParser", "add_db_option", "add_job_options",
           "exit_with_error", "one_line_errors", "parse_known", "run_command"]


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
