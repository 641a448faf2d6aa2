"""The papers' sigmoid belief network VAE on MNIST: 200 Bernoulli latents, a sampled reference.

The benchmark of REBAR (Tucker et al. 2017), RELAX (Grathwohl et al. 2018),
DisARM (Dong, Mnih & Tucker 2020, section 6) and ARMS (Dimitriev & Zhou 2021),
after their code (google-research/disarm ``disarm/binary``, alekdimi/arms
``networks.py`` and ``experiment_launcher.py``)::

    q(z | x) = prod_l Bernoulli(z_l; sigmoid(enc(x - xbar))_l)
    p(z)     = prod_l Bernoulli(z_l; sigmoid(prior.logits)_l)       (learned)
    p(x | z) = prod_d Bernoulli(x_d; sigmoid(dec(2 z - 1))_d)
    f_n(z)   = log p(x_n | z) + log p(z) - log q(z | x_n),   F = 1/N sum_n E_q f_n

``linear``: ``enc`` and ``dec`` are one dense layer (784-L, L-784);
``nonlinear``: three, with LeakyReLU(0.3) between (784-200-200-L, L-200-200-784).
``xbar`` is the training images' mean intensity; the encoder reads ``x - xbar``,
the decoder ``2 z - 1`` (the reference code's ``demean_input``); weights start
Glorot-uniform (Keras' default), biases at zero except the decoder's last, at
``logit(clip(xbar, 0.001, 0.999))``; the prior logits start at zero.

The problem's factors are one minibatch of ``batch_size`` images, dynamically
binarised (``suites.problems.datasets``) and drawn with ``seed``, which also
seeds the weights. ``sample_batch`` draws further minibatches and ``at_batch``
puts one in place (training, ``suites.run.sbn``); ``bound`` gives the
importance-weighted bound ``1/N sum_n log 1/K sum_k exp f_n(z_k)`` (Burda et al.
2016; ``K = 1``: the ELBO) on any images.

There is no enumeration at 200 latents, so the reference gradient is sampled
(``reference_kind = "monte_carlo"``): ``REFERENCE_ESTIMATES`` DisARM estimates of
``reference_samples / REFERENCE_ESTIMATES`` antithetic pairs each (unbiased, and
the lowest-variance unbiased estimator for this model in the DisARM paper's
figure 3), their mean and per-coordinate standard error, cached on disk keyed by
the parameters and the minibatch. ``suites.measure`` adds that error in
quadrature to every estimate's, so the bias z-score of every estimator counts it.
Every Bernoulli log-likelihood is ``v l - softplus(l)``, defined at relaxed ``z``
(the Concrete relaxation that Gumbel-softmax, REBAR and RELAX differentiate).
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import torch
import torch.nn.functional as nnf
from torch.distributions import Bernoulli, Independent

from suites.problems import datasets
from suites.problems.base import Problem, check_choice, check_dim, check_seed
from suites.problems.bernoulli_vae import bernoulli_log_lik
from suites.problems.cache import cache_dir, cache_key, cached_tensors

MODELS = ("linear", "nonlinear")
#: Hidden widths of the nonlinear model's encoder and decoder (the papers').
HIDDEN = 200
LEAKY_SLOPE = 0.3
MAX_BATCH = 100_000
#: The reference averages this many DisARM estimates (its se rests on their spread:
#: relative precision 1/sqrt(2 * 200) = 5%).
REFERENCE_ESTIMATES = 200
#: Seeds the reference, far from the small seeds the suites use.
REFERENCE_SEED = 2_147_483_629
#: Bump when the reference computation changes, to invalidate cached files.
REFERENCE_VERSION = 2
#: Numbers one batched pass of ``bound`` may hold (images x samples x pixels).
BOUND_CHUNK_ELEMENTS = 2**24


def layer_sizes(model: str, latent_dim: int) -> tuple[list[int], list[int]]:
    """``(encoder, decoder)`` widths from input to output."""
    hidden = [] if model == "linear" else [HIDDEN, HIDDEN]
    return [datasets.NUM_PIXELS, *hidden, latent_dim], [latent_dim, *hidden, datasets.NUM_PIXELS]


def layer_names(prefix: str, count: int) -> list[str]:
    """``encoder`` for one layer (as in ``bernoulli_vae``), else ``encoder.0 .. encoder.{count-1}``."""
    return [prefix] if count == 1 else [f"{prefix}.{i}" for i in range(count)]


def glorot_uniform(fan_out: int, fan_in: int, generator: torch.Generator) -> torch.Tensor:
    """``U(-a, a)``, ``a = sqrt(6 / (fan_in + fan_out))`` (Glorot & Bengio 2010; Keras' default)."""
    bound = math.sqrt(6 / (fan_in + fan_out))
    return (2 * torch.rand(fan_out, fan_in, generator=generator) - 1) * bound


def network(h: torch.Tensor, params, names: list[str]) -> torch.Tensor:
    """Dense layers with LeakyReLU between: ``(..., *B, N, in) -> (..., *B, N, out)`` for weights
    ``(*B, out, in)`` (the estimators' replicas broadcast against the samples in front)."""
    for i, name in enumerate(names):
        h = h @ params[f"{name}.weight"].transpose(-1, -2) + params[f"{name}.bias"][..., None, :]
        if i < len(names) - 1:
            h = nnf.leaky_relu(h, LEAKY_SLOPE)
    return h


def available_bytes() -> float:
    """Memory this process may still take: the kernel's available pages (inf where unknown)."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return math.inf


def bytes_needed(encoder: list[int], decoder: list[int], batch_size: int, pairs: int) -> int:
    """float32 bytes of the largest allocation set: the weights with their gradient, Adam's two
    moments and the reference's float64 moments (about 12 copies), and one reference pass of
    ``pairs`` antithetic pairs over the batch (activations and their gradients, 6 copies)."""
    weights = sum(a * b + b for a, b in zip(encoder[:-1], encoder[1:])) + \
        sum(a * b + b for a, b in zip(decoder[:-1], decoder[1:]))
    activations = 2 * pairs * batch_size * (sum(encoder[1:]) + sum(decoder))
    return 4 * (12 * weights + 6 * activations)


class SBN(Problem):
    """Sigmoid belief network VAE (linear or nonlinear) on MNIST minibatches; sampled reference."""

    name = "sbn"
    reference_kind = "monte_carlo"

    def __init__(self, latent_dim: int = 200, model: str = "linear", dataset: str = "mnist_subset",
                 batch_size: int = 50, seed: int = 0, reference_samples: int = 20_000,
                 data_dir: str | None = None):
        latent_dim = check_dim(latent_dim, "latent_dim")
        batch_size = check_dim(batch_size, "batch_size")
        check_choice("model", model, MODELS)
        check_choice("dataset", dataset, datasets.DATASETS)
        check_seed(seed)
        if (isinstance(reference_samples, bool) or not isinstance(reference_samples, int)
                or reference_samples < REFERENCE_ESTIMATES or reference_samples % REFERENCE_ESTIMATES):
            raise ValueError(f"reference_samples must be a positive multiple of {REFERENCE_ESTIMATES} "
                             f"(the reference averages that many DisARM estimates), got {reference_samples!r}")
        if batch_size > MAX_BATCH:
            raise ValueError(f"batch_size must be an integer in 1..{MAX_BATCH}, got {batch_size!r}")
        if data_dir is not None and not isinstance(data_dir, str):
            raise ValueError(f"data_dir must be a folder path (a string), got {data_dir!r}")
        encoder, decoder = layer_sizes(model, latent_dim)
        pairs = reference_samples // REFERENCE_ESTIMATES
        need, have = bytes_needed(encoder, decoder, batch_size, pairs), available_bytes()
        if need > have:
            raise ValueError(f"sbn(latent_dim={latent_dim}, batch_size={batch_size}, model={model}) "
                             f"needs about {need / 2**30:.1f} GiB, {have / 2**30:.1f} GiB are available; "
                             f"choose fewer latents, a smaller batch or fewer reference_samples")
        self.train_images, self.heldout_images = datasets.load(dataset, data_dir)
        self.config = {"latent_dim": latent_dim, "model": model, "dataset": dataset,
                       "batch_size": batch_size, "seed": seed, "reference_samples": reference_samples}
        if data_dir is not None:
            self.config["data_dir"] = data_dir
        self.encoder_names = layer_names("encoder", len(encoder) - 1)
        self.decoder_names = layer_names("decoder", len(decoder) - 1)
        generator = torch.Generator().manual_seed(seed)
        self.mean_image = self.train_images.to(torch.float32).mean(0) / 255  # xbar
        self.params = {}
        for names, sizes in ((self.encoder_names, encoder), (self.decoder_names, decoder)):
            for name, fan_in, fan_out in zip(names, sizes[:-1], sizes[1:]):
                self.params[f"{name}.weight"] = glorot_uniform(fan_out, fan_in, generator)
                self.params[f"{name}.bias"] = torch.zeros(fan_out)
        self.params[f"{self.decoder_names[-1]}.bias"] = torch.logit(self.mean_image.clamp(0.001, 0.999))
        self.params["prior.logits"] = torch.zeros(latent_dim)
        self.x = self.sample_batch(generator)  # N x 784, the problem's factors
        self._reference_memo: list = []  # shared by copies (``to``): one reference per point

    # --- the model ----------------------------------------------------------------------------

    def encoder_logits(self, params, x: torch.Tensor | None = None) -> torch.Tensor:
        """``enc(x - xbar)``: ``(N, 784) -> (*B, N, L)``."""
        x = self.x if x is None else x
        return network(x - self.mean_image.to(x), params, self.encoder_names)

    def decoder_logits(self, z: torch.Tensor, params) -> torch.Tensor:
        """``dec(2 z - 1)``: ``(..., *B, N, L) -> (..., *B, N, 784)``."""
        return network(2 * z - 1, params, self.decoder_names)

    def distribution(self, params):
        # batch (*B, N): one latent vector per image, event (L,)
        return Independent(Bernoulli(logits=self.encoder_logits(params), validate_args=False), 1)

    def cost(self, z, params):
        """``f_n = log p(x_n | z_n) + log p(z_n) - log q(z_n | x_n)``: ``(K, *B, N, L) -> (K, *B, N)``."""
        log_lik = bernoulli_log_lik(self.x, self.decoder_logits(z, params)).sum(-1)
        log_prior = bernoulli_log_lik(z, params["prior.logits"][..., None, :]).sum(-1)
        log_q = bernoulli_log_lik(z, self.encoder_logits(params)).sum(-1)
        return log_lik + log_prior - log_q

    def exact_gradient(self, params=None):
        """``None``: no enumeration at this size (see ``reference_gradient``)."""
        return None

    @property
    def elements_per_image(self) -> int:
        """Numbers one sample of one image holds: every layer's activations, the pixels' and the
        latents' log-likelihood terms."""
        encoder, decoder = layer_sizes(self.config["model"], self.config["latent_dim"])
        return 2 * sum(encoder[1:]) + 2 * sum(decoder) + 4 * encoder[-1]

    @property
    def elements_per_sample(self) -> int:
        return self.num_params + self.x.shape[0] * self.elements_per_image

    # --- data ---------------------------------------------------------------------------------

    def sample_batch(self, generator: torch.Generator) -> torch.Tensor:
        """A minibatch of training images drawn uniformly with replacement, binarised afresh."""
        index = torch.randint(self.train_images.shape[0], (self.config["batch_size"],),
                              generator=generator, device=generator.device)
        return datasets.binarise(self.train_images.to(generator.device)[index], generator)

    def at_batch(self, x: torch.Tensor) -> "SBN":
        """A copy whose factors are the binary images ``x`` ``(N, 784)`` (same weights)."""
        new = self.to()
        new.x = x.to(device=self.device, dtype=self.dtype)
        new._reference_memo = []
        return new

    @torch.no_grad()
    def bound(self, images: torch.Tensor, num_samples: int, generator: torch.Generator,
              params=None) -> torch.Tensor:
        """``1/N sum_n log 1/K sum_k exp f_n(z_nk)``, ``z_nk ~ q(z | x_n)``, on binary ``images``
        (``K = 1``: the ELBO; ``K = 100``: the papers' held-out bound), in chunks of images."""
        from estimators.base import sampling_from

        params = self.params if params is None else params
        chunk = max(1, BOUND_CHUNK_ELEMENTS // (num_samples * self.elements_per_image))
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        with sampling_from(generator):
            for start in range(0, images.shape[0], chunk):  # chunks bound memory
                part = self.at_batch(images[start:start + chunk])
                z = part.distribution(params).sample((num_samples,))  # K x n x L
                cost = part.cost(z, params)  # K x n
                total += (torch.logsumexp(cost, 0) - math.log(num_samples)).double().sum()
        return total / images.shape[0]

    # --- the sampled reference ----------------------------------------------------------------

    def cache_path(self) -> Path:
        key = cache_key(f"{self.name} v{REFERENCE_VERSION} {REFERENCE_SEED} {self.config_json}",
                        (*self.params.values(), self.x))
        return cache_dir() / f"{self.name}-{self.config['model']}-L{self.config['latent_dim']}-{key}.pt"

    def reference_gradient(self):
        """DisARM over ``reference_samples`` antithetic pairs: mean and per-coordinate se, cached."""
        # in-place updates (an optimiser's) bump ``_version``: a changed point is never served
        key = tuple((t.data_ptr(), t._version) for t in (*self.params.values(), self.x))
        if self._reference_memo and self._reference_memo[0] == key:
            return self._reference_memo[1]

        def compute():
            mean, se = sampled_reference(self, self.config["reference_samples"])
            return {"mean": mean, "se": se, "config": self.config_json}

        stored = cached_tensors(
            self.cache_path(), compute,
            f"{self.label}'s reference gradient ({self.config['reference_samples']:,} DisARM pairs)",
            keys=("mean", "se"))
        move = {"device": self.device, "dtype": self.dtype}
        value = ({n: stored["mean"][n].to(**move) for n in self.params},
                 {n: stored["se"][n].to(**move) for n in self.params})
        self._reference_memo[:] = [key, value]
        return value


def sampled_reference(problem: SBN, num_pairs: int, seed: int = REFERENCE_SEED):
    """``REFERENCE_ESTIMATES`` DisARM estimates of ``num_pairs / REFERENCE_ESTIMATES`` pairs each:
    their mean (the average over all pairs) and its per-coordinate standard error (batch means),
    on the problem's own device, accumulated in float64 and kept in float32.

    The standard error is NaN where the batch means rest on fewer than
    ``MIN_EFFECTIVE_ESTIMATES`` effective estimates (``Moments.effective_estimates``):
    there the mean comes from rare draws (an antithetic pair whose halves almost always
    cancel the learning signal of a rarely lit pixel), the error cannot be trusted, and an
    estimator's sample of a thousand usually holds none of those draws, so that its z-score
    would call an unbiased estimator biased; ``suites.measure`` leaves such coordinates out
    of the bias test (``z_untested``).
    """
    import estimators
    from suites.measurement.measure import MIN_EFFECTIVE_ESTIMATES
    from suites.measurement.moments import Moments

    disarm = estimators.get("disarm")
    inner = num_pairs // REFERENCE_ESTIMATES
    generator = torch.Generator(device=problem.device).manual_seed(seed)
    moments = {name: Moments() for name in problem.params}
    per_call = max(1, min(REFERENCE_ESTIMATES, 2**27 // (4 * problem.num_params)))
    for start in range(0, REFERENCE_ESTIMATES, per_call):  # chunks bound the rows' memory
        grads = disarm(problem, min(per_call, REFERENCE_ESTIMATES - start), inner, generator)
        for name, rows in grads.items():
            moments[name].update(rows)
    shapes = {n: p.shape for n, p in problem.params.items()}
    # float32 on disk (2.5 MB a point at 200 latents, not 5): far finer than the se itself
    mean = {n: m.mean().reshape(shapes[n]).float().cpu() for n, m in moments.items()}
    se = {n: torch.where(m.effective_estimates() >= MIN_EFFECTIVE_ESTIMATES, (m.variance() / m.count).sqrt(),
                         torch.nan).reshape(shapes[n]).float().cpu() for n, m in moments.items()}
    return mean, se
