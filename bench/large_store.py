"""A large store for the benches, built through the store's own API (RunStore.record with RunRecords, no
training): runs of random configurations with EPOCHS epochs each, a tenth stopped at epoch 2 or 4 as early
termination would. The runs go round the sweeps in turn, or with ``share`` that part of them to sweep0 (a large
sweep among small ones), interleaved with the rest."""
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mlp.options import resolve_config  # noqa: E402
from runner.pipeline import open_store  # noqa: E402
from store import RunRecord  # noqa: E402

EPOCHS = 10
OPTIMIZERS = ("sgd", "momentum", "nag", "rmsprop", "adam", "nadam")


def sweep_names(runs, sweeps, share=None):
    """The sweep of each run: round the sweeps in turn, or ``share`` of the runs in sweep0, spread evenly through
    the store, and the others round the other sweeps."""
    if share is None:
        return [f"sweep{i % sweeps}" for i in range(runs)]
    names, others = [], 0
    for i in range(runs):
        if int((i + 1) * share) > int(i * share):
            names.append("sweep0")
        else:
            names.append(f"sweep{1 + others % (sweeps - 1)}")
            others += 1
    return names


def build(path, runs, sweeps, seed=0, share=None):
    """A store of ``runs`` runs over ``sweeps`` sweeps, with EPOCHS epochs each (fewer when stopped); ``share``:
    the part of them in sweep0."""
    rng = random.Random(seed)
    store = open_store(path)
    for i, sweep in enumerate(sweep_names(runs, sweeps, share)):
        config = resolve_config({"optimizer": rng.choice(OPTIMIZERS), "learning_rate": 10 ** rng.uniform(-4, -1),
                                 "num_layers": rng.randint(1, 6), "hidden_size": rng.choice([32, 64, 128]),
                                 "batch_size": rng.choice([16, 32, 64]), "seed": i})
        stopped = rng.random() < 0.1
        last = rng.choice([2, 4]) if stopped else EPOCHS
        top = rng.uniform(0.85, 0.98)
        epochs = [{"epoch": e, "train_loss": 1 / e, "train_acc": top * (1 - 0.5 / e), "val_loss": 1.1 / e,
                   "val_acc": top * (1 - 0.5 / e), "val_f1": top * (1 - 0.5 / e), "learning_rate": 0.001,
                   "seconds": 2.0} for e in range(1, last + 1)]
        final = epochs[-1]["val_acc"]
        store.record(sweep, RunRecord(
            config, "stopped" if stopped else "finished", epochs=epochs, seconds=2.0 * last,
            scores={"val_acc": final, "test_acc": final - 0.002, "test_f1": final - 0.003},
            error=f"hyperband rule at epoch {last}: below the bar" if stopped else None))
        if (i + 1) % 1000 == 0:
            print(f"  {i + 1} runs recorded", flush=True)
    best = store.best("val_acc", sweep="sweep0")
    store.close()
    return best["id"]


