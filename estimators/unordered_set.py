"""The unordered set estimator: K distinct samples without replacement, weighted as a set.

Kool, van Hoof & Welling 2020, "Estimating gradients for discrete random
variables by sampling without replacement", ICLR (sections 3-4; reference code
wouterkool/estimating-gradients-without-replacement). A set ``S`` of ``K``
distinct outcomes of ``q(z; theta)`` is drawn without replacement (the first
``K`` of a race in which outcome ``s`` arrives at rate ``p(s)``), and one
estimate of ``grad E f`` is::

    g(S) = sum_{s in S} p(s) R(S, s) [ grad log p(s) (f(s) - B(S, s)) + grad_theta f(s) ]

    R(S, s)        = p^{D\\s}(S \\ {s}) / p(S)                     (leave-one-out ratio)
    B(S, s)        = sum_{s' in S} p(s') R^{D\\s}(S, s') f(s')     (the built-in baseline)
    R^{D\\s}(S, s') = p^{D\\{s,s'}}(S \\ {s,s'}) / p^{D\\s}(S \\ {s}),   R^{D\\s}(S, s) = 1

with ``p(S)`` the probability of drawing the unordered set ``S`` and
``p^{D\\A}(B)`` that of drawing ``B`` without replacement from ``q``
restricted to the outcomes outside ``A`` and renormalised (eqs. 9, 15-17).
``p(s) R(S, s)`` is the probability that ``s`` came first given the set, so
the weights sum to 1. The baseline is the unordered set estimate of ``E f``
from the other ``K - 1`` samples plus ``p(s) f(s)``; its expectation given
that ``s`` came first is ``E f`` whatever ``s`` is, which keeps ``g``
unbiased. It needs ``K >= 2``. With ``K`` the size of the support, ``S`` is
the whole support, every ratio is 1, ``B = E f`` and ``g`` is the exact
gradient (variance 0).

The outcome of one factor (data point) is the joint state of all its
coordinates (``D`` categoricals of ``C`` classes; a Bernoulli is ``C = 2``),
so the set is drawn without replacement from the joint, of ``C^D`` states:

* where ``C^D <= MAX_ENUMERATED``, by Gumbel-top-k over the enumerated joint
  log-probabilities (Vieira 2014; Kool, van Hoof & Welling 2019, "Stochastic
  beams and where to find them", ICML);
* otherwise by stochastic beam search (the same paper): a beam of ``K``
  prefixes grows one coordinate at a time, each child's Gumbel conditioned on
  its parent's maximum, and the top ``K`` perturbed prefixes survive; the
  loop runs over the ``D`` coordinates, every step vectorised over estimates,
  beams and classes;
* except where the likeliest joint state is rare (in high dimension: always),
  by drawing ``K`` independent states and redrawing from the first repeat on
  until none repeats (``rejection_without_replacement``), which costs about
  one independent draw and no loop over coordinates.

All three draw the same law (tested); which one serves a row depends on ``q`` alone.

Ratios (``ratios`` option): ``exact`` computes every ``p^{D\\A}(S \\ A)``,
``A`` a subset of ``S``, by the recursion over subsets
``p^{D\\A}(S\\A) = sum_{b in S\\A} p(b) / (1 - p(A)) p^{D\\(A+b)}(S\\(A+b))``
(``K 2^K`` terms; no permutations); ``integral`` by the exponential-race
integral of appendix D,
``p^{D\\A}(S\\A) = int_0^inf p_R e^{-p_R t} prod_{s in S\\A} (1 - e^{-p(s) t}) dt``
with ``p_R = 1 - p(S)``, a trapezoid rule in ``x = log t`` over
``INTEGRAL_NODES`` nodes. Its error against ``exact``, on random sets of
``K`` = 2 to 12 items whose probabilities lie up to ``e^8`` apart, with ``p(S)``
from 1e-8 to 1 - 1e-9, is below ``INTEGRAL_ERROR`` = 1e-9 in every log-ratio
(2.4e-11 the largest seen; ``tests/test_unordered_set.py``).
``auto`` (the default) is ``exact`` up to ``K = MAX_EXACT_K`` and ``integral``
above. All ratios are computed in float64 without gradient: they are weights.
"""
from __future__ import annotations

import functools
import math

import torch
from torch.distributions import Bernoulli, Categorical, Distribution, OneHotCategorical

from .base import Estimator, replicate, unwrap_independent

#: Joint states up to which the set is drawn by Gumbel-top-k over the enumerated joint.
MAX_ENUMERATED = 64
#: Largest K whose ratios ``auto`` computes by the exact recursion over the 2^K subsets.
MAX_EXACT_K = 8
#: Nodes of the trapezoid rule of ``integral``.
INTEGRAL_NODES = 512
#: Largest error of a log-ratio by ``integral`` seen against ``exact`` (the test's bound).
INTEGRAL_ERROR = 1e-9
RATIOS = ("auto", "exact", "integral")
BASELINES = ("builtin", "none")


# --- the discrete structure of q -------------------------------------------------------------

def _discrete(distribution: Distribution):
    """The base family and the shape of one outcome's coordinates (``Independent``'s event dims)."""
    base, ndims = unwrap_independent(distribution)
    if not isinstance(base, (Bernoulli, OneHotCategorical, Categorical)):
        raise ValueError(f"unordered_set applies to Bernoulli and categorical variables only, got "
                         f"{type(base).__name__}")
    return base, base.batch_shape[len(base.batch_shape) - ndims:]


def coordinate_log_probs(distribution: Distribution) -> torch.Tensor:
    """``q``'s per-coordinate log-probabilities ``(*batch, D, C)`` (a Bernoulli is ``C = 2``)."""
    base, _ = _discrete(distribution)
    batch = distribution.batch_shape
    if isinstance(base, Bernoulli):
        logits = base.logits.reshape(*batch, -1)
        return torch.nn.functional.logsigmoid(torch.stack([-logits, logits], -1))
    return base.logits.reshape(*batch, -1, base.logits.shape[-1])  # normalised by torch


def to_events(distribution: Distribution, index: torch.Tensor) -> torch.Tensor:
    """Class indices ``(..., *batch, D)`` as ``q``'s events: 0/1 values, one-hot rows or indices."""
    base, coordinates = _discrete(distribution)
    if isinstance(base, Bernoulli):
        return index.to(base.logits.dtype).reshape(*index.shape[:-1], *coordinates)
    if isinstance(base, Categorical):
        return index.reshape(*index.shape[:-1], *coordinates)
    classes = base.logits.shape[-1]
    return torch.nn.functional.one_hot(index, classes).to(base.logits.dtype) \
        .reshape(*index.shape[:-1], *coordinates, classes)


@functools.lru_cache(maxsize=32)
def joint_states(dims: int, classes: int) -> torch.Tensor:
    """Every joint state of ``dims`` coordinates of ``classes`` classes, ``(C^D, D)`` (long)."""
    codes = torch.arange(classes ** dims)
    powers = classes ** torch.arange(dims)
    return (codes[:, None] // powers) % classes


# --- sampling without replacement -------------------------------------------------------------

def gumbel(shape, like: torch.Tensor) -> torch.Tensor:
    """Standard Gumbel noise ``-log(-log u)``, ``u ~ U(0, 1)``."""
    u = torch.rand(shape, dtype=like.dtype, device=like.device)
    return -torch.log(-torch.log(u))


def gumbel_top_k(log_p: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Indices of ``K`` states drawn without replacement: the top ``K`` of ``log p + Gumbel``."""
    return (log_p + gumbel(log_p.shape, log_p)).topk(num_samples, -1).indices


def conditioned_gumbel(phi: torch.Tensor, maximum: torch.Tensor) -> torch.Tensor:
    """Gumbels of locations ``phi`` (``..., C``) conditioned on their maximum being ``maximum``.

    ``G = phi + Gumbel``, ``Z = max G``, ``G~ = -log(e^{-T} - e^{-Z} + e^{-G})``, in the
    stable form of Kool et al. 2019 (appendix B.3).
    """
    g = phi + gumbel(phi.shape, phi)
    z = g.max(-1, keepdim=True).values
    v = maximum[..., None] - g + torch.log1p(-torch.exp(g - z))
    return maximum[..., None] - v.clamp_min(0) - torch.nn.functional.softplus(-v.abs())


def stochastic_beam_search(log_p: torch.Tensor, num_samples: int) -> torch.Tensor:
    """``K`` distinct joint states of ``D`` independent coordinates, drawn without replacement.

    ``log_p``: ``(B, D, C)`` normalised per coordinate. Returns class indices ``(B, K, D)``.
    """
    batch, dims, classes = log_p.shape
    phi = log_p.new_zeros(batch, 1)
    top = log_p.new_zeros(batch, 1)
    prefix = torch.zeros(batch, 1, 0, dtype=torch.long, device=log_p.device)
    for d in range(dims):  # the beam grows one coordinate at a time
        children = phi[:, :, None] + log_p[:, None, d, :]  # B x beams x C
        perturbed = conditioned_gumbel(children, top).reshape(batch, -1)
        top, index = perturbed.topk(min(num_samples, perturbed.shape[1]), -1)
        phi = children.reshape(batch, -1).gather(1, index)
        parent, action = index // classes, index % classes
        prefix = torch.cat([prefix.gather(1, parent[..., None].expand(-1, -1, d)),
                            action[..., None]], -1)
    return prefix


def independent_draws(log_p: torch.Tensor, num_samples: int) -> torch.Tensor:
    """``K`` independent joint states per row of ``log_p`` ``(B, D, C)``: indices ``(B, K, D)``
    (a threshold on a uniform for two classes, Gumbel-max otherwise)."""
    shape = (log_p.shape[0], num_samples, *log_p.shape[1:])
    if log_p.shape[-1] == 2:
        u = torch.rand(shape[:-1], dtype=log_p.dtype, device=log_p.device)
        return (u < log_p[:, None, :, 1].exp()).long()
    return (log_p[:, None] + gumbel(shape, log_p)).argmax(-1)


def rejection_without_replacement(log_p: torch.Tensor, num_samples: int) -> torch.Tensor:
    """``K`` distinct joint states per row of ``log_p`` ``(B, D, C)``, drawn without replacement
    by redrawing: while some position ``k`` repeats an earlier state, positions ``k..K`` of
    that row are drawn afresh.

    Exact: once positions ``< k`` stop changing, position ``k`` keeps the first of its fresh
    draws outside them, a draw from ``q`` restricted to the states not yet taken, which is
    sequential sampling without replacement. A round redraws with probability at most
    ``K (K - 1) / 2 max_s p(s)``, which the caller keeps small (``REJECTION_LIMIT``).
    """
    index = independent_draws(log_p, num_samples)  # B x K x D
    earlier = torch.ones(num_samples, num_samples, dtype=torch.bool, device=log_p.device).tril(-1)
    # equal states have equal keys: only rows with equal keys are compared in full
    weights = torch.arange(1, log_p.shape[1] + 1, dtype=log_p.dtype, device=log_p.device).sqrt()
    while True:  # rounds of redrawing: one in nearly every call (no repeat in high dimension)
        key = index.to(log_p.dtype) @ weights  # B x K
        rows = ((key[:, :, None] == key[:, None, :]) & earlier).any(-1).any(-1).nonzero().squeeze(-1)
        chosen = index[rows]
        repeats = ((chosen[:, :, None] == chosen[:, None, :]).all(-1) & earlier).any(-1)  # R x K
        rows, repeats = rows[repeats.any(-1)], repeats[repeats.any(-1)]
        if rows.numel() == 0:
            return index
        first = repeats.int().argmax(-1)  # the first repeated position per row
        redraw = torch.arange(num_samples, device=log_p.device) >= first[:, None]  # R x K
        fresh = independent_draws(log_p[rows], num_samples)
        index[rows] = torch.where(redraw[..., None], fresh, index[rows])


#: Redrawing serves rows whose most likely joint state has ``K (K-1)/2 max_s p(s)`` at most this
#: (a round then redraws a row with probability <= 1/4); stochastic beam search the others.
REJECTION_LIMIT = 0.25


def sample_without_replacement(log_p: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Class indices ``(*batch, K, D)`` of ``K`` distinct joint states of ``log_p`` ``(*batch, D, C)``.

    Gumbel-top-k over the enumerated joint where it has at most ``MAX_ENUMERATED`` states;
    otherwise redrawing repeats where the likeliest joint state is rare enough
    (``REJECTION_LIMIT``: every call in high dimension), stochastic beam search where not.
    All three draw the same law (tested); which one serves a row depends on ``q`` only.
    """
    *batch, dims, classes = log_p.shape
    flat = log_p.reshape(-1, dims, classes)
    if classes ** dims <= MAX_ENUMERATED:
        states = joint_states(dims, classes).to(log_p.device)  # S x D
        joint = flat[:, torch.arange(dims, device=log_p.device), states].sum(-1)  # B x S
        index = states[gumbel_top_k(joint, num_samples)]
    else:
        pairs = num_samples * (num_samples - 1) / 2
        rare = pairs * flat.max(-1).values.sum(-1).exp() <= REJECTION_LIMIT  # B
        if bool(rare.all()):
            index = rejection_without_replacement(flat, num_samples)
        elif not bool(rare.any()):
            index = stochastic_beam_search(flat, num_samples)
        else:
            index = flat.new_empty(flat.shape[0], num_samples, dims, dtype=torch.long)
            index[rare] = rejection_without_replacement(flat[rare], num_samples)
            index[~rare] = stochastic_beam_search(flat[~rare], num_samples)
    return index.reshape(*batch, num_samples, dims)


# --- the leave-one-out ratios -----------------------------------------------------------------

def log1mexp(x: torch.Tensor) -> torch.Tensor:
    """``log(1 - e^x)`` for ``x <= 0``, stable at both ends (Maechler 2012)."""
    return torch.where(x > -0.693, torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def log_rest(log_p: torch.Tensor) -> torch.Tensor:
    """``log (1 - p(S))``: the mass outside the set (``-inf`` when the set is the support)."""
    return log1mexp(torch.logsumexp(log_p, -1).clamp_max(0.0))


@functools.lru_cache(maxsize=16)
def _subset_tables(num_samples: int):
    """Per subset ``A`` of ``K`` items (bitmask): its levels, members and children ``A + {b}``."""
    masks = torch.arange(2 ** num_samples)
    member = (masks[:, None] >> torch.arange(num_samples)) & 1 == 1  # 2^K x K
    child = masks[:, None] | (1 << torch.arange(num_samples))  # 2^K x K
    size = member.sum(1)
    levels = [masks[size == k] for k in range(num_samples - 1, -1, -1)]
    return member, child, levels


def log_set_probabilities(log_p: torch.Tensor) -> torch.Tensor:
    """``log p^{D\\A}(S \\ A)`` for every subset ``A`` of ``S`` (bitmask order), ``(..., 2^K)``.

    Exact: ``p^{D\\A}(S\\A) = sum_{b in S\\A} p(b) / (1 - p(A)) p^{D\\(A+b)}(S\\(A+b))``,
    from ``A = S`` (probability 1) down to ``A`` empty (``p(S)``).
    """
    num_samples = log_p.shape[-1]
    member, child, levels = _subset_tables(num_samples)
    member, child = member.to(log_p.device), child.to(log_p.device)
    # 1 - p(A) = p(D \ S) + p(S \ A): the mass left once A is removed, without cancellation
    outside = torch.where(member, -math.inf, log_p[..., None, :])  # ... x 2^K x K
    log_left = torch.logsumexp(torch.cat([outside, log_rest(log_p)[..., None, None]
                                          .expand(*outside.shape[:-1], 1)], -1), -1)
    table = log_p.new_zeros(*log_p.shape[:-1], 2 ** num_samples)
    for masks in levels:  # by the size of A, largest first; each level uses the one before
        masks = masks.to(log_p.device)
        terms = log_p[..., None, :] - log_left[..., masks, None] + table[..., child[masks]]
        terms = torch.where(member[masks], -math.inf, terms)
        table[..., masks] = torch.logsumexp(terms, -1)
    return table


def log_set_probabilities_integral(log_p: torch.Tensor, subsets: torch.Tensor,
                                   nodes: int = INTEGRAL_NODES) -> torch.Tensor:
    """``log p^{D\\A}(S \\ A)`` for the subsets ``A`` given as boolean rows ``(A, K)``, ``(..., A)``.

    ``int_0^inf p_R e^{-p_R t} prod_{s in S\\A} (1 - e^{-p(s) t}) dt`` (the race of
    exponential clocks of rates ``p``: the items of ``S\\A`` all arrive before any outside
    ``S``), by the trapezoid rule in ``x = log t`` on ``[log(1e-12 / r), log(50 / p_R)]``,
    ``r`` the largest rate: the integrand is analytic and decays at both ends (below
    ``(1e-12)^2`` of its peak at the left, ``e^{-50}`` at the right).
    """
    rest = log_rest(log_p)
    rate = torch.logsumexp(torch.stack([log_p.max(-1).values, rest], -1), -1)
    low = math.log(1e-12) - rate
    # p(D \ S) = 0 (the set is the support): every p^{D\A}(S\A) is 1, any finite range will do
    high = torch.where(torch.isfinite(rest), math.log(50.0) - rest, low + 60.0)
    steps = torch.linspace(0, 1, nodes, dtype=log_p.dtype, device=log_p.device)
    x = low[..., None] + (high - low)[..., None] * steps  # ... x N
    t = x.exp()
    # log(1 - e^{-p t}) per item and node: ... x K x N
    factors = log1mexp(-(log_p[..., :, None].exp() * t[..., None, :]))
    outer = x + torch.where(torch.isfinite(rest), rest, 0.0)[..., None] \
        - torch.where(torch.isfinite(rest), rest.exp(), 0.0)[..., None] * t
    kept = (~subsets).to(log_p.dtype)  # A x K
    integrand = outer[..., None, :] + torch.einsum("ak,...kn->...an", kept, factors)
    step = (high - low) / (nodes - 1)
    value = torch.logsumexp(integrand, -1) + step.log()[..., None]
    # with no mass outside S, the integral's outer factor is a delta at infinity: probability 1
    return torch.where(torch.isfinite(rest)[..., None], value, torch.zeros_like(value))


def leave_one_out_ratios(log_p: torch.Tensor, method: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """``log R(S, s_i)`` ``(..., K)`` and ``log R^{D\\s_i}(S, s_j)`` ``(..., K, K)`` (diagonal 0)."""
    num_samples = log_p.shape[-1]
    if method == "auto":
        method = "exact" if num_samples <= MAX_EXACT_K else "integral"
    eye = torch.eye(num_samples, dtype=torch.bool, device=log_p.device)
    pairs = eye[:, None, :] | eye[None, :, :]  # K x K x K: the subset {i, j}
    if method == "exact":
        table = log_set_probabilities(log_p)
        bits = 1 << torch.arange(num_samples, device=log_p.device)
        whole, one, two = table[..., 0], table[..., bits], table[..., bits[:, None] | bits[None, :]]
    else:
        subsets = torch.cat([torch.zeros(1, num_samples, dtype=torch.bool, device=log_p.device),
                             eye, pairs.reshape(-1, num_samples)])
        values = log_set_probabilities_integral(log_p, subsets)
        whole, one = values[..., 0], values[..., 1:1 + num_samples]
        two = values[..., 1 + num_samples:].reshape(*log_p.shape, num_samples)
    log_r1 = one - whole[..., None]
    log_r2 = torch.where(eye, 0.0, two - one[..., :, None])
    return log_r1, log_r2


# --- the estimator -----------------------------------------------------------------------------

class UnorderedSet(Estimator):
    """Unordered set estimator: K samples without replacement, leave-one-out ratios, built-in baseline."""

    name = "unordered_set"
    options = {"baseline": "builtin", "ratios": "auto"}
    families = ("Bernoulli", "OneHotCategorical", "Categorical")

    def __init__(self, **options):
        super().__init__(**options)
        for key, allowed in (("baseline", BASELINES), ("ratios", RATIOS)):
            if self.config[key] not in allowed:
                raise ValueError(f"unknown {key} {self.config[key]!r} for unordered_set; "
                                 f"allowed: {', '.join(allowed)}")

    def check(self, distribution: Distribution) -> None:
        base, _ = unwrap_independent(distribution)
        if not isinstance(base, (Bernoulli, OneHotCategorical, Categorical)):
            raise ValueError(f"unordered_set applies to Bernoulli and categorical variables only "
                             f"(it samples their joint without replacement), got "
                             f"{type(base).__name__}")

    def check_num_samples(self, num_samples: int) -> None:
        if self.config["baseline"] == "builtin" and num_samples < 2:
            raise ValueError(f"unordered_set's built-in baseline needs num_samples >= 2 (it is "
                             f"built from the other samples of the set), got num_samples={num_samples}")

    def max_num_samples(self, problem) -> int | None:
        """The size of one factor's joint support: ``K`` can be at most that (``None``: beyond
        any ``K`` worth asking for). Grids and ``advise`` skip larger ``K`` on ``problem``."""
        log_p = coordinate_log_probs(problem.distribution(problem.params))
        dims, classes = log_p.shape[-2:]
        return classes ** dims if dims * math.log(classes) < 60 else None

    def surrogate(self, problem, distribution, params, num_samples):
        with torch.no_grad():
            log_p = coordinate_log_probs(distribution)
        dims, classes = log_p.shape[-2:]
        if dims * math.log(classes) < math.log(num_samples) - 1e-9:
            raise ValueError(f"unordered_set draws num_samples={num_samples} distinct states, but "
                             f"{problem.label} has only {classes ** dims} per factor")
        with torch.no_grad():
            index = sample_without_replacement(log_p.detach(), num_samples)  # M x factors x K x D
        return self.set_surrogate(problem, distribution, params, index)

    def set_surrogate(self, problem, distribution, params, index: torch.Tensor) -> torch.Tensor:
        """The surrogate for given sets: class indices ``(M, *factors, K, D)``; ``(M, *factors)``."""
        z = to_events(distribution, index.movedim(-2, 0))  # K x M x factors x event
        cost = problem.cost(z, params)  # K x M x factors
        log_q = distribution.log_prob(z)  # K x M x factors
        with torch.no_grad():
            log_p = log_q.detach().movedim(0, -1).to(torch.float64)  # M x factors x K
            log_r1, log_r2 = leave_one_out_ratios(log_p, self.config["ratios"])
            weight = (log_p + log_r1).exp()  # p(s) R(S, s): sums to 1 over the set
            signal = cost.detach().movedim(0, -1).to(torch.float64)
            if self.config["baseline"] == "builtin":
                baseline = ((log_p[..., None, :] + log_r2).exp() * signal[..., None, :]).sum(-1)
                signal = signal - baseline
            weight = weight.movedim(-1, 0).to(cost.dtype)
            signal = signal.movedim(-1, 0).to(cost.dtype)
        return (weight * (log_q * signal + cost)).sum(0)

    def estimates_at(self, problem, index: torch.Tensor) -> dict[str, torch.Tensor]:
        """The estimates at given sets (``index`` ``(M, *factors, K, D)``), one per row: what
        exact moments enumerate (``suites.measurement.exact``)."""
        self.check_num_samples(index.shape[-2])
        params = replicate(problem.params, index.shape[0])
        with torch.enable_grad():
            distribution = problem.distribution(params)
            self.check(distribution)
            objective = self.set_surrogate(problem, distribution, params, index)
            objective = objective.reshape(index.shape[0], -1).mean(1)
            grads = torch.autograd.grad(objective.sum(), list(params.values()), allow_unused=True)
        return {name: torch.zeros_like(p) if g is None else g
                for (name, p), g in zip(params.items(), grads)}
