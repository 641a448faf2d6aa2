"""The estimator contract, stated once.

An estimator turns a problem ``F(theta) = E_{z ~ q(z; theta)} [f(z; theta)]``
into ``M`` independent Monte Carlo estimates of ``grad_theta F``, each the
average of ``K`` inner samples::

    grads = estimator(problem, num_estimates=M, num_samples=K, generator=g)
    grads["loc"].shape == (M, *problem.params["loc"].shape)

All ``M`` estimates come from one batched autograd pass. The parameters are
replicated to shape ``(M, *shape)`` (an expanded view, no copy), the
distribution is built with that batch dimension in front, and each
subclass returns a per-estimate *surrogate* ``s_m`` of shape ``(M,)`` whose
gradient with respect to the ``m``-th replica is the ``m``-th estimate.
Because ``s_m`` depends on replica ``m`` only, ``grad(sum_m s_m)`` w.r.t.
the replicated parameters is exactly the stack of per-estimate gradients
(the "summed objective" trick; no per-sample loop, no ``vmap`` needed).

Problems with independent factors (the data points of an amortised VAE)
return a per-factor cost ``f_n(z_n)``, shape ``(K, M, *factors)``, and
``F = mean_n E f_n``. Surrogates keep that shape, so the score function can
weight each factor's score by its own cost (the per-data-point learning
signal of NVIL, Mnih & Gregor 2014); the base class takes the mean over
factors.

Sign convention: estimates are of ``grad F``, not of a loss.
"""
from __future__ import annotations

import abc
import contextlib
import json
import weakref
from typing import Any, ClassVar, Mapping

import torch
from torch.distributions import Bernoulli, Distribution, Independent, Uniform

from .memory import check_fits, keep_freed_memory
from .registry import same_value


def unwrap_independent(distribution: Distribution) -> tuple[Distribution, int]:
    """The base family under any ``Independent`` wrappers, and how many event dims they add."""
    ndims = 0
    while isinstance(distribution, Independent):
        ndims += distribution.reinterpreted_batch_ndims
        distribution = distribution.base_dist
    return distribution, ndims


@contextlib.contextmanager
def sampling_from(generator: torch.Generator | None):
    """Make ``torch.distributions`` sampling inside the block draw from ``generator``.

    ``Distribution.sample``/``rsample`` take no generator argument, so the
    global RNG of the generator's device is forked, seeded from ``generator``
    (which advances it, keeping successive calls independent) and restored on
    exit: results depend on ``generator`` alone, never on global state.
    """
    if generator is None:
        yield
        return
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got "
                        f"{type(generator).__name__} {generator!r}")
    device = generator.device
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=device).item())
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        with torch.random.fork_rng(devices=[index]), torch.cuda.device(index):
            torch.cuda.manual_seed(seed)
            yield
    else:
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            yield


def replicate(params: Mapping[str, torch.Tensor], num_estimates: int) -> dict[str, torch.Tensor]:
    """Leaf views of shape ``(M, *shape)`` that autograd tells apart per estimate."""
    return {
        name: p.detach().expand(num_estimates, *p.shape).requires_grad_(True)
        for name, p in params.items()
    }


#: Numbers (estimate rows times inner samples) one batched pass may hold on the CPU. About
#: a million keeps a pass's intermediates in cache: on gaussian dim 100 one pass of 100,000
#: estimates costs 6.0 us per estimate, passes of 10,000 cost 2.0.
CHUNK_ELEMENTS = 2**20
#: The same on a GPU, where a pass must be large to fill the device (a pass of 10,000
#: estimates at dim 10 is launch-bound on an H100) and memory is not cache-bound: 2**24
#: numbers are 64 MB a float32 intermediate.
CUDA_CHUNK_ELEMENTS = 2**24


def chunk_size(problem, num_samples: int) -> int:
    """Estimates per batched pass, so that one pass holds about ``CHUNK_ELEMENTS`` numbers
    (``CUDA_CHUNK_ELEMENTS`` for a problem on a GPU)."""
    per_sample = getattr(problem, "elements_per_sample", None)
    if per_sample is None:
        per_sample = sum(p.numel() for p in problem.params.values())
    device = getattr(problem, "device", torch.device("cpu"))
    budget = CUDA_CHUNK_ELEMENTS if torch.device(device).type == "cuda" else CHUNK_ELEMENTS
    return max(1, budget // (max(1, per_sample) * num_samples))


_SAMPLE_NUMBERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def sample_numbers(problem) -> int:
    """Numbers one inner sample of one estimate holds through the cost (what sizes a pass's
    memory): ``problem.numbers_per_sample()`` where the problem declares it, else the larger
    of its ``elements_per_sample`` (the parameter count unless declared) and the numel of one
    sample of ``problem.distribution`` (batch times event shape)."""
    declared = getattr(problem, "numbers_per_sample", None)
    if callable(declared):
        return max(1, int(declared()))
    try:
        return _SAMPLE_NUMBERS[problem]
    except (KeyError, TypeError):
        pass
    per_sample = getattr(problem, "elements_per_sample", None)
    if per_sample is None:
        per_sample = sum(p.numel() for p in problem.params.values())
    try:
        distribution = problem.distribution(problem.params)
        one_sample = distribution.batch_shape.numel() * distribution.event_shape.numel()
    except Exception:  # noqa: BLE001 -- a size estimate must not fail where the call would not
        one_sample = 0
    numbers = max(1, int(per_sample), int(one_sample))
    try:
        _SAMPLE_NUMBERS[problem] = numbers  # a problem's shapes do not change
    except TypeError:  # not weakly referable or not hashable: computed again next time
        pass
    return numbers


def check_problem_argument(problem: Any, name: str = "problem") -> None:
    """``TypeError`` unless ``problem`` is a problem object (it has ``params`` and
    ``distribution``): a name is looked up first, ``suites.problems.get(name)``."""
    if not (hasattr(problem, "params") and callable(getattr(problem, "distribution", None))):
        hint = (f"; look a name up first: suites.problems.get({problem!r})"
                if isinstance(problem, str) else "")
        raise TypeError(f"{name} must be a problem object (with params and distribution), got "
                        f"{type(problem).__name__} {problem!r}{hint}")


def _check_count(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


class Estimator(abc.ABC):
    """Base class: options, applicability and the batched gradient pass.

    Subclasses set ``name`` and ``options`` (option name -> default), define
    ``check(distribution)`` (raise ``ValueError`` saying why it does not
    apply) and ``surrogate(problem, distribution, params, num_samples)``.
    """

    name: ClassVar[str]
    options: ClassVar[dict[str, Any]] = {}
    #: True when the estimator's expectation is grad F exactly.
    unbiased: ClassVar[bool] = True
    #: Evaluations of the cost per inner sample: what matched-cost comparisons divide a budget by.
    evaluations_per_sample: ClassVar[int] = 1
    #: Names of the ``torch.distributions`` families it applies to (what ``mcgradbench list`` shows);
    #: ``("any",)`` for every family with the method it needs. ``check`` is what enforces it.
    families: ClassVar[tuple[str, ...]] = ()
    #: Numbers one batched pass holds at its peak per number of one inner sample (the sample,
    #: its log-probability, the cost's intermediates and their gradients): what sizes the
    #: memory estimate of ``pass_bytes``. Measured by peak RSS at K = 10^6 on gaussian and
    #: bernoulli (dim 10): score_function 4-6, reparam 4, DisARM 9, delta_method 10, REBAR and
    #: gumbel_softmax 15; RELAX and gumbel_rao declare more.
    intermediates: ClassVar[int] = 16

    def __init__(self, **options: Any):
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            allowed = ", ".join(sorted(self.options)) or "none"
            raise ValueError(
                f"unknown option(s) {unknown} for estimator {self.name!r}; allowed: {allowed}"
            )
        self.config: dict[str, Any] = {**self.options, **options}

    @property
    def label(self) -> str:
        """Name with the options that differ from the defaults, as the CLI and the figures show it.

        The same format as ``suites.problems.labels.with_options``, which reads it back
        from stored rows (``estimators`` cannot depend on ``suites``); a test
        keeps the two in step.
        """
        shown = {k: v for k, v in self.config.items()
                 if k not in self.options or not same_value(v, self.options[k])}
        if not shown:
            return self.name
        inner = ",".join(f"{k}={v}" for k, v in sorted(shown.items()))
        return f"{self.name}({inner})"

    @property
    def config_json(self) -> str:
        """The options as canonical JSON: what a result row says was measured."""
        return json.dumps(self.config, sort_keys=True)

    def __repr__(self) -> str:
        return f"estimators.get({self.name!r}, " + ", ".join(
            f"{k}={v!r}" for k, v in self.config.items()) + ")"

    @abc.abstractmethod
    def check(self, distribution: Distribution) -> None:
        """Raise ``ValueError`` (saying why) when this estimator cannot handle ``distribution``."""

    @abc.abstractmethod
    def surrogate(self, problem, distribution: Distribution,
                  params: dict[str, torch.Tensor], num_samples: int) -> torch.Tensor:
        """Per-estimate objective, shape ``(M, *factors)``, whose gradient is the estimate."""

    def check_num_samples(self, num_samples: int) -> None:
        """Hook for estimators that need several inner samples."""

    def evaluations(self, problem, num_samples: int) -> int:
        """Cost evaluations one estimate of ``num_samples`` inner samples spends on ``problem``:
        what matched-cost comparisons hold equal. A gradient or a Hessian-vector product of
        the cost counts as one evaluation (each is a small constant multiple of one; Griewank
        & Walther 2008, "Evaluating Derivatives", ch. 4). Default:
        ``num_samples * evaluations_per_sample``."""
        return num_samples * self.evaluations_per_sample

    def copies_per_sample(self, problem) -> int:
        """Copies of a sample one inner sample evaluates the cost on (sizes the batched passes:
        the measure-valued estimator perturbs each coordinate in its own copy)."""
        return 1

    def pass_bytes(self, problem, num_estimates: int, num_samples: int) -> int:
        """Bytes one batched pass of ``num_estimates`` estimates of ``num_samples`` inner samples
        holds at its peak (an estimate, made to refuse what cannot fit, not a bound):
        ``itemsize x M x (K x copies x numbers x intermediates + 2 P)``, ``numbers`` per inner
        sample from ``sample_numbers(problem)``, ``P`` the parameter count (the replicated
        leaves and their gradients). Override where an estimator knows better."""
        itemsize = getattr(problem, "dtype", torch.float32).itemsize
        params = sum(p.numel() for p in problem.params.values())
        per_estimate = (num_samples * self.copies_per_sample(problem) * sample_numbers(problem)
                        * self.intermediates + 2 * params)
        return itemsize * num_estimates * per_estimate

    def call_bytes(self, problem, num_estimates: int, num_samples: int) -> int:
        """Bytes of ``self(problem, num_estimates, num_samples)`` at its peak: one pass of a
        chunk's estimates, and the ``(M, *shape)`` rows it returns when ``M`` spans chunks."""
        chunk = chunk_size(problem, num_samples * self.copies_per_sample(problem))
        rows = min(num_estimates, chunk)
        itemsize = getattr(problem, "dtype", torch.float32).itemsize
        params = sum(p.numel() for p in problem.params.values())
        out = num_estimates * params * itemsize if num_estimates > chunk else 0
        return out + self.pass_bytes(problem, rows, num_samples)

    def check_fits(self, problem, num_estimates: int, num_samples: int, device=None,
                   what: str | None = None) -> None:
        """``ValueError`` (one line, the size and the memory available) when
        ``self(problem, num_estimates, num_samples)`` cannot fit on ``device`` (default: the
        problem's); ``what`` names the call in the message."""
        device = device if device is not None else getattr(problem, "device", "cpu")
        if what is None:
            what = f"{self.label} on {getattr(problem, 'name', type(problem).__name__)}: a call"
        estimates = f"{num_estimates:,} estimate" + ("s" if num_estimates != 1 else "")
        samples = f"{num_samples:,} sample" + ("s" if num_samples != 1 else "")
        check_fits(f"{what} of {estimates} of {samples}",
                   self.call_bytes(problem, num_estimates, num_samples), device,
                   hint="; ask for fewer estimates or samples")
    def pathwise(self, distribution: Distribution) -> str:
        """Which path the estimate differentiates through on ``distribution``, as result rows
        record it: ``"explicit"`` (a closed-form transform of free noise), ``"implicit"``
        (``torch.distributions``' implicit reparameterisation gradient), ``"rejection"``
        (a reparameterised rejection sampler); ``""`` (default) for no pathwise term."""
        return ""

    def applies_to(self, problem) -> bool:
        """Whether ``self(problem, ...)`` would run; never raises."""
        try:
            self.check(problem.distribution(problem.params))
        except ValueError:
            return False
        return True

    def __call__(self, problem, num_estimates: int, num_samples: int = 1,
                 generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """``M`` independent gradient estimates per parameter name, each ``(M, *shape)``.

        Large ``M`` is computed in chunks of ``chunk_size(problem, K)`` estimates written
        into preallocated rows: one batched pass over all ``M`` at once spills its
        intermediates out of cache and costs several times more per estimate. The
        chunks draw in turn from one stream seeded by ``generator``, so a call is
        still determined by ``generator`` alone.
        """
        check_problem_argument(problem)
        _check_count("num_estimates", num_estimates, 1)
        _check_count("num_samples", num_samples, 1)
        self.check_num_samples(num_samples)
        self.check_fits(problem, num_estimates, num_samples)
        keep_freed_memory()
        chunk = chunk_size(problem, num_samples * self.copies_per_sample(problem))
        with sampling_from(generator):
            if num_estimates <= chunk:
                return self.batched_pass(problem, num_estimates, num_samples)
            out = {name: p.new_empty((num_estimates, *p.shape)) for name, p in problem.params.items()}
            for start in range(0, num_estimates, chunk):
                stop = min(start + chunk, num_estimates)
                for name, rows in self.batched_pass(problem, stop - start, num_samples).items():
                    out[name][start:stop] = rows
        return out

    def batched_pass(self, problem, num_estimates: int, num_samples: int) -> dict[str, torch.Tensor]:
        """``M`` estimates in one autograd pass (the summed-objective trick), from the global RNG."""
        params = replicate(problem.params, num_estimates)
        with torch.enable_grad():
            distribution = problem.distribution(params)
            self.check(distribution)
            objective = self.surrogate(problem, distribution, params, num_samples)  # M x factors
            # F is the mean over independent factors (data points), so each replica's
            # objective is too; replicas are summed because they are independent leaves.
            objective = objective.reshape(num_estimates, -1).mean(1)
            grads = torch.autograd.grad(objective.sum(), list(params.values()), allow_unused=True)
        return {
            name: torch.zeros_like(p) if g is None else g
            for (name, p), g in zip(params.items(), grads)
        }


class BernoulliEstimator(Estimator):
    """Base for estimators of (independent) Bernoulli variables: the check and their noise."""

    families = ("Bernoulli",)

    def check(self, distribution: Distribution) -> None:
        base, _ = unwrap_independent(distribution)
        if not isinstance(base, Bernoulli):
            raise ValueError(
                f"{self.name} applies to Bernoulli variables only, got {type(base).__name__}; "
                f"use reparam or score_function for continuous families")

    @staticmethod
    def uniform_noise(logits: torch.Tensor, num_samples: int) -> torch.Tensor:
        """``U(0, 1)`` noise of shape ``(K, *logits.shape)``, drawn by ``torch.distributions``."""
        zero = torch.zeros((), dtype=logits.dtype, device=logits.device)
        return Uniform(zero, zero + 1).sample((num_samples, *logits.shape))
