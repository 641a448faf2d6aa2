"""The table "Library against mcgradbench": each peer (``estimators.peers``) beside our counterpart.

One line per peer measurement and parameter that has our counterpart
(``Peer.counterpart_config``) measured on the same problem configuration,
device, ``M``, ``K`` and seed:

* ``bias z``: the peer's largest per-coordinate ``|bias| / se`` against the
  exact gradient (``max_abs_z``), ours beside it;
* ``variance ratio``: peer over ours (mean per-coordinate variance), with its
  delta-method standard error ``r * sqrt((se_p / v_p)^2 + (se_o / v_o)^2)``;
* ``time ratio``: the peer's time per estimate (inside its worker) over
  ours; ``round-trip``: the peer's process round-trip per call, apart;
* ``verdict``: ``biased`` where the row is flagged biased (``max_abs_z`` above
  the Bonferroni threshold at family-wise rate ``ALPHA`` over the coordinates)
  and the peer's paper says unbiased; ``biased, as ours`` where both are
  biased estimators (Gumbel-softmax); ``agrees`` otherwise; then ``noisier`` /
  ``less noisy`` where the variance ratio is more than 3 standard errors from 1
  (and off by more than 10%), ``slower`` / ``faster`` beyond a factor 2 in time.
"""
from __future__ import annotations

import json
import math

import pandas as pd

from suites.problems.labels import estimator_label, problem_label
from suites.measurement.measure import ALPHA

TITLE = "Library against mcgradbench"
KEYS = ["problem", "problem_config", "param", "device", "num_estimates", "num_samples", "seed"]
LEGEND = (f"Each peer (another library's estimator, run in its own worker process) beside our "
          f"counterpart on the same cell. bias z: largest |bias|/se over coordinates against the "
          f"exact gradient (peer, ours); a row is biased above the Bonferroni threshold at family-wise "
          f"false-alarm rate {ALPHA:g} per row. variance ratio: peer/ours ± se. time ratio: time per "
          f"estimate, peer (inside its worker) over ours; round-trip: the peer's process round-trip "
          f"per call, not in its time. verdict: biased (the peer's paper says unbiased), agrees, "
          f"noisier / less noisy (variance ratio > 3 se from 1), slower / faster (time ratio beyond 2)")


def is_peer(name: str) -> bool:
    """Whether ``name`` is a peer adapter (``estimators.peers``: computed in a worker process)."""
    import estimators
    try:
        return bool(getattr(estimators.get(name), "remote", False))
    except (ValueError, TypeError):
        return False


def _same_config(a: str, b: str) -> bool:
    return json.loads(a or "{}") == json.loads(b or "{}")


def ratio_se(vp: float, sp: float, vo: float, so: float) -> tuple[float, float]:
    """``vp / vo`` and its delta-method standard error."""
    if not (vo > 0 and vp > 0):
        return float("nan"), float("nan")
    r = vp / vo
    return r, r * math.sqrt((sp / vp) ** 2 + (so / vo) ** 2)


def verdict(peer_biased: bool, peer_unbiased: bool, ours_biased: bool, r: float, r_se: float,
            t: float) -> str:
    words = []
    if peer_biased and peer_unbiased:
        words.append("biased")
    elif peer_biased:
        words.append("biased, as ours" if ours_biased else "biased (a biased estimator)")
    else:
        words.append("agrees")
    if math.isfinite(r) and abs(r - 1) > 3 * r_se and abs(r - 1) > 0.1:
        words.append(f"noisier (×{r:.3g})" if r > 1 else f"less noisy (×{r:.3g})")
    if math.isfinite(t) and t > 2:
        words.append(f"slower (×{t:.3g})")
    elif math.isfinite(t) and t < 0.5:
        words.append(f"faster (×{t:.3g})")
    return ", ".join(words)


def peer_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The comparison as numbers: one row per peer measurement and parameter with a counterpart."""
    import estimators

    records = []
    remote = {name: is_peer(name) for name in df["estimator"].unique()}
    peers = df[df["estimator"].map(remote)]
    for _, row in peers.iterrows():
        peer = estimators.get(row["estimator"], **json.loads(row["estimator_config"] or "{}"))
        ours_name, ours_options = peer.counterpart_config()
        ours_config = estimators.get(ours_name, **ours_options).config_json
        same = df
        for key in KEYS:
            same = same[same[key] == row[key]]
        same = same[(same["estimator"] == ours_name)
                    & same["estimator_config"].map(lambda c: _same_config(c, ours_config))]
        if same.empty:
            continue
        ours = same.iloc[-1]
        r, r_se = ratio_se(row["variance"], row["variance_se"], ours["variance"], ours["variance_se"])
        t = ((row["time_s"] / row["timed_estimates"]) / (ours["time_s"] / ours["timed_estimates"])
             if ours["time_s"] > 0 else float("nan"))
        peer_biased = str(row["biased"]).lower() == "true"
        ours_biased = str(ours["biased"]).lower() == "true"
        records.append({
            "problem": problem_label(row["problem"], row["problem_config"]),
            "peer": estimator_label(row["estimator"], row["estimator_config"]),
            "ours": estimator_label(ours_name, ours_config),
            "param": row["param"], "M": int(row["num_estimates"]), "K": int(row["num_samples"]),
            "peer_z": float(row["max_abs_z"]), "ours_z": float(ours["max_abs_z"]),
            "peer_biased": peer_biased, "ours_biased": ours_biased,
            "bias_norm": float(row["bias_norm"]), "bias_se": float(row["bias_se"]),
            "variance_ratio": r, "variance_ratio_se": r_se, "time_ratio": t,
            "roundtrip_s": float(row.get("roundtrip_s", float("nan"))),
            "verdict": verdict(peer_biased, bool(peer.unbiased), ours_biased, r, r_se, t),
        })
    return pd.DataFrame(records)


def peers_table(df: pd.DataFrame) -> pd.DataFrame:
    """The table as text cells (what the report prints); empty without peer rows."""
    if df is None or "estimator" not in df:
        return pd.DataFrame()
    rows = peer_rows(df)
    if rows.empty:
        return rows
    return pd.DataFrame({
        "problem": rows["problem"], "peer": rows["peer"], "ours": rows["ours"],
        "param": rows["param"], "M": rows["M"], "K": rows["K"],
        "bias z (peer / ours)": [f"{p:.2f} / {o:.2f}" for p, o in zip(rows["peer_z"], rows["ours_z"])],
        "variance ratio": ["–" if not math.isfinite(r) else f"{r:.3g} ± {s:.2g}"
                           for r, s in zip(rows["variance_ratio"], rows["variance_ratio_se"])],
        "time ratio": ["–" if not math.isfinite(t) else f"{t:.3g}" for t in rows["time_ratio"]],
        "round-trip (ms)": ["–" if not math.isfinite(s) else f"{s * 1e3:.3g}" for s in rows["roundtrip_s"]],
        "verdict": rows["verdict"],
    })
