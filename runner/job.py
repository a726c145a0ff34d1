"""One training job: config in, JobResult out; it never raises, and it writes no file of its own.

Used by the pipeline for train.py's single run and by the sweep workers, here or on
other machines. The job loads the data, trains on the training split minus a stratified
validation part, then evaluates train, validation and test once at the end and logs
everything to W&B. The weights and probe arrays come back beside the run's record, for
the runner to write; where the worker shares the runner's disk, each epoch also goes into
the store as it ends (runner.live), for the dashboard. Failures come back as data (a
status, an error and its traceback) so one bad configuration never stops a sweep.
"""
import contextlib
import time
import traceback
from dataclasses import dataclass

import numpy as np

from mlp import NeuralNetwork
from mlp.data import load_uint8, validation_split
from mlp.inputs import to_unit_float
from mlp.training import Diverged, fit
from store import RunRecord, Status
from store.db import DEFAULT_RUNS_DIR

from .early_stop import StopTraining
from .live import LiveWriter
from .probes import Probe
from .tracking import WANDB_PROJECT, start_run

N_PROBE_IMAGES = 1000
# score name suffix (train_acc, val_f1, ...) -> key of model.evaluate's scores
FINAL_SCORES = {"loss": "loss", "acc": "accuracy", "precision": "precision", "recall": "recall", "f1": "f1"}


@dataclass
class JobResult:
    """What a job sends back: the run's record, and the arrays that become its files (None when not kept)."""

    record: RunRecord
    weights: dict = None
    probe: dict = None


@dataclass(frozen=True)
class JobContext:
    """Everything a job needs besides its config; picklable for workers here or on a cluster."""

    sweep: str = "train"
    runs_dir: str = DEFAULT_RUNS_DIR  # where the runner writes the job's files (the job writes none)
    data_dir: str = None  # None: the worker's own MLP_DATA_DIR, cache or download
    wandb_mode: str = "auto"
    wandb_project: str = WANDB_PROJECT
    wandb_entity: str = None
    early_terminate: dict = None

    @classmethod
    def from_args(cls, args, sweep, early_terminate=None):
        """From the flags of ``cli.add_job_options``."""
        return cls(sweep=sweep, runs_dir=args.runs_dir, data_dir=args.data_dir, wandb_mode=args.wandb_mode,
                   wandb_project=args.wandb_project, wandb_entity=args.wandb_entity, early_terminate=early_terminate)


def _epoch_observer(ctx, record, wandb_run, bars, on_epoch, live):
    """Log each epoch (to W&B, the ``live`` store and ``on_epoch``); stop the run below the sweep rule's bar at
    that epoch (set by its peers when it was sent)."""

    def observe(metrics):
        record.epochs.append(metrics)
        wandb_run.log({k: v for k, v in metrics.items() if k != "epoch"}, step=metrics["epoch"])
        live(metrics)
        if on_epoch is not None:
            on_epoch(metrics)
        epoch, bar = metrics["epoch"], (bars or {}).get(metrics["epoch"])
        if bar is not None and metrics["val_acc"] < bar.value:
            raise StopTraining(f"{ctx.early_terminate['type']} rule at epoch {epoch}: val_acc "
                               f"{metrics['val_acc']:.4f} below the bar {bar.value:.4f} of {bar.peers} runs")

    return observe


def _evaluate(result, model, train, val, test, probe):
    """Final train/val/test scores, one pass over each; the weights and probe arrays go back with them.

    The last epoch already scored the validation split with these very weights, so its scores are reused.
    The test split is scored in float64, on float64 pixels, as inference.py and a grader score it, so the
    stored test figures are the ones they print whatever dtype the run trained in.
    """
    scores = result.record.scores
    last = result.record.epochs[-1]
    scores.update({f"val_{name}": last[f"val_{name}"] for name in FINAL_SCORES})
    as_graded = model
    if model.dtype != np.float64:
        as_graded = NeuralNetwork(model.config)
        as_graded.set_weights(model.get_weights())
    for split, scorer, (X, y) in (("train", model, train), ("test", as_graded, test)):
        evaluated = scorer.evaluate(X, y)
        scores.update({f"{split}_{name}": evaluated[key] for name, key in FINAL_SCORES.items()})
    result.weights = model.get_weights()
    result.probe = probe.arrays(model, val[0][:N_PROBE_IMAGES], val[1][:N_PROBE_IMAGES])


def run_one(config, ctx=JobContext(), on_epoch=None, key=None, bars=None, wandb_run=None, live=None):
    """Train one resolved ``config`` -> its JobResult. ``key`` names the W&B run; ``bars``: {epoch: early_stop.Bar}
    that the sweep's rule sets from its other runs; ``wandb_run``: a W&B run to log into, left open (the
    W&B agent's), instead of one started here; ``live``: a LiveEpochs, the store row its epochs go to as they
    end."""
    record = RunRecord(config=config, status=Status.RUNNING, started_at=time.time())
    result = JobResult(record)
    live_writer = LiveWriter(live)
    try:
        data = load_uint8(config["dataset"], ctx.data_dir)  # split the bytes, then cast only what is used
        X_train, X_val, y_train, y_val = validation_split(data.X_train, data.y_train, config["val_fraction"],
                                                          config["seed"], config["train_size"])
        X_train, X_val = (to_unit_float(X, config["dtype"]) for X in (X_train, X_val))
        X_test = to_unit_float(data.X_test)
        model = NeuralNetwork(config, dtype=config["dtype"])
        probe = Probe()
        tracked = contextlib.nullcontext(wandb_run) if wandb_run is not None else start_run(
            ctx.wandb_mode, project=ctx.wandb_project, entity=ctx.wandb_entity, group=ctx.sweep,
            name=f"{ctx.sweep}-{key}", config={**config, "config_hash": key})
        with tracked as run:
            record.wandb_run_id = run.id
            try:
                fit(model, X_train, y_train, X_val, y_val, on_step=probe.on_step,
                    on_epoch=_epoch_observer(ctx, record, run, bars, on_epoch, live_writer))
                record.status = Status.FINISHED
            except StopTraining as stop:
                record.status, record.error = Status.STOPPED, str(stop)
            except Diverged as exc:
                record.status, record.error = Status.DIVERGED, str(exc)
            run.summary["status"] = record.status.value
            if record.status is not Status.DIVERGED:
                _evaluate(result, model, (X_train, y_train), (X_val, y_val), (X_test, data.y_test), probe)
                run.summary.update({k: record.scores[k] for k in ("train_acc", "val_acc", "test_acc", "test_f1")})
    except BrokenPipeError:  # the reader of the command's output (train.py | head) left: that ends the command
        raise
    except Exception as exc:  # a job never raises: the sweep goes on and the error is recorded
        record.status = Status.FAILED
        record.error = f"{type(exc).__name__}: {exc}"
        record.traceback = traceback.format_exc()
    finally:
        live_writer.close()
    record.ended_at = time.time()
    record.seconds = record.ended_at - record.started_at
    return result
