"""Readers and writers for record files."""

from .readers import count_records, read_records
from .writers import AtomicWriter, write_records

__all__ = ["AtomicWriter", "count_records", "read_records", "write_records"]
