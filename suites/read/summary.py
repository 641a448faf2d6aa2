"""The table ``mcgradbench run`` prints: the report's columns, fitted to a terminal's width."""
from __future__ import annotations


import pandas as pd

from suites.problems.labels import estimator_label, problem_label
from suites.measurement.measure import MIN_EFFECTIVE_ESTIMATES
from suites.read.report.tables import UNTESTED, nonfinite_words, untested_mark
from suites.read.ranking import seconds_per_estimate
from suites.read.text import fill, label_width, records, wrap_label
from suites.read.verdict import verdicts


def pm(value: float, se: float) -> str:
    """``4.49±0.15`` (the report's ``value ± se``, tighter for a terminal)."""
    return "–" if value != value else f"{value:.3g}±{se:.2g}"


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    """The printed view of result rows: one line per cell and parameter, the report's columns."""
    per_estimate_us = seconds_per_estimate(df["time_s"], df["timed_estimates"]) * 1e6
    return pd.DataFrame({
        "problem": [problem_label(n, c) for n, c in zip(df["problem"], df["problem_config"])],
        "estimator": [estimator_label(n, c) for n, c in zip(df["estimator"], df["estimator_config"])],
        "param": df["param"], "device": df["device"], "M": df["num_estimates"],
        "K": df["num_samples"],
        "variance": [pm(v, s) for v, s in zip(df["variance"], df["variance_se"])],
        "‖bias‖": [pm(v, s) + (" *" if b else untested_mark(z, u))
                   for v, s, b, z, u in zip(df["bias_norm"], df["bias_se"], df["biased"],
                                            df["max_abs_z"], df["z_untested"])],
        "µs/est": [f"{t:.3g}" if t == t else "–" for t in per_estimate_us],
        "note": [nonfinite_words(n) for n in df["nonfinite"]],
    })


def format_summary(df: pd.DataFrame, width: int) -> str:
    """The summary, one block per problem configuration, within ``width`` columns.

    Columns that do not vary inside a block (device, M, K) move to its heading; long
    estimator labels wrap inside their column.
    """
    from tabulate import tabulate

    view = summary_table(df)
    blocks = []
    for problem, block in view.groupby("problem", sort=False):
        heading = [problem]
        for column in ("device", "M", "K"):
            if block[column].nunique() == 1:
                value = block[column].iloc[0]
                heading.append(f"{column}={value:,}" if column == "M" else f"{column}={value}")
                block = block.drop(columns=column)
        block = block.drop(columns="problem")
        if not block["note"].str.len().any():
            block = block.drop(columns="note")
        if (block["param"].nunique() == 1) and len(block) == block["estimator"].nunique():
            heading.append(f"param={block['param'].iloc[0]}")
            block = block.drop(columns="param")
        # tabulate's "simple" format: a column is as wide as its widest value or its header
        # plus 2, and columns are 2 apart.
        others = sum(max(len(str(h)) + 2, block[h].astype(str).str.len().max()) + 2
                     for h in block.columns if h != "estimator")
        fit = label_width(block["estimator"], width - others - 1)
        block = block.assign(estimator=[wrap_label(e, fit) for e in block["estimator"]])
        text = tabulate(block.values.tolist(), headers=list(block.columns), tablefmt="simple",
                        disable_numparse=True,
                        maxcolwidths=[fit] + [None] * (block.shape[1] - 1))
        blocks.append(fill(" · ".join(heading), width) + "\n" + text)
    legends = []
    if view["‖bias‖"].str.endswith("*").any():
        legends.append("* significantly biased (largest per-coordinate |z| beyond the "
                       "Bonferroni threshold)")
    if view["‖bias‖"].str.endswith(UNTESTED).any():
        legends.append(f"† bias not tested: no coordinate had {MIN_EFFECTIVE_ESTIMATES} "
                       f"effective estimates (3M / kurtosis)")
    return "\n\n".join(blocks + [fill(text, width) for text in legends])


def format_train_summary(table: pd.DataFrame, width: int) -> str:
    """The final objective of each training cell: mean ± standard error across seeds."""
    from tabulate import tabulate

    from suites.run.training import final_objectives

    final = final_objectives(table)
    view = pd.DataFrame({
        "problem": [problem_label(n, c) for n, c in zip(final["problem"], final["problem_config"])],
        "estimator": [estimator_label(n, c) for n, c in zip(final["estimator"], final["estimator_config"])],
        "steps": final["step"].astype(int), "seeds": final["seeds"],
        "final objective": [f"{m:.4g}±{s:.2g}" if s == s else f"{m:.4g}"
                            for m, s in zip(final["objective"], final["objective_se"])],
        "seconds": [f"{t:.3g}" for t in final["seconds"]],
    })
    blocks = []
    for problem, block in view.groupby("problem", sort=False):
        block = block.drop(columns="problem")
        others = sum(max(len(h) + 2, block[h].astype(str).str.len().max()) + 2
                     for h in block.columns if h != "estimator")
        fit = label_width(block["estimator"], width - others - 1)
        block = block.assign(estimator=[wrap_label(e, fit) for e in block["estimator"]])
        blocks.append(f"{problem} · final objective (mean ± se over seeds); seconds: one curve\n"
                      + tabulate(block.values.tolist(), headers=list(block.columns),
                                 tablefmt="simple", disable_numparse=True))
    return "\n\n".join(blocks)


def summary_json(table: pd.DataFrame) -> str:
    """``run --format json``: every result row's numbers under its labels, and the verdicts."""
    import json

    rows = pd.DataFrame({
        "problem": [problem_label(n, c) for n, c in zip(table["problem"], table["problem_config"])],
        "estimator": [estimator_label(n, c) for n, c in zip(table["estimator"], table["estimator_config"])],
    })
    if "param" in table:  # point measurements; a training run's rows are per logged step
        keep = ["param", "device", "num_estimates", "num_samples", "seed", "variance",
                "variance_se", "bias_norm", "bias_se", "max_abs_z", "biased", "nonfinite"]
        rows = rows.join(table[keep].reset_index(drop=True)).assign(
            time_per_estimate_s=seconds_per_estimate(table["time_s"], table["timed_estimates"]).to_numpy())
        found = records(verdicts(table))
    else:
        keep = ["device", "num_samples", "seed", "step", "seconds", "objective"]
        rows = rows.join(table[keep].reset_index(drop=True))
        found = []
    return json.dumps({"rows": records(rows), "best": found}, indent=1)
