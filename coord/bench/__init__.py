"""``coord bench``: a multi-process ZooKeeper wire load generator and coord-vs-ZooKeeper comparison.

Pure parts (no sockets, clocks or processes): ``requests`` (pre-encoded request frames and the
per-connection plans that choose them), ``schedule`` (the open-loop send schedule), ``results``
(HDR histogram merging, summaries, ratio tables). I/O parts: ``worker`` (one process's hot loop),
``runner`` (spawns workers, reads /proc), ``responder`` (the calibration target), ``compare``
(starts both servers and alternates them), ``cli``. docs/benchmarks.md describes the workloads.
"""
