"""One training job: config in, result dict out; it never raises.

Used by train.py for a single run and by the sweep workers. The job loads the
data, trains on the training split minus a stratified validation part, then
evaluates train, validation and test once at the end, saves the weights
atomically and logs everything to W&B. Failures come back as data
(``status`` plus ``error``) so one bad configuration never stops a sweep.
"""
import json
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlp import NeuralNetwork
from mlp.data import load_dataset, validation_split
from mlp.training import Diverged, fit
from store import RunStore, config_hash

from .early_stop import EarlyTermination, StopTraining
from .probes import Probe
from .tracking import WANDB_MODES, start_run

N_PROBE_IMAGES = 1000
# Weights go beside the default store (runs.db at the project root), wherever a command is run from.
DEFAULT_RUNS_DIR = os.environ.get("MLP_RUNS_DIR") or str(Path(__file__).resolve().parent.parent / "runs")


@dataclass(frozen=True)
class JobContext:
    """Everything a job needs besides its config; picklable for joblib workers."""

    sweep: str = "train"
    runs_dir: str = DEFAULT_RUNS_DIR
    data_dir: str = None
    db_path: str = None  # where to claim the run as 'running' and read early-termination peers
    wandb_mode: str = "auto"
    wandb_project: str = "mlp-sweeps"
    wandb_entity: str = None
    early_terminate: dict = None


def add_job_options(parser):
    """The flags saying where a job reads and writes, shared by train.py, the runner and the reports."""
    parser.add_argument("--db", default=None, help="run store file (else $MLP_DB, else runs.db)")
    parser.add_argument("--runs_dir", default=DEFAULT_RUNS_DIR,
                        help="where weights go, one folder per sweep (else $MLP_RUNS_DIR, else runs/ at the project root)")
    parser.add_argument("--data_dir", default=None, help="folder with mnist/ and fashion_mnist/ (else $MLP_DATA_DIR)")
    parser.add_argument("--wandb_mode", choices=WANDB_MODES, default="auto",
                        help="auto: online with credentials, offline without; disabled: no W&B")
    parser.add_argument("-wp", "--wandb_project", default="mlp-sweeps", help="W&B project")
    parser.add_argument("-we", "--wandb_entity", default=None, help="W&B entity (user or team)")
    return parser


def save_atomically(path, write):
    """Write through a temporary file and rename, so a kill never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_model(weights_path, model, config):
    """``np.save(get_weights())`` plus the resolved config beside it, so any .npy can be rebuilt."""
    save_atomically(weights_path, lambda f: np.save(f, model.get_weights(), allow_pickle=True))
    save_atomically(Path(weights_path).with_suffix(".json"),
                    lambda f: f.write(json.dumps(config, indent=2, sort_keys=True).encode()))


def _epoch_observer(config, ctx, key, result, wandb_run, store, on_epoch):
    rule = EarlyTermination.from_spec(ctx.early_terminate)

    def observe(metrics):
        result["epochs"].append(metrics)
        wandb_run.log({k: v for k, v in metrics.items() if k != "epoch"}, step=metrics["epoch"])
        if on_epoch is not None:
            on_epoch(metrics)
        if rule and store and rule.checks_at(metrics["epoch"]):
            peers = store.val_acc_at(ctx.sweep, metrics["epoch"], exclude_hash=key)
            if rule.should_stop(metrics["epoch"], metrics["val_acc"], peers):
                raise StopTraining(f"{rule.kind} rule at epoch {metrics['epoch']}")

    return observe


def _evaluate_and_save(result, model, config, data, train, val, stem, probe):
    """Final train/val/test scores once, then the weights, config and probes beside each other."""
    for split, (X, y) in (("train", train), ("val", val), ("test", (data.X_test, data.y_test))):
        scores = model.evaluate(X, y)
        for name in ("loss", "accuracy", "precision", "recall", "f1"):
            result[f"{split}_{'acc' if name == 'accuracy' else name}"] = scores[name]
    result["weights_path"] = str(stem.with_suffix(".npy"))
    save_model(result["weights_path"], model, config)
    result["probe_path"] = str(stem.with_suffix(".probe.npz"))
    save_atomically(result["probe_path"], lambda f: probe.save(f, model, val[0][:N_PROBE_IMAGES]))


def run_one(config, ctx=JobContext(), on_epoch=None):
    """Train one resolved ``config``; returns its result record (see store.RunStore.record)."""
    key = config_hash(config)
    result = {"config": config, "status": "running", "started_at": time.time(), "epochs": []}
    store = None
    try:
        if ctx.db_path:
            store = RunStore(ctx.db_path, create=False)
            store.mark_running(ctx.sweep, config)
        dtype = np.dtype(config["dtype"])
        data = load_dataset(config["dataset"], ctx.data_dir, dtype=dtype)
        X_train, X_val, y_train, y_val = validation_split(data.X_train, data.y_train, config["val_fraction"],
                                                          config["seed"], config["train_size"])
        model = NeuralNetwork(config)
        probe = Probe()
        with start_run(ctx.wandb_mode, project=ctx.wandb_project, entity=ctx.wandb_entity, group=ctx.sweep,
                       name=f"{ctx.sweep}-{key}", config={**config, "config_hash": key}) as wandb_run:
            result["wandb_run_id"] = wandb_run.id
            try:
                fit(model, X_train, y_train, config["epochs"], config["batch_size"], X_val, y_val,
                    schedule=config["lr_schedule"], augment=config["augment"],
                    flip=config["flip"], on_step=probe.on_step,
                    on_epoch=_epoch_observer(config, ctx, key, result, wandb_run, store, on_epoch))
                result["status"] = "finished"
            except StopTraining as stop:
                result["status"], result["error"] = "stopped", str(stop)
            except Diverged as exc:
                result["status"], result["error"] = "diverged", str(exc)
            wandb_run.summary["status"] = result["status"]
            if result["status"] != "diverged":
                _evaluate_and_save(result, model, config, data, (X_train, y_train), (X_val, y_val),
                                   Path(ctx.runs_dir).resolve() / ctx.sweep / key, probe)
                wandb_run.summary.update({k: result[k] for k in ("train_acc", "val_acc", "test_acc", "test_f1")})
    except Exception as exc:  # a job never raises: the sweep goes on and the error is recorded
        result["status"] = "failed"
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc()
    finally:
        if store is not None:
            store.close()
    result["ended_at"] = time.time()
    result["seconds"] = result["ended_at"] - result["started_at"]
    return result
