"""Bayesian logistic regression on the breast-cancer data, with a Monte Carlo reference gradient.

Data: ``sklearn.datasets.load_breast_cancer`` (569 x 30, shipped with
scikit-learn), features standardised to mean 0 and variance 1, plus an
intercept column: ``X`` is 569 x 31, ``y`` in {0, 1}. Model and variational
family (black-box variational inference: Ranganath, Gerrish & Blei 2014;
the reparameterised ELBO of Kingma & Welling 2014 and Titsias &
Lazaro-Gredilla 2014, whose benchmark this is)::

    p(w)         = N(0, prior_scale^2 I)
    p(y | X, w)  = prod_n Bernoulli(y_n; sigmoid(x_n^T w))
    q(w)         = N(loc, diag(exp(2 log_scale)))        family="diag"
                 = N(loc, L L^T), L = tril(scale_tril)   family="full"

    F = E_q [log p(y | X, w) + log p(w) - log q(w)]      (the ELBO)

``diag`` is parameterised by ``log_scale`` (unconstrained, as in ADVI,
Kucukelbir et al. 2017); ``full`` by the lower triangle of ``scale_tril``
(the distribution is built from ``tril(scale_tril)``, so the strict upper
triangle has zero gradient), as in ``gaussian_full``.

There is no closed form, so ``exact_gradient()`` is ``None`` and the
reference (``reference_kind = "monte_carlo"``) is the ``reparam`` estimate
from ``reference_samples`` (default 10^6) samples in float64 on the CPU,
with its per-coordinate standard error, which ``suites.measure`` adds in
quadrature to every estimate's. It is computed once per configuration and
cached on disk (``$MCGRADBENCH_CACHE``, default ``~/.cache/mcgradbench``).
"""
from __future__ import annotations

import functools
import math
from pathlib import Path

import torch
import torch.nn.functional as nnf
from torch.distributions import Independent, MultivariateNormal, Normal

from suites.problems.base import Problem, check_choice, check_positive, check_seed
from suites.problems.cache import cache_dir, cache_key, cached_tensors

FAMILIES = ("diag", "full")
#: Seeds the reference estimate; far from the small seeds the suites use, so that
#: the reference never shares random numbers with the estimates it judges.
REFERENCE_SEED = 2_147_483_647
#: The reference is this many reparam estimates, each averaging reference_samples / it samples.
REFERENCE_ESTIMATES = 1000
#: Samples per reparam call while computing the reference (memory: this x 569 logits).
REFERENCE_CHUNK = 10_000
#: Bump when the reference computation changes, to invalidate cached files.
REFERENCE_VERSION = 1


@functools.lru_cache(maxsize=1)
def breast_cancer() -> tuple[torch.Tensor, torch.Tensor]:
    """Standardised features with an intercept column ``(569, 31)`` and labels ``(569,)``."""
    from sklearn.datasets import load_breast_cancer  # slow import, needed only here
    features, labels = load_breast_cancer(return_X_y=True)
    x = torch.as_tensor(features, dtype=torch.float64)
    x = (x - x.mean(0)) / x.std(0, correction=0)
    x = torch.cat([x, torch.ones(x.shape[0], 1, dtype=torch.float64)], 1)
    return x.to(torch.float32), torch.as_tensor(labels, dtype=torch.float32)


def monte_carlo_reference(problem: Problem, num_samples: int, seed: int = REFERENCE_SEED):
    """``reparam`` over ``num_samples`` samples (float64, CPU): mean and per-coordinate standard error.

    The samples form ``REFERENCE_ESTIMATES`` independent ``reparam``
    estimates of ``num_samples / REFERENCE_ESTIMATES`` inner samples each;
    their mean is the plain average of all samples and their spread gives the
    standard error (batch means; relative precision ``1/sqrt(2 * 1000)``).
    Fewer, larger estimates than one per sample keep the per-estimate
    parameter replicas from dominating the run time.
    """
    import estimators
    from suites.measurement.moments import Moments

    exact = problem.to(device="cpu", dtype=torch.float64)
    reparam = estimators.get("reparam")
    inner = num_samples // REFERENCE_ESTIMATES
    per_call = max(1, REFERENCE_CHUNK // inner)
    generator = torch.Generator().manual_seed(seed)
    moments = {name: Moments() for name in exact.params}
    for start in range(0, REFERENCE_ESTIMATES, per_call):  # chunks bound memory
        grads = reparam(exact, min(per_call, REFERENCE_ESTIMATES - start), inner, generator)
        for name, rows in grads.items():
            moments[name].update(rows)
    mean = {n: m.mean().reshape(exact.params[n].shape) for n, m in moments.items()}
    se = {n: (m.variance() / m.count).sqrt().reshape(exact.params[n].shape)
          for n, m in moments.items()}
    return mean, se


class LogisticRegression(Problem):
    """Bayesian logistic regression on breast cancer, diag or full Gaussian q; Monte Carlo reference."""

    name = "logistic_regression"
    reference_kind = "monte_carlo"

    def __init__(self, family: str = "diag", prior_scale: float = 1.0, init_scale: float = 0.1,
                 seed: int = 0, reference_samples: int = 1_000_000):
        self.family = check_choice("family", family, FAMILIES)
        self.prior_scale = check_positive("prior_scale", prior_scale)
        init_scale = check_positive("init_scale", init_scale)
        if (isinstance(reference_samples, bool) or not isinstance(reference_samples, int)
                or reference_samples < REFERENCE_ESTIMATES
                or reference_samples % REFERENCE_ESTIMATES):
            raise ValueError(f"reference_samples must be a positive multiple of "
                             f"{REFERENCE_ESTIMATES} (the reference averages that many "
                             f"estimates), got {reference_samples!r}")
        self.x, self.y = breast_cancer()
        dim = self.x.shape[1]
        generator = torch.Generator().manual_seed(check_seed(seed))
        # A seeded, non-optimal point: small random means, a narrow q.
        loc = init_scale * torch.randn(dim, generator=generator)
        if self.family == "diag":
            self.params = {"loc": loc, "log_scale": torch.full((dim,), math.log(init_scale))}
        else:
            lower = torch.tril(torch.randn(dim, dim, generator=generator), diagonal=-1)
            self.params = {"loc": loc, "scale_tril": init_scale * (torch.eye(dim) + lower / dim)}
        self.config = {"family": family, "prior_scale": self.prior_scale, "init_scale": init_scale,
                       "seed": seed, "reference_samples": reference_samples}

    @property
    def elements_per_sample(self) -> int:
        # the logits x_n^T w of every data point, and their log-likelihood terms
        return self.num_params + 4 * self.x.shape[0]

    def distribution(self, params):
        if self.family == "diag":
            return Independent(Normal(params["loc"], params["log_scale"].exp(), validate_args=False), 1)
        return MultivariateNormal(params["loc"], scale_tril=torch.tril(params["scale_tril"]),
                                  validate_args=False)

    def prior(self, like: torch.Tensor) -> Independent:
        zero = torch.zeros((), dtype=like.dtype, device=like.device)
        return Independent(Normal(zero, zero + self.prior_scale, validate_args=False)
                           .expand(like.shape[-1:]), 1)

    def log_likelihood(self, w: torch.Tensor) -> torch.Tensor:
        """``log p(y | X, w) = y^T X w - sum_n softplus(x_n^T w)``: ``(..., D) -> (...)``.

        The sum of ``Bernoulli(logits=x_n^T w).log_prob(y_n)``, with ``X^T y``
        formed first so that only the softplus touches every data point: this
        cost dominates the 10^6-sample reference.
        """
        logits = w @ self.x.T  # ... x N
        return w @ (self.y @ self.x) - nnf.softplus(logits).sum(-1)

    def cost(self, w, params):
        """``log p(y | X, w) + log p(w) - log q(w)``: ``(K, *B, D) -> (K, *B)``."""
        return (self.log_likelihood(w) + self.prior(w).log_prob(w)
                - self.distribution(params).log_prob(w))

    def exact_gradient(self, params=None):
        """``None``: the ELBO of logistic regression has no closed form (see ``reference_gradient``)."""
        return None

    def cache_path(self) -> Path:
        """Cache file keyed by the configuration and the exact parameter and data values."""
        key = cache_key(f"{self.name} v{REFERENCE_VERSION} {REFERENCE_SEED} {self.config_json}",
                        (*self.params.values(), self.x, self.y))
        return cache_dir() / f"{self.name}-{self.family}-{key}.pt"

    def reference_gradient(self):
        """``reparam`` with ``reference_samples`` samples and its standard error, cached on disk."""
        def compute():
            mean, se = monte_carlo_reference(self, self.config["reference_samples"])
            return {"mean": mean, "se": se, "config": self.config_json}

        stored = cached_tensors(
            self.cache_path(), compute,
            f"{self.name}(family={self.family})'s Monte Carlo reference gradient once "
            f"({self.config['reference_samples']:,} reparam samples in float64; 10 to 15 s on "
            f"one thread here)", keys=("mean", "se"))
        mean, se = stored["mean"], stored["se"]
        move = {"device": self.device, "dtype": self.dtype}
        return ({n: mean[n].to(**move) for n in self.params},
                {n: se[n].to(**move) for n in self.params})
