"""Train one MLP, print progress per epoch, record the run in the store and W&B.

    python train.py -d mnist -e 10 -b 64 -o adam -lr 1e-3 -nhl 3 -sz 128 -a relu -w_i xavier
"""
import sys
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

from cli import OneLineParser, add_job_options, one_line_errors, parse_known
from mlp.data import check_available
from mlp.options import ConfigError, add_run_options, resolve_config
from runner.job import JobContext, run_one
from runner.lease import Lease
from runner.recording import key_defaults, persist, save_atomically
from store import RunStore


def build_parser():
    parser = OneLineParser(prog="train.py", description=__doc__.splitlines()[0])
    add_run_options(parser)
    add_job_options(parser)
    parser.add_argument("--sweep", default="train", help="name under which the run is recorded")
    parser.add_argument("--blas_threads", type=int, default=1,
                        help="BLAS threads (on 2 cores a second thread is often slower, never dependable)")
    parser.add_argument("--save_model", "--model_save_path", dest="save_model", default=None, metavar="PATH",
                        help="also copy the weights here (e.g. best_model.npy); never done unless asked")
    parser.add_argument("--rerun", action="store_true",
                        help="train again a configuration the store already holds as finished, diverged or stopped")
    return parser


def print_epoch(m):
    print(f"epoch {m['epoch']:3d}  train loss {m['train_loss']:.4f} acc {m['train_acc']:.4f}  "
          f"val loss {m['val_loss']:.4f} acc {m['val_acc']:.4f}  ({m['seconds']:.1f}s)", flush=True)


def main(argv=None):
    args = parse_known(build_parser(), argv)
    with one_line_errors("train.py"):  # every check before anything is written
        config = resolve_config(args)
        check_available(config["dataset"], args.data_dir)
        if args.save_model and not Path(args.save_model).resolve().parent.is_dir():
            raise ConfigError(f"--save_model {args.save_model}: its folder does not exist")
        store = RunStore(args.db)
        store.use_defaults(key_defaults())
    ctx = JobContext.from_args(args, args.sweep)
    try:
        with one_line_errors("train.py"), Lease(store) as lease:
            claimed = lease.claim(args.sweep, config, rerun_before=time.time() if args.rerun else None) is not None
            if claimed:
                with threadpool_limits(limits=max(args.blas_threads, 1)):
                    result = run_one(config, ctx, on_epoch=print_epoch, key=store.key(config))
                persist(store, args.sweep, args.runs_dir, result)
        return report(store.find(args.sweep, config), args, trained=claimed)
    except KeyboardInterrupt:  # the lease released the claimed run as failed, not running forever
        print("train.py: interrupted; the run is recorded as failed", file=sys.stderr)
        return 130


def report(run, args, trained):
    """The run's outcome as the store holds it, trained now or before (a final run is not retrained)."""
    if run["status"] == "running":
        print(f"run {run['id']} is being trained by another runner ({run['claimed_by']})", file=sys.stderr)
        return 1
    if run["status"] in ("failed", "diverged"):
        print(f"run {run['id']} {run['status']}: {run['error']}", file=sys.stderr)
        return 1
    if not trained:
        print(f"run {run['id']} of sweep {args.sweep} is already {run['status']}: not trained again "
              f"(--rerun trains it again)")
    if args.save_model:
        weights = Path(run["weights_path"]).read_bytes()
        save_atomically(args.save_model, lambda f: f.write(weights))
    print(f"run {run['id']} {run['status']}: weights {run['weights_path']}")
    print(f"test accuracy {run['test_acc']:.4f}  precision {run['test_precision']:.4f}  "
          f"recall {run['test_recall']:.4f}  f1 {run['test_f1']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
