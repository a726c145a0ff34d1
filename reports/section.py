"""What a report section is: a module of reports/sections/ with a SPEC and three functions.

- ``facts(inputs)`` reads the store and the data (``inputs``: a BuildContext,
  whose store, data folder and weights copies it uses) and returns a typed
  tuple; it raises SectionError when its input is not at hand.
- ``say(facts)`` gives the Findings: the prose, with the facts it embeds.
- ``draw(facts)`` gives the Drawing: figures, the rows behind them and the
  per-step series W&B plots.

A module may also define ``train(inputs)`` for runs its facts need beyond its
sweep (2.10 retrains configurations it picks from the store). Keeping facts
apart from words and drawing is what lets a test check facts on a store built
by hand and prose on literal facts.
"""
from dataclasses import dataclass, field
from typing import NamedTuple

from .findings import Findings
from .panels import REPORT_RUN_GRID


class SectionSpec(NamedTuple):
    id: str  # "2.5"
    title: str
    question: str  # what the assignment asks, in our words
    sweep: str = None  # sweeps/<sweep>.yaml, trained (what the store lacks of it) before the facts are read
    stage: int = 0  # `all` builds lower stages first: a section that reads runs other sections train comes later
    panels: tuple = (REPORT_RUN_GRID,)  # its W&B panel grids (reports.panels)
    probes: tuple = ()  # the probe arrays (runner.probes) its facts read


class Drawing(NamedTuple):
    figures: dict  # file stem -> matplotlib Figure
    tables: dict = {}  # name -> rows (dicts) behind the figures, logged to W&B
    series: dict = {}  # W&B key -> per-step values (probe series the report plots)


@dataclass
class Section:
    """A built section as the report publishes it, or its placeholder when its input is not at hand."""

    spec: SectionSpec
    findings: Findings = field(default_factory=Findings)
    drawing: Drawing = Drawing({})
    missing: str = None  # why the section could not be built, and the command that fills it in

    @property
    def id(self):
        return self.spec.id

    @property
    def title(self):
        return self.spec.title

    @property
    def question(self):
        return self.spec.question
