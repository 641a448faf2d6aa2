"""Where and with what a number was made: devices, CPU and device names, commit, version.

Imports nothing from ``suites``.
"""
from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import subprocess

import torch


def resolve_device(device: str | torch.device) -> torch.device:
    """``torch.device`` for ``device``, or ``ValueError`` if it does not exist here."""
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r}; use 'cpu', 'cuda' or 'cuda:N'") from None
    if resolved.type == "cpu":
        return resolved
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(device)!r} is not available: torch "
                             f"{torch.__version__} sees no CUDA device; use 'cpu'")
        count = torch.cuda.device_count()
        if resolved.index is not None and resolved.index >= count:
            raise ValueError(f"device {str(device)!r} does not exist: {count} CUDA device(s), "
                             f"indices 0..{count - 1}")
        return torch.device("cuda", resolved.index if resolved.index is not None else 0)
    raise ValueError(f"unsupported device {str(device)!r}; use 'cpu', 'cuda' or 'cuda:N'")


@functools.lru_cache(maxsize=None)
def git_commit() -> str:
    """Commit of the source tree the package runs from, or ``"unknown"``."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


@functools.lru_cache(maxsize=None)
def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_name()


def package_version() -> str:
    try:
        return importlib.metadata.version("mcgradbench")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
