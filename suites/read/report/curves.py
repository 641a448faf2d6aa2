"""What the training figures and tables share (the train suite's and the sbn suite's): curve
labels, and a mean-over-seeds line with its standard-error band."""
from __future__ import annotations

import numpy as np
import pandas as pd

from suites.problems.labels import estimator_label, problem_label


def labelled(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(
        problem_label=[problem_label(n, c) for n, c in zip(df["problem"], df["problem_config"])],
        estimator_label=[estimator_label(n, c) for n, c in zip(df["estimator"], df["estimator_config"])])


def band_lines(ax, curves: pd.DataFrame, x: str, y: str, colours: dict, log_y: bool = False,
               styles: dict | None = None) -> None:
    """Mean over seeds with a band of ±1 standard error, one line per estimator (``styles``:
    its line style, solid where not given)."""
    for estimator, group in curves.groupby("estimator_label", sort=False):
        if x == "seconds":
            # seeds log at the same steps, not the same seconds: average seconds per step
            stats = group.groupby("step").agg(xv=(x, "mean"), m=(y, "mean"), s=(y, "std"),
                                              n=(y, "count"))
        else:
            stats = group.groupby("step").agg(m=(y, "mean"), s=(y, "std"), n=(y, "count"))
            stats["xv"] = stats.index
        se = (stats["s"] / np.sqrt(stats["n"])).fillna(0)
        ax.plot(stats["xv"], stats["m"], color=colours[estimator], label=estimator, linewidth=1.3,
                linestyle=(styles or {}).get(estimator, "-"))
        ax.fill_between(stats["xv"], stats["m"] - se, stats["m"] + se, color=colours[estimator],
                        alpha=0.2, linewidth=0)
    if log_y == "symlog":
        # quantities of several scales and signs (a centring constant of -20, a temperature's
        # log near -1): linear within +-1, logarithmic beyond
        ax.set_yscale("symlog", linthresh=1.0)
    elif log_y:
        ax.set_yscale("log")
