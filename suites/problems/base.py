"""The problem contract: an expectation whose gradient we want.

A problem is ``F(theta) = E_{z ~ q(z; theta)} [f(z; theta)]`` with

* ``params``: ordered mapping name -> tensor (the theta we differentiate);
* ``distribution(params)``: a batched ``torch.distributions`` object;
* ``cost(z, params)``: ``f``, vectorised over leading sample dims;
* ``exact_gradient(params=None)``: ``grad F`` per parameter name.

Batching rule (what makes estimators vectorised): ``distribution`` and
``cost`` must accept parameters with extra leading dims ``B`` (estimators
pass ``(M, *shape)`` replicas). ``distribution(params)`` then has batch
shape ``(*B, *factors)`` and ``cost(z, params)`` maps ``z`` of shape
``(K, *B, *factors, *event)`` to ``(K, *B, *factors)``.

``factors`` are independent factors of ``q`` (the data points of an
amortised VAE; none for the toy problems): the cost is then per factor,
``f_n(z_n; theta)``, and ``F = mean_n E f_n``. Keeping it per factor lets
the score function weight each factor's score by its own cost.

Where ``F`` has a closed form, subclasses implement ``expectation(params)``
and the exact gradient is autograd of that closed form, computed in float64.
"""
from __future__ import annotations

import abc
import copy
import json
import math
from typing import Any, ClassVar, Mapping, Sequence

import torch
from torch.distributions import Distribution

from estimators.memory import check_fits
from estimators.registry import OptionTypeError, check_not_flag, check_seed

Params = Mapping[str, torch.Tensor]


class Problem(abc.ABC):
    """Base class; see the module docstring for the contract."""

    name: ClassVar[str]
    #: How ``reference_gradient`` is obtained: "closed_form", "enumeration", "monte_carlo".
    reference_kind: ClassVar[str] = "closed_form"

    params: dict[str, torch.Tensor]
    config: dict[str, Any]

    @abc.abstractmethod
    def distribution(self, params: Params) -> Distribution:
        """``q(z; theta)``, batched over any leading dims of ``params``."""

    @abc.abstractmethod
    def cost(self, z: torch.Tensor, params: Params) -> torch.Tensor:
        """``f(z; theta)``: ``(K, *B, *factors, *event) -> (K, *B, *factors)``."""

    def expectation(self, params: Params) -> torch.Tensor:
        """``F(theta)`` in closed form (scalar), where one exists."""
        raise NotImplementedError(f"{self.name} has no closed-form expectation")

    def exact_gradient(self, params: Params | None = None) -> dict[str, torch.Tensor] | None:
        """``grad F`` per parameter name, by autograd of the closed form in float64."""
        params = self.params if params is None else params
        exact = self.to(dtype=torch.float64)
        leaves = {k: v.detach().to(torch.float64).requires_grad_(True) for k, v in params.items()}
        with torch.enable_grad():
            value = exact.expectation(leaves)
            grads = torch.autograd.grad(value, list(leaves.values()), allow_unused=True)
        return {
            name: (torch.zeros_like(p) if g is None else g).to(params[name].dtype)
            for (name, p), g in zip(leaves.items(), grads)
        }

    def log_evidence(self) -> float | None:
        """``log p(x)``, where ``F`` is an ELBO whose maximum over the variational family is the
        log evidence in closed form (the conjugate models); ``None`` otherwise."""
        return None

    def reference_gradient(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None]:
        """The gradient the estimates are compared with, and its standard error (``None`` if exact)."""
        exact = self.exact_gradient()
        if exact is None:
            raise NotImplementedError(f"{self.name} has neither an exact nor a reference gradient")
        return exact, None

    def free_coordinates(self, name: str) -> torch.Tensor | None:
        """Boolean mask of the coordinates of ``params[name]`` that are free, or ``None`` (all).

        Metrics average over free coordinates only: the structurally zero upper
        triangle of a ``scale_tril`` would otherwise dilute every variance. By
        convention a parameter named ``*scale_tril`` is a Cholesky factor used
        through ``torch.tril``, so only its lower triangle is free.
        """
        if name.endswith("scale_tril"):
            return torch.ones_like(self.params[name], dtype=torch.bool).tril()
        return None

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.params.values())

    @property
    def elements_per_sample(self) -> int:
        """Numbers one inner sample of one estimate holds (sizes measurement chunks).

        The parameter count, unless the cost evaluates something larger per
        sample (a decoder over every data point): such problems override it.
        """
        return self.num_params

    @property
    def dtype(self) -> torch.dtype:
        return next(iter(self.params.values())).dtype

    @property
    def device(self) -> torch.device:
        return next(iter(self.params.values())).device

    @property
    def config_json(self) -> str:
        """The configuration as canonical JSON: what a result row says was measured."""
        return json.dumps(self.config, sort_keys=True)

    @property
    def label(self) -> str:
        """``name(k=v,...)``, as the CLI and the report name a configuration: the options away
        from their defaults and the dimension (``suites.problems.labels.problem_label``), one
        spelling everywhere (never ``probs=None``); typed back, it builds this configuration."""
        from suites.problems.labels import problem_label
        return problem_label(self.name, self.config_json)

    def __repr__(self) -> str:
        return f"suites.problems.get({self.name!r}, " + ", ".join(
            f"{k}={v!r}" for k, v in self.config.items()) + ")"

    def to(self, device: torch.device | str | None = None,
           dtype: torch.dtype | None = None) -> "Problem":
        """A copy with every floating tensor (parameters and constants) moved."""
        def move(value):
            if isinstance(value, torch.Tensor):
                return value.to(device=device, dtype=dtype if value.is_floating_point() else None)
            if isinstance(value, dict) and value and all(isinstance(v, torch.Tensor) for v in value.values()):
                return {k: move(v) for k, v in value.items()}
            return value

        new = copy.copy(self)
        for key, value in vars(self).items():
            setattr(new, key, move(value))
        return new


# Configuration checks shared by the problems: ValueError naming the value and what is allowed.

def check_choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; allowed: {', '.join(allowed)}")
    return value


def check_dim(dim: Any, name: str = "dim") -> int:
    """A size: an integer >= 1 whose float32 vector (and a few copies of it) fits in memory."""
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {dim!r}")
    check_numbers(f"{name}={dim:,}", dim)
    return dim


#: Copies of its largest tensor a problem holds while it is built and measured (the tensor,
#: the float64 copy of the exact gradient, the replicated parameters' gradients).
CONSTRUCTION_COPIES = 4


def check_numbers(what: str, count: int, dtype: torch.dtype = torch.float32) -> None:
    """``ValueError`` (one line, the size and the memory available) when a tensor of ``count``
    numbers (``CONSTRUCTION_COPIES`` copies of it) cannot fit on the CPU: what a problem calls
    before allocating a tensor whose size is a product of its sizes (``dim x dim``)."""
    check_fits(what, CONSTRUCTION_COPIES * count * dtype.itemsize, hint="; ask for a smaller problem")


def check_finite(name: str, value: Any) -> float:
    check_not_flag(name, value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return number


def check_positive(name: str, value: Any) -> float:
    check_not_flag(name, value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def vector(name: str, value: Any, dim: int, *, positive: bool = False,
           open_unit: bool = False, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A length-``dim`` tensor (float32 unless ``dtype``) from a scalar (broadcast) or a sequence.

    ``positive`` requires every entry > 0; ``open_unit`` every entry in (0, 1).
    """
    if isinstance(value, bool) or (isinstance(value, (list, tuple))
                                   and any(isinstance(v, bool) for v in value)):
        raise OptionTypeError(f"{name} must be a number or a list of {dim} numbers, got {value!r}")
    try:
        tensor = torch.as_tensor(value, dtype=dtype)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{name} must be a number or a list of {dim} numbers, got {value!r}") from None
    if tensor.dim() > 1 or (tensor.dim() == 1 and tensor.numel() != dim):
        raise ValueError(f"{name} must be a number or a list of {dim} numbers, got shape {tuple(tensor.shape)}")
    tensor = tensor.expand(dim).clone()
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} must be finite, got {value!r}")
    if positive and not (tensor > 0).all():
        raise ValueError(f"{name} must be > 0, got {value!r}")
    if open_unit and not ((tensor > 0) & (tensor < 1)).all():
        raise ValueError(f"{name} must lie in the open interval (0, 1), got {value!r}")
    return tensor


def plain(value: Any) -> Any:
    """A JSON-able copy of a config value (tensors and tuples become lists)."""
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    return value


DTYPES = {"float32": torch.float32, "float64": torch.float64}


def check_dtype(dtype: Any) -> torch.dtype:
    """A problem's ``dtype`` option (``"float32"`` or ``"float64"``) as a torch dtype."""
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; allowed: {', '.join(DTYPES)}")
    return DTYPES[dtype]
