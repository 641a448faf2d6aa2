"""Memory: keep freed tensor memory in the process, and refuse a call that cannot fit.

Refusing first: ``available_bytes(device)`` reads what a new allocation can still get
(``/proc/meminfo``'s ``MemAvailable``, a cgroup's limit, or CUDA's free memory) and
``check_fits`` turns a call whose estimated size exceeds it into a one-line
``ValueError`` before anything is allocated (a typo, ``K = 10^9``, would otherwise run
for minutes and end in the kernel's out-of-memory kill). ``Estimator.call_bytes`` gives
the estimate.

Keeping freed memory: so that batched passes do not page-fault.

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


# --- how much memory a call needs, and whether it fits ---------------------------------

#: Below this many bytes a call is not checked: reading the free memory costs more than the
#: call, and no machine this runs on has less free.
UNCHECKED_BYTES = 64 * 2**20


def format_bytes(count: float) -> str:
    """``count`` bytes in the largest binary unit that keeps it >= 1 (``1.5 GiB``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(count) < 1024 or unit == "PiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} PiB"  # not reached


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_room() -> int | None:
    """Room left under a cgroup v2 memory limit (a container's), ``None`` without one."""
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as handle:
            limit = handle.read().strip()
        if limit == "max":
            return None
        with open("/sys/fs/cgroup/memory.current", encoding="ascii") as handle:
            used = int(handle.read().strip())
        return max(0, int(limit) - used)
    except (OSError, ValueError):
        return None


def available_bytes(device="cpu") -> tuple[int | None, str]:
    """Memory a new allocation on ``device`` can still get, and where the figure comes from.

    CPU: ``MemAvailable`` of ``/proc/meminfo`` (the kernel's estimate of what can be
    allocated without swapping), capped by a cgroup's limit; ``os.sysconf`` free pages
    elsewhere. CUDA: ``torch.cuda.mem_get_info``'s free memory plus what torch's caching
    allocator holds unused. ``(None, reason)`` when nothing can be read (no check then).
    """
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return free + cached, f"free on {device}"
    found = [(n, s) for n, s in ((_meminfo_available(), "MemAvailable"),
                                 (_cgroup_room(), "the cgroup's memory.max")) if n is not None]
    if not found:
        try:
            found = [(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "free pages")]
        except (ValueError, OSError, AttributeError):
            return None, "unknown"
    return min(found)


def check_fits(what: str, needed: int, device="cpu", hint: str = "") -> None:
    """``ValueError`` (one line, naming the size and the limit) when ``what`` needs more than
    ``device`` has available; nothing below ``UNCHECKED_BYTES``."""
    if needed < UNCHECKED_BYTES:
        return
    available, source = available_bytes(device)
    if available is not None and needed > available:
        raise ValueError(f"{what} needs about {format_bytes(needed)}, more than the "
                         f"{format_bytes(available)} available ({source}){hint}")
