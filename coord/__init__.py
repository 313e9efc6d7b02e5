"""coord: a ZooKeeper-compatible coordination service.

Deliberately import-free, so that ``import coord.protocol`` never loads Twisted.
"""

__version__ = "0.1.0"
