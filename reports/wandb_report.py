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

from store import StoreError

from . import queries as q
from .html import part_store
from .sections import SECTIONS

TITLE = "MLP on MNIST and Fashion-MNIST: ten questions answered"


def runset_size(store, runs):
    """How many logged runs the runset covers, counted in the store (evaluated runs; a report run is one)."""
    if runs.kind == "report":
        return 1
    return len(q.scored_runs(store, runs.sweep if runs.kind == "sweep" else None))


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
        grids = [] if part.get("missing") else SECTIONS[part["id"]].SPEC.panels
        blocks += [wr.H2(text=heading), wr.P(text=part["question"]), wr.P(text=text)]
        if part["details"]:
            blocks.append(wr.UnorderedList(items=part["details"]))
        made = [(grid.runs, grid.make(wr, part)) for grid in grids]
        blocks += [wr.PanelGrid(runsets=[wr.Runset(entity=entity, project=project, name=heading,
                                                   filters=runs.filter(part["id"]))], panels=shown)
                   for runs, shown in made]
        plain.append({"id": part["id"], "heading": heading, "question": part["question"], "text": text,
                      "details": part["details"],
                      "panels": [{"runset": runs.filter(part["id"]), "runs": runset_size(store, runs),
                                  "type": type(p).__name__, "spec": _plain(p)} for runs, shown in made for p in shown]})
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
