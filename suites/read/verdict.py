"""Which estimator is best for each problem of a run: the answer at the top of the report.

Per (suite, problem configuration, device), from stored result rows: each
measured cell (estimator configuration and ``K``; the largest ``M`` where a
suite sweeps it) becomes one candidate with its total variance
``tr Cov = sum over parameters of variance x numel`` and standard error
``sqrt(sum (variance_se x numel)^2)``. Unbiased candidates are ranked twice,
as ``suites.advise`` ranks them: by work-normalised variance (``tr Cov x n``,
``n`` the cost evaluations of one estimate, ``Estimator.evaluations``) and by
time-normalised variance (``tr Cov x t``, ``t`` the stored seconds per
estimate; its standard error combines the variance's with the timing's
interquartile range over 1.349, a normal sd). The best is reported with its
ratio to the next and whether the two differ by more than ``TIE_SE`` combined
standard errors on the log scale (``suites.read.ranking.significance``); candidates
flagged or declared biased are listed apart with their bias.
"""
from __future__ import annotations

import functools
import math

import pandas as pd

from suites.problems.labels import estimator_label, problem_label
from suites.read.text import fill
from suites.read.ranking import (TIE_SE, below, best_per_estimator, cell_totals, largest_m, ratio,
                                 seconds_per_estimate, significance, tied)

#: The interquartile range of a normal sample over its standard deviation.
IQR_PER_SD = 1.349


@functools.lru_cache(maxsize=None)
def _problem(label: str):
    from suites import problems

    return problems.get(label)  # a VAE trains at construction: once per process


@functools.lru_cache(maxsize=None)
def _evaluations(problem: str, estimator: str, num_samples: int) -> float:
    """Cost evaluations of one estimate of ``estimator`` (a label) at ``K`` on ``problem``
    (a label); NaN where either cannot be built here (a plugin not installed)."""
    import estimators

    try:
        return float(estimators.get(estimator).evaluations(_problem(problem), num_samples))
    except Exception:  # noqa: BLE001 - a label that cannot be built has no cost, not a crash
        return math.nan


def _declared_unbiased(estimator: str) -> bool:
    import estimators
    try:
        return bool(getattr(estimators.get(estimator), "unbiased", True))
    except Exception:  # noqa: BLE001
        return True


def candidates(df: pd.DataFrame) -> pd.DataFrame:
    """One row per measured cell (all its parameters together): the totals ranked on."""
    df = df.assign(
        problem_label=[problem_label(n, c) for n, c in zip(df["problem"], df["problem_config"])],
        estimator_label=[estimator_label(n, c) for n, c in zip(df["estimator"], df["estimator_config"])])
    keys = ["suite", "problem_label", "device", "estimator_label", "num_samples"]
    rows = []
    for key, cell in largest_m(df, keys).groupby(keys, sort=False):
        cell = cell.drop_duplicates("param", keep="last")
        totals = cell_totals(cell)
        trace, trace_se = totals["total_variance"], totals["total_variance_se"]
        per_estimate = seconds_per_estimate(cell["time_s"].iloc[0], cell["timed_estimates"].iloc[0])
        stored = cell["evaluations"].iloc[0] if "evaluations" in cell else math.nan
        # stored with the row; runs from before it was, rebuilt from the labels
        evaluations = float(stored) if stored == stored else _evaluations(key[1], key[3], int(key[4]))
        time_rse = float(cell["time_iqr_s"].iloc[0] / cell["time_s"].iloc[0]) / IQR_PER_SD
        time_rse = time_rse if math.isfinite(time_rse) else 0.0
        variance_rse = trace_se / trace if trace > 0 else 0.0
        rows.append({
            **dict(zip(keys, key)), "M": int(cell["num_estimates"].iloc[0]),
            "total_variance": trace, "total_variance_se": trace_se,
            "evaluations": evaluations,
            "work_variance": trace * evaluations, "work_variance_se": trace_se * evaluations,
            "time_per_estimate_s": per_estimate,
            "time_variance": trace * per_estimate,
            "time_variance_se": trace * per_estimate * math.hypot(variance_rse, time_rse),
            "bias_norm": totals["bias_norm"], "bias_se": totals["bias_se"],
            "declared_unbiased": _declared_unbiased(key[3]),
            "biased": totals["flagged"] or not _declared_unbiased(key[3]),
        })
    return pd.DataFrame(rows)


def verdicts(df: pd.DataFrame) -> pd.DataFrame:
    """Per (suite, problem, device) and criterion (work, time): the best unbiased candidate,
    the next, their ratio and separation in combined standard errors, every estimator tied
    with the best (``tied``, the best first; each at its best K), and the biased ones."""
    table = candidates(df)
    out = []
    for (suite, problem, device), group in table.groupby(["suite", "problem_label", "device"],
                                                         sort=False):
        biased = group[group["biased"]]
        apart = "; ".join(f"{e} (K={k}) ‖bias‖ {b:.3g}±{s:.2g}" for e, k, b, s in zip(
            biased["estimator_label"], biased["num_samples"], biased["bias_norm"], biased["bias_se"]))
        for by in ("work", "time"):
            column, se = f"{by}_variance", f"{by}_variance_se"
            ranked = best_per_estimator(group, column, "estimator_label")
            unbiased = group[~group["biased"]]
            row = {"suite": suite, "problem": problem, "device": device, "by": by,
                   "best": None, "K": None, "value": math.nan, "se": math.nan, "next": None,
                   "next_value": math.nan,
                   "ratio": math.nan, "z": math.nan, "significant": None, "biased": apart,
                   "missing": missing_words(by, unbiased, ranked), "tied": []}
            if len(ranked):
                best = ranked.iloc[0]
                row.update(best=best["estimator_label"], K=int(best["num_samples"]),
                           value=best[column], se=best[se],
                           tied=[e for e, v, s in zip(ranked["estimator_label"], ranked[column],
                                                      ranked[se])
                                 if tied(best[column], best[se], v, s)])
            if len(ranked) > 1:
                second = ranked.iloc[1]
                z = significance(best[column], best[se], second[column], second[se])
                row.update(next=f"{second['estimator_label']} (K={int(second['num_samples'])})",
                           next_value=second[column], ratio=ratio(best[column], second[column]),
                           z=z, significant=bool(z >= TIE_SE))
            out.append(row)
    return pd.DataFrame(out)


def missing_words(by: str, unbiased: pd.DataFrame, ranked: pd.DataFrame) -> str:
    """What keeps unbiased candidates out of ``by``'s ranking, in words ("" where none is):
    no unbiased candidate at all, cells not timed (``--min-run-time 0``), or a cost in
    evaluations that is not known (a run stored before it was, of a plugin not installed)."""
    if unbiased.empty:
        return "no unbiased estimator measured"
    left = unbiased[~unbiased["estimator_label"].isin(ranked["estimator_label"])]
    if left.empty:
        return ""
    names = ", ".join(dict.fromkeys(left["estimator_label"]))
    if by == "time":
        return f"not timed (run with --min-run-time > 0): {names}"
    return f"cost in evaluations unknown: {names}"


def sentence(row) -> str:
    """``reparam (K=4), 13.7x below score_function(baseline=loo) (K=4), significant (74 se)``;
    where no candidate was ranked, why (``missing_words``); candidates left out besides the
    ranked ones are named after the verdict."""
    missing = row.get("missing", "")
    missing = "" if pd.isna(missing) else missing
    if pd.isna(row["best"]):  # None in a column of strings and NaN reads back as NaN
        return missing or "no unbiased estimator measured"
    text = f"{row['best']} (K={int(row['K'])})"
    after = f"; {missing}" if missing else ""
    if pd.isna(row["next"]):
        return text + ", the only unbiased one ranked" + after if missing else text + ", the only unbiased one"
    verdict = (f"significant ({row['z']:.0f} se)" if row["significant"] else
               f"tied within {TIE_SE:g} se ({row['z']:.1f})")
    return f"{text}, {below(row['value'], row['next_value'])} {row['next']}: {verdict}{after}"


def format_verdicts(df: pd.DataFrame, width: int = 80) -> str:
    """The per-problem answer for a terminal, within ``width`` columns."""
    table = verdicts(df)
    if table.empty:
        return ""
    lines = ["Best unbiased estimator per problem (work: variance x cost evaluations; time: "
             "variance x seconds per estimate; lower is better):"]
    for (suite, problem, device), group in table.groupby(["suite", "problem", "device"], sort=False):
        lines.append(f"{problem} on {device}:")
        for _, row in group.iterrows():
            lines.append(fill(f"by {row['by']}: {sentence(row)}", width,
                                       initial_indent="  ", subsequent_indent="    "))
        if group["biased"].iloc[0]:
            lines.append(fill(f"biased, not ranked: {group['biased'].iloc[0]}", width,
                                       initial_indent="  ", subsequent_indent="    "))
    return "\n".join([fill(lines[0], width)] + lines[1:])


def verdict_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The report's table: one row per (suite, problem, device), both criteria side by side."""
    table = verdicts(df)
    rows = []
    for (suite, problem, device), group in table.groupby(["suite", "problem", "device"], sort=False):
        by = group.set_index("by")
        rows.append({"suite": suite, "problem": problem, "device": device,
                     "best by work (variance × evaluations)": sentence(by.loc["work"]),
                     "best by time (variance × seconds)": sentence(by.loc["time"]),
                     "biased (not ranked)": by.loc["work", "biased"] or "–"})
    return pd.DataFrame(rows)
