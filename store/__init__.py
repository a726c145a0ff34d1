"""The SQLite run store. It knows nothing of training: runs arrive as plain dicts."""
from .db import DONE, METRICS, STATUSES, RunStore, StoreError, config_hash, owner_id, store_path

__all__ = ["DONE", "METRICS", "STATUSES", "RunStore", "StoreError", "config_hash", "owner_id", "store_path"]
