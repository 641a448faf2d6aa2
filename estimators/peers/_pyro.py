"""Pyro's score-function estimator (``TraceGraph_ELBO``): imported in the Pyro worker process only.

The objective ``F = E_q f(z)`` is written as a Pyro model and guide:

* guide: ``z ~ q(z; theta)`` (the problem's distribution with the parameters
  being differentiated; a Normal is Pyro's ``NonreparameterizedNormal``, so
  that Pyro takes the score-function path, as for a discrete variable);
* model: the same ``z`` site under the *detached* distribution (so its
  ``log p`` carries no gradient and equals ``log q`` in value) and
  ``pyro.factor("cost", -f(z))``.

Then ``-ELBO = E_q [f(z) + log q(z) - log p(z)]`` has value ``F`` and
``TraceGraph_ELBO``'s surrogate gives the gradient
``score(z) * (f(z) - baseline)``, Pyro's own REINFORCE: the model's
``log p - log q`` is exactly zero per draw. Pyro minimises the loss, and its
loss is ``+F``, so ``leaf.grad`` is ``grad F`` with our sign.

Vectorised: parameters are replicated to leaves ``(M, *shape)`` and the
batch dimensions are ``pyro.plate``s (``"estimates"`` outermost); the ``K``
draws are ``vectorize_particles=True, num_particles=K``. TraceGraph keeps
the cost of each estimate in its own plate slice (Rao-Blackwellisation over
plates), so one ``loss_and_grads`` (one backward) gives ``M`` independent
rows: no loop over estimates.

``baseline="decaying_average"``: Pyro's ``use_decaying_avg_baseline``
(``baseline_beta`` 0.9), a running average per plate slot kept in Pyro's
param store across steps. A fresh store makes it zero, so each call first
takes ``warmup`` steps (20) on fresh draws and then the measured step;
the timing (``step_function``'s returned function) is of one step after
that warm-up, the warm-up not included.
"""
from __future__ import annotations

import contextlib

import torch
from torch.distributions import Bernoulli, Normal

import pyro
import pyro.distributions as dist
from pyro.distributions.testing.fakes import NonreparameterizedNormal
from pyro.infer import TraceGraph_ELBO

from ..base import unwrap_independent


def to_pyro(distribution):
    """The Pyro distribution of a ``torch.distributions`` one (Bernoulli or Normal under Independents)."""
    base, ndims = unwrap_independent(distribution)
    if isinstance(base, Bernoulli):
        out = dist.Bernoulli(logits=base.logits, validate_args=False)
    elif isinstance(base, Normal):
        # Pyro's own non-reparameterised Normal (its test fakes): TraceGraph_ELBO then takes the
        # score-function path. ``Normal(...).has_rsample_(False).to_event(1)`` would do the same but
        # fails under torch >= 2.x, whose Independent.has_rsample has no setter.
        out = NonreparameterizedNormal(base.loc, base.scale, validate_args=False)
    else:
        raise ValueError(f"the pyro adapter handles Bernoulli and Normal, got {type(base).__name__}")
    return out.to_event(ndims) if ndims else out


def step_function(method: str, options: dict, problem, num_estimates: int, num_samples: int):
    if method != "tracegraph":
        raise ValueError(f"unknown pyro method {method!r}")
    M, K = num_estimates, num_samples
    baseline = options["baseline"]
    infer = ({"baseline": {"use_decaying_avg_baseline": True, "baseline_beta": 0.9}}
             if baseline == "decaying_average" else {})
    leaves = {n: p.detach().expand(M, *p.shape).clone().requires_grad_(True)
              for n, p in problem.params.items()}
    fixed = {n: v.detach() for n, v in leaves.items()}
    batch_shape = problem.distribution(fixed).batch_shape  # (M, *factors)
    factors = int(torch.Size(batch_shape[1:]).numel())
    nesting = len(batch_shape)

    @contextlib.contextmanager
    def plates():
        with contextlib.ExitStack() as stack:
            for i, size in enumerate(batch_shape):
                stack.enter_context(pyro.plate(f"batch{i}", size, dim=i - nesting))
            yield

    def model():
        with plates():
            z = pyro.sample("z", to_pyro(problem.distribution(fixed)))
            pyro.factor("cost", -problem.cost(z, leaves) / factors)

    def guide():
        with plates():
            pyro.sample("z", to_pyro(problem.distribution(leaves)), infer=dict(infer))

    elbo = TraceGraph_ELBO(num_particles=K, vectorize_particles=True, max_plate_nesting=nesting)
    pyro.clear_param_store()

    def run():
        for v in leaves.values():
            v.grad = None
        elbo.loss_and_grads(model, guide)
        return {n: v.grad.clone() if v.grad is not None else torch.zeros_like(v)
                for n, v in leaves.items()}

    if baseline == "decaying_average":
        for _ in range(int(options["warmup"])):
            run()
    return run
