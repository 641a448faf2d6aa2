"""Exact mean and variance of an estimator on a small problem, by quadrature and enumeration.

An estimate is a deterministic function ``g(xi)`` of the base noise ``xi``
it consumes (a few uniform, normal, exponential or Bernoulli variates on a
1-D or 2-D problem). Its moments are integrals::

    E g = int g(xi) p(xi) dxi,     Var g_i = int (g_i(xi) - E g_i)^2 p(xi) dxi,

computed here as weighted sums over a tensor grid of nodes ``xi_n`` with
weights ``w_n``: ``E g ~ sum_n w_n g(xi_n)``. The estimator runs once, as
always, with ``M`` = the number of nodes: ``suites.measurement.noise.ReplayNoise`` hands
it the nodes instead of random numbers, so no formula has a second copy.

Rules per variate (one 1-D rule each, combined by tensor product):

* Bernoulli outcome: enumeration, nodes ``{0, 1}`` with weights
  ``{1 - p, p}`` (exact);
* standard normal: Gauss-Hermite (probabilists'), exact for polynomial
  integrands of degree ``< 2n`` (Golub & Welsch 1969);
* Exp(1): Gauss-Laguerre;
* U(0, 1): composite Gauss-Legendre, split at the known discontinuities of
  hard thresholds and graded geometrically towards them. For a Bernoulli
  problem with success probabilities ``p`` every threshold an estimator
  applies to a uniform lies at ``u = p`` or ``u = 1 - p`` (``u < p``, the
  antithetic ``1 - u < p``, ``logits + logit(u) > 0``); there the
  integrand jumps, and a plain Gauss rule across the jump converges only
  like ``1/n``. Split there, each panel's integrand is smooth and the rule
  converges exponentially; the grading resolves the steep but smooth
  layers a low temperature puts next to the threshold (Gumbel-softmax).

Every value comes with a quadrature error estimate: the largest difference
between this resolution and a coarser one (relative to the scale of the
moments), so a report can say how exact "exact" is.

Estimates that average ``K`` independent inner samples (the score function
without a baseline, reparam, Gumbel-softmax, DisARM's pairs, ...) have
``E g_K = E g_1`` and ``Var g_K = Var g_1 / K``; ``is_sample_mean`` checks that
property by replaying the same noise at ``K`` and at ``1`` sample (at
random points, to rounding), so only estimators that couple their samples
(leave-one-out baselines) need the ``K``-fold grid.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from suites.measurement.noise import Draw, UnsupportedNoise, record_unambiguous, replay
from estimators import unwrap_independent

#: Grid points one exact computation may use (per resolution).
MAX_NODES = 400_000
#: Relative accuracy the two resolutions must agree to for a value to count as exact: beyond
#: it (a threshold that is not axis-aligned, as the argmax of several Gumbels) no value is given.
TOLERANCE = 1e-4


@dataclass(frozen=True)
class ExactMoments:
    """Per-parameter mean and variance (float64, flattened), and the quadrature's error estimate."""

    mean: dict[str, torch.Tensor]
    variance: dict[str, torch.Tensor]
    #: Largest |fine - coarse| over means and variances, relative to their scale.
    relative_error: float
    nodes: int
    #: The problem's exact gradient in float64 (free coordinates), where it has one.
    reference: dict[str, torch.Tensor] | None = None


# --- 1-D rules ---------------------------------------------------------------------------

def gauss_legendre(a: float, b: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(n)
    return a + (b - a) * (x + 1) / 2, w * (b - a) / 2


def graded_edges(a: float, b: float, levels: int) -> np.ndarray:
    """Panel edges on ``[a, b]``, halving towards both ends ``levels`` times."""
    fractions = [0.5 ** j for j in range(levels, 0, -1)]
    inner = [f / 2 for f in fractions] + [0.5] + [1 - f / 2 for f in reversed(fractions)]
    return np.array([a] + [a + (b - a) * f for f in inner] + [b])


def uniform_rule(n: int, breakpoints: Sequence[float], levels: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss-Legendre on [0, 1], split at ``breakpoints`` and graded towards them."""
    cuts = sorted({0.0, 1.0, *[float(b) for b in breakpoints if 0 < b < 1]})
    nodes, weights = [], []
    for a, b in zip(cuts[:-1], cuts[1:]):
        edges = graded_edges(a, b, levels)
        for lo, hi in zip(edges[:-1], edges[1:]):
            x, w = gauss_legendre(lo, hi, n)
            nodes.append(x)
            weights.append(w)
    return np.concatenate(nodes), np.concatenate(weights)


def normal_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Hermite for ``E h(eps)``, ``eps ~ N(0, 1)``."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    return x, w / math.sqrt(2 * math.pi)


def exponential_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Laguerre for ``E h(x)``, ``x ~ Exp(1)``."""
    return np.polynomial.laguerre.laggauss(n)


def variate_rules(draw: Draw, resolution: int, breakpoints: Sequence[float]):
    """One 1-D rule per scalar variate of ``draw`` (row-major over its per-estimate shape).

    ``resolution`` is the Gauss-Legendre order per uniform panel; normal and
    exponential variates, which have no panels, get ``6 * resolution`` nodes.
    """
    if draw.kind == "bernoulli":
        probs = draw.probs.reshape(-1).tolist()
        return [(np.array([0.0, 1.0]), np.array([1 - p, p])) for p in probs]
    if draw.kind == "normal":
        rule = normal_rule(6 * resolution)
    elif draw.kind == "exponential":
        rule = exponential_rule(6 * resolution)
    else:
        rule = uniform_rule(resolution, breakpoints)
    return [rule] * draw.size


def tensor_grid(rules) -> tuple[torch.Tensor, torch.Tensor]:
    """All combinations of the 1-D rules: nodes ``(N, V)`` and weights ``(N,)``, float64.

    No rules (an estimator that draws no noise) is one node of weight 1.
    """
    if not rules:
        return torch.zeros(1, 0, dtype=torch.float64), torch.ones(1, dtype=torch.float64)
    grids = torch.meshgrid(*[torch.as_tensor(x, dtype=torch.float64) for x, _ in rules],
                           indexing="ij")
    weight_grids = torch.meshgrid(*[torch.as_tensor(w, dtype=torch.float64) for _, w in rules],
                                  indexing="ij")
    nodes = torch.stack([g.reshape(-1) for g in grids], dim=1)
    weights = torch.stack([g.reshape(-1) for g in weight_grids], dim=1).prod(1)
    return nodes, weights


#: Scalar variates one estimate may consume for a tensor grid to be attempted.
MAX_VARIATES = 6


def _variates(draws: Sequence[Draw]) -> int:
    """Scalar variates one estimate consumes over all its draws."""
    return sum(draw.size for draw in draws)


def grid_size(draws: Sequence[Draw], resolution: int, breakpoints: Sequence[float]) -> float:
    """Points of the tensor grid at ``resolution`` (``inf`` beyond ``MAX_VARIATES`` variates)."""
    if _variates(draws) > MAX_VARIATES:
        return math.inf
    size = 1
    for draw in draws:
        for nodes, _ in variate_rules(draw, resolution, breakpoints):
            size *= len(nodes)
    return size


def split_by_draw(nodes: torch.Tensor, draws: Sequence[Draw]) -> list[torch.Tensor]:
    """Columns of ``nodes`` as one ``(N, *draw.shape)`` tensor per draw."""
    values, start = [], 0
    for draw in draws:
        values.append(nodes[:, start:start + draw.size].reshape(len(nodes), *draw.shape))
        start += draw.size
    return values


# --- problems ------------------------------------------------------------------------------

def threshold_breakpoints(problem) -> list[float]:
    """Where hard thresholds on a uniform can jump: ``p`` and ``1 - p`` of every Bernoulli."""
    base, _ = unwrap_independent(problem.distribution(problem.params))
    if not isinstance(base, torch.distributions.Bernoulli):
        return []
    p = base.probs.detach().to(torch.float64).reshape(-1).unique()
    return sorted({*p.tolist(), *(1 - p).tolist()})


# --- moments ---------------------------------------------------------------------------------

def flat_estimates(grads: dict[str, torch.Tensor], problem) -> dict[str, torch.Tensor]:
    """Estimates ``(N, D)`` per parameter, free coordinates only, float64."""
    out = {}
    for name, rows in grads.items():
        mask = problem.free_coordinates(name)
        rows = rows if mask is None else rows[:, mask.to(rows.device)]
        out[name] = rows.detach().reshape(rows.shape[0], -1).to(torch.float64)
    return out


def weighted_moments(estimator, problem, draws, num_samples: int, resolution: int,
                     breakpoints, chunk: int = 50_000):
    """Weighted mean and variance per parameter on the grid at ``resolution``."""
    rules = [rule for draw in draws for rule in variate_rules(draw, resolution, breakpoints)]
    nodes, weights = tensor_grid(rules)
    sums = {}
    for start in range(0, len(nodes), chunk):
        part = nodes[start:start + chunk].to(problem.device)
        w = weights[start:start + chunk].to(problem.device)
        grads = replay(estimator, problem, draws, split_by_draw(part, draws), num_samples)
        for name, rows in flat_estimates(grads, problem).items():
            s0, s1, s2 = sums.get(name, (0.0, 0.0, 0.0))
            sums[name] = (s0 + w.sum(), s1 + w @ rows, s2 + w @ rows.square())
    mean = {name: s1 / s0 for name, (s0, s1, _) in sums.items()}
    # E g^2 - (E g)^2 loses digits when the mean dominates; the moments here are O(1) and
    # float64 keeps ~1e-12 relative, far below TOLERANCE.
    variance = {name: (s2 / s0 - mean[name].square()).clamp_min(0) for name, (s0, _, s2) in sums.items()}
    return mean, variance, len(nodes)


def is_sample_mean(estimator, problem, num_samples: int, draws_k: Sequence[Draw],
                   draws_1: Sequence[Draw], checks: int = 5, seed: int = 0) -> bool:
    """Whether the ``K``-sample estimate is the mean of ``K`` one-sample estimates, at random noise.

    The same standard variates are replayed to the ``K``-sample call and, one
    sample at a time, to ``K`` one-sample calls; the estimator is a mean over
    independent samples exactly when the two agree (to rounding) at generic
    points.
    """
    if len(draws_k) != len(draws_1) or any(
            a.kind != b.kind or a.shape[1:] != b.shape[1:] or a.shape[0] != num_samples
            or b.shape[0] != 1 for a, b in zip(draws_k, draws_1)):
        return False
    generator = torch.Generator().manual_seed(seed)
    values_k = []
    for draw in draws_k:
        if draw.kind == "bernoulli":
            u = torch.rand(checks, *draw.shape, generator=generator, dtype=torch.float64)
            values_k.append((u < draw.probs.cpu()).to(torch.float64))
        elif draw.kind == "normal":
            values_k.append(torch.randn(checks, *draw.shape, generator=generator, dtype=torch.float64))
        elif draw.kind == "exponential":
            u = torch.rand(checks, *draw.shape, generator=generator, dtype=torch.float64)
            values_k.append(-torch.log1p(-u))
        else:
            values_k.append(torch.rand(checks, *draw.shape, generator=generator, dtype=torch.float64)
                            .clamp(1e-6, 1 - 1e-6))
    # Drawn on the CPU (one seeded stream for every device), replayed where the problem lives.
    values_k = [v.to(problem.device) for v in values_k]
    together = flat_estimates(replay(estimator, problem, draws_k, values_k, num_samples), problem)
    # K one-sample calls at once: sample k of check c becomes estimate (k, c).
    values_1 = [v.movedim(1, 0).reshape(num_samples * checks, 1, *v.shape[2:]) for v in values_k]
    alone = flat_estimates(replay(estimator, problem, draws_1, values_1, 1), problem)
    for name, rows in together.items():
        averaged = alone[name].reshape(num_samples, checks, -1).mean(0)
        scale = averaged.abs().max().clamp_min(1.0)
        if not torch.allclose(rows, averaged, rtol=1e-9, atol=1e-9 * float(scale)):
            return False
    return True


def _relative_change(fine: dict, coarse: dict, scale: dict) -> float:
    """Largest |fine - coarse| relative to ``scale`` (per parameter, a positive number)."""
    return max(float((fine[name] - coarse[name]).abs().max()) / scale[name] for name in fine)


def exact_moments(problem, estimator, num_samples: int = 1, resolution: int = 10,
                  max_nodes: int = MAX_NODES) -> ExactMoments | None:
    """Exact mean and per-coordinate variance of ``estimator``'s estimates on ``problem``.

    ``None`` where the noise of one estimate is too large for a tensor grid
    of ``max_nodes`` points, or is drawn by a primitive the replay does not
    support. Computed in float64 at ``resolution`` and at three quarters of it;
    the finer values are returned with the difference as their error (an
    upper estimate: the rules converge exponentially on smooth panels, so the
    difference is about the coarser rule's error).
    """
    problem = problem.to(dtype=torch.float64)
    estimator.check(problem.distribution(problem.params))
    estimator.check_num_samples(num_samples)
    if callable(getattr(estimator, "estimates_at", None)):
        return exact_set_moments(problem, estimator, num_samples, max_nodes)
    try:
        draws = record_unambiguous(estimator, problem, num_samples)
        factor = 1
        if num_samples > 1 and _accepts_one_sample(estimator):
            draws_1 = record_unambiguous(estimator, problem, 1)
            # Replaying the check costs estimator calls: skip it where even one sample's
            # noise is too large for a grid (every large problem measure() sees).
            if _variates(draws_1) > MAX_VARIATES:
                return None
            if is_sample_mean(estimator, problem, num_samples, draws, draws_1):
                draws, factor = draws_1, num_samples
    except UnsupportedNoise:
        return None
    sample_count = 1 if factor > 1 else num_samples
    breakpoints = threshold_breakpoints(problem)
    # The finest resolution whose grid fits: more variates, fewer nodes each.
    while resolution > 4 and grid_size(draws, resolution, breakpoints) > max_nodes:
        resolution -= 1
    if grid_size(draws, resolution, breakpoints) > max_nodes:
        return None
    coarse_resolution = max(2, (3 * resolution) // 4)
    try:
        mean, variance, nodes = weighted_moments(estimator, problem, draws, sample_count,
                                                 resolution, breakpoints)
        mean_c, variance_c, _ = weighted_moments(estimator, problem, draws, sample_count,
                                                 coarse_resolution, breakpoints)
    except UnsupportedNoise:
        return None
    # Errors relative to the size of the estimates, E g^2 = mean^2 + variance: a zero-variance
    # estimator's variance is exact to rounding, not "relatively" wrong.
    second = {k: max(float((mean[k].square() + variance[k]).max()), 1e-300) for k in mean}
    error = max(_relative_change(mean, mean_c, {k: v ** 0.5 for k, v in second.items()}),
                _relative_change(variance, variance_c, second))
    if not error <= TOLERANCE:
        return None
    return ExactMoments(mean=mean, variance={k: v / factor for k, v in variance.items()},
                        relative_error=error, nodes=nodes, reference=float64_reference(problem))


def float64_reference(problem) -> dict[str, torch.Tensor] | None:
    """The exact gradient at float64 precision (free coordinates, flattened), or ``None``."""
    try:
        gradient, gradient_se = problem.reference_gradient()
    except NotImplementedError:
        return None
    if gradient_se is not None:
        return None  # a Monte Carlo reference: measure compares against it with its error
    out = {}
    for name, g in gradient.items():
        mask = problem.free_coordinates(name)
        g = g if mask is None else g[mask.to(g.device)]
        out[name] = g.detach().reshape(-1).to(torch.float64)
    return out



def _accepts_one_sample(estimator) -> bool:
    try:
        estimator.check_num_samples(1)
    except ValueError:
        return False  # e.g. a leave-one-out baseline: its samples are coupled
    return True


# --- sets drawn without replacement ------------------------------------------------------------

def unordered_set_probabilities(log_q: torch.Tensor, sets: torch.Tensor) -> torch.Tensor:
    """Probability of drawing each unordered set without replacement: ``(..., S)``, ``(N, K)`` ->
    ``(..., N)``, the sum over the ``K!`` orders of ``prod_t p(s_t) / (1 - sum_{u<t} p(s_u))``.

    Written from the definition (sequential draws), apart from the estimator's recursion over
    subsets, so that an error in either shows as a difference.
    """
    num_samples = sets.shape[1]
    orders = torch.tensor(list(itertools.permutations(range(num_samples))), device=sets.device)
    p = log_q.exp()[..., sets[:, orders]]  # ... x N x K! x K
    before = torch.cumsum(p, -1) - p
    return (p / (1 - before)).prod(-1).sum(-1)


def exact_set_moments(problem, estimator, num_samples: int,
                      max_nodes: int = MAX_NODES) -> ExactMoments | None:
    """Exact moments of an estimator whose estimate is a function of a set of ``K`` distinct
    states drawn without replacement (``estimator.estimates_at``: the unordered set estimator).

    Every combination of one set per factor is a node, weighted by the product over factors of
    its set's probability (``unordered_set_probabilities``); ``None`` beyond ``max_nodes``.
    The weights sum to 1 up to rounding, which is the error reported.
    """
    from estimators.unordered_set import coordinate_log_probs, joint_states, to_events

    distribution = problem.distribution(problem.params)
    log_p = coordinate_log_probs(distribution)
    factors, (dims, classes) = tuple(log_p.shape[:-2]), log_p.shape[-2:]
    size = classes ** dims if dims * math.log(classes) < 30 else math.inf
    if size < num_samples:
        return None
    per_factor = math.comb(size, num_samples) if size <= 4096 else math.inf
    count = per_factor ** math.prod(factors)
    if count > max_nodes:
        return None
    states = joint_states(dims, classes).to(problem.device)  # S x D
    # log q of every state per factor, by the problem's own distribution: S x factors
    flat_factors = math.prod(factors)
    index = states[:, None, :].expand(size, flat_factors, dims).reshape(size, *factors, dims)
    log_q = distribution.log_prob(to_events(distribution, index)).detach().reshape(size, flat_factors).T
    sets = torch.tensor(list(itertools.combinations(range(size), num_samples)),
                        device=problem.device)  # N x K
    probs = unordered_set_probabilities(log_q, sets)  # factors x N
    # every choice of one set per factor: nodes x factors
    choice = torch.cartesian_prod(*[torch.arange(len(sets), device=problem.device)] * flat_factors) \
        .reshape(-1, flat_factors)
    weights = probs.T.gather(0, choice).prod(1) if flat_factors > 1 else probs[0][choice[:, 0]]
    nodes = states[sets[choice]]  # nodes x factors x K x D
    sums = {}
    for start in range(0, len(nodes), 20_000):
        part = nodes[start:start + 20_000].reshape(-1, *factors, num_samples, dims)
        w = weights[start:start + 20_000]
        for name, rows in flat_estimates(estimator.estimates_at(problem, part), problem).items():
            s1, s2 = sums.get(name, (0.0, 0.0))
            sums[name] = (s1 + w @ rows, s2 + w @ rows.square())
    total = float(weights.sum())
    mean = {name: s1 / total for name, (s1, _) in sums.items()}
    variance = {name: (s2 / total - mean[name].square()).clamp_min(0)
                for name, (_, s2) in sums.items()}
    return ExactMoments(mean=mean, variance=variance, relative_error=abs(total - 1),
                        nodes=len(nodes), reference=float64_reference(problem))
