"""Monte Carlo gradient estimators, found by name.

>>> import estimators
>>> est = estimators.get("score_function", baseline="loo")
>>> grads = est(problem, num_estimates=1000, num_samples=4, generator=g)

Every estimator returns ``{param name: tensor (M, *param.shape)}``: ``M``
independent estimates of ``grad F``. See ``estimators.base`` for the contract.
"""
from __future__ import annotations

from typing import Any

from .base import Estimator, sampling_from, unwrap_independent
from .disarm import DisARM
from .gumbel_softmax import GumbelSoftmax, StraightThroughGumbel
from .reparam import Reparam
from .score_function import ScoreFunction

_REGISTRY: dict[str, type[Estimator]] = {}


def register(cls: type[Estimator]) -> type[Estimator]:
    """Class decorator: make ``cls`` available as ``estimators.get(cls.name)``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"estimator name {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls
    return cls


for _cls in (ScoreFunction, Reparam, GumbelSoftmax, StraightThroughGumbel, DisARM):
    register(_cls)


def names() -> list[str]:
    """Registered estimator names, sorted."""
    return sorted(_REGISTRY)


def describe(name: str) -> str:
    """First docstring line of an estimator: what it is."""
    return (_registered(name).__doc__ or "").strip().splitlines()[0]


def _registered(name: str) -> type[Estimator]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown estimator {name!r}; known: {', '.join(names())}") from None


def get(name: str, **options: Any) -> Estimator:
    """An estimator instance by name, with its options (e.g. ``baseline``, ``temperature``)."""
    return _registered(name)(**options)


__all__ = ["Estimator", "get", "names", "describe", "register", "sampling_from",
           "unwrap_independent"]
