"""Bias, variance and time of an estimator on a problem: one tidy row per parameter.

For ``M`` independent estimates ``x_m`` of ``g = grad F`` (per coordinate
``i`` of a parameter with ``D`` coordinates):

* ``bias_i = mean_m x_mi - g_i`` with standard error ``se_i = sqrt(var_i / M)``
  (plus the reference's own standard error where ``g`` is itself estimated; a
  coordinate whose sampled reference gives its error as NaN is left out of the test);
* ``z_i = bias_i / se_i``; ``max_abs_z = max_i |z_i|`` over the coordinates whose
  standard error is itself resolved (``MIN_EFFECTIVE_ESTIMATES`` effective
  estimates, ``suites.moments``; NaN when none is), ``z_untested`` the number left
  out; ``biased`` when ``max_abs_z`` exceeds the Bonferroni threshold for a
  family-wise false alarm rate of ``ALPHA`` over the ``D`` coordinates;
* ``bias_norm = ||bias||_2`` and ``bias_se = sqrt(sum_i se_i^2)``, its
  size under unbiasedness (``E||bias||^2 = bias_se^2`` then);
* ``variance = 1/D sum_i var_i`` (trace of the covariance over ``D``) with
  its standard error, ``mse = 1/D sum_i (bias_i^2 + var_i)``; a parameter whose every
  ``var_i`` is within the rounding of the cell's numbers, ``var_i <= r^2`` with
  ``r = 8 eps(dtype) sqrt(D) max_j (rms_j + |g_j|)`` over the ``D`` coordinates of every
  parameter, counts as exactly 0 (an exact zero computed in floats: the delta method on a
  quadratic cost), with standard error 0 and its z against ``r`` alone; ``variance_floor =
  r^2`` is stored with the row;
* ``evaluations``: the cost evaluations of one estimate (``Estimator.evaluations``);
* ``time_s``: median wall-clock time of one estimator call producing
  ``timed_estimates`` estimates, by ``torch.utils.benchmark.Timer`` (which
  synchronises CUDA), ``time_iqr_s`` its interquartile range. A peer
  (``estimators.peers``, ``remote``) is timed the same way inside its worker
  process; ``roundtrip_s`` is then the median process round-trip of one call
  (NaN for in-process estimators).

``D`` counts free coordinates only (``Problem.free_coordinates``: the lower
triangle of a ``scale_tril``). Standard errors are floored at the dtype's rounding resolution so that a
zero-variance estimator (reparam on a linear cost) is not flagged biased by
float rounding.
"""
from __future__ import annotations

import copy
import datetime as _dt
import json
import math
import time

import pandas as pd
import torch
import torch.utils.benchmark as benchmark

from estimators.adaptive import adapt_for, adapt_steps_for
from estimators.base import CHUNK_ELEMENTS, Estimator, check_problem_argument, chunk_size
from estimators.registry import check_not_flag, check_seed

from suites.measurement.exact import exact_moments
from suites.measurement.moments import Moments

# the environment and the schema, re-exported: every row carries both
from suites.store.environment import (cpu_name, device_name, git_commit, package_version,  # noqa: F401
                                      resolve_device)
from suites.store.schema import (ADAPT_COLUMNS, COLUMNS, EXACT_COLUMNS, OPTIONAL_COLUMNS,  # noqa: F401
                                 PEER_COLUMNS)

ALPHA = 1e-3
#: Effective estimates (``Moments.effective_estimates``: 3 M / kurtosis, M for normal estimates)
#: a coordinate needs for its z to count in ``max_abs_z``. A z divides by a standard error
#: estimated from the estimates themselves; with fewer, that error is off by more than about
#: sqrt(3 / 150) = 14% (the relative error of a variance from that many normal estimates), and
#: a coordinate whose spread comes from a few rare values (a Bernoulli latent almost always
#: on: score_function on bernoulli_vae with 3 data points gives |z| ~ 150 at M = 200, while
#: it is unbiased) is no bias test at all. For normal estimates nothing below M = 150 is tested,
#: and nothing below M = 50 ever is (the kurtosis is at least 1).
MIN_EFFECTIVE_ESTIMATES = 150
#: The adaptation's generator is seeded this far from the estimates' (seed) and the timer's (seed + 1).
ADAPT_SEED_OFFSET = 2


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    allowed = {"float32": torch.float32, "float64": torch.float64}
    if dtype not in allowed:
        raise ValueError(f"unsupported dtype {dtype!r}; allowed: {', '.join(allowed)}")
    return allowed[dtype]


def default_chunk_size(problem, num_samples: int) -> int:
    """Estimates per chunk: the estimators' own batched-pass size (``estimators.base.chunk_size``)."""
    return chunk_size(problem, num_samples)


def run_metadata(device: torch.device) -> dict:
    """What every row carries about where and with what it was measured."""
    return {
        "threads": torch.get_num_threads(),
        "package_version": package_version(),
        "torch_version": torch.__version__,
        "device_name": device_name(device),
        "git_commit": git_commit(),
        "utc_time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def bonferroni_z(num_coordinates: int, alpha: float = ALPHA) -> float:
    """Two-sided z threshold at family-wise false alarm rate ``alpha`` over ``num_coordinates``."""
    tail = torch.tensor(1 - alpha / (2 * num_coordinates), dtype=torch.float64)
    return float(torch.special.ndtri(tail))


def magnitude(moments: dict[str, Moments], reference: dict[str, torch.Tensor]) -> float:
    """``sqrt(D) max_i (rms_i + |g_i|)`` over the ``D`` coordinates of a cell's parameters:
    the size of the numbers its estimates are computed from (a cost summed over ``D``
    dimensions, whose rounding grows as a random walk of ``D`` steps), which bounds the
    rounding of an exact zero."""
    sizes = [float((m.rms() + reference[name].detach().reshape(-1).to(m.mean().device,
                                                                         torch.float64).abs()).max())
             for name, m in moments.items() if m.count >= 2]
    coordinates = sum(m.shift.numel() for m in moments.values() if m.count >= 2)
    return max(sizes, default=0.0) * math.sqrt(coordinates)


def summarise(moments: Moments, reference: torch.Tensor, reference_se: torch.Tensor | None,
              dtype: torch.dtype, magnitude: float = 0.0) -> dict:
    """The statistics of one parameter from its accumulated moments (NaN with fewer than two);
    ``magnitude``: the cell's (``magnitude``), which sets the variance read as exactly 0."""
    n = moments.count
    if n < 2:
        keys = ["mean_norm", "exact_norm", "bias_norm", "bias_se", "max_abs_z", "variance",
                "variance_se", "mse", "variance_floor"]
        return {"numel": int(reference.numel()), **dict.fromkeys(keys, float("nan")),
                "biased": False, "z_untested": int(reference.numel())}
    mean, var = moments.mean(), moments.variance()
    ref = reference.detach().reshape(-1).to(device=mean.device, dtype=torch.float64)
    bias = mean - ref
    resolution = 8 * torch.finfo(dtype).eps * (moments.rms() + ref.abs())
    # A spread no wider than the rounding of the cell's largest numbers is an exact zero
    # computed in floats (the delta method on a quadratic cost, whose scale gradient is a
    # difference of O(1) terms): 0, not 1e-12 that reads "1e13x below" the next.
    floor = 8 * torch.finfo(dtype).eps * magnitude
    # Only a parameter whose every coordinate is that still: a coordinate of a VAE's decoder
    # may be truly that small beside others (a pixel always off), an exact zero is whole.
    zero = (var <= floor**2).all().expand_as(var)
    var = torch.where(zero, torch.zeros_like(var), var)
    resolution = torch.where(zero, resolution.clamp_min(floor), resolution)
    se2 = var / n
    tested = moments.effective_estimates() >= MIN_EFFECTIVE_ESTIMATES
    if reference_se is not None:
        ref_se = reference_se.detach().reshape(-1).to(mean.device, torch.float64)
        # NaN: a sampled reference that could not resolve its own error there (too few
        # effective estimates of its own): no bias test, and no term in bias_se.
        tested &= ~ref_se.isnan()
        se2 = se2 + ref_se.nan_to_num(0.0) ** 2
    z = bias / torch.sqrt(se2 + resolution**2).clamp_min(torch.finfo(torch.float64).tiny)
    # A coordinate without spread is tested against its rounding alone, whatever its kurtosis.
    tested = tested | zero
    max_abs_z = float(z.abs()[tested].max()) if bool(tested.any()) else float("nan")
    return {
        "numel": int(mean.numel()),
        "mean_norm": float(mean.norm()),
        "exact_norm": float(ref.norm()),
        "bias_norm": float(bias.norm()),
        "bias_se": float(se2.sum().sqrt()),
        "max_abs_z": max_abs_z,
        "biased": bool(max_abs_z > bonferroni_z(mean.numel())),
        "z_untested": int((~tested).sum()),
        "variance": float(var.mean()),
        "variance_se": 0.0 if bool(zero.all()) else moments.mean_variance_se(),
        "mse": float((bias**2 + var).mean()),
        "variance_floor": floor**2,
    }


def compare_exact(moments: Moments, exact_mean: torch.Tensor | None,
                  exact_variance: torch.Tensor | None, reference: torch.Tensor,
                  relative_error: float) -> dict:
    """The exact moments of one parameter beside the sampled ones.

    ``exact_variance_z = (variance - exact_variance) / variance_se`` and
    ``exact_mean_max_abs_z = max_i |mean_i - exact_mean_i| / se_i``: both
    standard normal when the sampled statistics are right (for large ``M``).
    """
    if exact_mean is None or moments.count < 2:
        return dict.fromkeys(EXACT_COLUMNS, float("nan"))
    mean, var = moments.mean(), moments.variance()
    exact_mean = exact_mean.to(mean.device)
    exact_var = float(exact_variance.to(mean.device).mean())
    ref = reference.detach().reshape(-1).to(device=mean.device, dtype=torch.float64)
    se = torch.sqrt(var / moments.count)
    variance_se = moments.mean_variance_se()
    tiny = torch.finfo(torch.float64).tiny
    # A zero-variance estimator (the delta method on a quadratic cost) leaves only rounding in
    # its sampled moments: a z-score of rounding says nothing, so none is given.
    degenerate = exact_var <= 1e-12 * float((exact_mean.square() + exact_variance.to(mean.device)).mean())
    nan = float("nan")
    return {
        "exact_variance": exact_var,
        "exact_bias_norm": float((exact_mean - ref).norm()),
        "exact_variance_z": nan if degenerate else (float(var.mean()) - exact_var) / max(variance_se, tiny),
        "exact_mean_max_abs_z": nan if degenerate else float(((mean - exact_mean).abs() / se.clamp_min(tiny)).max()),
        "exact_rel_error": relative_error,
    }


def check_cell_fits(problem, estimator, num_estimates: int, num_samples: int,
                    chunk_size: int | None = None, time_full_call: bool = False,
                    device=None, what: str | None = None) -> None:
    """``ValueError`` (one line: the size and the memory available on the problem's device)
    when a cell cannot fit, before anything is allocated: its largest call is one chunk of
    estimates (``Estimator.call_bytes``), or all ``M`` at once where ``time_full_call``."""
    chunk = min(num_estimates, chunk_size or default_chunk_size(problem, num_samples))
    what = what or f"{estimator.label} on {problem.label}"
    call = "a call" if time_full_call else "a batched pass"
    estimator.check_fits(problem, num_estimates if time_full_call else chunk, num_samples,
                         device, what=f"{what}: {call}")


def timed_call(problem, estimator, num_estimates: int, num_samples: int, seed: int,
              min_run_time: float):
    """Median and IQR (seconds) of one estimator call, via ``torch.utils.benchmark``, and the
    number of timed blocks (the IQR is NaN below four)."""
    generator = torch.Generator(device=problem.device).manual_seed(seed + 1)
    timer = benchmark.Timer(
        stmt="estimator(problem, num_estimates, num_samples, generator)",
        globals={"estimator": estimator, "problem": problem, "num_estimates": num_estimates,
                 "num_samples": num_samples, "generator": generator},
        num_threads=torch.get_num_threads(),
    )
    result = timer.blocked_autorange(min_run_time=min_run_time)
    samples = len(result.times)
    # A spread needs several timed blocks: one block has none, not a zero one.
    return result.median, (result.iqr if samples >= 4 else float("nan")), samples


def measure(problem, estimator, num_estimates: int, num_samples: int = 1, seed: int = 0,
            device: str | torch.device = "cpu", dtype: str | torch.dtype | None = None,
            chunk_size: int | None = None, min_run_time: float = 0.2,
            suite: str = "", exact: bool | None = None,
            time_full_call: bool = False, adapt_steps: int | None = None) -> pd.DataFrame:
    """Measure ``estimator`` on ``problem``: a tidy DataFrame, one row per parameter.

    ``num_estimates`` independent estimates, each averaging ``num_samples``
    inner samples, are drawn in chunks of ``chunk_size`` from a generator
    seeded with ``seed`` and compared with the problem's reference gradient.
    ``min_run_time=0`` skips the timing (``time_s`` is NaN). ``exact``: compute
    the estimator's exact mean and variance (``suites.measurement.exact``) beside the
    sampled ones; ``None`` does so wherever the noise of one estimate is small
    enough for a quadrature grid (1-D and 2-D toys), ``False`` never.
    ``time_full_call`` times one raw call producing all ``num_estimates``
    estimates (what a user's ``est(prob, M)`` costs) instead of one chunk.
    """
    check_problem_argument(problem)
    if not isinstance(estimator, Estimator):
        hint = (f"; look a name up first: estimators.get({estimator!r})"
                if isinstance(estimator, str) else "")
        raise TypeError(f"estimator must be an estimators.Estimator, got "
                        f"{type(estimator).__name__} {estimator!r}{hint}")
    check_seed(seed)
    check_not_flag("min_run_time", min_run_time)
    if not isinstance(min_run_time, (int, float)) or not 0 <= min_run_time < math.inf:
        raise ValueError(f"min_run_time must be a finite number >= 0 (seconds), got {min_run_time!r}")
    if exact not in (None, True, False):
        raise ValueError(f"exact must be None, True or False, got {exact!r}")
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be an integer >= 1, got {num_samples!r}")
    if isinstance(num_estimates, bool) or not isinstance(num_estimates, int) or num_estimates < 2:
        raise ValueError(f"num_estimates must be an integer >= 2 (a variance needs two "
                         f"estimates), got {num_estimates!r}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
    target = resolve_device(device)
    problem = problem.to(device=target, dtype=resolve_dtype(dtype))
    estimator.check(problem.distribution(problem.params))
    estimator.check_num_samples(num_samples)
    check_cell_fits(problem, estimator, num_estimates, num_samples, chunk_size, time_full_call)

    steps = adapt_steps_for(estimator, adapt_steps)
    adapt_time_s, adapted_state = math.nan, ""
    if steps:
        estimator = copy.deepcopy(estimator)
        adapt_generator = torch.Generator(device=target).manual_seed(seed + ADAPT_SEED_OFFSET)
        start = time.perf_counter()
        adapt_for(estimator, problem, steps, num_samples, adapt_generator)
        if target.type == "cuda":
            torch.cuda.synchronize(target)
        adapt_time_s = time.perf_counter() - start
        adapted_state = json.dumps(estimator.state_summary(), sort_keys=True)

    reference, reference_se = problem.reference_gradient()
    chunk = min(num_estimates, chunk_size or default_chunk_size(problem, num_samples))
    generator = torch.Generator(device=target).manual_seed(seed)
    moments = {name: Moments() for name in problem.params}
    nonfinite = dict.fromkeys(problem.params, 0)
    free = {name: problem.free_coordinates(name) for name in problem.params}
    reference = {name: g if free[name] is None else g[free[name]] for name, g in reference.items()}
    if reference_se is not None:
        reference_se = {name: s if free[name] is None else s[free[name]]
                        for name, s in reference_se.items()}
    done = 0
    while done < num_estimates:
        size = min(chunk, num_estimates - done)
        grads = estimator(problem, size, num_samples, generator)
        for name, rows in grads.items():
            mask = free[name]
            rows = rows if mask is None else rows[:, mask]
            finite = torch.isfinite(rows.reshape(rows.shape[0], -1)).all(1)
            if not bool(finite.all()):
                # Counted and left out, never averaged in: the row is flagged by `nonfinite`.
                nonfinite[name] += int((~finite).sum())
                rows = rows[finite]
            if rows.shape[0]:
                moments[name].update(rows)
        done += size

    exact_values = None
    remote = getattr(estimator, "remote", False)  # a peer: its noise is drawn in its worker
    if exact and remote:
        raise ValueError(f"no exact moments for {estimator.label}: it runs in another process, "
                         f"whose noise suites.measurement.exact cannot replay")
    if (exact is None or exact) and not remote:
        exact_values = exact_moments(problem, estimator, num_samples)
        if exact and exact_values is None:
            raise ValueError(f"no exact moments for {estimator.label} on {problem.label}: the "
                             f"noise of one estimate is too large for a quadrature grid")

    roundtrip_s = float("nan")
    if min_run_time > 0:
        timed_estimates = num_estimates if time_full_call else chunk
        if remote:  # timed inside its worker, the process round-trip measured apart
            time_s, time_iqr_s, timing_samples, roundtrip_s = estimator.timed_call(
                problem, timed_estimates, num_samples, seed, min_run_time)
        else:
            time_s, time_iqr_s, timing_samples = timed_call(problem, estimator, timed_estimates,
                                                            num_samples, seed, min_run_time)
    else:
        time_s = time_iqr_s = float("nan")
        timed_estimates, timing_samples = chunk, 0

    common = {
        "suite": suite, "problem": problem.name, "problem_config": problem.config_json,
        "estimator": estimator.name, "estimator_config": estimator.config_json,
        "device": str(target), "dtype": str(problem.dtype).replace("torch.", ""),
        "num_estimates": num_estimates, "num_samples": num_samples, "seed": seed,
        "reference": problem.reference_kind, "time_s": time_s, "time_iqr_s": time_iqr_s,
        "timing_samples": timing_samples,
        "timed_estimates": timed_estimates, "adapt_steps": steps, "adapt_time_s": adapt_time_s,
        "evaluations": estimator.evaluations(problem, num_samples),
        "adapted_state": adapted_state, "roundtrip_s": roundtrip_s, **run_metadata(target),
        "pathwise": estimator.pathwise(problem.distribution(problem.params)),
    }
    size = magnitude(moments, reference)
    rows = [
        {**common, "param": name, "nonfinite": nonfinite[name],
         **summarise(moments[name], reference[name],
                     None if reference_se is None else reference_se[name], problem.dtype, size),
         **compare_exact(moments[name],
                         None if exact_values is None else exact_values.mean[name],
                         None if exact_values is None else exact_values.variance[name],
                         reference[name] if exact_values is None or exact_values.reference is None
                         else exact_values.reference[name],
                         math.nan if exact_values is None else exact_values.relative_error)}
        for name in problem.params
    ]
    return pd.DataFrame(rows, columns=COLUMNS)
