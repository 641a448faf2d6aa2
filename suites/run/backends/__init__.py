"""Backends: where the cells of a sweep run.

A backend takes the pending cells of a sweep and delivers each finished cell,
``on_done(cell, rows)``, to the one writer (the store), in whatever order
they finish; it never writes results itself. ``local`` (the default) measures
the cells one after another in this process; ``ray`` runs each cell as a Ray
task on a local instance or an existing cluster.

>>> backend = suites.run.backends.get("ray", address="auto")
>>> backend.run(cells, suite="core", min_run_time=0.2, on_done=store_cell)
"""
from __future__ import annotations

from typing import Any

from suites.run.backends.local import LocalBackend

NAMES = ("local", "ray")


def get(name: str, **options: Any):
    """A backend by name (``local`` or ``ray``) with its options (``address``, ``num_cpus``)."""
    if name == "local":
        if options:
            raise ValueError(f"the local backend takes no options, got {sorted(options)}")
        return LocalBackend()
    if name == "ray":
        from suites.run.backends.ray import RayBackend  # ray is an optional extra, imported only when asked for
        return RayBackend(**options)
    raise ValueError(f"unknown backend {name!r}; known: {', '.join(NAMES)}")


__all__ = ["NAMES", "LocalBackend", "get"]
