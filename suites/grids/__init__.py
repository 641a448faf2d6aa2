"""Suites by name: each a grid of cells for ``mcgradbench run SUITE``.

Built-in suites are grid files shipped with the package (``core.toml``,
``scaling.toml``, ``vae.toml``; format in ``suites.grids.files``), plugins add
``Suite`` objects through the entry-point group ``mcgradbench.suites``.
"""
from __future__ import annotations

from estimators.registry import Registry

from .base import Cell, Suite, applicable_cells, default_devices
from .files import GridError, builtin_grids, load_grid
from .papers import PAPERS

_REGISTRY: Registry[Suite] = Registry("suite", group="mcgradbench.suites")
register = _REGISTRY.register
names = _REGISTRY.names
get = _REGISTRY.lookup
origin = _REGISTRY.origin

for _suite in builtin_grids():  # core, scaling, vae: suites/grids/*.toml
    register(_suite)
register(PAPERS)


def plugin_failures() -> dict[str, str]:
    """Suite plugins that failed to load: name -> one-line reason."""
    _REGISTRY.load_plugins()
    return dict(_REGISTRY.failures)


__all__ = ["GridError", "load_grid", "origin", "plugin_failures", "Cell", "Suite", "applicable_cells", "default_devices", "get", "names", "register"]
