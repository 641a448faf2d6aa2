"""One writer per run directory: an OS-level lock held for the whole run.

``fcntl.flock`` on ``DIR/.lock`` (released by the OS when the process ends,
however it ends, so a killed run never leaves a stale lock). The lock file
names its holder (pid, host, command, start time) so that a refused writer
can say who holds the directory.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
from pathlib import Path

LOCK = ".lock"


class RunLocked(ValueError):
    """Another process is writing the run directory."""


class RunLock:
    """Hold ``run_dir``'s lock from ``acquire`` to ``release`` (or the end of the process)."""

    def __init__(self, run_dir: str | os.PathLike):
        self.path = Path(run_dir) / LOCK
        self.fd: int | None = None

    def acquire(self, command: str, started: str) -> "RunLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self.holder()
            os.close(fd)
            raise RunLocked(f"{self.path.parent} is being written by another run ({holder}); "
                            f"wait for it to finish, or choose another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "command": command, "start_utc": started}).encode())
        os.fsync(fd)
        self.fd = fd
        return self

    def holder(self) -> str:
        """``pid 123 on host, since ...: mcgradbench run ...`` from the lock file."""
        try:
            info = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, json.JSONDecodeError):
            return "holder unknown"
        return (f"pid {info.get('pid')} on {info.get('host')}, since {info.get('start_utc')}: "
                f"{info.get('command')}")

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
