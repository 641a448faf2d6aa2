"""Sigmoid-belief VAE on binarised digits: exact ELBO gradient by enumerating every latent state.

Data: ``sklearn.datasets.load_digits`` (8 x 8 images, shipped with
scikit-learn), binarised ``x = [pixel > 7]``, a seeded subset of ``N``
images. Model with ``L`` binary latents, single linear layers producing
logits (the sigmoid belief network VAE of Mnih & Gregor 2014, "Neural
Variational Inference and Learning in Belief Networks", and the benchmark of
Tucker et al. 2017, "REBAR", and Grathwohl et al. 2018, "RELAX")::

    p(z)     = prod_l Bernoulli(z_l; alpha_l),       alpha = sigmoid(prior.logits)
    p(x | z) = prod_d Bernoulli(x_d; sigmoid(W_dec z + b_dec)_d)
    q(z | x) = prod_l Bernoulli(z_l; e_l),           e = sigmoid(W_enc x + b_enc)

    F = 1/N sum_n ELBO_n,
    ELBO_n = sum_{z in {0,1}^L} q(z | x_n) log p(x_n | z) - KL(q(z | x_n) || p(z)),
    KL = sum_l e_l log(e_l / alpha_l) + (1 - e_l) log((1 - e_l) / (1 - alpha_l)).

The reconstruction term is an exact sum over all ``2^L`` states, computed
as matrix products against a tensor of every state (no loop), for
``L <= 12``; the exact gradient is autograd of that sum. The estimators see
one latent vector per data point (``distribution`` has batch ``(*B, N)``,
event ``(L,)``) and the cost ``log p(x_n | z) + log p(z) - log q(z | x_n)``
per data point, with every Bernoulli log-likelihood written
``v log sigmoid(l) + (1 - v) log sigmoid(-l)`` so that it is also defined at
relaxed ``z`` in (0, 1): the Concrete relaxation of the cost that
Gumbel-softmax differentiates (Maddison et al. 2017; Jang et al. 2017).

The parameters sit at a seeded, non-trivial point: small seeded weights,
then ``train_steps`` steps of full-batch Adam (learning rate 0.05) on the
exact ELBO (float64), done once per configuration and cached on disk
(``suites.problems.cache``: about 0.1 s by default, 5 s for 300 steps at L = 12,
a minute for thousands).
The default, 30 steps, lifts the ELBO from -25.3 to -21.8 nats (1000 steps
reach -17.6) and stops before the encoder saturates: after 100 steps some
``q(z_l | x_n)`` fall below 1e-6, a REINFORCE estimate then almost never
sees the rare state that carries its mean, and with ``M`` in the thousands
its sample variance understates the truth, so the z-test reports an
unbiased estimator as biased. At 30 steps ``min(e, 1 - e) > 1e-3``.

``objective=iwae`` (with ``bound_samples = K >= 1``) makes the cost a
*multi-sample objective*: the importance-weighted bound of Burda, Grosse &
Salakhutdinov 2016 (the VIMCO target of Mnih & Rezende 2016)::

    F = 1/N sum_n E_{h_1..h_K ~ q(. | x_n)} [ log 1/K sum_k w_nk ],
    w_nk = p(x_n, h_k) / q(h_k | x_n).

Unlike the ELBO, whose ``K`` inner samples are ``K`` independent estimates
of one per-sample cost that an estimator averages, here the ``K`` particles
form *one* sample of the cost together: the log of their mean weight is not
the mean of their log weights (it is larger; it equals the ELBO at ``K = 1``
and rises to ``log p(x_n)`` as ``K`` grows). The estimators see one latent of
shape ``(K, L)`` per data point (``estimators.vimco.Particles``, batch
``(*B, N)``), the bound as the cost, and ``log_weights`` for VIMCO's
per-particle signals; an estimator's own ``num_samples`` then counts
independent bounds. Its exact gradient sums over all ``2^(L K)`` tuples of
latent states (``L K <= MAX_TUPLE_BITS``); the weights are those trained on
the ELBO, shared with ``objective=elbo``.
"""
from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as nnf
from torch.distributions import Bernoulli, Independent

from estimators.vimco import Particles
from suites.problems.base import Problem, check_choice, check_dim, check_seed
from suites.problems.cache import cache_dir, cache_key, cached_tensors

MAX_LATENT_DIM = 12
#: Largest L K of objective=iwae: its exact gradient sums over 2^(L K) tuples of states.
MAX_TUPLE_BITS = 12
OBJECTIVES = ("elbo", "iwae")
NUM_DIGITS = 1797
NUM_PIXELS = 64
LEARNING_RATE = 0.05
INIT_SCALE = 0.1
#: Bump when the training at construction changes, to invalidate cached weights.
WEIGHTS_VERSION = 1


@functools.lru_cache(maxsize=1)
def binarised_digits() -> torch.Tensor:
    """All 1797 digits as binary pixels ``[pixel > 7]``, shape ``(1797, 64)``."""
    from sklearn.datasets import load_digits  # slow import, needed only here
    return torch.as_tensor(load_digits().data > 7, dtype=torch.float32)


def all_states(latent_dim: int) -> torch.Tensor:
    """Every binary vector of length ``L`` as rows, shape ``(2^L, L)``."""
    codes = torch.arange(2**latent_dim)
    return ((codes[:, None] >> torch.arange(latent_dim)) & 1).to(torch.float32)


def bernoulli_log_lik(value: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """``v log sigmoid(l) + (1 - v) log sigmoid(-l)`` elementwise, for any ``v`` in [0, 1].

    Written ``v l - softplus(l)``, which is the same expression
    (``log sigmoid(l) = l - softplus(l)``, ``log sigmoid(-l) = -softplus(l)``)
    with one transcendental call instead of two.
    """
    return value * logits - nnf.softplus(logits)


def bernoulli_kl(logits_q: torch.Tensor, logits_p: torch.Tensor) -> torch.Tensor:
    """``KL(Bernoulli(e) || Bernoulli(alpha))`` elementwise from logits.

    ``e log(e / alpha) + (1 - e) log((1 - e) / (1 - alpha))`` with the logs
    taken as ``log sigmoid`` of the logits, finite even where ``e`` rounds to 0 or 1.
    """
    e = torch.sigmoid(logits_q)
    return (e * (nnf.logsigmoid(logits_q) - nnf.logsigmoid(logits_p))
            + (1 - e) * (nnf.logsigmoid(-logits_q) - nnf.logsigmoid(-logits_p)))


def encoder_logits(x: torch.Tensor, params) -> torch.Tensor:
    """``W_enc x_n + b_enc``: ``(N, D) -> (*B, N, L)``."""
    return x @ params["encoder.weight"].transpose(-1, -2) + params["encoder.bias"][..., None, :]


def decoder_logits(z: torch.Tensor, params) -> torch.Tensor:
    """``W_dec z + b_dec``: ``(..., *B, N, L) -> (..., *B, N, D)``."""
    return z @ params["decoder.weight"].transpose(-1, -2) + params["decoder.bias"][..., None, :]


def enumerated_elbo(x: torch.Tensor, params, states: torch.Tensor) -> torch.Tensor:
    """Exact ``ELBO_n`` (module docstring) for unbatched params, shape ``(N,)``."""
    logits_q = encoder_logits(x, params)  # N x L
    # log q(s | x_n) for every state s: N x S, by matrix products against the states
    log_q = nnf.logsigmoid(logits_q) @ states.T + nnf.logsigmoid(-logits_q) @ (1 - states).T
    logits_x = states @ params["decoder.weight"].T + params["decoder.bias"]  # S x D
    # log p(x_n | s): N x S
    log_lik = x @ logits_x.T - nnf.softplus(logits_x).sum(-1)
    reconstruction = (log_q.exp() * log_lik).sum(-1)
    kl = bernoulli_kl(logits_q, params["prior.logits"]).sum(-1)
    return reconstruction - kl


def enumerated_iwae(x: torch.Tensor, params, states: torch.Tensor, bound_samples: int) -> torch.Tensor:
    """Exact ``E log 1/K sum_k w_nk`` (module docstring) for unbatched params, shape ``(N,)``:
    a sum over every ``K``-tuple of the ``S`` latent states (``S^K`` of them)."""
    logits_q = encoder_logits(x, params)  # N x L
    log_q = nnf.logsigmoid(logits_q) @ states.T + nnf.logsigmoid(-logits_q) @ (1 - states).T  # N x S
    logits_x = states @ params["decoder.weight"].T + params["decoder.bias"]  # S x D
    log_lik = x @ logits_x.T - nnf.softplus(logits_x).sum(-1)  # N x S
    log_prior = bernoulli_log_lik(states, params["prior.logits"]).sum(-1)  # S
    log_w = log_lik + log_prior - log_q  # N x S
    tuples = torch.cartesian_prod(*[torch.arange(states.shape[0])] * bound_samples) \
        .reshape(-1, bound_samples)  # S^K x K
    bound = torch.logsumexp(log_w[:, tuples], -1) - math.log(bound_samples)  # N x S^K
    return (log_q[:, tuples].sum(-1).exp() * bound).sum(-1)


def initial_params(latent_dim: int, data: torch.Tensor, generator: torch.Generator):
    """Small seeded weights; decoder bias at the logit of the pixel means."""
    mean = data.mean(0).clamp(0.01, 0.99)
    return {
        "encoder.weight": INIT_SCALE * torch.randn(latent_dim, NUM_PIXELS, generator=generator),
        "encoder.bias": torch.zeros(latent_dim),
        "decoder.weight": INIT_SCALE * torch.randn(NUM_PIXELS, latent_dim, generator=generator),
        "decoder.bias": torch.logit(mean),
        "prior.logits": torch.zeros(latent_dim),
    }


def train(params, data: torch.Tensor, states: torch.Tensor, steps: int):
    """``steps`` full-batch Adam steps ascending the exact ELBO, in float64."""
    leaves = {k: v.to(torch.float64).clone().requires_grad_(True) for k, v in params.items()}
    optimiser = torch.optim.Adam(leaves.values(), lr=LEARNING_RATE)
    data, states = data.to(torch.float64), states.to(torch.float64)
    with torch.enable_grad():
        for _ in range(steps):  # optimisation steps are sequential by nature
            optimiser.zero_grad()
            (-enumerated_elbo(data, leaves, states).mean()).backward()
            optimiser.step()
    return {k: v.detach().to(torch.float32) for k, v in leaves.items()}


class BernoulliVAE(Problem):
    """Sigmoid-belief VAE on binarised digits, L binary latents; exact gradient by enumeration."""

    name = "bernoulli_vae"
    reference_kind = "enumeration"

    def __init__(self, latent_dim: int = 8, num_data: int = 200, seed: int = 0,
                 train_steps: int = 30, objective: str = "elbo", bound_samples: int = 1):
        latent_dim = check_dim(latent_dim, "latent_dim")
        if latent_dim > MAX_LATENT_DIM:
            raise ValueError(f"latent_dim must be an integer in 1..{MAX_LATENT_DIM} (the exact "
                             f"gradient enumerates 2^latent_dim states), got {latent_dim!r}")
        num_data = check_dim(num_data, "num_data")
        if num_data > NUM_DIGITS:
            raise ValueError(f"num_data must be an integer in 1..{NUM_DIGITS} (the digits data "
                             f"set has {NUM_DIGITS} images), got {num_data!r}")
        if isinstance(train_steps, bool) or not isinstance(train_steps, int) or train_steps < 0:
            raise ValueError(f"train_steps must be an integer >= 0, got {train_steps!r}")
        self.objective = check_choice("objective", objective, OBJECTIVES)
        self.bound_samples = check_dim(bound_samples, "bound_samples")
        if objective == "elbo" and bound_samples != 1:
            raise ValueError(f"bound_samples={bound_samples!r} needs objective=iwae (the ELBO is "
                             f"a one-sample cost)")
        if objective == "iwae" and latent_dim * bound_samples > MAX_TUPLE_BITS:
            raise ValueError(f"objective=iwae needs latent_dim * bound_samples <= {MAX_TUPLE_BITS} "
                             f"(its exact gradient sums over 2^(latent_dim * bound_samples) tuples), "
                             f"got {latent_dim} * {bound_samples}")
        generator = torch.Generator().manual_seed(check_seed(seed))
        subset = torch.randperm(NUM_DIGITS, generator=generator)[:num_data]
        self.x = binarised_digits()[subset]  # N x 64
        self.states = all_states(latent_dim)  # 2^L x L
        self.config = {"latent_dim": latent_dim, "num_data": num_data, "seed": seed,
                       "train_steps": train_steps}
        start = initial_params(latent_dim, self.x, generator)
        if train_steps == 0:
            self.params = start
        else:
            # Keyed by the starting values and the data too, so that another draw of them
            # (another torch or scikit-learn) never reads weights trained from different ones.
            key = cache_key(f"{self.name} weights v{WEIGHTS_VERSION} {self.config_json}",
                            (*start.values(), self.x))
            self.params = cached_tensors(
                cache_dir() / f"{self.name}-L{latent_dim}-{key}.pt",
                lambda: train(start, self.x, self.states, train_steps),
                f"{self.name}(latent_dim={latent_dim})'s weights once ({train_steps} full-batch "
                f"Adam steps on the exact ELBO)", keys=start)
        if objective == "iwae":  # after the cache key: the ELBO's weights serve both objectives
            self.config.update(objective=objective, bound_samples=bound_samples)

    @property
    def num_data(self) -> int:
        return self.x.shape[0]

    @property
    def elements_per_sample(self) -> int:
        # decoder logits over 64 pixels and the latent terms, per data point
        return self.num_params + self.num_data * self.bound_samples * (
            3 * NUM_PIXELS + 4 * self.states.shape[1])

    def distribution(self, params):
        # batch (*B, N): one latent vector per data point, event (L,)
        logits = encoder_logits(self.x, params)
        if self.objective == "elbo":
            return Independent(Bernoulli(logits=logits, validate_args=False), 1)
        # event (K, L): the K particles of one bound
        logits = logits[..., None, :].expand(*logits.shape[:-1], self.bound_samples, logits.shape[-1])
        return Particles(Bernoulli(logits=logits, validate_args=False), 2)

    def cost(self, z, params):
        """The ELBO's per-sample cost, or the bound ``log 1/K sum_k w_k`` (objective=iwae) per data
        point: ``(K_est, *B, N, [K,] L) -> (K_est, *B, N)``."""
        if self.objective == "iwae":
            return torch.logsumexp(self.log_weights(z, params), -1) - math.log(self.bound_samples)
        return self.elbo_cost(z, params)

    def log_weights(self, z, params):
        """``log w_k = log p(x_n, h_k) - log q(h_k | x_n)`` per particle: ``(..., *B, N, K, L) ->
        (..., *B, N, K)`` (objective=iwae)."""
        flat = z.flatten(-3, -2)  # the particles of all data points as rows: ... x N K x L
        log_lik = bernoulli_log_lik(self.x.repeat_interleave(self.bound_samples, 0),
                                    decoder_logits(flat, params)).sum(-1)
        log_prior = bernoulli_log_lik(z, params["prior.logits"][..., None, None, :]).sum(-1)
        log_q = bernoulli_log_lik(z, encoder_logits(self.x, params)[..., None, :]).sum(-1)
        return log_lik.unflatten(-1, z.shape[-3:-1]) + log_prior - log_q

    def elbo_cost(self, z, params):
        """``f_n = log p(x_n | z_n) + log p(z_n) - log q(z_n | x_n)`` (F is their mean over n): ``(K, *B, N, L) -> (K, *B, N)``."""
        log_lik = bernoulli_log_lik(self.x, decoder_logits(z, params)).sum(-1)
        log_prior = bernoulli_log_lik(z, params["prior.logits"][..., None, :]).sum(-1)
        log_q = bernoulli_log_lik(z, encoder_logits(self.x, params)).sum(-1)
        return log_lik + log_prior - log_q

    def elbo_per_datum(self, params) -> torch.Tensor:
        """Exact ``ELBO_n`` by enumeration, shape ``(N,)``."""
        return enumerated_elbo(self.x, params, self.states)

    def expectation(self, params):
        if self.objective == "iwae":
            return enumerated_iwae(self.x, params, self.states, self.bound_samples).mean()
        return self.elbo_per_datum(params).mean()
