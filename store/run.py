"""What a run is: its status, with the legal moves between statuses, and the record of how it ended.

As Optuna's ``TrialState``: a run is ``running`` while claimed, then has one outcome.
``finished``, ``diverged`` and ``stopped`` are final: a later result never overwrites
them, and only an explicit rerun claims them again. ``failed`` is not final: it is
claimed and trained again when its sweep resumes. Every status test in the code asks
``Status``, never a tuple of its own.
"""
import enum
from dataclasses import dataclass, field

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


@dataclass
class RunRecord:
    """How a run ended, as its store row holds it (the store adds the sweep, key, claim and repeat).

    ``scores`` maps METRICS names to values; ``epochs`` holds one dict of per-epoch metrics each.
    The arrays a run produces (weights, probes) never ride here: the runner writes them to files
    and fills in their paths, and the weights file's SHA-256 (which names the model wherever a copy of
    that file goes, such as the exported best_model.npy).
    """

    config: dict
    status: Status
    scores: dict = field(default_factory=dict)
    epochs: list = field(default_factory=list)
    started_at: float = None
    ended_at: float = None
    seconds: float = None
    weights_path: str = None
    weights_sha256: str = None
    probe_path: str = None
    wandb_run_id: str = None
    error: str = None
    traceback: str = None

    def __post_init__(self):
        self.status = Status(self.status)
        unknown = set(self.scores) - set(METRICS)
        if unknown:
            raise ValueError(f"unknown scores {', '.join(sorted(unknown))}; the metrics are {', '.join(METRICS)}")
