"""Moving between Apache ZooKeeper and coord: ZooKeeper's file formats, import, export, dump.

``zkformat`` (pure bytes), ``zkdir`` (a ZooKeeper data dir on disk), ``convert`` (ZooKeeper's
tree and transactions <-> ``DataTree``), ``commands`` (the operator commands), ``cli`` (their
arguments). docs/migration.md is the operator's guide.
"""
