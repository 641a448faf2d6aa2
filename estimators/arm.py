"""ARM: the Augment-REINFORCE-Merge estimator for Bernoulli variables.

With ``u ~ U(0, 1)^D`` shared by an antithetic pair ``b = 1[u < sigma(theta)]``
and ``b~ = 1[u > sigma(-theta)] = 1[1 - u < sigma(theta)]``, one pair gives,
per coordinate ``i``::

    g_i = (f(b~) - f(b)) (u_i - 1/2)

an unbiased estimate of ``dF/dtheta_i`` for ``F = E f(b)``, ``b_i ~
Bernoulli(sigma(theta_i))`` (Yin & Zhou 2019, "ARM: Augment-REINFORCE-Merge
Gradient for Stochastic Binary Networks", Theorem 1, eq. 5, with the pair
written as in Dong, Mnih & Tucker 2020, eq. 4). DisARM
(``estimators.disarm``) is its conditional expectation given ``(b, b~)``,
so its variance is never larger. ``num_samples`` counts *pairs*: each costs
two evaluations of ``f``, so compare ARM with ``K`` pairs to the score
function with ``2K`` samples.

When ``theta`` (the logits) is a function of the parameters (an encoder),
the surrogate ``sum_i stop_grad(g_i) theta_i`` carries the estimate through
the chain rule; the pathwise term of a cost that depends on the parameters
is averaged over the pair. Factors (data points) each get their own cost.
"""
from __future__ import annotations

from .disarm import DisARM


class ARM(DisARM):
    """Antithetic pairs with the ARM weight (unbiased, Bernoulli only)."""

    name = "arm"

    @staticmethod
    def pair_weight(u, b, b_anti, logits):
        """``(f(b~) - f(b)) (u - 1/2) = (f(b) - f(b~)) / 2 * (1 - 2u)``: the weight is ``1 - 2u``."""
        return 1 - 2 * u
