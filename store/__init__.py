"""The SQLite run store. It knows nothing of training: a run arrives as a RunRecord, with no arrays."""
from .claims import owner_id
from .db import STATUSES, RunStore, config_hash, store_path
from .errors import StoreError
from .run import FINAL, METRICS, Run, RunRecord, Status

__all__ = ["FINAL", "METRICS", "STATUSES", "Run", "RunRecord", "RunStore", "Status", "StoreError", "config_hash",
           "owner_id", "store_path"]
