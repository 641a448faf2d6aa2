"""Suites by name: each a grid of cells for ``mcgradbench run SUITE``."""
from __future__ import annotations

from .base import Cell, Suite, applicable_cells, default_devices
from .core import CORE
from .scaling import SCALING
from .vae import VAE

_REGISTRY: dict[str, Suite] = {}


def register(suite: Suite) -> Suite:
    if suite.name in _REGISTRY and _REGISTRY[suite.name] is not suite:
        raise ValueError(f"suite name {suite.name!r} is already registered")
    _REGISTRY[suite.name] = suite
    return suite


register(CORE)
register(SCALING)
register(VAE)


def names() -> list[str]:
    return sorted(_REGISTRY)


def get(name: str) -> Suite:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown suite {name!r}; known: {', '.join(names())}") from None


__all__ = ["Cell", "Suite", "applicable_cells", "default_devices", "get", "names", "register"]
