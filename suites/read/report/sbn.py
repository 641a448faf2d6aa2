"""The ``sbn`` suite's part of a report: the papers' table and figures.

From the checkpoints of ``mcgradbench run sbn`` (``suites.run.sbn``):

* a table per model and curve length in the form of the DisARM and ARMS papers': the
  final training ELBO and held-out importance-weighted bound of each estimator, mean ±
  standard error over seeds;
* a table per trajectory with probes: every estimator measured at that trajectory's
  frozen weights, its encoder-gradient variance at the first and last checkpoint, its
  MSE against the sampled reference, its largest |z| and the checkpoints where it is
  flagged biased;
* figures: the training ELBO against step, the held-out bound against step and against
  seconds of training (mean
  over seeds, band ±1 se); the variance of the encoder's gradient (log scale) and the
  MSE of the whole gradient against the sampled reference, of every estimator measured
  at the same frozen weights (a panel per trajectory with probes, DisARM's first: the
  papers' "variance along training"), and each variance over DisARM's at the same weights,
  against step.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

#: The trajectory whose probes come first in the probe figures and tables (every estimator
#: measured at its weights: the papers' figure); the others follow in the order they ran.
PROBE_TRAJECTORY = "disarm"

LEGEND = ("train ELBO: the one-sample ELBO averaged over the training images (one binarisation, "
          "fixed) at a curve's last step, mean ± standard error over seeds; held-out bound (K): "
          "the K-sample importance-weighted bound (Burda et al. 2016) on the held-out images, mean "
          "± se over seeds; seconds / curve: the training steps' wall-clock, evaluations excluded; "
          "probes (sbn tables 'every estimator at ... weights'): each estimator's M estimates on "
          "one fixed minibatch at the trajectory's frozen weights against the sampled reference "
          "there, whose own standard error enters every z; encoder variance: the mean "
          "per-coordinate variance of one estimate of the encoder's gradient ± se; MSE: mean "
          "per-coordinate squared error of one estimate of the whole gradient, which holds the "
          "reference's own mean squared se (printed beside it); flagged: the checkpoints where "
          "a coordinate's |z| passed the Bonferroni threshold of its parameter")


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
    """``mean ± se`` to two decimals; an se below 0.01 keeps one significant digit (never
    ``± 0.00`` for seeds that differ)."""
    if not math.isfinite(se):
        return f"{mean:.2f}"
    return f"{mean:.2f} ± {se:.2f}" if se >= 0.01 or se == 0 else f"{mean:.2f} ± {se:.1g}"


def curve_steps(df: pd.DataFrame) -> pd.Series:
    """Each row's curve length: the last step its (problem, estimator, device, seed, run) logged."""
    keys = [c for c in ("problem_label", "estimator_label", "device", "seed", "run") if c in df]
    return df.groupby(keys, sort=False)["step"].transform("max")


def papers_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per model, curve length and estimator, at the last step: training ELBO and held-out
    bound, mean and se over seeds (``df`` labelled: ``problem_label``, ``estimator_label``).
    Curves of different lengths are never averaged together: each length is its own table."""
    df = df.assign(curve_steps=curve_steps(df))
    last = df.sort_values("step").groupby(["problem_label", "curve_steps", "estimator_label", "device",
                                           "seed"], sort=False).tail(1)
    grouped = last.groupby(["problem_label", "curve_steps", "estimator_label", "device"], sort=False)
    table = grouped.agg(step=("step", "max"), seeds=("seed", "nunique"),
                        evaluations=("evaluations", "first"), heldout_samples=("heldout_samples", "first"),
                        train=("objective", "mean"), train_sd=("objective", "std"),
                        heldout=("heldout_bound", "mean"), heldout_sd=("heldout_bound", "std"),
                        seconds=("seconds", "mean")).reset_index()
    root = np.sqrt(table["seeds"])
    return table.assign(train_se=table["train_sd"] / root, heldout_se=table["heldout_sd"] / root
                        ).sort_values(["problem_label", "curve_steps", "heldout"],
                                      ascending=[True, True, False])


def table_frames(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The papers' table, one per model and curve length, then the probe tables, as the report
    prints them."""
    from suites.read.report.curves import labelled

    rows = sbn_rows(df)
    if rows.empty:
        return []
    rows = labelled(rows)
    out = []
    for (problem, _), group in papers_table(rows).groupby(["problem_label", "curve_steps"], sort=False):
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
    return out + probe_table_frames(probe_rows(rows))


def probe_table_frames(probes: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Per trajectory with probes: every estimator at its weights, from the first checkpoint to
    the last (``probe_rows``), in order of the variance at the first checkpoint."""
    if probes.empty:
        return []
    out = []
    for panel, group in probes.groupby("problem_label", sort=False):
        first, last = group["step"].min(), group["step"].max()
        recorded = np.isfinite(group["reference_se2"].astype(float)).any()
        se2_header = " (reference's se²)" if recorded else ""
        rows = []
        for label, line in group.groupby("estimator_label", sort=False):
            line = line.sort_values("step")
            start, end = line.iloc[0], line.iloc[-1]
            flagged = [f"{int(s):,}" for s in line.loc[line["biased"].astype(bool), "step"]]
            if len(flagged) == len(line) > 2:
                flagged = [f"every checkpoint ({len(line)})"]
            rows.append({
                "estimator": label, "K": int(start["num_samples"]), "sort": start["variance_encoder"],
                f"encoder variance, step {int(first):,}": variance_pm(start["variance_encoder"],
                                                                      start["variance_encoder_se"]),
                f"encoder variance, step {int(last):,}": variance_pm(end["variance_encoder"],
                                                                     end["variance_encoder_se"]),
                f"MSE (whole gradient), step {int(last):,}{se2_header}": mse_text(end["mse"], end["reference_se2"]),
                "largest |z|": f"{line['max_abs_z'].max():.1f}",
                "flagged biased at step": ", ".join(flagged) if flagged else "never"})
        frame = pd.DataFrame(rows).sort_values("sort").drop(columns="sort")
        m = int(group["num_estimates"].iloc[0])
        out.append((f"{panel}: every estimator at the same weights, {group['step'].nunique()} "
                    f"checkpoints, M = {m:,} estimates each"
                    + ("" if recorded else " (the reference's own se² was not recorded by this run)"),
                    frame.reset_index(drop=True)))
    return out


def mse_text(mse: float, reference_se2: float) -> str:
    """The MSE with the reference's mean squared se beside it, where recorded (runs before it
    was taken over the resolved coordinates only stored NaN)."""
    return f"{mse:.3g} ({reference_se2:.2g})" if math.isfinite(reference_se2) else f"{mse:.3g}"


def variance_pm(value: float, se: float) -> str:
    return f"{value:.3g} ± {se:.2g}"


def probe_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The probes of every curve that carries them (per model and trained estimator, its lowest
    seed; ``PROBE_TRAJECTORY``'s first), long: ``problem_label`` ("MODEL along ESTIMATOR"),
    ``step``, ``estimator_label`` (the probe) and its statistics (``suites.run.sbn.probe_summary``)."""
    with_probes = df[df["probes"].map(lambda v: isinstance(v, str) and v != "")]
    if with_probes.empty:
        return pd.DataFrame()
    first = with_probes["estimator"] != PROBE_TRAJECTORY  # False sorts first: DisARM's panels lead
    with_probes = with_probes.assign(_later=first).sort_values("_later", kind="stable")
    records = []
    for _, group in with_probes.groupby(["problem_label", "estimator_label"], sort=False):
        chosen = group[group["seed"] == group["seed"].min()]
        problem = chosen["problem_label"].iloc[0]
        for _, row in chosen.iterrows():
            for probe, stats in json.loads(row["probes"]).items():
                records.append({"problem_label": f"{problem} along {row['estimator_label']}",
                                "step": row["step"], "estimator_label": probe, **stats})
    return pd.DataFrame(records)


#: The probe that the variance-ratio figure divides by (the papers' reference estimator).
RELATIVE_TO = "disarm"


def relative_variance(probes: pd.DataFrame) -> pd.DataFrame:
    """Each probe's encoder variance over ``RELATIVE_TO``'s at the same weights (panel and
    step), ``ratio`` and ``ratio_se`` (the two variances' relative se in quadrature: the
    estimates of two probes are independent); empty where ``RELATIVE_TO`` was not probed."""
    base = probes[probes["estimator_label"] == RELATIVE_TO][["problem_label", "step", "variance_encoder",
                                                             "variance_encoder_se"]]
    if base.empty:
        return base
    both = probes.merge(base, on=["problem_label", "step"], suffixes=("", "_base"))
    ratio = both["variance_encoder"] / both["variance_encoder_base"]
    relative_se = np.sqrt((both["variance_encoder_se"] / both["variance_encoder"]) ** 2
                          + (both["variance_encoder_se_base"] / both["variance_encoder_base"]) ** 2)
    # DisARM's own line is 1 exactly: its se would count one sample twice
    own = both["estimator_label"] == RELATIVE_TO
    return both.assign(ratio=ratio, ratio_se=np.where(own, 0.0, ratio * relative_se))


#: Panels a row in the sbn figures, and the characters a line of a panel's title.
PANELS_PER_ROW, TITLE_WIDTH = 2, 36
#: Dash patterns given to the sbn figures' estimators in turn.
LINE_CYCLE = ("-", (0, (5, 2)), (0, (1, 1.5)), (0, (5, 2, 1, 2)))


def figures_for(df: pd.DataFrame) -> list[tuple[str, str, object]]:
    """(stem, title, figure) of the sbn figures the rows allow (none without sbn rows)."""
    import matplotlib.pyplot as plt

    from suites.read.report.figures import PANEL_ASPECT, PANEL_HEIGHT, legend_under, palette, panel_legend, suptitle
    from suites.read.report.curves import band_lines, labelled
    from suites.read.text import wrap_label

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
        # two panels a row: four (two models along two trajectories) stay legible at a page's width
        ncols = min(len(problems), PANELS_PER_ROW)
        nrows = math.ceil(len(problems) / ncols)
        # a figure of one panel holds eleven lines and their legend: as wide as two
        size = 1.3 if ncols > 1 else 1.8
        fig, axes = plt.subplots(nrows, ncols, squeeze=False,
                                 figsize=(PANEL_HEIGHT * PANEL_ASPECT * ncols * size, PANEL_HEIGHT * size * nrows))
        axes = list(axes.ravel())
        for ax in axes[len(problems):]:
            ax.set_visible(False)
        axes = axes[:len(problems)]
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
            ax.set_title("\n".join(wrap_label(line, TITLE_WIDTH)
                                    for line in problem.replace(" along ", "\nalong ").split("\n")))
            ax.set_xlabel(x)
            if axes.index(ax) % ncols == 0:  # one y label a row: the panels share the quantity
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
                      panels(probes, "step", "variance_encoder", "encoder gradient\nvariance per coordinate",
                             "Every estimator's encoder-gradient variance at the checkpoints of the trajectory "
                             "each panel names (error bars ±1 se)", log_y=True, error="variance_encoder_se")))
        relative = relative_variance(probes)
        if len(relative):
            drawn.append(("train_sbn_probe_variance_ratio", f"sbn: variance relative to {RELATIVE_TO}'s at the same weights",
                          panels(relative, "step", "ratio", f"encoder variance /\n{RELATIVE_TO}'s",
                                 f"Every estimator's encoder-gradient variance over {RELATIVE_TO}'s at the same "
                                 "weights (error bars ±1 se)", log_y=True, error="ratio_se")))
        drawn.append(("train_sbn_probe_mse", "sbn: MSE against the sampled reference at the same weights",
                      panels(probes, "step", "mse", "MSE per coordinate\n(whole gradient)",
                             "Every estimator's MSE against the sampled reference at the checkpoints of the "
                             "trajectory each panel names", log_y=True)))
    return drawn

