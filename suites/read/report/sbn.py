"""The ``sbn`` suite's part of a report: the papers' table and figures.

From the checkpoints of ``mcgradbench run sbn`` (``suites.run.sbn``):

* a table per model in the form of the DisARM and ARMS papers': the final training
  ELBO and held-out importance-weighted bound of each estimator, mean ± standard
  error over seeds;
* figures: the training ELBO against step, the held-out bound against step and against
  seconds of training (mean
  over seeds, band ±1 se); the variance of the encoder's gradient (log scale) and the
  MSE of the whole gradient against the sampled reference, of every estimator measured
  at the same frozen weights (the probes of one trajectory: DisARM's where it ran,
  the papers' figure 3), against step.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

#: The trajectory whose checkpoints the probe figures show (every estimator measured there).
PROBE_TRAJECTORY = "disarm"


def sbn_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``sbn`` runs (with a held-out bound); none in other training runs."""
    if "heldout_bound" not in df:
        return df.iloc[:0]
    return df[df["heldout_bound"].notna()]


def other_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of the other training runs (the ``train`` suite's)."""
    if "heldout_bound" not in df:
        return df
    return df[df["heldout_bound"].isna()]


def pm(mean: float, se: float) -> str:
    return f"{mean:.2f}" if not math.isfinite(se) else f"{mean:.2f} ± {se:.2f}"


def papers_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per model and estimator, at the last step: training ELBO and held-out bound, mean and
    se over seeds (``df`` labelled: ``problem_label``, ``estimator_label``)."""
    last = df.sort_values("step").groupby(["problem_label", "estimator_label", "device", "seed"],
                                          sort=False).tail(1)
    grouped = last.groupby(["problem_label", "estimator_label", "device"], sort=False)
    table = grouped.agg(step=("step", "max"), seeds=("seed", "nunique"),
                        evaluations=("evaluations", "first"), heldout_samples=("heldout_samples", "first"),
                        train=("objective", "mean"), train_sd=("objective", "std"),
                        heldout=("heldout_bound", "mean"), heldout_sd=("heldout_bound", "std"),
                        seconds=("seconds", "mean")).reset_index()
    root = np.sqrt(table["seeds"])
    return table.assign(train_se=table["train_sd"] / root, heldout_se=table["heldout_sd"] / root
                        ).sort_values(["problem_label", "heldout"], ascending=[True, False])


def table_frames(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The papers' table, one per model, as the report prints it."""
    from suites.read.report.curves import labelled

    rows = sbn_rows(df)
    if rows.empty:
        return []
    out = []
    for problem, group in papers_table(labelled(rows)).groupby("problem_label", sort=False):
        k = int(group["heldout_samples"].iloc[0])
        frame = pd.DataFrame({
            "estimator": group["estimator_label"],
            "evaluations / step": [int(e) for e in group["evaluations"]],
            "train ELBO": [pm(m, s) for m, s in zip(group["train"], group["train_se"])],
            f"held-out bound (K={k})": [pm(m, s) for m, s in zip(group["heldout"], group["heldout_se"])],
            "seconds / curve": [f"{t:.3g}" for t in group["seconds"]],
        })
        out.append((f"{problem}: the papers' table, {int(group['step'].max()):,} steps, "
                    f"{int(group['seeds'].max())} seed(s) (mean ± se over seeds)", frame))
    return out


def probe_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The probes of each model's ``PROBE_TRAJECTORY`` curve (else its first curve with probes),
    long: ``problem_label, step, probe, variance_encoder, variance_encoder_se, mse``."""
    with_probes = df[df["probes"].fillna("").astype(str).str.len() > 0]
    records = []
    for problem, group in with_probes.groupby("problem_label", sort=False):
        chosen = group[group["estimator"] == PROBE_TRAJECTORY]
        chosen = chosen if len(chosen) else group[group["estimator_label"] == group["estimator_label"].iloc[0]]
        chosen = chosen[chosen["seed"] == chosen["seed"].min()]
        for _, row in chosen.iterrows():
            for probe, stats in json.loads(row["probes"]).items():
                records.append({"problem_label": f"{problem} along {row['estimator_label']}",
                                "step": row["step"], "estimator_label": probe, **stats})
    return pd.DataFrame(records)


#: Dash patterns given to the sbn figures' estimators in turn.
LINE_CYCLE = ("-", (0, (5, 2)), (0, (1, 1.5)), (0, (5, 2, 1, 2)))


def figures_for(df: pd.DataFrame) -> list[tuple[str, str, object]]:
    """(stem, title, figure) of the sbn figures the rows allow (none without sbn rows)."""
    import matplotlib.pyplot as plt

    from suites.read.report.figures import PANEL_ASPECT, PANEL_HEIGHT, legend_under, palette, panel_legend, suptitle
    from suites.read.report.curves import band_lines, labelled

    rows = sbn_rows(df)
    if rows.empty:
        return []
    rows = labelled(rows)
    probes = probe_rows(rows)
    labels = list(rows["estimator_label"].unique()) + (list(probes["estimator_label"].unique()) if len(probes) else [])
    colours = palette(list(dict.fromkeys(labels)))
    # eleven curves end within a nat of each other in pairs: a dash pattern per estimator, so
    # that a curve drawn over another still shows the one beneath
    styles = {label: LINE_CYCLE[i % len(LINE_CYCLE)] for i, label in enumerate(dict.fromkeys(labels))}

    def panels(data, x, y, ylabel, title, log_y=False, error=None):
        problems = list(dict.fromkeys(data["problem_label"]))
        fig, axes = plt.subplots(1, len(problems), squeeze=False,
                                 figsize=(PANEL_HEIGHT * PANEL_ASPECT * len(problems) * 1.3, PANEL_HEIGHT * 1.3))
        axes = list(axes.ravel())
        for ax, problem in zip(axes, problems):
            here = data[data["problem_label"] == problem]
            if error is None:
                band_lines(ax, here, x, y, colours, log_y, styles=styles)
            else:
                for label, line in here.groupby("estimator_label", sort=False):
                    line = line.sort_values(x)
                    ax.errorbar(line[x], line[y], yerr=line[error], color=colours[label], label=label,
                                marker="o", markersize=3, linewidth=1.2, capsize=2,
                                linestyle=styles[label])
                if log_y:
                    ax.set_yscale("log")
            ax.set_title(problem)
            ax.set_xlabel(x)
            ax.set_ylabel(ylabel)
        entries = panel_legend(axes)
        fig.tight_layout()
        legend_under(fig, list(entries.values()), list(entries))
        suptitle(fig, title)
        return fig

    k = int(rows["heldout_samples"].iloc[0])
    drawn = [("train_sbn_elbo_vs_step", "sbn: training ELBO against step",
              panels(rows, "step", "objective", "training ELBO",
                     "Training ELBO (one sample per training image) against step (mean over seeds, band ±1 se)")),
             ("train_sbn_heldout_vs_step", "sbn: held-out bound against step",
              panels(rows, "step", "heldout_bound", f"held-out bound (K={k})",
                     f"Held-out {k}-sample bound against step (mean over seeds, band ±1 se)")),
             ("train_sbn_heldout_vs_seconds", "sbn: held-out bound against seconds",
              panels(rows, "seconds", "heldout_bound", f"held-out bound (K={k})",
                     f"Held-out {k}-sample bound against seconds of training (mean over seeds, band ±1 se)"))]
    if len(probes):
        drawn.append(("train_sbn_probe_variance", "sbn: variance of every estimator at the same weights",
                      panels(probes, "step", "variance_encoder", "encoder gradient variance per coordinate",
                             "Every estimator's encoder-gradient variance at one trajectory's checkpoints "
                             "(error bars ±1 se)", log_y=True, error="variance_encoder_se")))
        drawn.append(("train_sbn_probe_mse", "sbn: MSE against the sampled reference at the same weights",
                      panels(probes, "step", "mse", "MSE per coordinate (whole gradient)",
                             "Every estimator's MSE against the sampled reference at one trajectory's "
                             "checkpoints", log_y=True)))
    return drawn

