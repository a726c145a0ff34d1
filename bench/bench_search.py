"""Search quality at equal epochs: our sweep methods against Optuna's, side by side in one run.

Every study searches the space of one sweep file (default sweeps/search.yaml) with the same budget
of training epochs, on the same data: ours through the runner's own pipeline (its proposer, its
budgets or early termination, store and jobs, one run at a time), Optuna's through the same job
(runner.job.run_one) with its sampler and pruner at the file's min_iter and eta, each trial at the
space's longest budget (Optuna's fidelity is its pruner's: the epochs inside a trial). A study is one
process, so its CPU seconds are its own; two studies run at a time. For each method it prints,
over the seeds, the median best validation accuracy at 25%, 50% and 100% of the budget with its
spread (min..max), and the epochs and CPU seconds each needed to first reach each target.

The headline is a reduced set-up that fits in about an hour on 2 cores: 20,000 training images (the
validation split stays the full 6,000), 3 seeds and 1,200 epochs per study, about 70% of what `make
search` spends, so the longest budget is reached by a dozen runs as in the real search.

    python bench/bench_search.py                 # the headline: 20,000 training images, 3 seeds
    python bench/bench_search.py --quick         # a try-out: 10,000 training images, a third of the budget
"""
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cli import OneLineParser, one_line_errors  # noqa: E402
from mlp.data import check_available  # noqa: E402
from mlp.options import resolve_config  # noqa: E402
from runner.bayes import default_values, full_length  # noqa: E402
from runner.job import JobContext, run_one  # noqa: E402
from runner.early_stop import StopTraining  # noqa: E402
from runner.pipeline import open_store, run_sweep  # noqa: E402
from runner.sweep_file import load_sweep  # noqa: E402
from runner.workers import InProcessWorkers  # noqa: E402
from store import Status  # noqa: E402

OURS = ("bayes",)
# "+default": the study's first trial is the trainer's default configuration, as ours starts (runner.bayes):
# the same head start, so what remains between the two is the search.
OPTUNA = ("optuna-tpe-hyperband", "optuna-random-median", "optuna-tpe-hyperband+default")
FULL_BUDGET = 1200  # epochs per study
TRAIN_SIZE, QUICK_TRAIN_SIZE = 20000, 10000
TARGETS = (0.985, 0.988)  # 20,000 training images reach about 0.989
QUICK_TARGETS = (0.98, 0.983)
FRACTIONS = (0.25, 0.5, 1.0)


class BudgetSpent(BaseException):
    """Raised from the epoch callback when the study's epochs are used up; a BaseException, so no job or trial
    records it as a failure on the way out."""


class Trace:
    """Each epoch a study trains, in order: its validation accuracy and the study's CPU seconds so far."""

    def __init__(self, budget):
        self.budget, self.points, self.start = budget, [], time.process_time()

    def epoch(self, metrics):
        if len(self.points) >= self.budget:
            raise BudgetSpent()
        self.points.append((metrics["val_acc"], time.process_time() - self.start))


def ours(method, seed, spec, trace, folder, data_dir):
    """One study of our ``method``: the runner's pipeline on a fresh store, until the budget is spent (a run cut
    short there is not a result: the study ends with it)."""
    spec = {**spec, "name": f"{spec['name']}-{method}-{seed}", "method": method, "run_cap": 10 * trace.budget}
    store = open_store(Path(folder) / "runs.db")
    ctx = JobContext(sweep=spec["name"], runs_dir=str(Path(folder) / "runs"), data_dir=data_dir,
                     wandb_mode="disabled")
    try:
        run_sweep(spec, store, InProcessWorkers(on_epoch=trace.epoch), ctx, progress=False)
    except BudgetSpent:
        pass


def _suggest(trial, name, rule):
    if "value" in rule:
        return rule["value"]
    if "values" in rule:
        return trial.suggest_categorical(name, rule["values"])
    low, high, dist = rule["min"], rule["max"], rule.get("distribution", "uniform")
    if dist == "int_uniform":
        return trial.suggest_int(name, low, high)
    return trial.suggest_float(name, low, high, log=dist == "log_uniform_values")


def optuna_study(method, seed, spec, trace, data_dir):
    """One Optuna study: its sampler proposes, our job trains and reports each epoch, its pruner stops."""
    import optuna  # noqa: PLC0415 - the bench extra

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rule = spec.get("early_terminate") or {}
    min_iter, eta = rule.get("min_iter", 3), rule.get("eta", 3)
    longest = full_length(spec["parameters"])
    if method.startswith("optuna-tpe-hyperband"):
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True)
        pruner = optuna.pruners.HyperbandPruner(min_resource=min_iter, max_resource=longest, reduction_factor=eta)
    else:
        sampler = optuna.samplers.RandomSampler(seed=seed)
        pruner = optuna.pruners.MedianPruner(n_warmup_steps=min_iter - 1)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    if method.endswith("+default"):
        default = default_values(spec["parameters"], np.random.default_rng(seed))
        study.enqueue_trial({name: default[name] for name, r in spec["parameters"].items()
                             if "value" not in r and name != "epochs"})
    ctx = JobContext(sweep="optuna", data_dir=data_dir, wandb_mode="disabled")

    def objective(trial):
        config = resolve_config({name: longest if name == "epochs" else _suggest(trial, name, r)
                                 for name, r in spec["parameters"].items()})

        def on_epoch(metrics):
            trace.epoch(metrics)
            trial.report(metrics["val_acc"], metrics["epoch"])
            if trial.should_prune():
                raise StopTraining("pruned")

        record = run_one(config, ctx, on_epoch=on_epoch).record
        if record.status is Status.FAILED:  # a fault of the bench, not of the configuration
            raise RuntimeError(record.error)
        if record.status is Status.STOPPED:
            raise optuna.TrialPruned()
        return record.scores.get("val_acc") or 0.0  # a diverged run scores nothing

    try:
        study.optimize(objective, n_trials=10 * trace.budget)
    except BudgetSpent:
        pass


def study(method, seed, spec, budget, data_dir):
    """-> the trace of one study, run in its own process with one BLAS thread."""
    from threadpoolctl import threadpool_limits  # noqa: PLC0415

    trace = Trace(budget)
    with threadpool_limits(limits=1), tempfile.TemporaryDirectory() as folder:
        if method in OURS:
            ours(method, seed, spec, trace, folder, data_dir)
        else:
            optuna_study(method, seed, spec, trace, data_dir)
    return trace.points


def best_at(points, epochs):
    return max(v for v, _ in points[:epochs])


def first_reach(points, target):
    """-> (epochs, CPU seconds) at which the best so far first reached ``target``, or None."""
    for i, (value, seconds) in enumerate(points, start=1):
        if value >= target:
            return i, seconds
    return None


def summarize(method, traces, budget, targets):
    line = [f"{method:<22}"]
    for fraction in FRACTIONS:
        values = [best_at(t, max(1, round(fraction * budget))) for t in traces]
        line.append(f"{statistics.median(values):.4f} ({min(values):.4f}..{max(values):.4f})")
    for target in targets:
        reached = [first_reach(t, target) for t in traces]
        hits = [r for r in reached if r is not None]
        if len(hits) * 2 > len(traces):  # a median exists: a study that never reached it counts as infinite
            ordered = sorted(reached, key=lambda r: math.inf if r is None else r[0])
            epochs = ordered[len(ordered) // 2]
            seconds = sorted(r[1] if r else math.inf for r in reached)[len(reached) // 2]
            line.append(f"{epochs[0]:>4} ep {seconds:>6.0f} s ({len(hits)}/{len(traces)})")
        else:
            line.append(f"  never in half ({len(hits)}/{len(traces)})")
    return "  ".join(line)


def main(argv=None):
    parser = OneLineParser(prog="bench/bench_search.py", description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", default=str(ROOT / "sweeps" / "search.yaml"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=None, help=f"epochs per study (default {FULL_BUDGET}; "
                                                                 f"a third with --quick)")
    parser.add_argument("--quick", action="store_true", help=f"train_size {QUICK_TRAIN_SIZE} and a third of the "
                                                             f"budget")
    parser.add_argument("--methods", nargs="+", default=("bayes", "optuna-tpe-hyperband+default"),
                        choices=OURS + OPTUNA, help="default: ours and Optuna's TPE with Hyperband, both started "
                                                    "from the trainer's defaults")
    parser.add_argument("--jobs", type=int, default=2, help="studies at a time")
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--traces", default=None, help="write every study's trace to this JSON file")
    args = parser.parse_args(argv)
    for name in ("seeds", "budget", "jobs"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1; got {getattr(args, name)}")
    with one_line_errors("bench/bench_search.py"):
        spec = load_sweep(args.sweep)
        check_available(spec["parameters"]["dataset"]["value"], args.data_dir)
    budget = args.budget or (FULL_BUDGET // 3 if args.quick else FULL_BUDGET)
    train_size = QUICK_TRAIN_SIZE if args.quick else TRAIN_SIZE
    spec["parameters"] = {**spec["parameters"], "train_size": {"value": train_size}}
    jobs = [(m, s) for s in range(args.seeds) for m in args.methods]
    print(f"{len(jobs)} studies of {budget} epochs on {spec['name']}'s space (train_size {train_size}), "
          f"{args.jobs} at a time", flush=True)
    from threadpoolctl import threadpool_info  # noqa: PLC0415

    kernels = sorted({str(i.get("architecture")) for i in threadpool_info() if i.get("internal_api") == "openblas"})
    print(f"BLAS kernel {', '.join(kernels) or 'not OpenBLAS'}; {os.cpu_count()} CPUs", flush=True)
    started = time.time()
    studies = Parallel(n_jobs=args.jobs, return_as="generator")(delayed(study)(m, s, spec, budget, args.data_dir)
                                                                for m, s in jobs)
    traces = list(tqdm(studies, total=len(jobs), unit="study", desc="studies"))  # in the order of jobs
    by_method = {m: [t for (mm, _), t in zip(jobs, traces) if mm == m] for m in args.methods}
    if args.traces:
        Path(args.traces).write_text(json.dumps({m: t for m, t in by_method.items()}))
    print(f"done in {time.time() - started:.0f} s\n")
    head = "  ".join(f"best at {int(f * 100)}%".ljust(24) for f in FRACTIONS)
    targets = QUICK_TARGETS if args.quick else TARGETS
    reach = "  ".join(f"to {t}".ljust(22) for t in targets)
    print(f"{'method':<22}  {head}  {reach}")
    for method, method_traces in by_method.items():
        print(summarize(method, method_traces, budget, targets))


if __name__ == "__main__":
    main()
