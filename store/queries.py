"""Queries, part of RunStore: runs as typed Run values, their epochs, and the few summaries the runner and the
reports ask for. Reads only."""
import json

from .errors import StoreError
from .migrations import locate
from .run import EPOCH_COLUMNS, FINAL, METRICS, PATHS, RUN_COLUMNS, Run, Status


class Queries:
    def runs(self, *args, **kwargs):
        """iter_runs, as a list."""
        return list(self.iter_runs(*args, **kwargs))

    def iter_runs(self, sweep=None, status=None, match=None, has=None, key=None, sort="id", descending=False,
                  limit=None, fields=None, ids=None, after=None):
        """Runs (Run values), oldest first unless ``sort`` says, read as they are iterated: a long listing's
        first lines come at once.

        ``status``: one Status (or its name) or several; ``match``: {run column or config option: value};
        ``has``: a metric the runs must have; ``sort``: a run column (ties go by id); ``fields``: only these
        columns, as plain dicts (the config parsed): a large sweep's cheap read; ``ids``: only these runs; ``after``:
        only those whose status changed since the store's ``sequence`` reached this (a follower's look at what is new).
        """
        clauses, args = [], []
        if after is not None:
            clauses.append("sequence > ?")
            args.append(after)
        if ids is not None:
            clauses.append("id IN (SELECT value FROM json_each(?))")
            args.append(json.dumps([int(i) for i in ids]))
        if sweep is not None:
            clauses.append("sweep = ?")
            args.append(sweep)
        if status is not None:
            statuses = [Status(status).value] if isinstance(status, str) else [Status(s).value for s in status]
            clauses.append(f"status IN ({', '.join('?' * len(statuses))})")
            args.extend(statuses)
        if key is not None:
            clauses.append("config_hash = ?")
            args.append(key)
        for name, value in (match or {}).items():
            if not _is_name(name):
                raise StoreError(f"cannot match {name!r}: a run column or option name is letters, digits and _")
            if isinstance(value, (list, dict)):  # json_extract gives lists and objects as compact JSON
                value = json.dumps(value, separators=(",", ":"))
            clauses.append(f"{name} = ?" if name in RUN_COLUMNS else "json_extract(config, ?) = ?")
            args.extend([value] if name in RUN_COLUMNS else [f"$.{name}", value])
        if has is not None:
            clauses.append(f"{_column(has)} IS NOT NULL")
        order = f"{_column(sort)} {'DESC' if descending else 'ASC'}, id"
        select = "*" if fields is None else ", ".join(_column(f) for f in fields)
        rows = self.db["runs"].rows_where(" AND ".join(clauses) or None, args, select=select, order_by=order,
                                          limit=limit)
        for row in rows:
            if fields is not None:
                yield {**row, **({"config": json.loads(row["config"])} if "config" in row else {})}
            else:
                yield Run(**{**row, "status": Status(row["status"]), "config": json.loads(row["config"]),
                             **{p: self.resolve(row[p]) for p in PATHS}})

    def get(self, run_id):
        rows = self.runs(match={"id": run_id})
        return rows[0] if rows else None

    def find(self, sweep, config):
        """The latest run of ``config`` in ``sweep``, or None."""
        rows = self.runs(sweep=sweep, key=self.key(config), sort="repeat", descending=True, limit=1)
        return rows[0] if rows else None

    def best(self, metric="test_f1", sweep=None, lowest=False, match=None):
        """The finished run with the highest (or lowest) ``metric``, among those matching ``match``."""
        if metric not in METRICS:
            raise StoreError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
        rows = self.runs(sweep=sweep, status=Status.FINISHED, match=match, has=metric, sort=metric,
                         descending=not lowest, limit=1)
        return rows[0] if rows else None

    def status_counts(self, sweep=None):
        """{(sweep, status): number of runs}, of one sweep or of all."""
        where, args = ("WHERE sweep = ?", [sweep]) if sweep is not None else ("", [])
        rows = self.db.execute(f"SELECT sweep, status, COUNT(*) FROM runs {where} GROUP BY sweep, status "
                               f"ORDER BY sweep, status", args).fetchall()
        return {(sweep, status): n for sweep, status, n in rows}

    def resolve(self, stored):
        """Where a stored file path is now (see migrations.locate)."""
        return locate(self.folder, stored)

    def epochs(self, run_id):
        return list(self.db["epochs"].rows_where("run_id = ?", [run_id], order_by="epoch"))

    def curves(self, metric="val_acc", sweeps=None, runs=None):
        """The final runs (of ``sweeps``, else of all) with ``metric`` at each epoch they reached, in epoch order:
        what a search learns from, the runs early termination stopped included (each a dict with its "values").
        ``runs``: these runs instead (each with its "id"), whatever their status."""
        _per_epoch(metric)
        if runs is None:
            runs = self.runs(status=FINAL) if sweeps is None else sorted(
                (r for sweep in sweeps for r in self.runs(sweep=sweep, status=FINAL)), key=lambda r: r["id"])
        values = {r["id"]: [] for r in runs}
        for run_id, value in self.db.execute(f"SELECT run_id, {metric} FROM epochs WHERE run_id IN "
                                             f"(SELECT value FROM json_each(?)) ORDER BY run_id, epoch",
                                             [json.dumps(list(values))]):  # the epochs of exactly those runs
            values[run_id].append(value)
        return [{**r, "values": values[r["id"]]} for r in runs]

    def epoch_values(self, run_ids, epochs, metric="val_acc"):
        """(run id, epoch, value) of a per-epoch ``metric`` of the runs ``run_ids`` at ``epochs`` only, where it was
        measured: the few points of a large sweep that early termination reads."""
        _per_epoch(metric)
        return self.db.execute(f"SELECT run_id, epoch, {metric} FROM epochs WHERE run_id IN (SELECT value FROM "
                               f"json_each(?)) AND epoch IN (SELECT value FROM json_each(?)) AND {metric} IS NOT NULL",
                               [json.dumps(list(run_ids)), json.dumps(list(epochs))]).fetchall()

    def epoch_spread(self, sweep, metric="val_acc"):
        """At each epoch, the lowest, mean and highest ``metric`` of the sweep's runs and how many reached it, summed
        by SQLite: the band under a large sweep's curves."""
        _per_epoch(metric)
        rows = self.db.execute(f"SELECT e.epoch, min(e.{metric}), avg(e.{metric}), max(e.{metric}), count(e.{metric}) "
                               f"FROM epochs e JOIN runs r ON r.id = e.run_id WHERE r.sweep = ? "
                               f"GROUP BY e.epoch ORDER BY e.epoch", [sweep])
        return [dict(zip(("epoch", "low", "mean", "high", "runs"), row)) for row in rows]


def _per_epoch(metric):
    per_epoch = [m for m in METRICS if m in EPOCH_COLUMNS]
    if metric not in per_epoch:
        raise StoreError(f"{metric!r} is not measured per epoch; choose from {', '.join(per_epoch)}")


def _is_name(name):
    return name.isidentifier() and name.isascii()


def _column(name):
    if name not in RUN_COLUMNS:
        raise StoreError(f"{name!r} is not a run column; choose from {', '.join(RUN_COLUMNS)}")
    return name
