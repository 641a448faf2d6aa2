"""The `continuous` suite's table: where torch's implicit reparameterisation gradient is
measurably biased (Gamma, Beta, Dirichlet against concentration, float32 and float64).

``reparam`` on these families differentiates through ``torch.distributions``' implicit
gradient (Figurnov, Mohamed & Mnih 2018; ``estimators.reparam``), whose ``dz/da`` torch
approximates numerically. Each line is one cell: the largest ``|bias| / se`` over the
coordinates of the problem's parameters, the parameter where it is, and whether it exceeds
the measurement's Bonferroni threshold (family-wise false-alarm rate ``1e-3``); estimates
with a non-finite coordinate are left out of the moments and counted.
"""
from __future__ import annotations

import pandas as pd

from suites.read.report.figures import continuous_rows

TITLE = "Implicit reparameterisation gradient: where it is measurably biased"
LEGEND = ("`reparam` on the `continuous` suite's Gamma, Beta and Dirichlet cells (torch's implicit "
          "gradient): max |z| is the largest |bias|/se over each cell's coordinates, at the parameter "
          "named; *biased* where it exceeds the Bonferroni threshold at a family-wise false-alarm "
          "rate of 1e-3 (suites/measurement/measure.py); non-finite counts estimates left out "
          "(a sample that underflowed to 0 or rounded to 1); see suites/read/report/continuous.py")


def implicit_bias_table(df: pd.DataFrame) -> pd.DataFrame:
    """One line per `continuous` cell of ``reparam``: family, concentration, dtype, device, M,
    the largest |z| and its parameter, the verdict and the non-finite estimates."""
    rows = continuous_rows(df[df["estimator"] == "reparam"]) if len(df) else pd.DataFrame()
    if rows.empty:
        return pd.DataFrame()
    lines = []
    keys = ["problem", "concentration", "dtype", "device", "num_estimates", "num_samples"]
    for key, cell in rows.groupby(keys, sort=True):
        worst = cell.loc[cell["max_abs_z"].fillna(-1).idxmax()]
        z = worst["max_abs_z"]
        verdict = "untested" if pd.isna(z) else ("**biased**" if bool(cell["biased"].any()) else "not biased")
        lines.append({"family": key[0], "concentration": f"{key[1]:g}", "dtype": key[2], "device": key[3],
                      "M": f"{key[4]:,}", "K": key[5],
                      "max |z|": "–" if pd.isna(z) else f"{z:.1f} ({worst['param']})",
                      "verdict": verdict, "non-finite": int(cell["nonfinite"].fillna(0).sum())})
    order = {"gamma": 0, "beta": 1, "dirichlet": 2}
    table = pd.DataFrame(lines)
    return table.sort_values(["family", "dtype", "device"], key=lambda s: s.map(order) if s.name == "family"
                             else s, kind="stable").reset_index(drop=True)
