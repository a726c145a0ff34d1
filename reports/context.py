"""Where the report reads, trains and writes: the one context every section's facts and training get."""
import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from mlp.data import check_available
from runner.job import JobContext
from runner.pipeline import open_store, run_sweep
from runner.sweep_file import datasets, load_sweep, validate
from runner.workers import LocalWorkers

ROOT = Path(__file__).resolve().parent.parent
SWEEPS = ROOT / "sweeps"
DEFAULT_OUT = ROOT / "report"


@dataclass
class BuildContext:
    """Where the report reads, trains and writes; ``job`` holds the settings of the runs it trains (where
    their files and data are, W&B). ``transform`` rewrites every sweep spec before it runs (the tests make
    them tiny with it)."""

    out: Path = DEFAULT_OUT
    db: str = None
    job: JobContext = field(default_factory=JobContext)
    jobs: int = 2
    train: bool = True
    transform: Callable = None
    progress: bool = True
    weights_copies: tuple = (ROOT / "best_model.npy",)  # where a run's weights may be when its runs folder is not

    @property
    def data_dir(self):
        return self.job.data_dir

    @functools.cached_property
    def store(self):
        """Opened on first use (2.1 needs none); without training a missing store is an error, not created."""
        return open_store(self.db, create=self.train)

    def spec(self, name):
        """sweeps/<name>.yaml, transformed and checked."""
        return self.prepare(load_sweep(SWEEPS / f"{name}.yaml"))

    def prepare(self, spec):
        spec = self.transform(spec) if self.transform else spec
        validate(spec)
        return spec

    def train_missing(self, spec, configs=None):
        """Run what the store lacks of ``spec`` (or of explicit ``configs``) through the runner."""
        if not self.train:
            return
        for dataset in sorted({c["dataset"] for c in configs} if configs else datasets(spec)):
            check_available(dataset, self.data_dir)  # a missing data folder fails before any run
        job = dataclasses.replace(self.job, sweep=spec["name"])
        run_sweep(spec, self.store, LocalWorkers(self.jobs), job, progress=self.progress, configs=configs)
