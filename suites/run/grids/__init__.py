"""Suites by name: each a grid of cells for ``mcgradbench run SUITE``.

Built-in suites are grid files shipped with the package (``core.toml``,
``scaling.toml``, ``vae.toml``; format in ``suites.run.grids.files``), plugins add
``Suite`` objects through the entry-point group ``mcgradbench.suites``.
"""
from __future__ import annotations

from estimators.registry import Registry

from suites.run.grids.base import Cell, Suite, applicable_cells, default_devices
from suites.run.grids.files import GridError, builtin_grids, load_grid
from suites.run.grids.papers import PAPERS
from suites.run.grids.peers import PEERS
from suites.run.grids.train import train_cells
from suites.run.grids.continuous import CONTINUOUS
from suites.run.grids.sbn import sbn_cells, sbn_cells_for

#: Training runs (suites.train): Adam on each problem's parameters, the gradient from each estimator.
TRAIN = Suite("train", "training runs: Adam on linear_vae, bernoulli_vae(L=8) and the conjugate models "
              "with every applicable estimator at 4 cost evaluations a step; 3,000 steps x 3 seeds "
              "(--steps, --seeds)",
              train_cells)

#: The papers' benchmark (suites.run.sbn): sigmoid belief networks on MNIST trained with every estimator.
SBN = Suite("sbn", "sigmoid belief networks (200 latents, linear and nonlinear) on MNIST trained with "
            "every applicable estimator at 2 evaluations a step (REBAR, RELAX 3); held-out bound and probes of every "
            "estimator's variance at each checkpoint; 50,000 steps x 3 seeds (--steps, --seeds)",
            sbn_cells, configure=sbn_cells_for)

_REGISTRY: Registry[Suite] = Registry("suite", group="mcgradbench.suites")
register = _REGISTRY.register
names = _REGISTRY.names
get = _REGISTRY.lookup
origin = _REGISTRY.origin

for _suite in builtin_grids():  # core, scaling, vae: suites/run/grids/*.toml
    register(_suite)
register(PAPERS)
register(PEERS)
register(TRAIN)
register(CONTINUOUS)
register(SBN)


def plugin_failures() -> dict[str, str]:
    """Suite plugins that failed to load: name -> one-line reason."""
    _REGISTRY.load_plugins()
    return dict(_REGISTRY.failures)


__all__ = ["GridError", "load_grid", "origin", "plugin_failures", "Cell", "Suite", "applicable_cells", "default_devices", "get", "names", "register"]
