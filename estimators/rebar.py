"""REBAR: the score function with a Concrete-relaxation control variate, for Bernoulli variables.

With ``u, v ~ U(0, 1)``, ``z = theta + logit(u)`` (so ``b = H(z)`` is
Bernoulli(sigmoid(theta))), ``z~ ~ p(z | b)`` drawn by conditioning ``u`` on
``b`` (``u~ = v (1 - p)`` if ``b = 0``, ``(1 - p) + v p`` if ``b = 1``),
and ``c(z) = f(sigmoid(z / lambda))``, one estimate is::

    g = [f(b) - eta c(z~)] grad log p(b) + eta grad c(z) - eta grad c(z~)

where the gradients of ``c`` run through ``z`` and ``z~`` as functions of
``theta`` with ``u, v, b`` fixed (Tucker, Mnih, Maddison, Lawson &
Sohl-Dickstein 2017, "REBAR: Low-variance, unbiased gradient estimates for
discrete latent variable models", eq. 6). It is unbiased for every ``eta``
and temperature ``lambda > 0``: ``z~`` has the marginal law of ``z``, so the
two relaxed terms cancel in expectation what the control variate subtracts.
With ``tune=True`` ``eta`` and ``log lambda`` are state, tuned online by
``adapt`` down the estimate's squared norm (the paper's section 4; see
``estimators.adaptive``); the options give their starting values.
Each sample costs three evaluations of ``f``.
"""
from __future__ import annotations

import math

import torch
from torch.distributions.utils import clamp_probs

from .adaptive import AdaptiveEstimator
from .base import BernoulliEstimator, unwrap_independent
from .gumbel_softmax import check_temperature


class Rebar(BernoulliEstimator, AdaptiveEstimator):
    """Score function with the REBAR relaxed control variate (unbiased, Bernoulli only)."""

    name = "rebar"
    #: cost evaluations per sample: the hard sample and two relaxed ones
    evaluations_per_sample = 3
    options = {"eta": 1.0, "temperature": 0.5, "tune": False}

    def __init__(self, **options):
        super().__init__(**options)
        self.config["temperature"] = check_temperature(self.config["temperature"])
        eta = self.config["eta"]
        if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not math.isfinite(eta):
            raise ValueError(f"eta must be a finite number, got {eta!r}")
        self.config["eta"] = float(eta)
        if not isinstance(self.config["tune"], bool):
            raise ValueError(f"tune must be True or False, got {self.config['tune']!r}")
        self.state = {}
        if self.config["tune"]:
            self.init_state({"eta": torch.tensor(self.config["eta"]),
                             "log_temperature": torch.tensor(math.log(self.config["temperature"]))})

    def _eta_and_temperature(self):
        if self.config["tune"]:
            return self.state["eta"], self.state["log_temperature"].exp()
        return self.config["eta"], self.config["temperature"]

    def surrogate(self, problem, distribution, params, num_samples):
        eta, tau = self._eta_and_temperature()
        base, _ = unwrap_independent(distribution)
        logits = base.logits  # M x factors x event, a function of params
        u = clamp_probs(self.uniform_noise(logits, num_samples))  # K x M x factors x event
        v = clamp_probs(self.uniform_noise(logits, num_samples))
        z = logits + torch.logit(u)
        b = (z > 0).to(logits.dtype).detach()
        p = torch.sigmoid(logits)
        u_given_b = clamp_probs(torch.where(b > 0, (1 - p) + v * p, v * (1 - p)))
        z_given_b = logits + torch.logit(u_given_b)
        cost = problem.cost(b, params)  # K x M x factors
        relaxed = self.control_variate(problem, z, params, eta, tau)
        relaxed_given_b = self.control_variate(problem, z_given_b, params, eta, tau)
        # The weight is constant in theta but, when tuned, a function of (eta, tau): the
        # correction term cancels its theta-gradient while keeping its state-gradient.
        weight = cost.detach() - relaxed_given_b
        log_prob = distribution.log_prob(b)
        score = log_prob * weight - log_prob.detach() * (weight - weight.detach())
        return (score + cost + relaxed - relaxed_given_b).mean(0)

    def control_variate(self, problem, z, params, eta, tau):
        """``c(z) = eta f(sigmoid(z / tau))``, the cost at the Concrete relaxation: ``(K, M, *factors)``."""
        return eta * problem.cost(torch.sigmoid(z / tau), params)
