"""What a run is: its status, with the legal moves between statuses, and the record of how it ended.

As Optuna's ``TrialState``: a run is ``running`` while claimed, then has one outcome.
``finished``, ``diverged`` and ``stopped`` are final: a later result never overwrites
them, and only an explicit rerun claims them again. ``failed`` is not final: it is
claimed and trained again when its sweep resumes. Every status test in the code asks
``Status``, never a tuple of its own.
"""
import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import field
from typing import NamedTuple

METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "val_f1",
           "test_loss", "test_acc", "test_precision", "test_recall", "test_f1")


class Status(str, enum.Enum):
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    DIVERGED = "diverged"
    STOPPED = "stopped"

    def __str__(self):
        return self.value

    @property
    def is_final(self):
        """Needs no run again: a resumed sweep skips it."""
        return self in FINAL

    @property
    def is_outcome(self):
        """How a run can end: what a record may hold."""
        return self is not Status.RUNNING

    @property
    def keeps_files(self):
        """Its weights are worth keeping: a stopped run's are as good as its epochs went."""
        return self in (Status.FINISHED, Status.STOPPED)

    def may_become(self, new, rerun=False):
        """Is ``self -> new`` a legal move? A claim makes a run running; a result or a release ends it."""
        if self is Status.RUNNING:
            return new.is_outcome or new is Status.RUNNING  # a lapsed lease is taken over
        if self.is_final:
            return rerun and new is Status.RUNNING
        return True  # failed: claimed again, or a late result arrives for it


FINAL = frozenset({Status.FINISHED, Status.DIVERGED, Status.STOPPED})


class Field(NamedTuple):
    """One column of the runs table, declared once: the migrations add it, and the store's column list, the
    RunRecord a runner fills in, the Run a read returns and the ``runs_flat`` view are all made from this table."""

    name: str
    type: type
    kind: str  # "run": the store's own (key, status, ...); "claim": set when claimed; "recorded": a RunRecord
    #            field, how the run ended; "score": one of METRICS
    path: bool = False  # a file path, kept relative to the store's folder so the folder can move
    shown: bool = False  # a column of runs_flat, the flat view the UI and plain SQL read


RUN_FIELDS = (
    Field("id", int, "run", shown=True),
    Field("sweep", str, "run", shown=True),
    Field("config", str, "run"),  # JSON; a read gives it parsed, and runs_flat one column per option
    Field("config_hash", str, "run", shown=True),
    Field("status", str, "run", shown=True),
    Field("started_at", float, "recorded", shown=True),
    Field("ended_at", float, "recorded", shown=True),
    Field("seconds", float, "recorded", shown=True),
    Field("epochs_done", int, "run", shown=True),
    *(Field(metric, float, "score", shown=True) for metric in METRICS),
    Field("weights_path", str, "recorded", path=True),
    Field("probe_path", str, "recorded", path=True),
    Field("wandb_run_id", str, "recorded"),
    Field("error", str, "recorded", shown=True),
    Field("claimed_by", str, "claim"),
    Field("lease_until", float, "claim"),
    Field("attempts", int, "claim"),
    Field("repeat", int, "run", shown=True),
    Field("traceback", str, "recorded"),
    Field("weights_sha256", str, "recorded"),
    Field("proposal", str, "claim", shown=True),  # why the sweep's method proposed it
    Field("promoted_from", int, "claim", shown=True),  # the run at the budget below whose rank earned this one
    Field("sequence", int, "run"),  # the store's count of status changes at this run's latest (see m013_sequence)
)
RUN_COLUMNS = {f.name: f.type for f in RUN_FIELDS}  # the runs table as the migrations leave it (a test holds them)
RECORDED = tuple(f.name for f in RUN_FIELDS if f.kind == "recorded")
PATHS = tuple(f.name for f in RUN_FIELDS if f.path)
EPOCH_COLUMNS = {"run_id": int, "epoch": int, "train_loss": float, "train_acc": float, "val_loss": float,
                 "val_acc": float, "val_f1": float, "learning_rate": float, "seconds": float}


def _check_record(record):
    record.status = Status(record.status)
    unknown = set(record.scores) - set(METRICS)
    if unknown:
        raise ValueError(f"unknown scores {', '.join(sorted(unknown))}; the metrics are {', '.join(METRICS)}")


RunRecord = dataclasses.make_dataclass(
    "RunRecord",
    [("config", dict), ("status", Status), ("scores", dict, field(default_factory=dict)),
     ("epochs", list, field(default_factory=list)),
     *((name, RUN_COLUMNS[name], field(default=None)) for name in RECORDED)],
    namespace={"__post_init__": _check_record, "__module__": __name__, "__doc__": """How a run ended, as its store
    row holds it (the store adds the sweep, key, claim and repeat): its config and status, then ``scores`` (METRICS
    names to values), ``epochs`` (one dict of per-epoch metrics each), and the RUN_FIELDS of kind "recorded".

    The arrays a run produces (weights, probes) never ride here: the runner writes them to files and fills in
    their paths, and the weights file's SHA-256 (which names the model wherever a copy of that file goes, such as
    the exported best_model.npy)."""})


class _ReadOnlyMapping(Mapping):
    """A run also reads as a mapping (``run["val_acc"]``, ``{**run}``, ``json.dumps(dict(run))``)."""

    def __getitem__(self, name):
        if name not in RUN_COLUMNS:
            raise KeyError(name)
        return getattr(self, name)

    def __iter__(self):
        return iter(RUN_COLUMNS)

    def __len__(self):
        return len(RUN_COLUMNS)


Run = dataclasses.make_dataclass(
    "Run", [(f.name, f.type) for f in RUN_FIELDS], bases=(_ReadOnlyMapping,), frozen=True, eq=False,
    namespace={"__module__": __name__, "__doc__": """A run as a read returns it: every RUN_FIELDS column, with
    ``status`` a Status, ``config`` parsed and file paths resolved from the store's folder. Finished runs do
    not change, so neither does this."""})
