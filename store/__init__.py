"""The SQLite run store. It knows nothing of training: runs arrive as plain dicts."""
from .db import METRICS, STATUSES, RunStore, StoreError, config_hash, store_path

__all__ = ["METRICS", "STATUSES", "RunStore", "StoreError", "config_hash", "store_path"]
