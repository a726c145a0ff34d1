"""What a section shows live in W&B, declared in its spec: panel grids, each over one set of logged runs.

A declaration is plain data; ``make(wr, part)`` turns it into wandb-workspaces
panels only when the W&B report is built (``wr`` is that optional package,
``part`` the section's published part: its id, figures, tables and series).
"""
from pathlib import Path
from typing import NamedTuple


class Runs(NamedTuple):
    """Which logged runs a grid shows: ``sweep`` the training runs of one sweep (logged with group = sweep),
    ``report`` the section's own report run, ``all`` every training run."""

    kind: str
    sweep: str = None

    def filter(self, section_id):
        return {"sweep": f"Group = '{self.sweep}'", "report": f"Name = 'report-{section_id}' and JobType = 'report'",
                "all": "JobType != 'report'"}[self.kind]


REPORT_RUN, ALL_RUNS = Runs("report"), Runs("all")


def sweep(name):
    return Runs("sweep", name)


class Figures(NamedTuple):
    """The section's figures, as wandb_log logged them (key "<id>/<file stem>")."""

    def make(self, wr, part):
        return [wr.MediaBrowser(title="figures", media_keys=[f"{part['id']}/{Path(f).stem}" for f in part["figures"]])]


class Tables(NamedTuple):
    """The rows behind the figures, one table each."""

    def make(self, wr, part):
        return [wr.WeavePanelSummaryTable(table_name=f"{part['id']}/{name}") for name in part.get("tables", [])]


class Series(NamedTuple):
    """The section's per-step probe series, on one plot."""

    title: str
    log_y: bool = False

    def make(self, wr, part):
        return [wr.LinePlot(title=self.title, x="Step", y=[f"{part['id']}/{key}" for key in part.get("series", [])],
                            log_y=self.log_y)]


class Curves(NamedTuple):
    """Training loss and validation accuracy per epoch of every run."""

    loss_title: str = "training loss per epoch"
    acc_title: str = "validation accuracy per epoch"

    def make(self, wr, part):
        return [wr.LinePlot(title=self.loss_title, x="Step", y=["train_loss"], log_y=True),
                wr.LinePlot(title=self.acc_title, x="Step", y=["val_acc"])]


class ParallelCoordinates(NamedTuple):
    title: str
    axes: tuple  # config keys, then the summary metric that colours the lines
    metric: str = "val_acc"
    log_axes: tuple = ("learning_rate",)

    def make(self, wr, part):
        columns = [wr.ParallelCoordinatesPlotColumn(metric=wr.Config(axis), log=axis in self.log_axes)
                   for axis in self.axes]
        return [wr.ParallelCoordinatesPlot(title=self.title, columns=[
            *columns, wr.ParallelCoordinatesPlotColumn(metric=wr.SummaryMetric(self.metric))])]


class Importance(NamedTuple):
    metric: str = "val_acc"

    def make(self, wr, part):
        return [wr.ParameterImportancePlot(with_respect_to=self.metric)]


class Scatter(NamedTuple):
    title: str
    x: str
    y: str

    def make(self, wr, part):
        return [wr.ScatterPlot(title=self.title, x=wr.SummaryMetric(self.x), y=wr.SummaryMetric(self.y))]


class Bars(NamedTuple):
    title: str
    metric: str

    def make(self, wr, part):
        return [wr.BarPlot(title=self.title, metrics=[wr.SummaryMetric(self.metric)])]


class Line(NamedTuple):
    title: str
    y: str

    def make(self, wr, part):
        return [wr.LinePlot(title=self.title, x="Step", y=[self.y])]


class Grid(NamedTuple):
    runs: Runs
    panels: tuple

    def make(self, wr, part):
        return [made for panel in self.panels for made in panel.make(wr, part)]


def report_run(*panels):
    """The grid over the section's own report run: ``panels`` first, then its figures and tables, which every
    section logs."""
    return Grid(REPORT_RUN, (*panels, Figures(), Tables()))


REPORT_RUN_GRID = report_run()
