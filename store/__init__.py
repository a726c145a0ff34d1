"""The SQLite run store. It knows nothing of training: a run arrives as a RunRecord, with no arrays."""
from .db import METRICS, STATUSES, RunStore, StoreError, config_hash, owner_id, store_path
from .run import FINAL, RunRecord, Status

__all__ = ["FINAL", "METRICS", "STATUSES", "RunRecord", "RunStore", "Status", "StoreError", "config_hash",
           "owner_id", "store_path"]
