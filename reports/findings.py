"""The one rule that puts numbers into sentences, and the short names runs are called by in them.

Sentences are templates filled from named facts (values a section's facts
hold), so the facts travel with the text: the report keeps them beside each
section and a test can check every number in the text against the store.
"""
import numpy as np

from mlp.options import RUN_OPTIONS

from .queries import scalar

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
        value = scalar(config[key])
        named = not isinstance(value, str) or key in SHORT_NAMES
        parts.append(f"{SHORT_NAMES.get(key, key)} {fmt(value)}" if named else value)
    return " ".join(parts)


def describe(config):
    """A run's configuration in one line; options left at their default (no decay, ...) are not named."""
    return label(config, [k for k in DESCRIBE_KEYS if k not in SHOWN_WHEN_SET or config[k] != DEFAULTS[k]])


def pair_names(pairs, names, n):
    """The first ``n`` class pairs [(a, b, value)] as ("Shirt–Coat", value)."""
    return [(f"{names[a]}–{names[b]}", value) for a, b, value in pairs[:n]]


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

    def census(self, sweep, counts):
        """The sentence counting a sweep's runs by status (``counts`` {status: runs})."""
        parts = ", ".join(f"{{{status}}} {status}" for status in counts)
        self.detail("Sweep {sweep} holds {total} runs: " + parts + ".", prefix="runs", sweep=sweep,
                    total=sum(counts.values()), **counts)

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
