"""coord.runtime.heap: freed buffers in the middle of the C heap go back to the OS."""

import subprocess
import sys

import pytest

from coord.runtime import heap

# In a fresh interpreter: 150 MB of 100 kB buffers (below glibc's mmap threshold, so on the heap),
# one buffer kept above them, the rest freed. free() cannot return those pages (only the top of
# the heap is trimmed); release_free_heap must.
_SCRIPT = r"""
import sys
from coord.runtime import heap

def rss_kib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))

buffers = [bytes(bytearray(b"x" * 100_000)) for _ in range(1500)]
keep = bytes(bytearray(b"y" * 100_000))
del buffers
before = rss_kib()
released = heap.release_free_heap()
after = rss_kib()
print(released, before, after)
"""


@pytest.mark.skipif(heap._malloc_trim is None, reason="no malloc_trim in this C library (not glibc)")
def test_release_free_heap_returns_freed_buffers_to_the_os():
    out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=60,
                         check=True).stdout.split()
    released, before, after = out[0] == "True", int(out[1]), int(out[2])
    assert released
    assert before - after > 100_000, (before, after)   # most of the 150 MB, in KiB

