"""Problems whose gradients are known, found by name.

>>> import suites
>>> prob = suites.problems.get("gaussian", dim=10, cost="square")
>>> prob.exact_gradient()["loc"]

Holds one module per problem family (each with its exact gradient), ``base``
(the ``Problem`` contract), ``cache`` (trained weights and references kept on
disk) and ``labels`` (how a configuration is named: ``gaussian(cost=cos,dim=10)``).

May import ``estimators``, ``suites.store`` and ``suites.measurement``; nothing above.
"""
from __future__ import annotations

import re
from typing import Any

from estimators.memory import available_bytes, format_bytes
from estimators.registry import Registry, check_keywords, split_spec, with_options

from suites.problems.base import Problem
from suites.problems.bernoulli import BernoulliToy
from suites.problems.bernoulli_vae import BernoulliVAE
from suites.problems.categorical import Categorical
from suites.problems.gaussian import Gaussian
from suites.problems.gaussian_full import GaussianFull, check_scale_tril
from suites.problems.linear_vae import LinearVAE
from suites.problems.logistic_regression import LogisticRegression
from suites.problems.beta_bernoulli import BetaBernoulli
from suites.problems.gamma_poisson import GammaPoisson
from suites.problems.dirichlet_categorical import DirichletCategorical
from suites.problems.gamma import Gamma
from suites.problems.beta import Beta
from suites.problems.dirichlet import Dirichlet
from suites.problems.sbn import SBN

_REGISTRY: Registry[type[Problem]] = Registry("problem", group="mcgradbench.problems", base=Problem)
register = _REGISTRY.register
names = _REGISTRY.names
describe = _REGISTRY.describe
origin = _REGISTRY.origin

for _cls in (Gaussian, GaussianFull, BernoulliToy, LinearVAE, BernoulliVAE, LogisticRegression):
    register(_cls)
register(Categorical)
for _cls in (Gamma, Beta, Dirichlet):
    register(_cls)
for _cls in (BetaBernoulli, GammaPoisson, DirichletCategorical):  # conjugate models (issue 28)
    register(_cls)
register(SBN)


def get(name: str, **config: Any) -> Problem:
    """A problem instance by name and configuration (``dim``, ``cost``, ...).

    ``name`` may be a plugin's name, or ``pkg.module:Class`` with its configuration after
    commas (``"mypkg.models:Poisson,dim=3"``); keyword configuration overrides that.
    """
    name, given = split_spec(name)
    config = {**given, **config}
    cls = _REGISTRY.lookup(name)
    check_keywords("problem", name, cls.__init__, config)
    try:
        return cls(**config)
    except (MemoryError, RuntimeError) as error:
        # A size no check caught (a plugin's, a product of sizes): torch's allocator refuses
        # it in a message of several lines; one line names what was asked.
        if not isinstance(error, MemoryError) and "can't allocate memory" not in str(error):
            raise
        wanted = re.search(r"allocate (\d+) bytes", str(error))
        size = f"{format_bytes(int(wanted.group(1)))}, " if wanted else ""
        raise ValueError(f"{with_options(name, config)}: building it needs more memory than "
                         f"there is ({size}{format_bytes(available_bytes()[0] or 0)} "
                         f"available); ask for a smaller problem") from None


def plugin_failures() -> dict[str, str]:
    """Problem plugins that failed to load: name -> one-line reason."""
    _REGISTRY.load_plugins()
    return dict(_REGISTRY.failures)


__all__ = ["Problem", "origin", "plugin_failures", "get", "names", "describe", "register", "check_scale_tril"]
