"""Comparison tables: per suite and problem configuration, rows estimators, columns params x metrics.

A table is built once as text cells plus a mask of significantly biased
cells, then rendered as Markdown (GitHub), LaTeX (booktabs) or HTML; only
the markup of bold and of ``±`` differs between formats.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass

import pandas as pd

from suites.measurement.measure import ALPHA, MIN_EFFECTIVE_ESTIMATES
from suites.read.report.runs import repeated

#: Identity columns that become row levels when they vary inside one table, and their headers.
ROW_LEVELS = {"device": "device", "num_samples": "K", "num_estimates": "M", "seed": "seed",
              "run": "run"}
VARIANCE, BIAS, TIME = "variance", "‖bias‖", "µs/estimate"
ADAPTED = "adapted"
EXACT_VARIANCE, EXACT_BIAS = "exact variance (z)", "exact ‖bias‖"
PM = " ± "


@dataclass(frozen=True)
class Table:
    """One comparison table: text cells, which of them are significantly biased, and its caption."""

    suite: str
    title: str
    note: str
    cells: pd.DataFrame  # rows: index levels (estimator, ...); columns: (param, metric) or ("", time)
    bold: pd.DataFrame   # same shape as ``cells``


def fmt_pm(value: float, se: float, digits: int = 3) -> str:
    """``4.49 ± 0.15``: a value with its standard error."""
    if not math.isfinite(value):
        return "–"
    return f"{value:.{digits}g}{PM}{se:.2g}"


def nonfinite_words(count: float) -> str:
    """``12 non-finite`` where estimates were NaN or inf (left out of the statistics), else
    empty; NaN is a run stored before the count existed."""
    return f"{int(count)} non-finite" if count == count and count > 0 else ""


def fmt_nonfinite(count: float) -> str:
    """`` (12 non-finite)`` beside a variance, or nothing."""
    words = nonfinite_words(count)
    return f" ({words})" if words else ""


#: Beside a ‖bias‖ whose row tested no coordinate for bias (``max_abs_z`` NaN): not bold
#: there means "not tested", not "unbiased".
UNTESTED = " †"


def untested_mark(max_abs_z: float, z_untested: float) -> str:
    """`` †`` where no coordinate had the effective estimates to test its bias, or nothing.

    Rows stored before ``z_untested`` existed (NaN there) are taken as tested."""
    return UNTESTED if z_untested > 0 and not math.isfinite(max_abs_z) else ""


def fmt_value(value: float, digits: int = 3) -> str:
    return "–" if not math.isfinite(value) else f"{value:.{digits}g}"


def fmt_exact(value: float, z: float) -> str:
    """``0.0186 (−0.8)``: an exact value and the z-score of the sampled one against it."""
    if not math.isfinite(value):
        return "–"
    if not math.isfinite(z):  # an exact variance of 0 has no z-score, not a "+nan" one
        return f"{value:.4g} (–)"
    return f"{value:.4g} ({z:+.1f})".replace("(-", "(−")


def fmt_adapted(steps: float, seconds: float) -> str:
    """``300 in 0.39 s``: the adapt steps taken before the measurement, and their time."""
    if not (steps == steps and steps > 0):
        return "–"
    return f"{int(steps)} in {seconds:.2g} s" if math.isfinite(seconds) else f"{int(steps)}"


def fmt_time(seconds: float) -> str:
    return "–" if not math.isfinite(seconds) else f"{seconds * 1e6:.3g}"


def comparison_tables(df: pd.DataFrame) -> list[Table]:
    """Every table of the report, suite by suite, problem configuration by configuration."""
    tables = []
    show_run = repeated(df)
    for suite, in_suite in df.groupby("suite", sort=False):
        for label, group in in_suite.groupby("problem_label", sort=False):
            tables.append(problem_table(str(suite), str(label), group, show_run))
    return tables


def row_levels(group: pd.DataFrame, show_run: bool) -> list[str]:
    """``estimator_label`` plus every identity column that varies inside ``group``."""
    levels = [c for c in ROW_LEVELS if c != "run" and group[c].nunique() > 1]
    if show_run and group["run"].nunique() > 1:
        levels.append("run")
    return ["estimator_label", *levels]


def problem_table(suite: str, label: str, group: pd.DataFrame, show_run: bool) -> Table:
    """The table of one problem configuration: one row per estimator (and varying level)."""
    levels = row_levels(group, show_run)
    params = list(dict.fromkeys(group["param"]))
    keys = list(dict.fromkeys(map(tuple, group[levels].itertuples(index=False))))
    # Estimators together (in grid order), their M / device / run variants beneath each.
    first = {label: i for i, label in enumerate(dict.fromkeys(k[0] for k in keys))}
    keys = sorted(keys, key=lambda k: first[k[0]])
    cells, bold = {}, {}
    for param in params:
        rows = group[group["param"] == param].set_index(levels)
        var = {k: fmt_pm(r.variance, r.variance_se) + fmt_nonfinite(r.nonfinite)
               for k, r in zip(rows.index, rows.itertuples())}
        bias = {k: fmt_pm(r.bias_norm, r.bias_se, 2)
                + untested_mark(r.max_abs_z, r.z_untested)
                for k, r in zip(rows.index, rows.itertuples())}
        flag = dict(zip(rows.index, rows["biased"]))
        cells[(param, VARIANCE)] = [var.get(_key(k), "") for k in keys]
        cells[(param, BIAS)] = [bias.get(_key(k), "") for k in keys]
        bad = dict(zip(rows.index, rows["nonfinite"].fillna(0) > 0))
        bold[(param, VARIANCE)] = [bool(bad.get(_key(k), False)) for k in keys]
        bold[(param, BIAS)] = [bool(flag.get(_key(k), False)) for k in keys]
        if rows["exact_variance"].notna().any():
            exact_var = {k: fmt_exact(r.exact_variance, r.exact_variance_z)
                         for k, r in zip(rows.index, rows.itertuples())}
            exact_bias = {k: fmt_value(r.exact_bias_norm)
                          for k, r in zip(rows.index, rows.itertuples())}
            cells[(param, EXACT_VARIANCE)] = [exact_var.get(_key(k), "") for k in keys]
            cells[(param, EXACT_BIAS)] = [exact_bias.get(_key(k), "") for k in keys]
            bold[(param, EXACT_VARIANCE)] = [False] * len(keys)
            bold[(param, EXACT_BIAS)] = [False] * len(keys)
    per_cell = group.drop_duplicates(levels).set_index(levels)["time_per_estimate_s"]
    cells[("", TIME)] = [fmt_time(per_cell.get(_key(k), float("nan"))) for k in keys]
    bold[("", TIME)] = [False] * len(keys)
    if group["adapt_steps"].fillna(0).gt(0).any():
        adapted = group.drop_duplicates(levels).set_index(levels)
        text = {k: fmt_adapted(r.adapt_steps, r.adapt_time_s)
                for k, r in zip(adapted.index, adapted.itertuples())}
        cells[("", ADAPTED)] = [text.get(_key(k), "") for k in keys]
        bold[("", ADAPTED)] = [False] * len(keys)
    index = pd.MultiIndex.from_tuples(keys, names=[header(c) for c in levels])
    columns = pd.MultiIndex.from_tuples(list(cells))
    return Table(suite, label, table_note(group, levels),
                 pd.DataFrame(cells, index=index, columns=columns),
                 pd.DataFrame(bold, index=index, columns=columns))


def _key(levels: tuple):
    # A one-level index is keyed by the bare value, not a 1-tuple.
    return levels[0] if len(levels) == 1 else levels


def header(column: str) -> str:
    return "estimator" if column == "estimator_label" else ROW_LEVELS[column]


def table_note(group: pd.DataFrame, levels: list[str]) -> str:
    """What is constant in a table (M, K, seed, device) and fixed problem options, in words."""
    parts = []
    constant = {c: group[c].iloc[0] for c in ROW_LEVELS if c not in levels and c != "run"}
    if "num_estimates" in constant:
        parts.append(f"M = {int(constant['num_estimates']):,} estimates")
    if "num_samples" in constant:
        parts.append(f"K = {int(constant['num_samples'])} samples each")
    if "seed" in constant:
        parts.append(f"seed {int(constant['seed'])}")
    if "device" in constant:
        parts.append(f"on {constant['device']} ({group['device_name'].iloc[0]})")
    parts.append(f"reference: {', '.join(sorted(group['reference'].unique()))}")
    return "; ".join(parts)


LEGEND = (f"variance: mean per-coordinate variance of one estimate ± its standard error (bold, "
          f"with a count, where some estimates were NaN or inf: those are left out of every "
          f"statistic of the row); "
          f"‖bias‖: 2-norm of (mean estimate − reference gradient) ± its standard error, "
          f"bold where significantly biased (largest per-coordinate |z| above the Bonferroni "
          f"threshold at family-wise rate {ALPHA:g}, over the coordinates whose standard error "
          f"rests on at least {MIN_EFFECTIVE_ESTIMATES} effective estimates: 3M / kurtosis, M "
          f"for normal estimates, far fewer where a coordinate's spread comes from a few rare "
          f"values, which makes its z no bias test; so for normal estimates nothing below "
          f"M = {MIN_EFFECTIVE_ESTIMATES} is tested, and the z_untested column counts the "
          f"coordinates left out; "
          f"†: no coordinate tested, so not bold says nothing about bias); "
          f"exact variance (z) and exact ‖bias‖: the "
          f"estimator's true variance and bias, by quadrature or enumeration over its noise "
          f"(suites.measurement.exact; where one estimate's noise is a few variates), with the z-score "
          f"(variance − exact) / se; µs/estimate: median wall-clock time of one "
          f"estimator call divided by the estimates it returned; adapted: the adapt steps an "
          f"adaptive estimator took (and their wall-clock time) before its state was frozen "
          f"for the measurement.")


# --- renderers ---------------------------------------------------------------------------

def framed(table: Table) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Text and bold mask with the row levels as leading columns (never bold)."""
    text = table.cells.reset_index()
    bold = pd.concat([pd.DataFrame(False, index=table.bold.index, columns=table.cells.index.names),
                      table.bold.set_axis(range(table.bold.shape[1]), axis=1)], axis=1)
    return text, bold.reset_index(drop=True).set_axis(text.columns, axis=1)


def marked(table: Table, escape, mark) -> pd.DataFrame:
    """Cells through ``escape``, then ``mark`` on bold ones."""
    text, bold = framed(table)
    text = text.map(escape)
    return text.where(~bold, text.map(mark))


def to_markdown(table: Table) -> str:
    """A GitHub table; bold via ``**``."""
    frame = marked(table, str, lambda s: f"**{s}**")
    frame.columns = [" ".join(p for p in col if p) for col in frame.columns]
    levels = len(table.cells.index.names)
    return frame.to_markdown(index=False, disable_numparse=True,
                             colalign=["left"] * levels + ["right"] * table.cells.shape[1])


LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}"}


#: The Unicode of the cells and headers, in plain LaTeX (pdflatex without inputenc options):
#: a minus is math's, not the ``--`` (en dash) that marks "not available".
LATEX_UNICODE = {"±": r"$\pm$", "‖": r"$\|$", "µ": r"$\mu$", "−": r"$-$", "–": "--",
                 "†": r"\textsuperscript{\dag}", "×": r"$\times$", "·": r"$\cdot$",
                 "\u2009": " "}


def latex_escape(text: str) -> str:
    """``text`` safe in LaTeX and ASCII only: ``±``, ``‖``, ``µ``, ``−``, ``×``, ``·`` as
    math, ``†`` as ``\\dag``, ``–`` (not available) as ``--``."""
    return "".join(LATEX_SPECIALS.get(ch) or LATEX_UNICODE.get(ch, ch) for ch in str(text))


def to_latex(table: Table) -> str:
    """A booktabs ``table`` environment (needs ``\\usepackage{booktabs}``)."""
    frame = marked(table, latex_escape, lambda s: rf"\textbf{{{s}}}")
    frame.columns = pd.MultiIndex.from_tuples([tuple(latex_escape(p) for p in col)
                                               for col in frame.columns])
    levels = len(table.cells.index.names)
    caption = latex_escape(f"{table.suite}: {table.title}. {table.note}.")
    return frame.style.hide(axis="index").to_latex(
        hrules=True, multicol_align="c", caption=caption,
        label=f"tab:{_slug(table.suite)}-{_slug(table.title)}", position="htbp",
        position_float="centering", column_format="l" * levels + "r" * table.cells.shape[1])


def to_html(table: Table) -> str:
    """An HTML ``<table>`` with a caption; bold via CSS."""
    frame, bold = framed(table)
    styler = (frame.style.set_uuid(_slug(f"{table.suite}-{table.title}"))
              .hide(axis="index").format(escape="html")
              .apply(lambda _: bold.map(lambda b: "font-weight: bold" if b else ""), axis=None)
              .set_caption(html.escape(f"{table.title}: {table.note}")))
    return styler.to_html()


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text).strip("-").lower()
