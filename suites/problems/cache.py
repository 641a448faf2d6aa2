"""Tensors a problem computes once and keeps on disk: trained weights, reference gradients.

Files live in ``$MCGRADBENCH_CACHE`` (default ``~/.cache/mcgradbench``), named by
the problem and a hash of everything the values depend on, and are written
atomically (``suites.store.atomic``): a crash leaves the old file or none, never a
partial one. A file that is absent or unreadable (another format, a torn copy)
is recomputed and replaced, never trusted.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
from pathlib import Path
from typing import Callable, Iterable

import torch

from suites.store.atomic import atomic_write_bytes

LOG = logging.getLogger(__name__)


def cache_dir() -> Path:
    """``$MCGRADBENCH_CACHE``, or ``~/.cache/mcgradbench``."""
    return Path(os.environ.get("MCGRADBENCH_CACHE") or Path.home() / ".cache" / "mcgradbench")


def cache_key(text: str, tensors: Iterable[torch.Tensor] = ()) -> str:
    """20 hex digits of the SHA-256 of ``text`` and the exact values of ``tensors``."""
    key = hashlib.sha256(text.encode())
    for tensor in tensors:
        key.update(tensor.detach().to("cpu", torch.float64).numpy().tobytes())
    return key.hexdigest()[:20]


def cached_tensors(path: Path, compute: Callable[[], dict], what: str,
                   keys: Iterable[str]) -> dict:
    """The dict of tensors stored at ``path``, or ``compute()``, stored there first.

    A stored dict is used only when it holds every one of ``keys`` (what the caller
    reads from it); ``what`` completes the log line said before a computation
    ("computing <what>, cached in <path>"), so that a long first run says what it is doing.
    """
    try:
        stored = torch.load(path, weights_only=True)
        if isinstance(stored, dict) and set(keys) <= set(stored):
            return stored
    # torch.load of a torn or foreign file raises whatever its unpickler meets (EOFError,
    # IndexError, UnpicklingError, RuntimeError, ...): any of them means recompute.
    except Exception:  # noqa: BLE001
        pass
    LOG.info("computing %s, cached in %s", what, path)
    values = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(values, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return values
