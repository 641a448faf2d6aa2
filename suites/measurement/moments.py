"""Chunked first and second moments of gradient estimates, in float64.

Estimates arrive in chunks of rows ``x_m`` (``m = 1..M``, each a flattened
parameter of ``D`` coordinates). We keep, relative to a fixed shift ``c``
(the first chunk's mean, so sums of squares do not cancel catastrophically)::

    S1_i = sum_m (x_mi - c_i)          S2_i = sum_m (x_mi - c_i)^2
    U1   = sum_m u_m,  U2 = sum_m u_m^2,   u_m = 1/D sum_i (x_mi - c_i)^2

which give the per-coordinate mean and unbiased variance exactly, and the
standard error of the mean per-coordinate variance ``v = 1/D sum_i var_i``
from the spread of ``u_m``: ``se(v) = sd(u) / sqrt(M)``. ``u_m`` is centred
on ``c`` rather than on the unknown mean; the difference changes ``sd(u)``
by a relative ``O(1 / chunk size)``. Memory is ``O(D)`` whatever ``M``.

``S4_i = sum_m (x_mi - c_i)^4`` gives each coordinate's kurtosis
``kappa_i = M S4_i / S2_i^2`` (about ``c``, the same approximation), from which
``effective_estimates = 3 M / kappa``: ``M`` for normal estimates, far fewer when a
coordinate's spread comes from a few rare values (Kish's effective sample size of
the squared deviations, scaled so that normal estimates count fully). The sample
variance rests on that many estimates: its relative standard error is about
``sqrt((kappa - 1) / M)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Moments:
    """Running sums for one parameter; ``update`` with ``(n, D)`` rows."""

    count: int = 0
    shift: torch.Tensor | None = None
    sum1: torch.Tensor | None = None
    sum2: torch.Tensor | None = None
    u_sum: float = 0.0
    u_sumsq: float = 0.0
    sum4: torch.Tensor | None = None

    def update(self, rows: torch.Tensor) -> None:
        # A float64 copy, then in-place passes: this runs once per chunk of every
        # measurement, and on small problems costs a third as much as the estimator.
        work = rows.detach().reshape(rows.shape[0], -1).to(torch.float64, copy=True)  # n x D
        if self.shift is None:
            self.shift = work.mean(0)
            self.sum1 = torch.zeros_like(self.shift)
            self.sum2 = torch.zeros_like(self.shift)
            self.sum4 = torch.zeros_like(self.shift)
        work -= self.shift
        self.sum1 += work.sum(0)
        work.square_()
        self.sum2 += work.sum(0)
        self.sum4 += torch.linalg.vecdot(work, work, dim=0)  # no n x D temporary
        u = work.mean(1)  # n
        self.count += rows.shape[0]
        self.u_sum += float(u.sum())
        self.u_sumsq += float(u.square().sum())

    def mean(self) -> torch.Tensor:
        """Per-coordinate mean, shape ``(D,)``."""
        return self.shift + self.sum1 / self.count

    def variance(self) -> torch.Tensor:
        """Per-coordinate unbiased variance, shape ``(D,)``."""
        n = self.count
        return (self.sum2 - self.sum1**2 / n).clamp_min(0) / (n - 1)

    def rms(self) -> torch.Tensor:
        """Per-coordinate root mean square of the raw estimates (their magnitude).

        ``E x^2 = E (x - c)^2 + 2 c E (x - c) + c^2`` from the shifted sums.
        """
        n = self.count
        mean_square = self.sum2 / n + 2 * self.shift * self.sum1 / n + self.shift**2
        return mean_square.clamp_min(0).sqrt()

    def effective_estimates(self) -> torch.Tensor:
        """Per coordinate, ``3 M / kurtosis``: ``M`` for normal estimates, fewer for heavy
        tails and rare values; ``M`` where the estimates do not vary (nothing to resolve)."""
        n = self.count
        kurtosis = n * self.sum4 / self.sum2.square()
        return torch.where(self.sum2 > 0, 3 * n / kurtosis, float(n))

    def mean_variance_se(self) -> float:
        """Standard error of ``variance().mean()``."""
        n = self.count
        u_mean = self.u_sum / n
        u_var = max(self.u_sumsq - n * u_mean**2, 0.0) / (n - 1)
        return (u_var / n) ** 0.5
