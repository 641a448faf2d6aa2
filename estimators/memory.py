"""Keep freed tensor memory in the process, so that batched passes do not page-fault.

A batched pass allocates a few dozen intermediates of ``chunk`` rows each and
frees them at its end. glibc's ``malloc`` serves allocations above
``M_MMAP_THRESHOLD`` with fresh ``mmap`` pages and returns the top of the heap to
the system once more than ``M_TRIM_THRESHOLD`` of it is free, so every pass of a
long call touches new pages: on gaussian dim 100 the score function's passes
spent about a third of their time in page faults (the same operation, 2 MB of
float32, ran in 1.0 ms on fresh pages and 0.13 ms on reused ones). PyTorch's CPU
performance guide gives the same remedy as a replacement allocator (jemalloc,
tcmalloc): keep freed memory for reuse. Here glibc is told so through
``mallopt``: heap allocations up to ``MMAP_THRESHOLD`` and up to ``TRIM_THRESHOLD``
of free heap kept, which bounds what the process holds beyond its live tensors.

Applied once per process by the first estimator call on the CPU, on glibc only;
``MCGRADBENCH_MALLOC=system`` leaves the allocator as it is.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import platform

M_TRIM_THRESHOLD = -1  # <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 * 2**20
TRIM_THRESHOLD = 1024 * 2**20


@functools.lru_cache(maxsize=None)
def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds (once); whether they were set."""
    if os.environ.get("MCGRADBENCH_MALLOC", "") == "system" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
