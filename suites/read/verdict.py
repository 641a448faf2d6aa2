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
standard errors on the log scale (``suites.advise.significance``); candidates
flagged or declared biased are listed apart with their bias.
"""
from __future__ import annotations

import functools
import math

import pandas as pd

from suites.read.advise import TIE_SE, significance
from suites.problems.labels import estimator_label, problem_label

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
    # Where a suite sweeps M (scaling), the largest M speaks for the cell.
    df = df[df["num_estimates"] == df.groupby(keys)["num_estimates"].transform("max")]
    rows = []
    for key, cell in df.groupby(keys, sort=False):
        cell = cell.drop_duplicates("param", keep="last")
        per_estimate = float(cell["time_s"].iloc[0] / cell["timed_estimates"].iloc[0])
        trace = float((cell["variance"] * cell["numel"]).sum())
        trace_se = math.sqrt(float(((cell["variance_se"] * cell["numel"]) ** 2).sum()))
        evaluations = _evaluations(key[1], key[3], int(key[4]))
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
            "bias_norm": math.sqrt(float((cell["bias_norm"] ** 2).sum())),
            "bias_se": math.sqrt(float((cell["bias_se"] ** 2).sum())),
            "biased": bool(cell["biased"].any()) or not _declared_unbiased(key[3]),
        })
    return pd.DataFrame(rows)


def verdicts(df: pd.DataFrame) -> pd.DataFrame:
    """Per (suite, problem, device) and criterion (work, time): the best unbiased candidate,
    the next, their ratio and separation in combined standard errors, and the biased ones."""
    table = candidates(df)
    out = []
    for (suite, problem, device), group in table.groupby(["suite", "problem_label", "device"],
                                                         sort=False):
        biased = group[group["biased"]]
        apart = "; ".join(f"{e} (K={k}) ‖bias‖ {b:.3g}±{s:.2g}" for e, k, b, s in zip(
            biased["estimator_label"], biased["num_samples"], biased["bias_norm"], biased["bias_se"]))
        for by in ("work", "time"):
            column, se = f"{by}_variance", f"{by}_variance_se"
            # Each estimator at its best K: the next is another estimator, not the same at
            # another K.
            ranked = group[~group["biased"] & group[column].map(math.isfinite)].sort_values(
                column, kind="stable").drop_duplicates("estimator_label")
            row = {"suite": suite, "problem": problem, "device": device, "by": by,
                   "best": None, "K": None, "value": math.nan, "se": math.nan, "next": None,
                   "ratio": math.nan, "z": math.nan, "significant": None, "biased": apart}
            if len(ranked):
                best = ranked.iloc[0]
                row.update(best=best["estimator_label"], K=int(best["num_samples"]),
                           value=best[column], se=best[se])
            if len(ranked) > 1:
                second = ranked.iloc[1]
                z = significance(best[column], best[se], second[column], second[se])
                row.update(next=f"{second['estimator_label']} (K={int(second['num_samples'])})",
                           # two zero-variance estimators (the whole support of a set) tie exactly
                           ratio=second[column] / best[column] if best[column] else
                           (math.inf if second[column] else math.nan),
                           z=z, significant=bool(z >= TIE_SE))
            out.append(row)
    return pd.DataFrame(out)


def sentence(row) -> str:
    """``reparam (K=4), 13.7x below score_function(baseline=loo) (K=4), significant (74 se)``."""
    if pd.isna(row["best"]):  # None in a column of strings and NaN reads back as NaN
        return "no unbiased estimator measured"
    text = f"{row['best']} (K={int(row['K'])})"
    if pd.isna(row["next"]):
        return text + ", the only unbiased one"
    verdict = (f"significant ({row['z']:.0f} se)" if row["significant"] else
               f"tied within {TIE_SE:g} se ({row['z']:.1f})")
    return f"{text}, {row['ratio']:.3g}x below {row['next']}: {verdict}"


def format_verdicts(df: pd.DataFrame, width: int = 80) -> str:
    """The per-problem answer for a terminal, within ``width`` columns."""
    import textwrap

    table = verdicts(df)
    if table.empty:
        return ""
    lines = ["Best unbiased estimator per problem (work: variance x cost evaluations; time: "
             "variance x seconds per estimate; lower is better):"]
    for (suite, problem, device), group in table.groupby(["suite", "problem", "device"], sort=False):
        lines.append(f"{problem} on {device}:")
        for _, row in group.iterrows():
            lines.append(textwrap.fill(f"by {row['by']}: {sentence(row)}", width,
                                       initial_indent="  ", subsequent_indent="    "))
        if group["biased"].iloc[0]:
            lines.append(textwrap.fill(f"biased, not ranked: {group['biased'].iloc[0]}", width,
                                       initial_indent="  ", subsequent_indent="    "))
    return "\n".join([textwrap.fill(lines[0], width)] + lines[1:])


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
