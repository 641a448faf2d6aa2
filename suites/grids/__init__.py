"""Suites by name: each a grid of cells for ``mcgradbench run SUITE``."""
from __future__ import annotations

from estimators.registry import Registry

from .base import Cell, Suite, applicable_cells, default_devices
from .core import CORE
from .papers import PAPERS
from .scaling import SCALING
from .vae import VAE

_REGISTRY: Registry[Suite] = Registry("suite")
register = _REGISTRY.register
names = _REGISTRY.names
get = _REGISTRY.lookup

for _suite in (CORE, SCALING, VAE):
    register(_suite)
register(PAPERS)


__all__ = ["Cell", "Suite", "applicable_cells", "default_devices", "get", "names", "register"]
