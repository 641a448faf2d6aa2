"""Conformance checks for estimators and problems, plugins included (like sklearn's ``check_estimator``).

Each check is a small named function that returns a one-line detail with its
numbers and raises ``CheckFailed`` (or any exception) on failure;
``check_estimator`` and ``check_problem`` run them all and return one
``CheckResult`` a check; ``assert_conforms`` is the pytest-friendly form.

Estimator checks (on the probe problems ``PROBES``: small instances of the
built-in toy problems, so that the whole check costs about a second):

* ``output_contract``: one tensor per parameter name, shape ``(M, *shape)``,
  the parameter's dtype and device, finite, detached, and the problem's
  parameters left untouched (values equal, no ``.grad``);
* ``seeded_determinism``: equal generator seeds give equal estimates whatever
  the global RNG state (an estimator that ignores the generator fails);
* ``independent_calls``: successive calls on one generator, and different
  seeds, give different estimates (unless every estimate is the same: an
  estimator with zero variance on the probe, IndeCateR on a separable cost);
* ``not_applicable_error``: on a probe it does not apply to, a one-line
  ``ValueError``;
* ``unbiased_on_<probe>``: for an estimator declaring ``unbiased = True``, the
  largest per-coordinate ``|bias| / se`` over ``BIAS_ESTIMATES`` estimates on
  every probe it applies to stays below ``z* = max(5, Bonferroni z)`` at a
  family-wise false-alarm rate ``ALPHA`` over all probe coordinates (the
  5-standard-error test of the test suite, kept safe for many coordinates by
  Bonferroni). An estimator declaring itself biased has its bias reported.

Problem checks:

* ``batching``: parameters with an extra leading batch dim ``B`` give a
  distribution of batch shape ``(B, *factors)`` and costs ``(K, B, *factors)``
  equal, slice by slice, to the unbatched ones;
* ``exact_gradient_finite_differences``: ``exact_gradient()`` against central
  finite differences of ``expectation`` in float64 at ``FD_COORDINATES``
  coordinates a parameter (relative error below ``FD_TOLERANCE``); skipped,
  with the reason, where the problem has no closed form or enumeration;
* ``unbiased_reparam``, ``unbiased_score_function``: those estimators are
  unbiased against the problem's reference gradient (the same z test), where
  they apply.

The z tests assume the mean of ``M`` estimates is close to normal (the
central limit theorem at ``M`` in the thousands); a heavy-tailed estimator
can exceed ``ALPHA``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch

import estimators as estimator_registry

from suites import problems as problem_registry
from suites.problems.labels import problem_label
from suites.measurement.measure import MIN_EFFECTIVE_ESTIMATES, bonferroni_z, measure

#: Family-wise false-alarm rate of each statistical check.
ALPHA = 1e-3
#: Estimates per bias test (each the mean of the smallest K the estimator accepts).
BIAS_ESTIMATES = 20_000
#: Estimates per unbiasedness test of a problem, at most; fewer where one estimate is large
#: (``PROBLEM_ELEMENTS / elements_per_sample``, at least ``MIN_PROBLEM_ESTIMATES``), so that
#: the check of bernoulli_vae takes seconds, not minutes.
PROBLEM_ESTIMATES = 4_000
PROBLEM_ELEMENTS = 2**24
MIN_PROBLEM_ESTIMATES = 500
FD_COORDINATES = 4
FD_TOLERANCE = 1e-4

#: (name, config): small instances of the built-in toy problems every estimator is checked on.
PROBES = (
    ("gaussian", {"dim": 3, "cost": "square"}),
    ("gaussian", {"dim": 3, "cost": "cos"}),
    ("gaussian_full", {"dim": 3}),
    ("bernoulli", {"dim": 3}),
    ("gamma", {"dim": 3}),
)
#: Probes for an estimator that applies to none of ``PROBES``: a multi-sample objective (VIMCO).
MULTI_SAMPLE_PROBES = (
    ("bernoulli_vae", {"latent_dim": 2, "num_data": 1, "objective": "iwae", "bound_samples": 2}),
)


class CheckFailed(AssertionError):
    """A conformance check's failure, with its numbers."""


class NotTested(Exception):
    """A check that could test nothing (every z unresolved), with the reason: never a PASS."""


@dataclass(frozen=True)
class CheckResult:
    """One check: its name, whether it passed, the numbers behind it and its seconds;
    ``tested=False``: it could test nothing (it did not fail either; ``status`` says NOT TESTED)."""

    name: str
    passed: bool
    detail: str
    seconds: float
    tested: bool = True

    @property
    def status(self) -> str:
        return "FAIL" if not self.passed else "PASS" if self.tested else "NOT TESTED"

    def line(self) -> str:
        return f"{self.status:<10}  {self.name:<34} {self.detail}  ({self.seconds:.2f} s)"


def _run(checks: Iterator[tuple[str, Callable[[], str]]]) -> list[CheckResult]:
    results = []
    for name, check in checks:
        start = time.perf_counter()
        tested = True
        try:
            detail, passed = check(), True
        except NotTested as reason:
            detail, passed, tested = str(reason), True, False
        except Exception as error:  # every failure of a user's code is a reported FAIL
            message = str(error).strip().splitlines()[0] if str(error).strip() else ""
            detail = message if isinstance(error, CheckFailed) else f"{type(error).__name__}: {message}"
            passed = False
        results.append(CheckResult(name, passed, detail, time.perf_counter() - start, tested))
    return results


def _label(problem) -> str:
    """A probe as the tables name it (defaults left out): ``gaussian(cost=cos,dim=3)``."""
    return problem_label(problem.name, problem.config_json)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def smallest_num_samples(estimator) -> int:
    """The smallest ``K`` in 1, 2, 4 the estimator accepts (a leave-one-out baseline needs 2)."""
    for k in (1, 2, 4):
        try:
            getattr(estimator, "check_num_samples", lambda _: None)(k)
            return k
        except ValueError:
            continue
    raise CheckFailed("accepts none of num_samples 1, 2, 4")


def applies(estimator, problem) -> bool:
    """``estimator.applies_to(problem)``, for duck-typed estimators by trying a call."""
    if hasattr(estimator, "applies_to"):
        return bool(estimator.applies_to(problem))
    try:
        estimator(problem, 2, smallest_num_samples(estimator), _generator(0))
    except ValueError:
        return False
    return True


def _z_threshold(num_coordinates: int) -> float:
    return max(5.0, bonferroni_z(num_coordinates, ALPHA))


def _max_z(rows) -> tuple[float, float]:
    """Largest |bias|/se over parameters (NaN when no coordinate was tested), and the bias
    norm summed over them."""
    tested = rows["max_abs_z"].dropna()
    return (float(tested.max()) if len(tested) else float("nan"),
            float((rows["bias_norm"] ** 2).sum() ** 0.5))


def _untested(rows) -> str:
    """The parameters some of whose coordinates had too few effective estimates for a z
    (``measure.MIN_EFFECTIVE_ESTIMATES``), with how many: ``""`` when every one was tested."""
    parts = [f"{row.param} {int(row.z_untested)} of {int(row.numel)}"
             for row in rows.itertuples() if row.z_untested > 0]
    return (f"; untested (fewer than {MIN_EFFECTIVE_ESTIMATES} effective estimates): "
            f"{', '.join(parts)} coordinates" if parts else "")


def _bias_test(rows, threshold: float, numbers: str) -> tuple[float, str]:
    """The largest z and the detail of a bias test; ``NotTested`` when no coordinate of any
    parameter could be tested (a heavy-tailed estimate: its standard error is unresolved)."""
    z, norm = _max_z(rows)
    if z != z:
        raise NotTested(f"no coordinate had {MIN_EFFECTIVE_ESTIMATES} effective estimates "
                        f"(heavy-tailed estimates: their standard error is unresolved), so no "
                        f"z; |bias| = {norm:.3g}, {numbers}")
    return z, (f"max|bias|/se = {z:.2f} (z* = {threshold:.2f}), |bias| = {norm:.3g}, {numbers}"
               + _untested(rows))


# Estimator checks ----------------------------------------------------------------------------

def estimator_checks(estimator) -> Iterator[tuple[str, Callable[[], str]]]:
    """The named checks of ``estimator``, in order; each returns its detail or raises."""
    probes = [problem_registry.get(name, **config) for name, config in PROBES]
    applicable = [p for p in probes if applies(estimator, p)]
    if not applicable:
        multi = [problem_registry.get(name, **config) for name, config in MULTI_SAMPLE_PROBES]
        applicable = [p for p in multi if applies(estimator, p)]
        probes += multi if applicable else []
    if not applicable:
        yield "applies_to_a_probe", lambda: (_ for _ in ()).throw(CheckFailed(
            f"applies to none of the probes {[_label(p) for p in probes]}"))
        return
    problem = applicable[0]
    k = smallest_num_samples(estimator)

    def output_contract():
        before = {n: p.detach().clone() for n, p in problem.params.items()}
        grads = estimator(problem, 5, k, _generator(0))
        if not isinstance(grads, dict) or list(grads) != list(problem.params):
            raise CheckFailed(f"returned keys {list(grads) if isinstance(grads, dict) else type(grads).__name__}, "
                              f"expected {list(problem.params)}")
        for name, param in problem.params.items():
            g = grads[name]
            if tuple(g.shape) != (5, *param.shape):
                raise CheckFailed(f"{name}: shape {tuple(g.shape)}, expected {(5, *param.shape)} (M=5)")
            if g.dtype != param.dtype or g.device != param.device:
                raise CheckFailed(f"{name}: {g.dtype} on {g.device}, expected {param.dtype} on {param.device}")
            if not torch.isfinite(g).all():
                raise CheckFailed(f"{name}: {int((~torch.isfinite(g)).sum())} non-finite entries")
            if g.requires_grad:
                raise CheckFailed(f"{name}: estimates still require grad (not detached)")
            if param.grad is not None or not torch.equal(param, before[name]):
                raise CheckFailed(f"{name}: the problem's parameter was changed or given a .grad")
        return f"{len(grads)} params, shapes (M, *shape), {problem.dtype}, finite, params untouched on {_label(problem)}"

    def seeded_determinism():
        torch.manual_seed(1)
        first = estimator(problem, 4, k, _generator(7))
        torch.manual_seed(2)  # a different global state must not matter
        second = estimator(problem, 4, k, _generator(7))
        diff = max(float((first[n] - second[n]).abs().max()) for n in first)
        if diff != 0:
            raise CheckFailed(f"same generator seed, different global RNG: estimates differ by {diff:.3g} "
                              f"(is the generator ignored?)")
        return "equal seeds give identical estimates whatever the global RNG"

    def independent_calls():
        g = _generator(3)
        first, second = estimator(problem, 4, k, g), estimator(problem, 4, k, g)
        other = estimator(problem, 4, k, _generator(4))
        same_stream = max(float((first[n] - second[n]).abs().max()) for n in first)
        other_seed = max(float((first[n] - other[n]).abs().max()) for n in first)
        spread = max(float((first[n] - first[n][:1]).abs().max()) for n in first)
        if spread == 0 and same_stream == 0 and other_seed == 0:
            # every estimate equal within a call and across calls: an estimator exact on this
            # problem (IndeCateR on a separable cost), with no noise to tell apart
            return f"estimates do not vary on {problem.label} (zero variance): nothing to tell apart"
        if same_stream == 0 or other_seed == 0:
            raise CheckFailed(f"successive calls differ by {same_stream:.3g}, other seed by {other_seed:.3g}; "
                              f"both must be > 0")
        return f"successive calls differ (max {same_stream:.3g}), other seed differs (max {other_seed:.3g})"

    def not_applicable_error():
        others = [p for p in probes if p not in applicable]
        if not others:
            return "applies to every probe"
        try:
            estimator(others[0], 2, k, _generator(0))
        except ValueError as error:
            if "\n" in str(error).strip() or not str(error).strip():
                raise CheckFailed(f"ValueError on {_label(others[0])} is not one line: {str(error)!r}")
            return f"ValueError on {_label(others[0])}: {str(error).strip()}"
        raise CheckFailed(f"ran on {_label(others[0])}, where applies_to is False; expected a ValueError")

    yield "output_contract", output_contract
    yield "seeded_determinism", seeded_determinism
    yield "independent_calls", independent_calls
    yield "not_applicable_error", not_applicable_error

    coordinates = sum(p.num_params for p in applicable)
    threshold = _z_threshold(coordinates)
    unbiased = bool(getattr(estimator, "unbiased", True))
    for probe in applicable:
        def bias(probe=probe):
            rows = measure(probe, estimator, BIAS_ESTIMATES, k, seed=11, min_run_time=0)
            if not unbiased:
                z, norm = _max_z(rows)
                return (f"declared biased; max|bias|/se = {z:.2f}, |bias| = {norm:.3g}, "
                        f"M={BIAS_ESTIMATES} K={k}" + _untested(rows))
            z, numbers = _bias_test(rows, threshold, f"M={BIAS_ESTIMATES} K={k}")
            if z > threshold:
                raise CheckFailed(f"declares unbiased but {numbers}")
            return numbers
        yield f"unbiased_on_{probe.name}" + (f"_{probe.config['cost']}" if "cost" in probe.config else ""), bias


def check_estimator(estimator: Any, **options: Any) -> list[CheckResult]:
    """Run every estimator check on ``estimator`` (a name, ``pkg.module:Class`` or an instance).

    ``ValueError`` (one line) when options are given and a first call with them fails: an
    option value the class does not check (``b=abc``) would fail every check the same way.
    """
    if isinstance(estimator, str):
        spec = estimator
        estimator = estimator_registry.get(spec, **options)
        given = {**estimator_registry.split_spec(spec)[1], **options}
        if given:
            check_options_run(spec, estimator, given)
    return _run(estimator_checks(estimator))


def check_options_run(spec: str, estimator, given: dict) -> None:
    """``ValueError`` (one line, naming the options) when ``estimator``, built with the options
    ``given``, fails a first call on the first probe it applies to."""
    probes = [problem_registry.get(name, **config) for name, config in PROBES]
    applicable = [p for p in probes if applies(estimator, p)]
    if not applicable:
        return  # the checks say so
    try:
        estimator(applicable[0], 2, smallest_num_samples(estimator), _generator(0))
    except Exception as error:  # noqa: BLE001 -- whatever a user's class raises, in one line
        message = (str(error).strip().splitlines() or [""])[0]
        shown = ", ".join(f"{k}={v!r}" for k, v in given.items())
        raise ValueError(f"{spec}: a first call with {shown} on {_label(applicable[0])} fails "
                         f"({type(error).__name__}: {message}); is an option value wrong? No "
                         f"check was run") from None


# Problem checks ------------------------------------------------------------------------------

def problem_checks(problem) -> Iterator[tuple[str, Callable[[], str]]]:
    """The named checks of ``problem``, in order; each returns its detail or raises."""

    def batching():
        batch = 2
        params = {n: p.detach().expand(batch, *p.shape) for n, p in problem.params.items()}
        single = problem.distribution(problem.params)
        batched = problem.distribution(params)
        factors = tuple(single.batch_shape)
        if tuple(batched.batch_shape) != (batch, *factors):
            raise CheckFailed(f"batch shape {tuple(batched.batch_shape)} with params (B={batch}, ...), "
                              f"expected {(batch, *factors)}")
        with torch.no_grad():
            z = batched.sample((3,))
            cost = problem.cost(z, params)
            if tuple(cost.shape) != (3, batch, *factors):
                raise CheckFailed(f"cost shape {tuple(cost.shape)}, expected {(3, batch, *factors)} (K=3, B={batch})")
            unbatched = problem.cost(z[:, 1], problem.params)
        diff = float((cost[:, 1] - unbatched).abs().max())
        scale = float(unbatched.abs().max()) + 1e-12
        if diff > 1e-5 * scale + 1e-6:
            raise CheckFailed(f"batched cost differs from unbatched by {diff:.3g}")
        return f"batch shape (B, *factors) = {(batch, *factors)}, costs (K, B, *factors), batched = unbatched"

    def exact_gradient_finite_differences():
        exact = problem.exact_gradient()
        if exact is None:
            return f"skipped: no exact gradient (reference: {getattr(problem, 'reference_kind', '?')})"
        wide = problem.to(dtype=torch.float64)
        params = {n: p.detach().to(torch.float64) for n, p in problem.params.items()}
        try:
            wide.expectation(params)
        except NotImplementedError:
            return "skipped: no closed-form or enumerated expectation to differentiate"
        generator = _generator(0)
        worst = 0.0
        for name, param in params.items():
            free = problem.free_coordinates(name) if hasattr(problem, "free_coordinates") else None
            candidates = (torch.arange(param.numel()) if free is None
                          else torch.nonzero(free.reshape(-1)).reshape(-1))
            picks = candidates[torch.randperm(len(candidates), generator=generator)[:FD_COORDINATES]]
            for index in picks.tolist():
                step = 1e-5 * max(1.0, abs(float(param.reshape(-1)[index])))
                shifted = []
                for sign in (1, -1):
                    moved = dict(params)
                    flat = param.clone().reshape(-1)
                    flat[index] += sign * step
                    moved[name] = flat.reshape(param.shape)
                    shifted.append(float(wide.expectation(moved)))
                numeric = (shifted[0] - shifted[1]) / (2 * step)
                analytic = float(exact[name].reshape(-1)[index])
                error = abs(analytic - numeric) / max(abs(numeric), 1e-3)
                worst = max(worst, error)
                if error > FD_TOLERANCE:
                    raise CheckFailed(f"{name}[{index}]: exact {analytic:.6g}, finite differences {numeric:.6g} "
                                      f"(relative error {error:.2g} > {FD_TOLERANCE:g})")
        return f"max relative error {worst:.2g} <= {FD_TOLERANCE:g} at {FD_COORDINATES} coordinates a parameter"

    yield "batching", batching
    yield "exact_gradient_finite_differences", exact_gradient_finite_differences
    threshold = _z_threshold(2 * problem.num_params)
    for name in ("reparam", "score_function"):
        def unbiased(name=name):
            estimator = estimator_registry.get(name)
            if not estimator.applies_to(problem):
                return f"skipped: {name} does not apply"
            size = getattr(problem, "elements_per_sample", 1)
            m = max(MIN_PROBLEM_ESTIMATES, min(PROBLEM_ESTIMATES, PROBLEM_ELEMENTS // size))
            rows = measure(problem, estimator, m, 1, seed=5, min_run_time=0)
            z, numbers = _bias_test(rows, threshold,
                                    f"M={m}, against the {problem.reference_kind} reference")
            if z > threshold:
                raise CheckFailed(f"{name} biased on this problem: {numbers} (is the exact gradient right?)")
            return numbers
        yield f"unbiased_{name}", unbiased


def check_problem(problem: Any, **config: Any) -> list[CheckResult]:
    """Run every problem check on ``problem`` (a name, ``pkg.module:Class[,key=value]`` or an instance)."""
    if isinstance(problem, str):
        problem = problem_registry.get(problem, **config)
    return _run(problem_checks(problem))


def assert_conforms(kind: str, target: Any, **options: Any) -> list[CheckResult]:
    """Pytest-friendly: ``AssertionError`` listing every failed check of ``target``; the results."""
    if kind not in ("estimator", "problem"):
        raise ValueError(f"unknown kind {kind!r}; allowed: estimator, problem")
    results = (check_estimator if kind == "estimator" else check_problem)(target, **options)
    failed = [r.line() for r in results if not r.passed]
    if failed:
        raise AssertionError("\n".join(failed))
    return results
