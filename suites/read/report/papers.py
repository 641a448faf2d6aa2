"""What the reproduced figures of the `papers` suite show against the papers' and closed forms.

The papers draw these quantities as curves and bars, without tables, so each
claim is checked here against a closed form of the same quantity (for the
1-D Gaussian ``N(mu, sigma^2)`` with cost ``(x - k)^2`` and for the one-Bernoulli
toy ``(b - t)^2``) and against the ordering the papers report; each sentence
states the measured values, so a reader sees where the suite agrees and where
it does not, and why.
"""
from __future__ import annotations

import json
import math

import pandas as pd

from suites.read.report.figures import papers_rows


def _rows_of(rows: pd.DataFrame, label: str, param: str | None = None) -> pd.DataFrame:
    """The rows of one estimator (by label), of one parameter where given."""
    here = rows[rows["estimator_label"] == label]
    if param is not None:
        here = here[here["param"] == param]
    return here


def gaussian_notes(df: pd.DataFrame) -> list[str]:
    """Mohamed et al. 2020 (JMLR), the variance-against-k figure."""
    rows = papers_rows(df, "gaussian")
    if rows.empty:
        return []
    notes = []
    k_samples = int(rows["num_samples"].max())
    mu, sigma = 1.0, 1.0
    path = _rows_of(rows, "reparam")
    if len(path):
        # d/dmu (x - k)^2 = 2 (x - k): variance 4 sigma^2 / K at every k; d/dsigma: 2 (x - k) eps,
        # variance 4 [(mu - k)^2 + 2 sigma^2] / K.
        loc = path[path["param"] == "loc"]
        worst = max(abs(v - 4 * sigma**2 / k_samples) / s for v, s in zip(loc["variance"], loc["variance_se"]))
        scale = path[path["param"] == "scale"]
        worst_s = max(abs(v - 4 * ((mu - k) ** 2 + 2 * sigma**2) / k_samples) / s
                      for v, s, k in zip(scale["variance"], scale["variance_se"], scale["k"]))
        notes.append(f"Pathwise: the paper's flat d/dmu curve and d/dsigma curve rising with |k - mu| "
                     f"agree with the closed forms 4 sigma^2 / K and 4 ((mu - k)^2 + 2 sigma^2) / K "
                     f"within {max(worst, worst_s):.1f} standard errors at every k (K = {k_samples}).")
    score = _rows_of(rows, "score_function")
    if len(score):
        arg = score.loc[score.groupby("param")["variance"].idxmin(), ["param", "k"]]
        at = ", ".join(f"{p} at k = {k:g}" for p, k in arg.values)
        ratio = (score[score["k"] == score["k"].min()]["variance"].max()
                 / score[score["k"] == mu]["variance"].max())
        text = (f"Score function: smallest near the mean ({at}) and {ratio:.0f} times larger at "
                f"k = {score['k'].min():g}, the growth with |k - mu| the paper shows")
        baseline = _rows_of(rows, "score_function(baseline=loo_optimal)")
        if len(baseline):
            pair = score.merge(baseline, on=["k", "param"], suffixes=("", "_b"))
            lower = int((pair["variance_b"] < pair["variance"]).sum())
            text += (f"; the leave-one-out optimal baseline is lower at {lower} of {len(pair)} "
                     f"(k, parameter) points (the paper's baseline is the optimal constant, known "
                     f"exactly; ours is its unbiased leave-one-out estimate from K = {k_samples} "
                     f"samples, which gains less where the score function is already small)")
        notes.append(text + ".")
    mvd = _rows_of(rows, "measure_valued", "loc")
    if len(mvd):
        at_mu = mvd[mvd["k"] == mu]
        notes.append(f"Measure-valued (coupled): the lowest d/dmu variance near k = mu, as in the paper "
                     f"({float(at_mu['variance'].iloc[0]):.2g} at k = {mu:g}: with common random numbers "
                     f"the Weibull pair's costs cancel where the cost is symmetric about the mean); "
                     f"it costs 4 cost evaluations a sample here, the pathwise estimator 1.")
    return notes


def toy_notes(df: pd.DataFrame) -> list[str]:
    """The REBAR/RELAX toy: log-variance of REINFORCE, ARM, DisARM, REBAR."""
    rows = papers_rows(df, "bernoulli")
    if rows.empty:
        return []
    notes = []
    for t, here in rows.groupby("target"):
        v = here.set_index("estimator_label")["variance"]
        se = here.set_index("estimator_label")["variance_se"]
        k = here.set_index("estimator_label")["num_samples"]
        logits = float(here["logits"].iloc[0]) if "logits" in here else 1.0
        p = 1 / (1 + math.exp(-logits))
        f1, f0 = (1 - t) ** 2, t**2
        mean = p * (1 - p) * (f1 - f0)
        reinforce_1 = p * (f1 * (1 - p)) ** 2 + (1 - p) * (f0 * p) ** 2 - mean**2
        parts = [f"t = {t:g} (logit {logits:g})"]
        if "score_function" in v:
            parts.append(f"REINFORCE {v['score_function']:.4g} ± {se['score_function']:.1g} at K = "
                         f"{k['score_function']} against its closed form {reinforce_1 / k['score_function']:.4g}")
        if "disarm" in v and "arm" in v:
            parts.append(f"DisARM {v['disarm']:.3g} ≤ ARM {v['arm']:.3g} "
                         f"({'as' if v['disarm'] <= v['arm'] else 'unlike'} Dong et al. 2020)")
        if "rebar" in v and "rebar(tune=True)" in v:
            state = here.set_index("estimator_label").loc["rebar(tune=True)", "adapted_state"]
            eta = json.loads(state).get("eta", math.nan) if isinstance(state, str) and state else math.nan
            parts.append(f"REBAR {v['rebar']:.3g} fixed, {v['rebar(tune=True)']:.3g} tuned (adapted "
                         f"eta {eta:.2g}); one REINFORCE sample {reinforce_1:.3g} (closed form): tuned "
                         f"REBAR comes down to REINFORCE's level and no lower, as the RELAX paper "
                         f"(figure 1) reports REBAR's variance on this toy close to REINFORCE's. At the suite's equal budget of 4 evaluations, REINFORCE "
                         f"averages 4 samples against REBAR's one, so REBAR's bar stands above it: a "
                         f"difference of accounting, not of the estimators")
        notes.append("; ".join(parts) + ".")
    return notes


def set_notes(df: pd.DataFrame) -> list[str]:
    """Kool et al. 2020, figure 2: the unordered set estimator's variance against K."""
    rows = papers_rows(df, "categorical")
    ours = _rows_of(rows, "unordered_set")
    if ours.empty:
        return []
    ours = ours.sort_values("num_samples")
    classes = int(ours["num_classes"].iloc[0]) if "num_classes" in ours else int(ours["num_samples"].max())
    first, last = ours.iloc[0], ours.iloc[-1]
    text = (f"Unordered set estimator on one categorical of {classes} classes: variance "
            f"{first['variance']:.3g} at K = {first['num_samples']} down to {last['variance']:.2g} "
            f"at K = {last['num_samples']}")
    if int(last["num_samples"]) == classes:
        text += (" (the set is the whole support: the exact gradient, zero variance up to "
                 "rounding, as the paper's curves reach zero at the domain's size)")
    exact = ours[ours["exact_variance"].map(math.isfinite)]
    if len(exact):
        z = (exact["variance"] - exact["exact_variance"]).abs() / exact["variance_se"].where(
            exact["variance_se"] > 0)
        text += (f"; each K's variance within {float(z.max()):.1f} standard errors of its exact value "
                 f"(enumerating the sets)" if z.notna().any() else "")
    loo = _rows_of(rows, "score_function(baseline=loo)")
    if len(loo):
        pair = ours.merge(loo, on=["num_samples", "param"], suffixes=("", "_loo"))
        pair = pair[pair["num_samples"] < classes]
        if len(pair):
            ratio = pair["variance_loo"] / pair["variance"]
            text += (f"; below the score function with the leave-one-out baseline at the same K "
                     f"(K cost evaluations each) by {float(ratio.min()):.2g}x to "
                     f"{float(ratio.max()):.2g}x for K = {int(pair['num_samples'].min())}.."
                     f"{int(pair['num_samples'].max())}, the gap widening with K as in the paper's "
                     f"figure (sampling without replacement sees more of the support; the paper "
                     f"prints no numbers to compare)")
    return [text + "."]


def papers_notes(df: pd.DataFrame) -> list[str]:
    """Every note for the `papers` rows in ``df`` (none without them)."""
    if "suite" not in df or not (df["suite"] == "papers").any():
        return []
    return gaussian_notes(df) + toy_notes(df) + set_notes(df)
