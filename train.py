"""Train one MLP, print progress per epoch, record the run in the store and W&B.

    python train.py -d mnist -e 10 -b 64 -o adam -lr 1e-3 -nhl 3 -sz 128 -a relu -w_i xavier
"""
import sys
from pathlib import Path

from threadpoolctl import threadpool_limits

from mlp.data import DataError, check_available
from mlp.options import ConfigError, OneLineParser, add_run_options, exit_with_error, parse_known, resolve_config
from runner.job import JobContext, add_job_options, run_one, save_atomically
from store import RunStore, StoreError


def build_parser():
    parser = OneLineParser(prog="train.py", description=__doc__.splitlines()[0])
    add_run_options(parser)
    add_job_options(parser)
    parser.add_argument("--sweep", default="train", help="name under which the run is recorded")
    parser.add_argument("--blas_threads", type=int, default=1,
                        help="BLAS threads (default 1: on 2 cores a second thread is often slower, never dependable)")
    parser.add_argument("--save_model", "--model_save_path", dest="save_model", default=None, metavar="PATH",
                        help="also copy the weights here (e.g. best_model.npy); never done unless asked")
    return parser


def print_epoch(m):
    print(f"epoch {m['epoch']:3d}  train loss {m['train_loss']:.4f} acc {m['train_acc']:.4f}  "
          f"val loss {m['val_loss']:.4f} acc {m['val_acc']:.4f}  ({m['seconds']:.1f}s)", flush=True)


def main(argv=None):
    args = parse_known(build_parser(), argv)
    try:  # every check before anything is written
        config = resolve_config(args)
        check_available(config["dataset"], args.data_dir)
        if args.save_model and not Path(args.save_model).resolve().parent.is_dir():
            raise ConfigError(f"--save_model {args.save_model}: its folder does not exist")
        store = RunStore(args.db)
    except (ConfigError, DataError, StoreError) as exc:
        exit_with_error("train.py", exc)
    ctx = JobContext(sweep=args.sweep, runs_dir=args.runs_dir, data_dir=args.data_dir, db_path=str(store.path),
                     wandb_mode=args.wandb_mode, wandb_project=args.wandb_project, wandb_entity=args.wandb_entity)
    try:
        with threadpool_limits(limits=max(args.blas_threads, 1)):
            result = run_one(config, ctx, on_epoch=print_epoch)
    except KeyboardInterrupt:  # the run was claimed as running: leave it failed, not running forever
        store.record(args.sweep, config, {"status": "failed", "error": "interrupted"})
        print("train.py: interrupted; the run is recorded as failed", file=sys.stderr)
        return 130
    run_id = store.record(args.sweep, config, result)
    if result["status"] in ("failed", "diverged"):
        print(f"run {run_id} {result['status']}: {result['error']}", file=sys.stderr)
        return 1
    if args.save_model:
        weights = Path(result["weights_path"]).read_bytes()
        save_atomically(args.save_model, lambda f: f.write(weights))
    print(f"run {run_id} {result['status']}: weights {result['weights_path']}")
    print(f"test accuracy {result['test_acc']:.4f}  precision {result['test_precision']:.4f}  "
          f"recall {result['test_recall']:.4f}  f1 {result['test_f1']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
