"""Durability: the write-ahead log, snapshots and the data directory (docs/storage-format.md).

format.py (pure bytes), files.py (fsync helpers), wal.py, snapshots.py, datadir.py. Nothing here
imports Twisted: the runtime calls the blocking parts from a worker thread.
"""
