"""Ranked advice: every applicable estimator on one problem at the same budget of cost evaluations.

For a budget of ``N`` cost evaluations per estimate, each estimator runs with
the largest ``K`` whose estimate costs at most ``N`` on the problem
(``Estimator.evaluations``: DisARM 2 a pair, REBAR 3 a sample, the
measure-valued estimator ``4 D`` a sample, the delta method ``2 K + 2 + D``
with its gradient and Hessian-vector products) where it accepts that ``K``, and is
measured by ``suites.measure`` (``M`` estimates, one seed). Its figure of merit
is the work-normalised variance (the "efficiency" of Glynn & Whitt 1992, "The
asymptotic efficiency of simulation estimators", Operations Research 40(3)):

    V = tr Cov[g] x t,

``tr Cov[g]`` the total variance of one estimate over all parameter
coordinates and ``t`` the wall-clock time per estimate (one batched call over
its number of estimates); lower is better, and ``V`` is what the variance of
the final gradient is, per second of compute. Its standard error carries the
variance's only (``se(tr Cov) x t``, the parameters' variance estimates taken
as independent; timing noise is not in it). Estimators that declare
themselves biased, or are flagged biased (the Bonferroni z test of
``suites.measure`` on any parameter), are listed apart with their bias:
variance does not rank them.

Estimator variants: the option settings the core suite runs (``core.toml``)
for the built-ins, and the default options of every other registered
estimator (plugins); ``estimators=`` chooses others.
"""
from __future__ import annotations

import math
import tomllib
from importlib import resources
from typing import Any, Sequence

import pandas as pd

import estimators as estimator_registry

from suites import problems as problem_registry
from suites.measurement.measure import measure
from suites.run.grids.base import samples_within

#: Numbers (estimates x samples x elements) one advice measurement may hold, about: sets the
#: default M so that a large problem (bernoulli_vae) is advised in minutes, not hours.
ELEMENTS = 2**25
DEFAULT_ESTIMATES = (200, 10_000)
#: Interquartile range of a timing, over its median, above which the caveats warn.
NOISY_TIMING = 0.25


def default_variants() -> list[tuple[str, dict]]:
    """(name, options): the core suite's settings of the built-ins, defaults of the others."""
    core = tomllib.loads((resources.files("suites.run.grids") / "core.toml").read_text())
    variants = [(entry["name"], options) for entry in core["estimators"]
                for options in entry.get("options", [{}])]
    held = {name for name, _ in variants}
    # Peers (other libraries, in worker processes) are compared in `mcgradbench run peers`.
    variants += [(name, {}) for name in estimator_registry.names()
                 if name not in held and not getattr(estimator_registry.get(name), "remote", False)]
    return variants


def default_num_estimates(problem, evaluations: int) -> int:
    """``M`` so that ``M x evaluations x elements_per_sample`` stays near ``ELEMENTS``."""
    size = getattr(problem, "elements_per_sample", 1) * evaluations
    low, high = DEFAULT_ESTIMATES
    return max(low, min(high, ELEMENTS // size))


def advise(problem: Any, evaluations: int = 4, num_estimates: int | None = None, seed: int = 0,
           min_run_time: float = 0.2, variants: Sequence[tuple[str, dict]] | None = None,
           ) -> tuple[pd.DataFrame, list[str]]:
    """Measure every applicable variant at ``evaluations`` cost evaluations per estimate.

    Returns one row per estimator variant (``estimator``, ``K``, ``variance`` = tr Cov,
    ``variance_se``, ``time_per_estimate_s``, ``work_variance`` and its ``work_variance_se``,
    ``bias_norm``, ``bias_se``, ``max_abs_z``, ``biased``, ``rank``) and the variants not
    run, each with its reason.
    """
    if isinstance(evaluations, bool) or not isinstance(evaluations, int) or evaluations < 1:
        raise ValueError(f"--evaluations must be an integer >= 1, got {evaluations!r}")
    if isinstance(problem, str):
        problem = problem_registry.get(problem)
    m = num_estimates or default_num_estimates(problem, evaluations)
    rows, skipped = [], []
    for name, options in (variants or default_variants()):
        estimator = estimator_registry.get(name, **options)
        label = estimator.label
        if not estimator.applies_to(problem):
            continue
        k = samples_within(estimator, problem, evaluations)
        try:
            if k < 1:
                raise ValueError(f"one sample costs {estimator.evaluations(problem, 1)} evaluations")
            estimator.check_num_samples(k)
        except ValueError as error:
            skipped.append(f"{label}: not run at {evaluations} evaluations ({error})")
            continue
        measured = measure(problem, estimator, m, k, seed=seed, min_run_time=min_run_time)
        trace = float((measured["variance"] * measured["numel"]).sum())
        trace_se = math.sqrt(float(((measured["variance_se"] * measured["numel"]) ** 2).sum()))
        per_estimate = float(measured["time_s"].iloc[0] / measured["timed_estimates"].iloc[0])
        rows.append({
            "estimator": label, "K": k, "evaluations": estimator.evaluations(problem, k),
            "variance": trace, "variance_se": trace_se, "time_per_estimate_s": per_estimate,
            "work_variance": trace * per_estimate, "work_variance_se": trace_se * per_estimate,
            "bias_norm": math.sqrt(float((measured["bias_norm"] ** 2).sum())),
            "bias_se": math.sqrt(float((measured["bias_se"] ** 2).sum())),
            "max_abs_z": float(measured["max_abs_z"].max()),
            # Declared biased counts even where M is too small to see it (straight-through at low
            # temperature on bernoulli_vae at M = 200).
            "biased": bool(measured["biased"].any()) or not getattr(estimator, "unbiased", True),
            "declared_unbiased": bool(getattr(estimator, "unbiased", True)),
            "num_estimates": m,
            "time_spread": float(measured["time_iqr_s"].iloc[0] / measured["time_s"].iloc[0]),
        })
    table = pd.DataFrame(rows)
    if table.empty:
        raise ValueError(f"no estimator applies to {problem.label} at {evaluations} evaluations")
    table = table.sort_values(["biased", "work_variance"], kind="stable").reset_index(drop=True)
    table["rank"] = [i + 1 if not b else None for i, b in enumerate(table["biased"])]
    return table, skipped


def recommendation(table: pd.DataFrame) -> str:
    """One line: the unbiased estimator of least work-normalised variance, and by how much."""
    unbiased = table[~table["biased"]]
    if unbiased.empty:
        return "No estimator was unbiased here: none can be recommended on variance; compare the biases."
    best = unbiased.iloc[0]
    if len(unbiased) == 1:
        return f"Use {best['estimator']}: the only unbiased estimator that applies."
    second = unbiased.iloc[1]
    ratio = second["work_variance"] / best["work_variance"]
    gap = second["work_variance"] - best["work_variance"]
    noise = math.hypot(best["work_variance_se"], second["work_variance_se"])
    if gap <= 2 * noise:
        return (f"Use {best['estimator']} or {second['estimator']}: their work-normalised variances are "
                f"within two standard errors ({best['work_variance']:.3g} and {second['work_variance']:.3g}).")
    return (f"Use {best['estimator']} (K={best['K']}): work-normalised variance {best['work_variance']:.3g} "
            f"+- {best['work_variance_se']:.2g}, {ratio:.3g}x lower than the next, {second['estimator']}.")


def caveats(problem, table: pd.DataFrame, evaluations: int, skipped: Sequence[str]) -> list[str]:
    """What the advice rests on: one parameter point, this machine's timings, the budget, M."""
    lines = [
        f"One parameter point: {problem.label}; variances change as training moves theta.",
        "Timings are of this machine and its current load (one batched call per estimator, "
        "torch.utils.benchmark median); rerun on the hardware you train on.",
        f"Budget: {evaluations} cost evaluations per estimate; M = {int(table['num_estimates'].iloc[0])} "
        "estimates, one seed. Standard errors are of the variance only.",
    ]
    spread = table["time_spread"].max()
    if spread > NOISY_TIMING:
        worst = table.loc[table["time_spread"].idxmax(), "estimator"]
        lines.append(f"Timings were noisy: interquartile range up to {spread:.0%} of the median "
                     f"({worst}); a busy machine can reorder the ranking, rerun it when idle.")
    flagged = table[table["biased"] & table["declared_unbiased"]]
    lines += [f"{e} declares itself unbiased but was flagged biased (max |z| = {z:.1f}): check it "
              f"with `mcgradbench check estimator`." for e, z in zip(flagged["estimator"], flagged["max_abs_z"])]
    return lines + list(skipped)


def render(problem, table: pd.DataFrame, evaluations: int, skipped: Sequence[str]) -> str:
    """The printed advice: ranked unbiased table, biased table, recommendation, caveats."""
    fmt = {"float_format": "{:.4g}".format, "index": False}
    unbiased = table[~table["biased"]]
    biased = table[table["biased"]]
    parts = [f"Advice for {problem.label} at {evaluations} cost evaluations per estimate",
             "", "Unbiased, ranked by work-normalised variance (variance x time per estimate; lower is better):"]
    parts.append(unbiased[["rank", "estimator", "K", "variance", "variance_se", "time_per_estimate_s",
                           "work_variance", "work_variance_se"]].astype({"rank": int})
                 .to_string(**fmt) if not unbiased.empty else "  (none)")
    parts += ["", "Biased (not ranked; bias over all parameters):"]
    parts.append(biased[["estimator", "K", "bias_norm", "bias_se", "max_abs_z", "variance",
                         "time_per_estimate_s"]].to_string(**fmt) if not biased.empty else "  (none)")
    parts += ["", recommendation(table), "", "Caveats:"]
    parts += [f"- {line}" for line in caveats(problem, table, evaluations, skipped)]
    return "\n".join(parts)
