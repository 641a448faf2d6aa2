"""Ranked advice: every applicable estimator on one problem at the same budget of cost evaluations.

For a budget of ``N`` cost evaluations per estimate, each estimator runs with
the largest ``K`` whose estimate costs at most ``N`` on the problem
(``Estimator.evaluations``: DisARM 2 a pair, REBAR 3 a sample, the
measure-valued estimator ``4 D`` a sample, the delta method ``2 K + 2 + D``
with its gradient and Hessian-vector products) where it accepts that ``K``, and is
measured by ``suites.measure`` (``M`` estimates, one seed). Its figure of merit
is the work-normalised variance (the "efficiency" of Glynn & Whitt 1992, "The
asymptotic efficiency of simulation estimators", Operations Research 40(3)),
with work counted in cost evaluations, which no machine load changes:

    V_work = tr Cov[g] x n,

``tr Cov[g]`` the total variance of one estimate over all parameter
coordinates and ``n`` the cost evaluations the estimate spent; lower is
better: ``V_work / N`` is the variance of an average of estimates that spend
``N`` evaluations in all. Its standard error is ``se(tr Cov) x n`` (the
parameters' variance estimates taken as independent).

``by="time"`` ranks by the time-normalised variance ``tr Cov[g] x t`` instead,
``t`` the wall-clock time per estimate: the estimators are timed in turn,
``rounds`` times round-robin (``torch.utils.benchmark``), so that a change of
machine load falls on all of them alike; ``t`` is the median over rounds of
each round's median, its spread the range of the rounds over ``t``, and the
standard error of ``V_time`` combines the variance's relative standard error
with the rounds' (``std / sqrt(rounds)``). Either way wall-clock time is a
column of its own.

Two unbiased estimators whose values differ by less than ``TIE_SE`` combined
standard errors are tied: the advice names every estimator tied with the best,
not one winner (a false "winner" between equals at a rate of about 5%, two
sided, per comparison). Estimators that declare themselves biased, or are
flagged biased (the Bonferroni z test of ``suites.measure`` on any parameter),
are listed apart with their bias: variance does not rank them.

Estimator variants: the option settings the core suite runs (``core.toml``)
for the built-ins, and the default options of every other registered
estimator (plugins); ``estimators=`` chooses others.
"""
from __future__ import annotations

import math
import re
import statistics
import tomllib
from importlib import resources
from typing import Any, Callable, Sequence

import pandas as pd

import estimators as estimator_registry

from suites import problems as problem_registry
from suites.measurement.measure import measure, timed_call
from suites.run.grids.base import samples_within
from suites.read.ranking import (CRITERIA, TIE_SE, below, cell_totals, rank,  # noqa: F401
                                 seconds_per_estimate, significance)
from suites.read.text import fill, fitted, records

#: Numbers (estimates x samples x elements) one advice measurement may hold, about: sets the
#: default M so that a large problem (bernoulli_vae) is advised in minutes, not hours.
ELEMENTS = 2**25
DEFAULT_ESTIMATES = (200, 10_000)
#: Range of the timing rounds, over their median, above which the caveats warn.
NOISY_TIMING = 0.25
DEFAULT_ROUNDS = 5


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


def interleaved_times(problem, runs: Sequence[tuple[Any, int, int]], seed: int,
                      min_run_time: float, rounds: int,
                      progress: Callable[[str], None] | None = None) -> list[list[float]]:
    """Per (estimator, K, estimates per call) of ``runs``: the median seconds per call of each
    of ``rounds`` rounds.

    Round ``r`` times every estimator once, in turn, for ``min_run_time / rounds`` seconds,
    so that a load that comes and goes is spread over all of them rather than falling on one.
    Each call produces the estimates ``measure`` would time for that estimator (one chunk:
    ``run``'s timing rule), so that ``advise``'s seconds per estimate are ``run``'s.
    """
    times: list[list[float]] = [[] for _ in runs]
    for r in range(rounds):
        if progress:
            progress(f"timing round {r + 1}/{rounds}")
        for i, (estimator, k, calls) in enumerate(runs):
            median, _, _ = timed_call(problem, estimator, calls, k, seed, min_run_time / rounds)
            times[i].append(median)
    return times


def advise(problem: Any, evaluations: int = 4, num_estimates: int | None = None, seed: int = 0,
           min_run_time: float = 0.2, variants: Sequence[tuple[str, dict]] | None = None,
           by: str = "work", rounds: int = DEFAULT_ROUNDS,
           progress: Callable[[str], None] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Measure every applicable variant at ``evaluations`` cost evaluations per estimate.

    Returns one row per estimator variant and the variants not run, each with its
    reason. Columns: ``estimator``, ``K``, ``evaluations`` (of one estimate),
    ``total_variance`` (tr Cov over every coordinate) and ``mean_variance`` (per
    coordinate), each with ``_se``; ``work_variance`` = evaluations x total and
    ``time_variance`` = seconds per estimate x total, with ``_se``;
    ``time_per_estimate_s`` (the median over rounds of the seconds of one call, over the
    estimates that call produced: ``measure``'s timed chunk, as ``run`` times it) and
    ``time_spread`` (the rounds' range over that median); ``bias_norm``, ``bias_se``,
    ``max_abs_z``, ``biased``; ``rank`` (unbiased only, by ``by``) and ``tied``
    (within ``TIE_SE`` combined standard errors of the best). ``progress``, where given,
    is called with a line before each measurement and each timing round.
    """
    if isinstance(evaluations, bool) or not isinstance(evaluations, int) or evaluations < 1:
        raise ValueError(f"--evaluations must be an integer >= 1, got {evaluations!r}")
    if by not in CRITERIA:
        raise ValueError(f"--by must be one of {', '.join(CRITERIA)}, got {by!r}")
    if not (math.isfinite(min_run_time) and min_run_time > 0):
        raise ValueError(f"--min-run-time must be a finite number of seconds > 0, got {min_run_time}")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"--rounds must be an integer >= 1, got {rounds!r}")
    if isinstance(problem, str):
        problem = problem_registry.get(problem)
    m = num_estimates or default_num_estimates(problem, evaluations)
    rows, skipped, runs = [], [], []
    variants = list(variants or default_variants())
    for i, (name, options) in enumerate(variants):
        estimator = estimator_registry.get(name, **options)
        label = estimator.label
        if not estimator.applies_to(problem):
            continue
        k = samples_within(estimator, problem, evaluations)
        try:
            if k < 1:
                raise ValueError(f"one sample costs {estimator.evaluations(problem, 1)} evaluations")
            estimator.check_num_samples(k)
            most = getattr(estimator, "max_num_samples", lambda _: None)(problem)
            if most is not None and k > most:
                raise ValueError(f"K = {k} distinct states, but {problem.label} has {most}")
        except ValueError as error:
            skipped.append(f"{label}: not run at {evaluations} evaluations ({error})")
            continue
        if progress:
            progress(f"[{i + 1}/{len(variants)}] {label} K={k} M={m:,}")
        # Timed below, every estimator in turn, not here one after the other.
        measured = measure(problem, estimator, m, k, seed=seed, min_run_time=0)
        totals = cell_totals(measured)
        trace, trace_se = totals["total_variance"], totals["total_variance_se"]
        cost = estimator.evaluations(problem, k)
        runs.append((estimator, k, int(measured["timed_estimates"].iloc[0])))
        rows.append({
            "estimator": label, "K": k, "evaluations": cost,
            "total_variance": trace, "total_variance_se": trace_se,
            "mean_variance": trace / totals["coordinates"],
            "mean_variance_se": trace_se / totals["coordinates"],
            "work_variance": trace * cost, "work_variance_se": trace_se * cost,
            "bias_norm": totals["bias_norm"], "bias_se": totals["bias_se"],
            "max_abs_z": totals["max_abs_z"],
            # Declared biased counts even where M is too small to see it (straight-through at low
            # temperature on bernoulli_vae at M = 200).
            "biased": totals["flagged"] or not getattr(estimator, "unbiased", True),
            "declared_unbiased": bool(getattr(estimator, "unbiased", True)),
            "num_estimates": m,
        })
    if not rows:
        raise ValueError(f"no estimator applies to {problem.label} at {evaluations} evaluations")
    table = pd.DataFrame(rows)
    times = interleaved_times(problem, runs, seed, min_run_time, rounds, progress)
    table["timed_estimates"] = [calls for _, _, calls in runs]
    table["time_per_estimate_s"] = [seconds_per_estimate(statistics.median(t), calls)
                                    for t, (_, _, calls) in zip(times, runs)]
    table["time_spread"] = [(max(t) - min(t)) / statistics.median(t) for t in times]
    time_rse = [statistics.stdev(t) / math.sqrt(len(t)) / statistics.median(t) if len(t) > 1
                else math.nan for t in times]
    table["time_variance"] = table["total_variance"] * table["time_per_estimate_s"]
    # an exact 0 (float rounding, suites.measurement) has no relative error: 0, not 0 / 0
    variance_rse = [s / v if v > 0 else 0.0 for v, s in
                    zip(table["total_variance"], table["total_variance_se"])]
    table["time_variance_se"] = table["time_variance"] * [
        math.hypot(v, t) for v, t in zip(variance_rse, time_rse)]
    return rank(table, by), skipped


def recommendation(table: pd.DataFrame) -> str:
    """One line: the unbiased estimator of least variance by the table's criterion, by how
    much, or every estimator tied with it."""
    by = table["by"].iloc[0] if "by" in table else "work"
    column, se, words = CRITERIA[by]
    ranked = table[table["rank"].notna()]
    if ranked.empty:
        return "No estimator was unbiased here: none can be recommended on variance; compare the biases."
    best = ranked.iloc[0]
    if len(ranked) == 1:
        return f"Use {best['estimator']}: the only unbiased estimator that applies."
    tied = ranked[ranked["tied"]]
    if len(tied) > 1:
        names = ", ".join(tied["estimator"])
        return (f"Tied: {names}: within {TIE_SE:g} combined standard errors of the best "
                f"{words.split(' (')[0]} ({best[column]:.3g} ± {best[se]:.2g}); use any of them.")
    second = ranked.iloc[1]
    z = significance(best[column], best[se], second[column], second[se])
    return (f"Use {best['estimator']} (K={best['K']}): {words.split(' (')[0]} {best[column]:.3g} "
            f"± {best[se]:.2g}, {below(best[column], second[column], 'lower than')} the next, "
            f"{second['estimator']} ({z:.1f} standard errors apart).")


def caveats(problem_label: str, table: pd.DataFrame, evaluations: int,
            skipped: Sequence[str]) -> list[str]:
    """What the advice rests on: one parameter point, the budget, M, this machine's timings."""
    by = table["by"].iloc[0]
    lines = [
        f"One parameter point: {problem_label}; variances change as training moves theta.",
        f"Budget: {evaluations} cost evaluations per estimate; M = "
        f"{int(table['num_estimates'].iloc[0]):,} estimates, one seed. Standard errors are of "
        f"the variance" + (" and of the timing rounds." if by == "time" else " only."),
        "Times are of this machine and its load: every estimator timed in turn over "
        "several rounds (torch.utils.benchmark); " + (
            "the ranking uses them (--by time)." if by == "time" else
            "the ranking does not use them (--by time ranks by them)."),
    ]
    spread = table["time_spread"].max()
    if by == "time" and spread > NOISY_TIMING:
        worst = table.loc[table["time_spread"].idxmax(), "estimator"]
        lines.append(f"Timings were noisy: rounds spread up to {spread:.0%} of the median "
                     f"({worst}); rerun when the machine is idle.")
    flagged = table[table["biased"] & table["declared_unbiased"]]
    lines += [f"{e} declares itself unbiased but was flagged biased (max |z| = {z:.1f}): check it "
              f"with `mcgradbench check estimator`." for e, z in zip(flagged["estimator"], flagged["max_abs_z"])]
    return lines + list(skipped)


def pm(value: float, se: float) -> str:
    """``4.49±0.15``, ``8.09e-7±2.9e-8``; ``–`` where the value is not finite."""
    if not math.isfinite(value):
        return "–"
    return re.sub(r"e([+-])0*(\d)", lambda m: f"e{m[1].replace('+', '')}{m[2]}",
                  f"{value:.3g}±{se:.2g}")


def views(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The printed unbiased (ranked) and biased tables; ``=1`` marks a rank tied with the best."""
    by = table["by"].iloc[0]
    unbiased, biased = table[~table["biased"]], table[table["biased"]]
    us = [f"{t * 1e6:.3g}" if math.isfinite(t) else "–" for t in unbiased["time_per_estimate_s"]]
    ranked = pd.DataFrame({
        "#": [("–" if r is pd.NA else "=1" if t and unbiased["tied"].sum() > 1 else str(r))
              for r, t in zip(unbiased["rank"], unbiased["tied"])],
        "estimator": unbiased["estimator"], "K": unbiased["K"],
    })
    if by == "work":  # total var = evals×var / evals: its column would not fit 80 columns
        ranked["evals"] = unbiased["evaluations"]
    else:
        ranked["total var"] = [pm(v, s) for v, s in zip(unbiased["total_variance"],
                                                        unbiased["total_variance_se"])]
    if by == "work":
        ranked["evals×var"] = [pm(v, s) for v, s in zip(unbiased["work_variance"],
                                                        unbiased["work_variance_se"])]
        ranked["µs/est"] = us
        ranked["range"] = [f"{s:.0%}" for s in unbiased["time_spread"]]
    else:
        ranked["µs/est"] = us
        ranked["range"] = [f"{s:.0%}" for s in unbiased["time_spread"]]
        ranked["s×var"] = [pm(v, s) for v, s in zip(unbiased["time_variance"],
                                                    unbiased["time_variance_se"])]
    apart = pd.DataFrame({
        "estimator": biased["estimator"], "K": biased["K"],
        "‖bias‖": [pm(v, s) for v, s in zip(biased["bias_norm"], biased["bias_se"])],
        "max|z|": [f"{z:.1f}" for z in biased["max_abs_z"]],
        "total var": [pm(v, s) for v, s in zip(biased["total_variance"], biased["total_variance_se"])],
        "µs/est": [f"{t * 1e6:.3g}" if math.isfinite(t) else "–" for t in biased["time_per_estimate_s"]],
    })
    return ranked, apart


def render(problem_label: str, table: pd.DataFrame, evaluations: int, skipped: Sequence[str],
           width: int = 80) -> str:
    """The printed advice within ``width`` columns: ranked unbiased table, biased table,
    recommendation, legend and caveats."""
    by = table["by"].iloc[0]
    ranked, apart = views(table)
    wrap = lambda text: fill(text, width, subsequent_indent="  ")  # noqa: E731
    parts = [wrap(f"Advice for {problem_label} at {evaluations} cost evaluations per estimate"), "",
             wrap(f"Unbiased, ranked by {CRITERIA[by][2]}; lower is better:"),
             fitted(ranked, width) if not ranked.empty else "  (none)", "",
             wrap("Biased (not ranked; bias over all parameters):"),
             fitted(apart, width) if not apart.empty else "  (none)", "",
             wrap(recommendation(table)), "",
             wrap("total var: variance of one estimate summed over every parameter coordinate "
                  "(trace of its covariance) ± se; evals: cost evaluations of one estimate; "
                  + ("evals×var: their product, the variance per unit of work; "
                     if by == "work" else "s×var: seconds per estimate × total var; ")
                  + "µs/est: median wall-clock time per estimate (of a call of one chunk of "
                  "estimates, as run times it); range: of the timing rounds, over their median; "
                  "# =1: tied with the best "
                  f"(within {TIE_SE:g} combined standard errors)."), "", "Caveats:"]
    parts += [fill(line, width, initial_indent="- ", subsequent_indent="  ")
              for line in caveats(problem_label, table, evaluations, skipped)]
    return "\n".join(parts)


def as_json(problem_label: str, table: pd.DataFrame, evaluations: int,
            skipped: Sequence[str]) -> dict:
    """The advice as data (``--format json``): every row, the recommendation and caveats."""
    rows = records(table.astype(object).where(table.notna(), None))
    ranked = table[table["rank"].notna()]
    best = list(ranked[ranked["tied"]]["estimator"]) if len(ranked) else []
    return {"problem": problem_label, "evaluations": evaluations, "by": table["by"].iloc[0],
            "best": best, "recommendation": recommendation(table), "estimators": rows,
            "skipped": list(skipped), "caveats": caveats(problem_label, table, evaluations, skipped)}
