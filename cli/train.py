"""Train one MLP, print progress per epoch, record the run in the store and W&B.

    python train.py -d mnist -e 10 -b 64 -o adam -lr 1e-3 -nhl 3 -sz 128 -a relu -w_i xavier

It trains every time it is run, and the store keeps each run (a repeat of the same
flags is a new row); --resume skips a configuration the store holds as finished.
The root train.py and the skeleton's src/train.py are doors to this module.
"""
import sys
from pathlib import Path

from cli import OneLineParser, add_job_options, one_line_errors, parse_known, run_command
from mlp.data import check_available
from mlp.files import save_atomically, unwritable
from mlp.option_flags import add_run_options
from mlp.options import ConfigError, resolve_config
from runner.job import JobContext
from runner.pipeline import open_store, run_pipeline
from runner.proposers import FixedProposer
from runner.workers import InProcessWorkers
from store import Status


def build_parser():
    parser = OneLineParser(prog="train.py", description=__doc__.splitlines()[0])
    add_run_options(parser)
    add_job_options(parser)
    parser.add_argument("--sweep", default="train", help="name under which the run is recorded")
    parser.add_argument("--blas_threads", type=int, default=1,
                        help="BLAS threads (on 2 cores a second thread is often slower, never dependable)")
    parser.add_argument("--save_model", "--model_save_path", dest="save_model", default=None, metavar="PATH",
                        help="also copy the weights here (e.g. best_model.npy), making its folders; never done "
                             "unless asked")
    parser.add_argument("--resume", action="store_true",
                        help="the runner's resume: skip the training when the store already holds this "
                             "configuration (in --sweep) as finished, diverged or stopped")
    return parser


def parse_arguments(argv=None):
    """The course skeleton's name: the flags as a Namespace (unknown ones are named in a warning)."""
    return parse_known(build_parser(), argv)


def print_epoch(m):
    print(f"epoch {m['epoch']:3d}  train loss {m['train_loss']:.4f} acc {m['train_acc']:.4f}  "
          f"val loss {m['val_loss']:.4f} acc {m['val_acc']:.4f}  ({m['seconds']:.1f}s)", flush=True)


def main(argv=None):
    args = parse_arguments(argv)
    with one_line_errors("train.py"):  # every check before anything is written
        config = resolve_config(args)
        check_available(config["dataset"], args.data_dir)
        if args.save_model:
            check_can_save(args.save_model)
        store = open_store(args.db)
    with one_line_errors("train.py"):
        proposer = FixedProposer(args.sweep, store, [config])
        pool = InProcessWorkers(on_epoch=print_epoch, blas_threads=args.blas_threads)
        summary = run_pipeline(proposer, store, pool, JobContext.from_args(args, args.sweep), progress=False,
                               repeat=not args.resume)
    trained = bool(summary.run_ids)
    return report(store.get(summary.run_ids[0]) if trained else store.find(args.sweep, config), args, trained)


def command():
    """The script's entry (the root train.py and src/train.py call it too). On SIGTERM or Ctrl-C the lease has
    released the claimed run as failed, so it is never left running."""
    return run_command("train.py", main, "the run in flight is recorded as failed; the same command trains it")


def check_can_save(path):
    """--save_model's folders are made when the weights are written; its nearest existing folder must allow that."""
    existing = unwritable(path)
    if existing is not None:
        raise ConfigError(f"--save_model {path}: cannot make or write its folder ({existing} is "
                          f"{'not writable' if existing.is_dir() else 'a file'})")


def report(run, args, trained):
    """The run's outcome as the store holds it, trained now or, with --resume, before (the pipeline waits out
    another runner's claim, so the run has ended either way)."""
    if run["status"] in (Status.FAILED, Status.DIVERGED):
        print(f"run {run['id']} {run['status']}: {run['error']}", file=sys.stderr)
        return 1
    if not trained:
        print(f"run {run['id']} of sweep {args.sweep} is already {run['status']}: not trained again "
              f"(without --resume it is)")
    if args.save_model:
        weights = Path(run["weights_path"]).read_bytes()
        save_atomically(args.save_model, lambda f: f.write(weights))
    print(f"run {run['id']} {run['status']}: weights {run['weights_path']}")
    print(f"test accuracy {run['test_acc']:.4f}  precision {run['test_precision']:.4f}  "
          f"recall {run['test_recall']:.4f}  f1 {run['test_f1']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(command())
