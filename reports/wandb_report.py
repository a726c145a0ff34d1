"""python -m reports.wandb_report: the W&B report built by code (wandb-workspaces) from the local report's parts.

Per section: a heading, the question, the answer paragraph and its evidence,
then live panels over the logged runs (training runs are grouped by sweep; the
report runs, job type "report", carry each section's images, tables and
per-step probe series). Online the report is saved, its URL printed and
recorded in the store; offline the same report is written as plain JSON
(report/wandb_report.json), and publishing it needs `wandb login`.
"""
import dataclasses
import json
import sys
from pathlib import Path

from store import StoreError

from . import queries as q
from .html import part_store

TITLE = "MLP on MNIST and Fashion-MNIST: ten questions answered"
SEARCH_AXES = ("num_layers", "hidden_size", "optimizer", "learning_rate", "weight_decay", "batch_size",
               "weight_init", "activation", "epochs")


# Which runs a panel grid shows: ("sweep", name) the training runs of one sweep (logged with group = sweep),
# ("report", section id) that section's report run, ("all", None) every training run.
def _report_run(section_id):
    return ("report", section_id)


def _sweep(name):
    return ("sweep", name)


def runset_filter(runs):
    kind, value = runs
    return {"sweep": f"Group = '{value}'", "report": f"Name = 'report-{value}' and JobType = 'report'",
            "all": "JobType != 'report'"}[kind]


def runset_size(store, runs):
    """How many logged runs the runset covers, counted in the store (evaluated runs; a report run is one)."""
    kind, value = runs
    if kind == "report":
        return 1
    return len(q.scored_runs(store, value if kind == "sweep" else None))


def _media(wr, part):
    """The section's figures as logged by wandb_log (key "<id>/<file stem>")."""
    return wr.MediaBrowser(title="figures", media_keys=[f"{part['id']}/{Path(f).stem}" for f in part["figures"]])


def _tables(wr, part):
    return [wr.WeavePanelSummaryTable(table_name=f"{part['id']}/{name}") for name in part.get("tables", [])]


def _series(wr, part, title, log_y=False):
    return wr.LinePlot(title=title, x="Step", y=[f"{part['id']}/{key}" for key in part.get("series", [])],
                       log_y=log_y)


def _curves(wr, title_loss, title_acc):
    return [wr.LinePlot(title=title_loss, x="Step", y=["train_loss"], log_y=True),
            wr.LinePlot(title=title_acc, x="Step", y=["val_acc"])]


def panels(wr, part):
    """[(runset filter, panels)] of one section: what it shows live in W&B."""
    sid = part["id"]
    report_run = (_report_run(sid), [_media(wr, part), *_tables(wr, part)])
    if sid == "2.2":
        columns = [wr.ParallelCoordinatesPlotColumn(metric=wr.Config(axis), log=axis == "learning_rate")
                   for axis in SEARCH_AXES] + [wr.ParallelCoordinatesPlotColumn(metric=wr.SummaryMetric("val_acc"))]
        return [(_sweep("search"), [wr.ParallelCoordinatesPlot(title="search runs coloured by validation accuracy",
                                                               columns=columns),
                                    wr.ParameterImportancePlot(with_respect_to="val_acc")]), report_run]
    if sid == "2.3":
        return [(_sweep("optimizers"), _curves(wr, "training loss per epoch", "validation accuracy per epoch")),
                report_run]
    if sid == "2.4":
        return [(_report_run(sid), [_series(wr, part, "first hidden layer's gradient norm per step", log_y=True),
                                    _media(wr, part), *_tables(wr, part)])]
    if sid == "2.5":
        return [(_sweep("dead_neurons"), _curves(wr, "training loss per epoch", "validation accuracy per epoch")),
                (_report_run(sid), [_series(wr, part, "hidden layers' gradient norm per step", log_y=True),
                                    _media(wr, part), *_tables(wr, part)])]
    if sid == "2.6":
        return [(_sweep("losses"), _curves(wr, "training loss per epoch (each loss on its own scale)",
                                           "validation accuracy per epoch")), report_run]
    if sid == "2.7":
        return [(("all", None), [wr.ScatterPlot(title="train vs test accuracy of every run",
                                                        x=wr.SummaryMetric("train_acc"),
                                                        y=wr.SummaryMetric("test_acc"))]), report_run]
    if sid == "2.9":
        return [(_report_run(sid), [_series(wr, part, "gradient norm of 5 first-layer neurons per iteration"),
                                    _media(wr, part), *_tables(wr, part)])]
    if sid == "2.10":
        return [(_sweep("fashion"), [wr.BarPlot(title="Fashion-MNIST test accuracy", metrics=[wr.SummaryMetric(
                    "test_acc")]), wr.LinePlot(title="validation accuracy per epoch", x="Step", y=["val_acc"])]),
                report_run]
    return [report_run]  # 2.1 and 2.8: images and tables


def build(parts, project, entity, store):
    """The wandb_workspaces Report of every section part, and its plain description (heading, text, panels,
    and how many of the store's runs each panel's runset covers)."""
    import wandb_workspaces.reports.v2 as wr  # noqa: PLC0415 - optional dependency

    blocks = [wr.P(text="Built by code from the run store: each section answers its question from the logged runs; "
                        "every number in the text is read from the store.")]
    plain = []
    for part in parts:
        heading = f"{part['id']} {part['title']}"
        text = f"Not built: {part['missing']}" if part.get("missing") else " ".join(part["answer"])
        grids = [] if part.get("missing") else panels(wr, part)
        blocks += [wr.H2(text=heading), wr.P(text=part["question"]), wr.P(text=text)]
        if part["details"]:
            blocks.append(wr.UnorderedList(items=part["details"]))
        blocks += [wr.PanelGrid(runsets=[wr.Runset(entity=entity, project=project, name=heading,
                                                   filters=runset_filter(runs))], panels=shown)
                   for runs, shown in grids]
        plain.append({"id": part["id"], "heading": heading, "question": part["question"], "text": text,
                      "details": part["details"],
                      "panels": [{"runset": runset_filter(runs), "runs": runset_size(store, runs),
                                  "type": type(p).__name__, "spec": _plain(p)} for runs, shown in grids for p in shown]})
    report = wr.Report(project=project, entity=entity, title=TITLE, blocks=blocks)
    return report, {"title": TITLE, "project": project, "entity": entity, "sections": plain}


def _plain(panel):
    """A panel's settings as JSON-ready values (metrics and configs as their names), without the private
    fields (random ids) so a rebuild writes the same file."""
    def public(value):
        if isinstance(value, dict):
            return {k: public(v) for k, v in value.items() if not k.startswith("_")}
        return [public(v) for v in value] if isinstance(value, list) else value

    return public(json.loads(json.dumps(dataclasses.asdict(panel), default=str)))


def built_from(parts, out):
    """The one store the sections were built from (None when they do not say: then $MLP_DB or runs.db)."""
    stores = {part_store(part, out) for part in parts} - {None}
    if len(stores) > 1:
        named = ", ".join(map(str, sorted(stores)))
        raise StoreError(f"the sections in {out} were built from different stores ({named}); rebuild them from one "
                         f"with `make report`, or name it with --db")
    return stores.pop() if stores else None


if __name__ == "__main__":  # the command is cli/wandb_report.py
    from cli.wandb_report import command  # noqa: PLC0415 - the door only: the library never imports cli

    sys.exit(command())
