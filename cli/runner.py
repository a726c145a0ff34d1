"""python -m runner SWEEP.yaml --jobs N: run a sweep in parallel, resumably, into the store."""
from cli import InputError, OneLineParser, add_job_options, one_line_errors, run_command
from mlp.data import check_available
from runner.budgets import in_run_rule
from runner.job import JobContext
from runner.pipeline import open_store
from runner.sweep_file import datasets, load_sweep
from runner.workers import BACKENDS, workers

PROG = "python -m runner"


def build_parser():
    parser = OneLineParser(prog=PROG, description=__doc__.split(":")[1].strip())
    parser.add_argument("sweep_file", help="sweep YAML in the W&B sweep schema")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="parallel worker processes")
    add_job_options(parser)
    parser.add_argument("--backend", choices=BACKENDS, default="loky",
                        help="loky: processes here; dask: a dask.distributed cluster; wandb: W&B sweep agents (online)")
    parser.add_argument("--scheduler", default=None, help="dask scheduler address, e.g. tcp://host:8786")
    parser.add_argument("--rerun", action="store_true",
                        help="train the sweep's finished, diverged and stopped configurations again")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    with one_line_errors(PROG):
        if args.jobs < 1:
            raise InputError(f"--jobs must be >= 1; got {args.jobs}")
        if args.backend == "dask" and not args.scheduler:
            raise InputError("--backend dask needs --scheduler ADDRESS")
        spec = load_sweep(args.sweep_file)
        for dataset in datasets(spec):
            check_available(dataset, args.data_dir)
        store = open_store(args.db)
        ctx = JobContext.from_args(args, spec["name"], in_run_rule(spec))
        if args.backend == "wandb":
            from runner.wandb_agent import run_agent  # noqa: PLC0415

            return run_agent(spec, store, ctx)
        from runner.pipeline import run_sweep  # noqa: PLC0415

        with workers(args.jobs, args.backend, args.scheduler) as pool:
            summary = run_sweep(spec, store, pool, ctx, progress=not args.quiet, rerun=args.rerun)
        best = store.best("val_acc", sweep=spec["name"])
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary.counts.items())) or "nothing to run"
    print(f"sweep {spec['name']}: {counts}; {summary.skipped} already done; {summary.seconds:.0f}s")
    if best:
        print(f"best val_acc {best['val_acc']:.4f} (run {best['id']}, test_acc {best['test_acc']:.4f})")
    return 0 if not summary.counts.get("failed") else 1


def command():
    return run_command(PROG, main, "the runs in flight were released; the same command resumes")
