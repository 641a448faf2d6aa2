"""The example suite: the grid file ``poisson.toml`` shipped as package data."""
from importlib import resources

from suites.run.grids import load_grid

#: Every applicable estimator on the example problem at K = 4 (see ``poisson.toml``).
POISSON_SUITE = load_grid(resources.files(__package__) / "poisson.toml")
