"""RELAX: REBAR's control variate plus a learned neural surrogate, for Bernoulli variables.

With ``u, v ~ U(0, 1)``, ``z = theta + logit(u)``, ``b = H(z)`` and ``z~ ~ p(z | b)``
drawn from ``v`` as in REBAR, and the surrogate

    c_phi(z) = eta f(sigmoid(z / lambda)) + r_phi(sigmoid(z)),

``r_phi`` a one-hidden-layer network (``tanh``, ``hidden`` units;
``estimators.networks``) on the latent vector of each factor, one estimate is::

    g = [f(b) - c_phi(z~)] grad log p(b) + grad c_phi(z) - grad c_phi(z~)

(Grathwohl, Choi, Wu, Roeder & Duvenaud 2018, "Backpropagation through the
Void: Optimizing control variates for black-box gradient estimation", ICLR,
Algorithm 2 and eq. 5; the cost's own relaxation inside ``c_phi`` as in the
paper's experiments). It is unbiased for every ``phi = (eta, lambda, r)``:
``z~`` has the law of ``z`` given ``b``, so the last two terms cancel in
expectation what the first subtracts. ``phi`` is the estimator's state, tuned
by ``adapt`` down the squared norm of its own estimates (``estimators.adaptive``;
the paper's variance objective). The network's size follows the problem's
latent vector; its weights are created on first use from ``seed`` (so two
estimators with the same options start alike) and are re-created for a
problem of another size. Three cost evaluations a sample, as REBAR.
"""
from __future__ import annotations

import math

import torch

from .base import Estimator, unwrap_independent
from .gumbel_softmax import check_temperature
from .networks import apply, initial_weights, one_hidden_layer
from .rebar import Rebar


class Relax(Rebar):
    """REBAR's relaxed control variate plus a neural surrogate, all tuned online (unbiased, Bernoulli)."""

    name = "relax"
    options = {"eta": 1.0, "temperature": 0.5, "hidden": 10, "seed": 0}

    def __init__(self, **options):
        Estimator.__init__(self, **options)  # REBAR's checks of eta and the temperature, no `tune`
        self.config["temperature"] = check_temperature(self.config["temperature"])
        eta = self.config["eta"]
        if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not math.isfinite(eta):
            raise ValueError(f"eta must be a finite number, got {eta!r}")
        self.config["eta"] = float(eta)
        for key, low in (("hidden", 1), ("seed", 0)):
            value = self.config[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{key} must be an integer >= {low}, got {value!r}")
        self.state = {}

    @property
    def intermediates(self) -> int:
        """REBAR's relaxations plus the surrogate network's ``hidden`` units per latent (peak
        RSS: 24 numbers per latent at the default 10 units, K = 10^6)."""
        return 8 + 2 * self.config["hidden"]

    def has_state(self) -> bool:
        return True  # created on first use, sized by the problem

    def _eta_and_temperature(self):
        return self.state["eta"], self.state["log_temperature"].exp()

    def ensure_state(self, latent: int, like: torch.Tensor) -> None:
        """State for latent vectors of size ``latent`` on ``like``'s device and dtype: created
        at first use (or for another size), moved (values kept) for another device or dtype."""
        first = self.state.get("net.0.weight")
        if first is not None and first.shape[1] == latent:
            self.move_state(like)
            return
        # r_phi starts at 0 (estimators.networks): RELAX starts as REBAR.
        state = {"eta": torch.tensor(self.config["eta"]),
                 "log_temperature": torch.tensor(math.log(self.config["temperature"])),
                 **initial_weights(self.network(latent), self.config["seed"])}
        self.init_state({k: v.to(device=like.device, dtype=like.dtype) for k, v in state.items()})

    def network(self, latent: int):
        """``r_phi``'s module for latent vectors of size ``latent`` (weights in ``state``)."""
        return one_hidden_layer(latent, self.config["hidden"])

    def surrogate(self, problem, distribution, params, num_samples):
        base, _ = unwrap_independent(distribution)
        # r_phi reads a factor's whole latent: a vector, or the K x L particles of a
        # multi-sample objective (estimators.vimco.Particles), flattened
        self._event_ndims = max(1, len(distribution.event_shape))
        self.ensure_state(math.prod(distribution.event_shape) or 1, base.logits)
        return super().surrogate(problem, distribution, params, num_samples)

    def control_variate(self, problem, z, params, eta, tau):
        """``c_phi(z) = eta f(sigmoid(z / tau)) + r_phi(sigmoid(z))``, shaped as the cost."""
        relaxed = super().control_variate(problem, z, params, eta, tau)
        ndims = getattr(self, "_event_ndims", 1)
        latent = torch.sigmoid(z).flatten(-ndims) if ndims > 1 else torch.sigmoid(z)
        return relaxed + apply(self.network(latent.shape[-1]), self.state, latent)
