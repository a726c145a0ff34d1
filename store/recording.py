"""Recording, part of RunStore: a sweep's spec, the epochs of a run in training, how each run ended (a RunRecord)
with its epochs, and where the published W&B reports live. A result never overwrites a final run."""
import json
import time

from .migrations import relative_to
from .run import EPOCH_COLUMNS, METRICS, PATHS, RECORDED, Status


def _plain(value):
    """NumPy scalars would be stored as blobs: turn them into Python numbers first."""
    return value.item() if hasattr(value, "item") else value


def _epoch_row(run_id, metrics):
    """One epoch's metrics as its row of the epochs table (a metric it lacks is NULL)."""
    return {"run_id": run_id, **{k: _plain(metrics.get(k)) for k in EPOCH_COLUMNS if k != "run_id"}}


class Recording:
    def add_sweep(self, name, spec):
        with self._immediate():
            sweeps = self.db["sweeps"]
            spec_text = json.dumps(spec, sort_keys=True)
            if sweeps.count_where("name = ?", [name]):  # a resume keeps the sweep's creation time
                sweeps.update(name, {"spec": spec_text})
            else:
                sweeps.insert({"name": name, "spec": spec_text, "created_at": time.time()})

    def record(self, sweep, record, run_id=None):
        """Write how a run ended (a RunRecord) and its epochs in one transaction -> run id, or None if the
        run is already final (another runner recorded it first: a result never overwrites a final one).
        ``run_id`` names the claimed row; else it is the configuration's latest repeat (or a new row)."""
        if not record.status.is_outcome:
            raise ValueError(f"record() takes an outcome ({', '.join(s.value for s in Status if s.is_outcome)}); "
                             f"got {record.status.value!r}")
        key = self.key(record.config)
        fields = {name: _plain(getattr(record, name)) for name in RECORDED}
        fields.update({m: _plain(record.scores.get(m)) for m in METRICS})
        fields.update({p: relative_to(self.folder, fields[p]) for p in PATHS})
        fields.update(config_hash=key, status=record.status.value, lease_until=None, epochs_done=len(record.epochs))
        with self._immediate():
            row = self._row(sweep, key, run_id)
            if row is None:
                run_id = self.db["runs"].insert({"sweep": sweep, "config": json.dumps(record.config, sort_keys=True),
                                                 "attempts": 1, **fields}).last_pk
            elif not Status(row["status"]).may_become(record.status):
                return None
            else:
                run_id = row["id"]
                self.db["runs"].update(run_id, fields)
            self.db.execute("DELETE FROM epochs WHERE run_id = ?", [run_id])
            self.db["epochs"].insert_all([_epoch_row(run_id, e) for e in record.epochs])
        return run_id

    def forget_files(self, run_id):
        """Clear a run's file paths, as a retention policy lets its files go -> where its weights were (None: it had
        none), for the caller to delete after: a kill between leaves files no row names, never a row naming files
        that are gone. Nothing else of the run changes."""
        with self._immediate():
            row = self._row(None, None, run_id)
            self.db["runs"].update(run_id, {**{p: None for p in PATHS}, "weights_sha256": None})
        return self.resolve(row["weights_path"])

    def record_epoch(self, run_id, metrics):
        """Write one epoch of a run still training, as it ends, so a dashboard draws it live -> False when the run
        is no longer running (it was recorded or released: its epochs are the record's). An epoch replaces what a
        run's earlier attempt left from that epoch on; ``record`` later writes every epoch again."""
        with self._immediate():
            if not self.db["runs"].count_where("id = ? AND status = ?", [run_id, Status.RUNNING.value]):
                return False
            epoch = metrics["epoch"]
            self.db.execute("DELETE FROM epochs WHERE run_id = ? AND epoch >= ?", [run_id, epoch])
            self.db["epochs"].insert(_epoch_row(run_id, metrics))
            self.db["runs"].update(run_id, {"epochs_done": epoch})
        return True

    def record_report(self, title, url):
        """Remember where a published W&B report lives (make wandb-report, online)."""
        with self._immediate():
            self.db["reports"].insert({"title": title, "url": url, "saved_at": time.time()}, pk="url", replace=True)
