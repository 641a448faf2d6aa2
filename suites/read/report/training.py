"""The training part of a report: what each estimator buys when it trains a model.

From training runs (``mcgradbench run train``; rows per logged step):

* the final objective of each estimator, mean ± standard error across seeds,
  ranked, and the objective each reached within the wall-clock budget of the
  fastest one (the papers' two views: per step and per second);
* figures: objective against step and against seconds (mean over seeds, a
  band of ±1 standard error), the gradient's variance along training on a log
  scale (where the run measured it, ``--grad-variance``), and the adaptive
  estimators' state against step;
* for problems that declare a closed-form log evidence (the conjugate models;
  the rows' ``log_evidence``), the gap ``log p(x) - ELBO`` = ``KL(q || p(z | x))``
  at the last step in the table and against step on a log scale.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from suites.read.report import sbn
from suites.read.report.curves import band_lines, labelled
from suites.store import rundir as store
from suites.run.training import final_objectives

CURVE = ["problem_label", "estimator_label", "device"]
#: The gap to the log evidence is drawn at least this (nats): the float32 ELBO's rounding.
GAP_FLOOR = 1e-6


def is_training_run(path: str | Path) -> bool:
    """Whether ``path`` (a run directory or its results.csv) holds training rows."""
    csv = store.results_path(path)
    try:
        return "step" in pd.read_csv(csv, nrows=0).columns
    except (OSError, ValueError, pd.errors.EmptyDataError, pd.errors.ParserError):
        return False  # read_results says what is wrong with it


def final_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per problem and estimator: the final objective ± se over seeds, its rank (1 = highest),
    the objective at the common time budget ± se, and the seconds of one curve."""
    final = labelled(final_objectives(df))
    budget = at_time_budget(df)
    final = final.merge(budget, on=CURVE, how="left")
    final["rank"] = final.groupby("problem_label")["objective"].rank(ascending=False, method="min")
    final["rank_by_time"] = final.groupby("problem_label")["objective_at_budget"].rank(
        ascending=False, method="min")
    return final.sort_values(["problem_label", "rank"], kind="stable")


def at_time_budget(df: pd.DataFrame) -> pd.DataFrame:
    """Each curve's objective at the wall-clock budget of its problem's fastest estimator
    (the shortest mean curve duration), interpolated linearly in seconds, per seed."""
    df = labelled(df)
    rows = []
    for problem, group in df.groupby("problem_label", sort=False):
        durations = group.groupby(["estimator_label", "device", "seed"])["seconds"].max()
        budget = float(durations.groupby(level=[0, 1]).mean().min())
        for (estimator, device), curves in group.groupby(["estimator_label", "device"], sort=False):
            values = [float(np.interp(budget, c.sort_values("step")["seconds"],
                                      c.sort_values("step")["objective"]))
                      for _, c in curves.groupby("seed")]
            se = float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.nan
            rows.append({"problem_label": problem, "estimator_label": estimator, "device": device,
                         "budget_s": budget, "objective_at_budget": float(np.mean(values)),
                         "objective_at_budget_se": se})
    return pd.DataFrame(rows)


def pm(value: float, se: float) -> str:
    return f"{value:.4f}" if not math.isfinite(se) else f"{value:.4f} ± {se:.4f}"


def log_evidences(df: pd.DataFrame) -> dict[str, float]:
    """Per problem label: its log evidence, for the problems whose rows carry a finite one."""
    if "log_evidence" not in df:
        return {}
    known = labelled(df).groupby("problem_label", sort=False)["log_evidence"].first()
    return {k: float(v) for k, v in known.items() if np.isfinite(v)}


def table_frames(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """One printable table per problem (the sbn suite's: the papers' table, ``report.sbn``)."""
    evidence = log_evidences(df)
    out = []
    generic = sbn.other_rows(df)
    final = final_table(generic) if len(generic) else pd.DataFrame(columns=["problem_label"])
    for problem, group in final.groupby("problem_label", sort=False):
        frame = pd.DataFrame({
            "estimator": group["estimator_label"],
            "device": group["device"],
            "evaluations / step": [int(e) for e in group["evaluations"]],
            "final objective": [pm(m, s) for m, s in zip(group["objective"], group["objective_se"])],
            "rank": group["rank"].astype(int),
            f"objective at {group['budget_s'].iloc[0]:.3g} s": [
                pm(m, s) for m, s in zip(group["objective_at_budget"], group["objective_at_budget_se"])],
            "rank by time": group["rank_by_time"].astype(int),
            "seconds / curve": [f"{t:.3g}" for t in group["seconds"]],
        })
        if problem in evidence:
            frame.insert(frame.columns.get_loc("final objective") + 1, "log p(x) − final objective",
                         [pm(evidence[problem] - m, s)
                          for m, s in zip(group["objective"], group["objective_se"])])
        if frame["device"].nunique() == 1:
            frame = frame.drop(columns="device")
        steps, seeds = int(group["step"].max()), int(group["seeds"].max())
        out.append((f"{problem}: {steps:,} steps, {seeds} seed(s)", frame))
    return out + sbn.table_frames(df)


LEGEND = ("final objective: the exact objective (the ELBO) at the last step, mean ± standard "
          "error across seeds; rank 1 is the highest; objective at T s: each curve's exact "
          "objective after T seconds of estimation, adaptation and update (T = the mean "
          "duration of the problem's fastest estimator), mean ± se across seeds, and its rank; "
          "evaluations / step: the cost evaluations of one step's estimate; log p(x) − final "
          "objective (problems with a closed-form log evidence): the final gap, KL(q || posterior).")


def legends(df: pd.DataFrame) -> list[str]:
    """How to read the training tables that ``df`` makes: the train suite's legend where it has
    train rows, the sbn suite's where it has sbn rows."""
    return ([LEGEND] if not sbn.other_rows(df).empty else []) + (
        [sbn.LEGEND] if not sbn.sbn_rows(df).empty else [])


# --- figures ----------------------------------------------------------------------------

def figures_for(df: pd.DataFrame) -> list[tuple[str, str, object]]:
    """(stem, title, figure) of every training figure the rows allow."""
    import matplotlib.pyplot as plt

    from suites.read.report.figures import (COL_WRAP, LINE_STYLES, PANEL_ASPECT, PANEL_HEIGHT,
                                            legend_under, line_styles, palette, panel_legend,
                                            styles_apart,
                                            suptitle)

    own = sbn.figures_for(df)  # the sbn suite's figures, drawn by its module
    df = sbn.other_rows(df)
    if df.empty:
        return own
    df = labelled(df)
    colours = palette(df["estimator_label"].unique())
    styles = styles_apart(line_styles(df["estimator_label"].unique()), colours)
    problems = list(dict.fromkeys(df["problem_label"]))
    drawn = []

    def panels(title: str, x: str, y: str, ylabel: str, rows: pd.DataFrame, log_y=False, zoom=False,
               problems=problems):
        # The panel size, row length and legend of the report's other figures, so that the
        # text is as large at the printed width.
        columns = min(COL_WRAP, len(problems))
        rows_of_panels = -(-len(problems) // columns)
        fig, grid = plt.subplots(rows_of_panels, columns, squeeze=False,
                                 figsize=(PANEL_HEIGHT * PANEL_ASPECT * columns,
                                          PANEL_HEIGHT * rows_of_panels))
        axes = list(grid.ravel())
        for spare in axes[len(problems):]:
            fig.delaxes(spare)
        axes = axes[:len(problems)]
        for ax, problem in zip(axes, problems):
            here = rows[rows["problem_label"] == problem]
            band_lines(ax, here, x, y, colours, log_y, styles)
            if zoom and len(here):
                # the start is far below: show the part of the curves where they differ
                late = here[here["step"] >= here["step"].max() / 5][y]
                lo, hi = late.min(), late.max()
                ax.set_ylim(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo))
            ax.set_title(problem)
            ax.set_xlabel(x)
            ax.set_ylabel(ylabel)
        entries = panel_legend(axes)
        fig.tight_layout()
        legend_under(fig, list(entries.values()), list(entries))
        suptitle(fig, title)
        return fig

    drawn.append(("train_objective_vs_step", "Training: objective against step",
                  panels("Exact objective against step (mean over seeds, band ±1 se)", "step",
                         "objective", "objective (ELBO)", df, zoom=True)))
    drawn.append(("train_objective_vs_seconds", "Training: objective against wall-clock seconds",
                  panels("Exact objective against seconds of estimation, adaptation and update (mean "
                         "over seeds, band ±1 se)", "seconds",
                         "objective", "objective (ELBO)", df, zoom=True)))
    variance = df[df["grad_variance"].notna() & (df["grad_variance"] > 0)]
    if len(variance):
        drawn.append(("train_grad_variance", "Training: gradient variance along training",
                      panels("Mean per-coordinate variance of one step's estimate", "step",
                             "grad_variance", "variance per coordinate", variance, log_y=True)))
    evidence = log_evidences(df)
    if evidence:
        rows = df[df["problem_label"].isin(list(evidence))]
        # ELBO <= log p(x); a gap below the float32 ELBO's rounding (about 1e-6 nats
        # here) is drawn at that floor rather than lost off the log axis.
        rows = rows.assign(gap=(rows["problem_label"].map(evidence) - rows["objective"]).clip(
            lower=GAP_FLOOR))
        drawn.append(("train_evidence_gap", "Training: gap to the log evidence",
                      panels("log p(x) − ELBO = KL(q || posterior) against step (mean over seeds, "
                             "band ±1 se)", "step", "gap", "log p(x) − ELBO (nats)", rows,
                             log_y=True, problems=list(evidence))))
    state = df[df["state"].map(lambda v: isinstance(v, str) and v != "")]
    if len(state):
        expanded = pd.concat([state.reset_index(drop=True),
                              pd.DataFrame([json.loads(s) for s in state["state"]])], axis=1)
        keys = [k for k in expanded.columns if k not in state.columns]
        long = expanded.melt(id_vars=[c for c in state.columns if c != "state"], value_vars=keys,
                             var_name="quantity", value_name="value").dropna(subset=["value"])
        estimators_ = list(dict.fromkeys(long["estimator_label"]))
        quantities = sorted(long["quantity"].unique())
        hue = dict(zip(quantities, distinct_quantity_colours(len(quantities))))
        labels = long["estimator_label"] + " · " + long["quantity"]
        # one colour per quantity, one line style per estimator: twelve near hues told apart
        colours.update({label: hue[q] for label, q in zip(labels, long["quantity"])})
        styles.update({label: LINE_STYLES[estimators_.index(e) % len(LINE_STYLES)]
                       for label, e in zip(labels, long["estimator_label"])})
        drawn.append(("train_adaptive_state", "Training: adaptive estimators' state",
                      panels("Adaptive state against step (mean over seeds; y linear within "
                             "±1, logarithmic beyond)", "step", "value", "value",
                             long.assign(estimator_label=labels), log_y="symlog")))
    return drawn + own


def distinct_quantity_colours(count: int) -> list:
    """``count`` colours for the quantities of one figure: tab10's, then Dark2's."""
    import seaborn as sns
    return (sns.color_palette("tab10") + sns.color_palette("Dark2") * 4)[:count]


def load(paths: Sequence[str | Path]) -> tuple[pd.DataFrame, list[dict]]:
    """The rows and metas of training runs (what ``runs.load_runs`` is for measurements)."""
    from suites.read.report.runs import read_runs

    frames, metas = read_runs(paths)
    return pd.concat(frames, ignore_index=True), metas
