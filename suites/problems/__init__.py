"""Problems whose gradients are known, found by name.

>>> import suites
>>> prob = suites.problems.get("gaussian", dim=10, cost="square")
>>> prob.exact_gradient()["loc"]
"""
from __future__ import annotations

from typing import Any

from estimators.registry import Registry, check_keywords

from .base import Problem
from .bernoulli import BernoulliToy
from .bernoulli_vae import BernoulliVAE
from .categorical import Categorical
from .gaussian import Gaussian
from .gaussian_full import GaussianFull, check_scale_tril
from .linear_vae import LinearVAE
from .logistic_regression import LogisticRegression

_REGISTRY: Registry[type[Problem]] = Registry("problem")
register = _REGISTRY.register
names = _REGISTRY.names
describe = _REGISTRY.describe

for _cls in (Gaussian, GaussianFull, BernoulliToy, LinearVAE, BernoulliVAE, LogisticRegression):
    register(_cls)
register(Categorical)


def get(name: str, **config: Any) -> Problem:
    """A problem instance by name and configuration (``dim``, ``cost``, ...)."""
    cls = _REGISTRY.lookup(name)
    check_keywords("problem", name, cls.__init__, config)
    return cls(**config)


__all__ = ["Problem", "get", "names", "describe", "register", "check_scale_tril"]
