"""Monte Carlo gradient estimators, found by name.

>>> import estimators
>>> est = estimators.get("score_function", baseline="loo")
>>> grads = est(problem, num_estimates=1000, num_samples=4, generator=g)

Every estimator returns ``{param name: tensor (M, *param.shape)}``: ``M``
independent estimates of ``grad F``. See ``estimators.base`` for the contract.
"""
from __future__ import annotations

from typing import Any

from .arm import ARM
from .arms import ARMS
from .base import Estimator, sampling_from, unwrap_independent
from .delta_method import DeltaMethod
from .disarm import DisARM
from .double_cv import DoubleCV
from .gumbel_rao import GumbelRao
from .indecater import IndeCateR
from .gumbel_softmax import GumbelSoftmax, StraightThroughGumbel
from .measure_valued import MeasureValued
from .rebar import Rebar
from .nvil import NVIL
from .relax import Relax
from .registry import Registry, split_spec
from .rejection import RejectionReparam
from .reparam import Reparam
from .score_function import ScoreFunction
from .unordered_set import UnorderedSet
from .vimco import VIMCO

_REGISTRY: Registry[type[Estimator]] = Registry("estimator", group="mcgradbench.estimators",
                                                base=Estimator)
register = _REGISTRY.register
names = _REGISTRY.names
describe = _REGISTRY.describe
origin = _REGISTRY.origin

for _cls in (ScoreFunction, Reparam, GumbelSoftmax, StraightThroughGumbel, DisARM, Rebar):
    register(_cls)
for _cls in (ARM, GumbelRao, MeasureValued, DeltaMethod, Relax, NVIL):
    register(_cls)
register(RejectionReparam)
register(ARMS)
register(IndeCateR)
register(DoubleCV)
register(UnorderedSet)
register(VIMCO)
# Other libraries' estimators (estimators.peers) register as plugins: the entry points of
# this package's pyproject.toml (group mcgradbench.estimators).


def families(name: str) -> tuple[str, ...]:
    """The ``torch.distributions`` families the estimator ``name`` applies to (``Estimator.families``)."""
    return _REGISTRY.lookup(name).families


def get(name: str, **options: Any) -> Estimator:
    """An estimator instance by name, with its options (e.g. ``baseline``, ``temperature``).

    ``name`` may be a plugin's name, or ``pkg.module:Class`` with options after commas
    (``"mypkg.est:MyEstimator,baseline=loo"``); keyword options override those.
    """
    name, given = split_spec(name) if isinstance(name, str) else (name, {})
    return _REGISTRY.lookup(name)(**{**given, **options})


def plugin_failures() -> dict[str, str]:
    """Estimator plugins that failed to load: name -> one-line reason."""
    _REGISTRY.load_plugins()
    return dict(_REGISTRY.failures)


__all__ = ["Estimator", "get", "names", "describe", "families", "origin", "plugin_failures",
           "register", "sampling_from",
           "unwrap_independent"]
