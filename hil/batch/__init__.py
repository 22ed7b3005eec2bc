"""Vectorised MIL: many landings at once over numpy arrays (docs/batch.md)."""
from hil.batch.flight import BatchError, check_batchable, fly_chunk

__all__ = ["BatchError", "check_batchable", "fly_chunk"]
