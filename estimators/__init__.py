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
from .delta_method import DeltaMethod
from .disarm import DisARM
from .gumbel_softmax import GumbelSoftmax, StraightThroughGumbel
from .measure_valued import MeasureValued
from .rebar import Rebar
from .registry import Registry
from .reparam import Reparam
from .score_function import ScoreFunction

_REGISTRY: Registry[type[Estimator]] = Registry("estimator")
register = _REGISTRY.register
names = _REGISTRY.names
describe = _REGISTRY.describe

for _cls in (ScoreFunction, Reparam, GumbelSoftmax, StraightThroughGumbel, DisARM, Rebar):
    register(_cls)
register(MeasureValued)
register(DeltaMethod)


def get(name: str, **options: Any) -> Estimator:
    """An estimator instance by name, with its options (e.g. ``baseline``, ``temperature``)."""
    return _REGISTRY.lookup(name)(**options)


__all__ = ["Estimator", "get", "names", "describe", "register", "sampling_from",
           "unwrap_independent"]
