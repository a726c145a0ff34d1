"""What every section shares: the build settings, the Section it returns, and the one rule that puts
numbers into sentences.

Sentences are templates filled from named facts (values a query returned), so
the facts travel with the text: the report keeps them beside each section and
a test can check every number in the text against the store.
"""
import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from mlp.data import check_available
from mlp.options import RUN_OPTIONS
from runner.job import JobContext
from runner.pipeline import open_store, run_sweep
from runner.sweep_file import expand, load_sweep, validate
from runner.workers import LocalWorkers

from . import answers
from . import queries as q
from .queries import SectionError

ROOT = Path(__file__).resolve().parent.parent
SWEEPS = ROOT / "sweeps"
DEFAULT_OUT = ROOT / "report"
SHORT_NAMES = {"learning_rate": "lr", "num_layers": "layers", "hidden_size": "width", "weight_decay": "wd",
               "batch_size": "batch", "weight_init": "init", "augment": "shift", "lr_schedule": "schedule",
               "train_size": "train images", "flip": "mirrored", "dropout": "dropout"}
DESCRIBE_KEYS = ("num_layers", "hidden_size", "activation", "optimizer", "learning_rate", "batch_size", "epochs",
                 "weight_init", "loss", "weight_decay", "lr_schedule", "augment", "flip", "dropout", "train_size")
DEFAULTS = {o.name: o.default for o in RUN_OPTIONS}
SHOWN_WHEN_SET = {"weight_decay", "lr_schedule", "augment", "flip", "dropout", "train_size"}  # named only when not the default


def fmt(value):
    """The one way a fact is written in text: floats to 4 significant digits, lists joined."""
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(map(fmt, value))
    if isinstance(value, tuple):  # (name, value) pairs: "adam (0.0123)"
        return f"{fmt(value[0])} ({fmt(value[1])})" if len(value) == 2 else " ".join(map(fmt, value))
    return str(value)


def label(config, keys):
    """A short name of a run from some of its options: 'relu adam lr 0.001 init xavier'.

    Choices that name themselves (relu, adam, cross_entropy) stand alone; other values get their option's name.
    """
    parts = []
    for key in keys:
        value = q.scalar(config[key])
        named = not isinstance(value, str) or key in SHORT_NAMES
        parts.append(f"{SHORT_NAMES.get(key, key)} {fmt(value)}" if named else value)
    return " ".join(parts)


def describe(config):
    """A run's configuration in one line; options left at their default (no decay, ...) are not named."""
    return label(config, [k for k in DESCRIBE_KEYS if k not in SHOWN_WHEN_SET or config[k] != DEFAULTS[k]])


class Findings:
    """Sentences and the facts they embed, filled in with ``fmt``.

    ``add`` writes a sentence of the section's answer (evidence and explanation,
    read as one paragraph); ``lead`` one that opens the answer, saying it in words
    before the evidence (it may be written once the evidence is in); ``detail``
    one of the evidence listed in full below it. All keep the facts under
    ``prefix.name`` so the same template can be said of several runs; a fact may
    be said again, never with another value. The templates are kept too: they
    hold no digit, so every number in a sentence is a fact.
    """

    def __init__(self):
        self.templates, self.sentences, self.kinds, self.facts = [], [], [], {}
        self.n_leads = 0

    def lead(self, template, prefix=None, **facts):
        self._say("answer", template, prefix, facts, at=self.n_leads)
        self.n_leads += 1

    def add(self, template, prefix=None, **facts):
        self._say("answer", template, prefix, facts)

    def detail(self, template, prefix=None, **facts):
        self._say("detail", template, prefix, facts)

    def of_kind(self, kind):
        return [s for s, k in zip(self.sentences, self.kinds) if k == kind]

    def _say(self, kind, template, prefix, facts, at=None):
        for name, value in facts.items():
            key = f"{prefix}.{name}" if prefix else name
            if key in self.facts and self.facts[key] != value:
                raise KeyError(f"fact {key} is stated twice, as {self.facts[key]!r} and {value!r}")
            self.facts[key] = value
        at = len(self.sentences) if at is None else at
        self.templates.insert(at, template)
        self.kinds.insert(at, kind)
        self.sentences.insert(at, template.format(**{k: fmt(v) for k, v in facts.items()}))


@dataclass
class Section:
    id: str
    figures: dict  # file stem -> matplotlib Figure
    findings: Findings
    tables: dict = field(default_factory=dict)  # name -> rows (dicts) behind the figures, logged to W&B
    series: dict = field(default_factory=dict)  # W&B key -> per-step values (probe series the report plots)
    missing: str = None  # why the section could not be built, and the command that fills it in

    @property
    def title(self):
        return answers.TITLES[self.id]

    @property
    def question(self):
        """What the assignment asks, in our words."""
        return answers.QUESTIONS[self.id]

    @classmethod
    def placeholder(cls, section_id, missing):
        """The section in its place when its input is not at hand: one line saying what fills it."""
        return cls(section_id, {}, Findings(), missing=missing)


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
        for dataset in sorted({c["dataset"] for c in (configs or expand(spec))}):
            check_available(dataset, self.data_dir)  # a missing data folder fails before any run
        job = dataclasses.replace(self.job, sweep=spec["name"], early_terminate=spec.get("early_terminate"))
        run_sweep(spec, self.store, LocalWorkers(self.jobs), job, progress=self.progress, configs=configs)

    def scored(self, spec):
        """Train what is missing, then the sweep's evaluated runs; none is an error."""
        self.train_missing(spec)
        runs = q.scored_runs(self.store, spec["name"])
        if not runs:
            raise SectionError(f"no evaluated runs of sweep {spec['name']} in {self.store.path}; "
                               f"`python -m runner sweeps/{spec['name']}.yaml` trains them")
        return runs
