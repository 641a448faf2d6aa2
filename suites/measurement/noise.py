"""The random numbers of an estimator call, recorded or replaced by given values.

Estimators draw their noise through ``torch.distributions`` (``sample``,
``rsample``) and a few helpers, which end in a handful of torch random
primitives: ``torch.rand`` / ``Tensor.uniform_`` (uniform), ``torch.normal``
/ ``Tensor.normal_`` / ``torch.randn`` (standard normal),
``torch.bernoulli`` and ``Tensor.exponential_``. A
``torch.overrides.TorchFunctionMode`` sees every call of those inside a
``with`` block, so without touching any estimator we can

* ``RecordNoise``: let the call run on the real RNG and note, per draw, its
  kind, the per-estimate shape (the estimates' axis, of size ``M``,
  removed) and, for Bernoulli draws, the success probabilities;
* ``ReplayNoise``: answer the same sequence of draws with given values,
  one row per estimate: ``M`` estimates at ``M`` quadrature nodes.

Why a mode and not a noise argument: every estimator, today's and any a
user writes, keeps one copy of its formula and its ``torch.distributions``
sampling, and the exact-moment machinery (``suites.measurement.exact``) still sees
through it. The mode is scoped to its ``with`` block (unlike patching torch
globally) and leaves gradients untouched: replayed values enter the
computation where the random ones would (``loc + scale * eps`` stays
differentiable in ``loc`` and ``scale``). A primitive it cannot replay
(``torch.multinomial``, gamma draws, ...) raises ``UnsupportedNoise``
naming it, so no exact value is ever computed from noise it did not control.

Replay takes standard variates (``U(0, 1)``, ``N(0, 1)``, ``Exp(1)``) or,
for ``torch.bernoulli``, the 0/1 outcomes themselves.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch.overrides import TorchFunctionMode

#: The random primitives this module records and replays, by the kind of variate they consume.
_UNIFORM = {torch.rand, torch.rand_like, torch.Tensor.uniform_}
_NORMAL = {torch.normal, torch.randn, torch.randn_like, torch.Tensor.normal_}
_BERNOULLI = {torch.bernoulli}
_EXPONENTIAL = {torch.Tensor.exponential_}
#: Random primitives that would bypass the replay: refused by name.
_UNSUPPORTED = {
    torch.randint, torch.randint_like, torch.randperm, torch.multinomial, torch.poisson,
    torch._standard_gamma, torch._sample_dirichlet, torch.binomial,
    torch.Tensor.random_, torch.Tensor.cauchy_, torch.Tensor.log_normal_,
    torch.Tensor.geometric_, torch.Tensor.bernoulli_, torch.Tensor.bernoulli,
    torch.Tensor.multinomial,
}


class UnsupportedNoise(NotImplementedError):
    """An estimator drew noise through a primitive that cannot be recorded or replayed."""


def _kind(func) -> str | None:
    for kind, funcs in (("uniform", _UNIFORM), ("normal", _NORMAL), ("bernoulli", _BERNOULLI),
                        ("exponential", _EXPONENTIAL)):
        if func in funcs:
            return kind
    if func in _UNSUPPORTED:
        raise UnsupportedNoise(f"{getattr(func, '__name__', func)} draws noise that "
                               f"suites.measurement.noise cannot replay")
    return None


def _size(args, kwargs) -> tuple[int, ...]:
    """The requested shape of a factory call (``torch.rand(2, 3)`` or ``torch.rand((2, 3))``)."""
    size = kwargs.get("size", args)
    if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)):
        size = size[0]
    return tuple(int(s) for s in size)


def _output_shape(func, args, kwargs) -> tuple[int, ...]:
    """The shape of the noise tensor a random primitive returns."""
    if func in (torch.rand, torch.randn):
        return _size(args, kwargs)
    if func is torch.normal:
        tensors = [a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)]
        if tensors:
            return tuple(torch.broadcast_shapes(*(t.shape for t in tensors)))
        return tuple(kwargs.get("size", args[2] if len(args) > 2 else ()))
    return tuple(args[0].shape)  # *_like, bernoulli and the in-place methods


@dataclass(frozen=True)
class Draw:
    """One call of a random primitive: its kind and per-estimate shape (``axis`` removed)."""

    kind: str
    shape: tuple[int, ...]
    axis: int
    #: Bernoulli draws: the success probability of each element, shape ``shape``.
    probs: torch.Tensor | None = None

    @property
    def size(self) -> int:
        """Scalar variates one estimate consumes in this draw."""
        n = 1
        for s in self.shape:
            n *= s
        return n


class RecordNoise(TorchFunctionMode):
    """Run on the real RNG, recording every draw of an estimator call with ``M`` estimates."""

    def __init__(self, num_estimates: int):
        super().__init__()
        self.num_estimates = num_estimates
        self.draws: list[Draw] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        kind = _kind(func)
        if kind is not None:
            shape = _output_shape(func, args, kwargs)
            axes = [i for i, s in enumerate(shape) if s == self.num_estimates]
            if len(axes) != 1:
                raise UnsupportedNoise(
                    f"cannot tell the estimates' axis (size {self.num_estimates}) in a draw of "
                    f"shape {shape}")
            axis = axes[0]
            per_estimate = shape[:axis] + shape[axis + 1:]
            probs = None
            if kind == "bernoulli":
                p = args[0].detach().to(torch.float64)
                first = p.select(axis, 0)
                if not torch.equal(p, first.unsqueeze(axis).expand_as(p)):
                    raise UnsupportedNoise("Bernoulli probabilities differ between estimates")
                probs = first
            self.draws.append(Draw(kind, per_estimate, axis, probs))
        return func(*args, **kwargs)


class ReplayNoise(TorchFunctionMode):
    """Answer an estimator call's draws with ``values[j]`` (``(M, *draws[j].shape)``), in order.

    An estimator that splits a large call into batched passes (``Estimator.__call__``
    chunks over estimates) repeats the recorded sequence of draws once per pass, each
    for fewer estimates: every pass takes the next rows of every draw's values.
    """

    def __init__(self, draws: Sequence[Draw], values: Sequence[torch.Tensor]):
        super().__init__()
        if len(draws) != len(values):
            raise ValueError(f"{len(draws)} draws but {len(values)} value tensors")
        self.draws, self.values = list(draws), list(values)
        self.position, self.row = 0, 0

    @property
    def finished(self) -> bool:
        """Whether every row of every draw has been handed out, and no pass is half done."""
        rows = self.values[0].shape[0] if self.values else 0
        return self.position == 0 and self.row == rows

    def _next(self, kind: str, shape: tuple[int, ...], like: torch.Tensor | None,
              dtype=None, device=None) -> torch.Tensor:
        if not self.draws:
            raise UnsupportedNoise("the call drew noise where none was recorded")
        draw, value = self.draws[self.position], self.values[self.position]
        expected = shape[:draw.axis] + shape[draw.axis + 1:]
        count = shape[draw.axis] if len(shape) > draw.axis else -1
        if draw.kind != kind or tuple(expected) != tuple(draw.shape) \
                or self.row + count > value.shape[0]:
            raise UnsupportedNoise(
                f"draw {self.position + 1}: recorded {draw.kind} {draw.shape}, now {kind} "
                f"{expected} for {count} estimates at row {self.row}")
        out = value[self.row:self.row + count].movedim(0, draw.axis)
        self.position += 1
        if self.position == len(self.draws):  # one batched pass complete
            self.position, self.row = 0, self.row + count
        if like is not None:
            dtype, device = dtype or like.dtype, device or like.device
        return out.to(dtype=dtype or torch.get_default_dtype(), device=device)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        kind = _kind(func)
        if kind is None:
            return func(*args, **kwargs)
        shape = _output_shape(func, args, kwargs)
        like = next((a for a in args if isinstance(a, torch.Tensor)), None)
        dtype, device = kwargs.get("dtype"), kwargs.get("device")
        noise = self._next(kind, shape, like, dtype, device)
        if func is torch.Tensor.uniform_:
            low = args[1] if len(args) > 1 else kwargs.get("from", 0.0)
            high = args[2] if len(args) > 2 else kwargs.get("to", 1.0)
            with torch.no_grad():
                return args[0].copy_(low + (high - low) * noise)
        if func is torch.Tensor.normal_:
            mean = args[1] if len(args) > 1 else kwargs.get("mean", 0.0)
            std = args[2] if len(args) > 2 else kwargs.get("std", 1.0)
            with torch.no_grad():
                return args[0].copy_(mean + std * noise)
        if func is torch.Tensor.exponential_:
            rate = args[1] if len(args) > 1 else kwargs.get("lambd", 1.0)
            with torch.no_grad():
                return args[0].copy_(noise / rate)
        if func is torch.normal:
            mean = args[0] if args else kwargs.get("mean", 0.0)
            std = args[1] if len(args) > 1 else kwargs.get("std", 1.0)
            return (mean + std * noise).detach()
        return noise  # rand, randn, *_like: standard variates; bernoulli: the outcomes


def record(estimator, problem, num_estimates: int, num_samples: int) -> list[Draw]:
    """The draws of one call ``estimator(problem, num_estimates, num_samples)``."""
    mode = RecordNoise(num_estimates)
    with mode:
        estimator(problem, num_estimates, num_samples)
    return mode.draws


def record_unambiguous(estimator, problem, num_samples: int,
                       candidates: Sequence[int] = (7, 11, 13, 17)) -> list[Draw]:
    """``record`` with a number of estimates no other dimension of any draw shares."""
    last = None
    for num_estimates in candidates:
        try:
            return record(estimator, problem, num_estimates, num_samples)
        except UnsupportedNoise as error:
            if "estimates' axis" not in str(error):
                raise
            last = error
    raise last


def replay(estimator, problem, draws: Sequence[Draw], values: Sequence[torch.Tensor],
           num_samples: int) -> dict[str, torch.Tensor]:
    """``estimator``'s estimates with its noise replaced: one estimate per row of ``values``."""
    num_estimates = values[0].shape[0] if values else 1
    mode = ReplayNoise(draws, values)
    with mode:
        grads = estimator(problem, num_estimates, num_samples)
    if draws and not mode.finished:
        raise UnsupportedNoise(f"the call used {mode.row} of {num_estimates} rows of noise")
    return grads
