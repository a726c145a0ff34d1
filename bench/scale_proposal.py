"""One bayes batch over a large sweep, for bench_scale.py: run alone, in a process of its own, so its peak memory
is this store's.

    python bench/scale_proposal.py STORE  ->  one line of JSON

STORE (written to: give a copy) holds a large sweep0 (large_store.build with a share). A bayes sweep file over
large_store's options, named sweep0, is validated by the runner's own loader; its proposer then proposes a batch of
BATCH twice: first as a resume's first batch, then after those runs are recorded (claim and record), as a sweep
proposes from then on. Printed: the two times in seconds and the process's peak memory in MB, before and after.
"""
import json
import sys
import tempfile
import time
from pathlib import Path

import yaml

from large_store import EPOCHS, OPTIMIZERS

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runner.ledger import SweepLedger  # noqa: E402
from runner.methods import proposer_for  # noqa: E402
from runner.pipeline import open_store  # noqa: E402
from runner.sweep_file import load_sweep  # noqa: E402
from store import RunRecord, Status  # noqa: E402

SWEEP = "sweep0"
BATCH = 4


def bayes_spec(run_cap):
    """The sweep file of large_store's runs, as a bayes sweep would have made them."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{SWEEP}.yaml"
        path.write_text(yaml.safe_dump({
            "name": SWEEP, "method": "bayes", "metric": {"name": "val_acc", "goal": "maximize"}, "run_cap": run_cap,
            "parameters": {"optimizer": {"values": list(OPTIMIZERS)},
                           "learning_rate": {"min": 1e-4, "max": 1e-1, "distribution": "log_uniform_values"},
                           "num_layers": {"min": 1, "max": 6}, "hidden_size": {"values": [32, 64, 128]},
                           "batch_size": {"values": [16, 32, 64]}, "epochs": {"value": EPOCHS}}}))
        return load_sweep(path)


def record(store, proposals):
    """The proposals as finished runs, each claimed first, as the pipeline records them."""
    for proposal in proposals:
        run_id = store.claim(SWEEP, proposal.config, "bench", 60, proposal=proposal.reason)
        epochs = [{"epoch": e, "val_acc": 0.9, "train_acc": 0.9, "seconds": 2.0} for e in range(1, EPOCHS + 1)]
        store.record(SWEEP, RunRecord(proposal.config, Status.FINISHED, epochs=epochs, scores={"val_acc": 0.9}),
                     run_id)


def megabytes():
    """This process's peak resident memory so far (Linux's VmHWM). Not ru_maxrss: exec keeps it from the process
    that started this one (the bench, with its own stores read), so it never shows less than the bench's own."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024  # in kB


def timed(call, *args):
    started = time.perf_counter()
    return call(*args), time.perf_counter() - started


def main(db):
    store = open_store(db)
    ledger = SweepLedger(store, SWEEP)  # the done keys a runner hands its proposer, kept as the runner keeps them
    ledger.look()
    done = ledger.done
    proposer = proposer_for(bayes_spec(len(done) + 1000), store, BATCH)
    before = megabytes()
    first, first_s = timed(proposer.propose, done)
    record(store, first)
    ledger.look()
    _, next_s = timed(proposer.propose, ledger.done)
    store.close()
    print(json.dumps({"runs in the sweep": len(done), "first batch s": first_s, "next batch s": next_s,
                      "MB before": before, "MB peak": megabytes()}))


if __name__ == "__main__":
    main(sys.argv[1])
