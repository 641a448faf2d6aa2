"""Profiles: named selections of a suite's cells, so that ``make bench`` finishes in minutes.

A profile maps a suite to the ``run`` options that select its representative
cells (``problem_names``, ``estimator_names``: labels, as ``--problem`` and
``--estimator`` take them) and, for training, fewer steps and seeds. A selection
only picks cells of the full grid, with their own seeds, ``M`` and ``K``, so
every statistic of a ``quick`` cell equals the full run's bit for bit (timings
aside); only the ``train`` cells differ, being shorter curves.

``quick`` keeps, per suite: core, the Gaussian with the cosine cost and the
Bernoulli at every dimension (the variance-against-dimension figure for a
continuous and a discrete family; every estimator that applies to either; the
categorical family is left to the full grid, to keep make bench within 5 minutes of a
fresh clone on 2 cores); scaling and papers whole (seconds); vae, the
two latent-variable models with exact gradients (logistic regression's
reference of 10^6 samples is the costliest set-up of a fresh clone) with one
estimator of each kind: score function with the leave-one-out baseline,
reparameterisation, DisARM, Gumbel-softmax (bernoulli_vae's estimates cost
100x the toys'); train, linear_vae and bernoulli_vae at 8 latents (not 12), 200
steps at 2 seeds (a standard error band) instead of 3,000 at 3, and beta_bernoulli (a conjugate
model: the report draws its gap to the log evidence; its four estimators, about 3 s);
continuous, one cell a
family at concentration 1 in float32 (gamma, beta, dirichlet), reparam's implicit path (3 to 6 s
on 2 shared cores; the rejection sampler beside it doubled that; the whole grid of 224
cells takes 5 to 8 minutes). The unordered set estimator
is in core's Bernoulli cells (dims 10 and 100); VIMCO's one cell, on the multi-sample
objective, is an ``also`` selection: cells added beside a profile's cross product. sbn, the linear model with
four estimators, 100 steps x 2 seeds (one checkpoint after the start), the held-out bound at
10 samples and no probes (a probe's reference takes a minute; 15 s of CPU in all).
"""
from __future__ import annotations

from typing import Any

PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "quick": {
        "core": {"problem_names": ["gaussian(cost=cos,dim=1)", "gaussian(cost=cos,dim=10)",
                                   "gaussian(cost=cos,dim=100)", "bernoulli"]},
        "vae": {"problem_names": ["linear_vae", "bernoulli_vae(objective=elbo)"],
                "estimator_names": ["score_function(baseline=loo)", "reparam", "disarm",
                                    "gumbel_softmax(temperature=0.5)"],
                # cells beside that cross product: VIMCO on the multi-sample objective
                "also": [{"problem_names": [
                    "bernoulli_vae(bound_samples=3,latent_dim=4,num_data=20,objective=iwae)"],
                          "estimator_names": ["vimco(mean=geometric)"]}]},
        "train": {"problem_names": ["linear_vae", "bernoulli_vae(latent_dim=8)", "beta_bernoulli"],
                  "steps": 200, "seeds": 2},
        "continuous": {"problem_names": ["gamma(dim=3)", "beta(cost=cos,dim=3,k=3.0)", "dirichlet(dim=3)"],
                       "estimator_names": ["reparam"]},
        "sbn": {"problem_names": ["sbn(model=linear)"],
                "estimator_names": ["score_function(baseline=loo)", "arm", "disarm",
                                    "gumbel_softmax(temperature=0.5)"],
                "steps": 100, "seeds": 2, "grad_variance": 0, "heldout_samples": 10},
    },
    "full": {},
}


def names() -> list[str]:
    return list(PROFILES)


def options(profile: str, suite: str) -> dict[str, Any]:
    """The ``run`` options ``profile`` sets for ``suite`` (``{}``: every cell, as the grid); an
    ``also`` entry lists further selections (``problem_names``, ``estimator_names``) whose
    cells are added to those of the others."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
    return dict(PROFILES[profile].get(suite, {}))
