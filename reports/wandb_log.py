"""The same panels in Weights & Biases: one run per section (job_type "report").

It logs the section's PNG figures as images, the rows behind them as tables
(among them the parallel-coordinates input of 2.2), its per-step probe series
(gradient norms of 2.4, 2.5 and 2.9) as metrics at steps 1, 2, ... so the W&B
report can plot them, and its numeric facts as the run summary. A thin optional layer: with W&B disabled it does nothing, so the
report builds offline and in tests.
"""
import json

import numpy as np

from runner.tracking import resolve_mode, start_run


def _cell(value):
    """A table cell W&B accepts: NumPy scalars as numbers, lists and arrays as JSON text."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        return json.dumps(np.asarray(value).tolist() if isinstance(value, np.ndarray) else value)
    return value


def log_section(section, figure_paths, job, **init_kwargs):
    """Log one published section where ``job`` (a JobContext) says; ``init_kwargs`` go to wandb.init (e.g. ``dir``)."""
    if resolve_mode(job.wandb_mode) == "disabled":
        return
    import wandb  # noqa: PLC0415 - heavy; only when logging

    with start_run(job.wandb_mode, project=job.wandb_project, entity=job.wandb_entity, job_type="report",
                   name=f"report-{section.id}",
                   config={"section": section.id, "title": section.title}, **init_kwargs) as run:
        payload = {f"{section.id}/{path.stem}": wandb.Image(str(path)) for path in figure_paths}
        for name, rows in section.drawing.tables.items():
            if rows:
                columns = list(rows[0])
                payload[f"{section.id}/{name}"] = wandb.Table(
                    columns=columns, data=[[_cell(row.get(c)) for c in columns] for row in rows])
        run.log(payload)
        series = section.drawing.series
        for step in range(max((len(v) for v in series.values()), default=0)):
            run.log({f"{section.id}/{key}": float(values[step]) for key, values in series.items()
                     if step < len(values)}, step=step + 1)
        run.summary.update({k: v for k, v in section.findings.facts.items()
                            if isinstance(v, (int, float)) and not isinstance(v, bool)})
