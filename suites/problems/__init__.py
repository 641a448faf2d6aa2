"""Problems whose gradients are known, found by name.

>>> import suites
>>> prob = suites.problems.get("gaussian", dim=10, cost="square")
>>> prob.exact_gradient()["loc"]
"""
from __future__ import annotations

from typing import Any

from .base import Problem
from .bernoulli import BernoulliToy
from .bernoulli_vae import BernoulliVAE
from .gaussian import Gaussian
from .gaussian_full import GaussianFull, check_scale_tril
from .linear_vae import LinearVAE
from .logistic_regression import LogisticRegression

_REGISTRY: dict[str, type[Problem]] = {}


def register(cls: type[Problem]) -> type[Problem]:
    """Class decorator: make ``cls`` available as ``suites.problems.get(cls.name)``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"problem name {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls
    return cls


for _cls in (Gaussian, GaussianFull, BernoulliToy, LinearVAE, BernoulliVAE,
             LogisticRegression):
    register(_cls)


def names() -> list[str]:
    """Registered problem names, sorted."""
    return sorted(_REGISTRY)


def _registered(name: str) -> type[Problem]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown problem {name!r}; known: {', '.join(names())}") from None


def describe(name: str) -> str:
    """First docstring line of a problem: what it is."""
    return (_registered(name).__doc__ or "").strip().splitlines()[0]


def get(name: str, **config: Any) -> Problem:
    """A problem instance by name and configuration (``dim``, ``cost``, ...)."""
    cls = _registered(name)
    try:
        return cls(**config)
    except TypeError as error:
        import inspect
        allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        raise ValueError(f"bad configuration for problem {name!r} ({error}); "
                         f"allowed keys: {', '.join(allowed)}") from None


__all__ = ["Problem", "get", "names", "describe", "register", "check_scale_tril"]
