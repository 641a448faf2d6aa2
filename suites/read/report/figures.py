"""The report's seaborn figures; each either draws from the rows or says why it cannot.

Every figure function takes the merged rows (one per cell, parameter) and
returns a ``Figure`` or raises ``Skip`` with the reason the report prints.
Estimators are named by their CLI label (``score_function(baseline=loo)``)
and keep one colour and marker across all figures.
"""
from __future__ import annotations

import math
import re
import textwrap
from pathlib import Path
from typing import Callable, NamedTuple

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "p", "h", "*"]
#: A ratio of largest to smallest value beyond which an axis is drawn in log scale.
DECADES = 20.0
#: Panels a row: three panels of 3.1 in and a legend print within 12 in, the width
#: report.html shows at 1280 px, so that 8 pt text stays 8 pt.
COL_WRAP = 3
#: Panels one figure may hold; more are split into several figures (``parts``).
MAX_PANELS = 6
PANEL_HEIGHT, PANEL_ASPECT = 2.4, 1.3
#: What one line of a figure may join: points of one suite, device and K (never two).
LINE_KEYS = ["suite", "device", "num_samples"]
RC = {"svg.hashsalt": "mcgradbench", "svg.fonttype": "none"}  # reproducible, editable SVG text


class Skip(Exception):
    """The rows lack what a figure needs; the message says what, for report.md."""


#: seaborn's ``paper`` context scaled so that a figure of 3 panels (9.4 in wide), printed at
#: a 6.5 in text width, keeps tick labels near 8 pt (11.4 pt drawn; 6 pt at scale 1).
FONT_SCALE = 1.3


def style() -> None:
    """seaborn's ``paper`` context at ``FONT_SCALE``: tick labels 11.4 pt, axis labels and
    titles 12.5 pt as drawn."""
    sns.set_theme(context="paper", style="whitegrid", font_scale=FONT_SCALE, rc=RC)


#: The report's colour of each label: one estimator has one colour in every figure.
_COLOURS: dict[str, tuple] = {}


def distinct_colours(count: int) -> list[tuple]:
    """``count`` colours a reader tells apart: tab10's ten, then tab20's light partners of
    them, then Dark2, then evenly spaced husl hues (and markers differ as well)."""
    base = (sns.color_palette("tab10") + sns.color_palette("tab20")[1::2]
            + sns.color_palette("Dark2"))
    return (base + sns.color_palette("husl", max(0, count - len(base))))[:count]


def use_colours(labels) -> None:
    """Fix the colour of every label the report will draw (sorted, so reruns agree)."""
    _COLOURS.clear()
    palette(labels)


def palette(labels) -> dict[str, tuple]:
    """The colour of each label: the report's where ``use_colours`` set it, a new distinct
    one (after those taken) otherwise."""
    new = sorted(set(labels) - set(_COLOURS))
    if new:
        _COLOURS.update(zip(new, distinct_colours(len(_COLOURS) + len(new))[len(_COLOURS):]))
    return {label: _COLOURS[label] for label in labels}


def shades(hue, count: int) -> list[tuple]:
    """``count`` shades of ``hue`` spread from a tint (40% white) to a shade (55% black),
    as far apart as they can be while the lightest still stands out on white."""
    if count == 1:
        return [tuple(hue)]
    rgb = np.asarray(hue, dtype=float)
    mix = np.linspace(-0.4, 0.55, count)  # < 0: towards white, > 0: towards black
    return [tuple(rgb + (1 - rgb) * -m if m < 0 else rgb * (1 - m)) for m in mix]


#: Line styles by block of ``distinct_colours``: tab10's ten solid, their light partners
#: dashed, Dark2's dotted, husl's dash-dotted, so that two near hues never share a style.
LINE_STYLES = ["-", "--", ":", "-."]
COLOUR_BLOCKS = [10, 20, 28]


def line_styles(labels) -> dict[str, str]:
    """The line style of each label, by the block its colour (``palette``) was drawn from."""
    colours = palette(labels)
    order = list(_COLOURS)
    return {label: LINE_STYLES[sum(order.index(label) >= b for b in COLOUR_BLOCKS)]
            for label in colours}


#: Colours nearer than this (Euclidean distance in RGB, 0 to 1 a channel) read as one.
NEAR_COLOUR = 0.35


def styles_apart(styles: dict[str, object], colours: dict[str, tuple]) -> dict[str, object]:
    """``styles`` with a label's style changed where an earlier label has a near colour
    (``NEAR_COLOUR``) and the same style: the next of ``LINE_STYLES`` that none of its near
    neighbours has, so that two near hues in one figure never share both colour and style."""
    out: dict[str, object] = {}
    for label, style in styles.items():
        rgb = np.asarray(colours[label][:3], dtype=float)
        near = {out[other] for other in out
                if np.linalg.norm(np.asarray(colours[other][:3], dtype=float) - rgb) < NEAR_COLOUR}
        if style in near:
            style = next((s for s in LINE_STYLES if s not in near), style)
        out[label] = style
    return out


def markers(labels) -> dict[str, str]:
    labels = sorted(set(labels))
    return {label: MARKERS[i % len(MARKERS)] for i, label in enumerate(labels)}


def spans_decades(values) -> bool:
    values = np.asarray([v for v in values if v > 0 and math.isfinite(v)], dtype=float)
    return values.size > 1 and values.max() / values.min() >= DECADES


def set_scales(ax, data: pd.DataFrame, x: str, y: str, force_x: bool = False,
               force_y: bool = False) -> None:
    """Log scale on each axis whose data spans decades (or when forced), with readable ticks.

    The view keeps a margin around the data, so that no marker is cut at the frame.
    """
    ax.margins(x=0.08, y=0.1)
    if force_x or spans_decades(data[x]):
        ax.set_xscale("log")
        readable_log_ticks(ax.xaxis, data[x], ax.get_xlim())
    if force_y or spans_decades(data[y]):
        ax.set_yscale("log")
        readable_log_ticks(ax.yaxis, data[y], ax.get_ylim())


#: Tick mantissas, coarse to fine: the first giving 3 ticks in the data's range is used.
TICK_SERIES = [(1.0,), (1.0, 2.0, 5.0), (1.0, 1.5, 2.0, 3.0, 5.0, 7.0),
               (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0)]


#: Labelled powers of ten on one axis at most; a panel 3 inches tall holds six readably.
MAX_LOG_TICKS = 6


def log_ticks(lo: float, hi: float) -> tuple[list[float], bool]:
    """Ticks inside ``[lo, hi]`` on a log axis, and whether they are powers of ten."""
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    for series in TICK_SERIES:
        ticks = [m * 10.0**k for k in decades for m in series if lo <= m * 10.0**k <= hi]
        if len(ticks) >= 3:
            # Over many decades, every 2nd, 3rd ... power: at most MAX_LOG_TICKS labels.
            step = math.ceil(len(ticks) / MAX_LOG_TICKS) if len(series) == 1 else 1
            return ticks[::step], len(series) == 1
    # Well under a decade wide: plain evenly spaced numbers read best.
    return [t for t in ticker.MaxNLocator(nbins=4).tick_values(lo, hi) if lo <= t <= hi], False


def readable_log_ticks(axis, values, limits) -> None:
    """Ticks that never overlap: powers of ten over decades, plain 1-2-5 numbers within one.

    Matplotlib labels every minor tick of a short log axis (``2x10^1 3x10^1 ...``), or
    falls back to linear ticks that crowd at the top of the decade.
    """
    values = np.asarray([v for v in values if v > 0 and math.isfinite(v)], dtype=float)
    if values.size == 0:
        return
    # The view (the data plus padding) may hold ticks that the data's own range lacks.
    lo, hi = sorted(limits)
    ticks, powers = log_ticks(lo if lo > 0 else values.min(), max(hi, values.max()))
    axis.set_major_locator(ticker.FixedLocator(ticks))
    axis.set_major_formatter(ticker.LogFormatterSciNotation() if powers
                             else ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(ticker.NullFormatter())


def natural(text) -> tuple:
    """A sort key that reads the numbers in ``text`` as numbers: ``k=-3.0`` before
    ``k=-1.0``, ``dim=2`` before ``dim=10``."""
    tokens = re.split(r"(-?\d+(?:\.\d+)?(?:e-?\d+)?)", str(text))
    return tuple((1, float(t), "") if i % 2 else (0, 0.0, t) for i, t in enumerate(tokens))


def panel_order(df: pd.DataFrame, panel: str) -> list[str]:
    """Panels grouped by problem, then by its configuration besides the dimension (numbers
    in order), then by dimension, then by name."""
    first = df.drop_duplicates(panel)
    keys = {row[panel]: (row["problem"], natural(row["problem_variant"]),
                         0.0 if pd.isna(row["dim"]) else float(row["dim"]), natural(row[panel]))
            for _, row in first.iterrows()}
    return sorted(keys, key=keys.get)


def preferred_device(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of one device per problem family (cpu where present): statistics do not depend
    on it, lines should not double."""
    def first(device):
        return (device != "cpu", device)
    chosen = df.groupby("problem")["device"].agg(lambda d: min(d.unique(), key=first))
    return df[df["device"] == df["problem"].map(chosen)]


def largest_m(df: pd.DataFrame, line: list[str], x: str) -> pd.DataFrame:
    """Per line and x, the row with the most estimates (the most precise statistics)."""
    return (df.sort_values("num_estimates", kind="stable")
              .drop_duplicates([*line, x], keep="last"))


def lines_with(df: pd.DataFrame, line: list[str], x: str, at_least: int = 2) -> pd.DataFrame:
    """Rows of lines that have ``at_least`` distinct ``x`` values."""
    counts = df.groupby(line, dropna=False)[x].transform("nunique")
    return df[counts >= at_least]


def errorbar_lines(data, x, y, yerr, color=None, label=None, marker="o", hollow=None,
                   linestyle="-", **_):
    """Lines with ±1 se error bars, one per suite, device and K of the estimator (``LINE_KEYS``:
    never one line through points of two); points where ``hollow`` is true drawn unfilled."""
    keys = [k for k in LINE_KEYS if k in data]
    for i, (_, part) in enumerate(data.groupby(keys, sort=True) if keys else [(None, data)]):
        part = part.sort_values(x)
        plt.errorbar(part[x], part[y], yerr=part[yerr], color=color,
                     label=label if i == 0 else None, marker=marker, markersize=4, capsize=2,
                     linewidth=1.2, linestyle=linestyle)
        if hollow is not None:
            calm = part[part[hollow]]
            plt.plot(calm[x], calm[y], linestyle="none", marker=marker, markersize=4,
                     markerfacecolor="white", markeredgecolor=color, zorder=3)


def facet(data: pd.DataFrame, panel: str, hue: str, **kw) -> sns.FacetGrid:
    """Panels by ``panel`` (wrapped), one colour, marker and line style per ``hue`` label."""
    hues = sorted(data[hue].unique())
    n = data[panel].nunique()
    shapes, styles = markers(hues), line_styles(hues)
    return sns.FacetGrid(data, col=panel, col_wrap=min(COL_WRAP, n), col_order=panel_order(data, panel),
                         hue=hue, hue_order=hues, palette=palette(hues),
                         hue_kws={"marker": [shapes[h] for h in hues],
                                  "linestyle": [styles[h] for h in hues]},
                         sharex=False, sharey=False, height=PANEL_HEIGHT, aspect=PANEL_ASPECT, **kw)


#: Characters of a panel title that fit over a panel (3.1 in at 12.5 pt).
PANEL_TITLE_WIDTH = 26


def zero_notes(rows: pd.DataFrame, panel: str, at: str | None = None) -> dict[str, str]:
    """Per panel, the cells of variance exactly 0 (``suites.measurement``), which a log axis
    cannot show: ``variance 0: delta_method (K=4)`` (``at``: the x column, ``... at k=1``),
    for a line under its title."""
    zero = rows[rows["variance"] == 0]

    def name(row) -> str:
        return f"{row['estimator_label']} (K={row['num_samples']})" + (
            f" at {at}={row[at]:g}" if at else "")
    return {p: textwrap.fill("variance 0: " + ", ".join(dict.fromkeys(
                name(row) for _, row in group.iterrows())), PANEL_TITLE_WIDTH + 8)
            for p, group in zero.groupby(panel, sort=False)}


def finish(grid: sns.FacetGrid, title: str, legend_title: str,
           notes: dict[str, str] | None = None) -> plt.Figure:
    grid.set_titles(col_template="{col_name}")
    for panel, ax in grid.axes_dict.items():
        # "problem(configuration) · parameter" wider than its panel: the parameter below
        if len(ax.get_title()) > PANEL_TITLE_WIDTH:
            ax.set_title(ax.get_title().replace(" · ", "\n"))
        if (notes or {}).get(panel):
            ax.set_title(ax.get_title() + "\n" + notes[panel], fontsize="small")
    # The panels' own artists: seaborn's legend proxies of error-bar lines lose their
    # markers, which tell near colours apart.
    entries = panel_legend(grid.axes.flat)
    grid.figure.tight_layout()
    if entries:
        labels = sorted(entries)  # the grid's hue order
        legend_under(grid.figure, [entries[label] for label in labels], labels, legend_title)
    suptitle(grid.figure, title)
    return grid.figure


def panel_legend(axes) -> dict[str, object]:
    """Each label the panels drew, with the first artist drawn under it (in drawing order)."""
    entries: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    return entries


#: The columns relplot names as legend entries of their own (hue and style of the figures).
LEGEND_HEADERS = {"estimator", "variant"}


def legend_below(grid) -> None:
    """relplot's legend moved under the panels in columns: beside them, twenty entries stand
    taller than a row of panels and run into the title. (Drawn inside the grid first,
    ``legend_out=False``, so that seaborn does not draw the figure to make room beside it.)"""
    legend = grid.legend
    if legend is None:
        return
    # relplot heads each group of entries with its column's name ("estimator", "variant")
    # as an entry of its own, which in columns lands mid-column beside nothing; the entries
    # say what they are (an estimator's label, "K=4", "cuda:0") without it.
    entries = [(h, t.get_text()) for h, t in zip(legend.legend_handles, legend.get_texts())
               if t.get_text() not in LEGEND_HEADERS]
    title = legend.get_title().get_text()
    legend.remove()
    grid.figure.tight_layout()
    legend_under(grid.figure, [h for h, _ in entries], [t for _, t in entries], title or None)


def legend_under(figure: plt.Figure, handles: list, labels: list[str], title: str | None = None):
    """A figure legend in columns under the panels (call after the panels' layout is set)."""
    return figure.legend(handles, labels, title=title, loc="upper center",
                         bbox_to_anchor=(0.5, 0.0), frameon=False,
                         ncol=max(2, int(figure.get_figwidth() // 3.0)))


def suptitle(figure: plt.Figure, text: str) -> None:
    """A figure title wrapped to the figure's width, raised clear of the panel titles."""
    # about 8.5 characters an inch at 12.5 pt; a one-panel figure is as wide as its legend
    width = max(44, int(figure.get_figwidth() * 8.5))
    lines = textwrap.wrap(text, width)
    # suptitle hangs from y: lines of about 0.21 in (12.5 pt x 1.2), and 0.12 in of air.
    figure.suptitle("\n".join(lines), y=1.0 + (0.21 * len(lines) + 0.12) / figure.get_figheight(),
                    fontsize="medium")


# --- the figures ------------------------------------------------------------------------

def variance_vs_dimension(df: pd.DataFrame) -> plt.Figure:
    """Variance per coordinate against dimension, log-log, one panel per problem and parameter."""
    return draw_variance_vs_dimension(variance_vs_dimension_rows(df))


def variance_vs_dimension_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The points of ``variance_vs_dimension``: lines of two or more dimensions, the most
    precise cell at each."""
    rows = preferred_device(df[df["dim"].notna() & (df["variance"] >= 0)])
    rows = rows.assign(panel=rows["problem_variant"] + " · " + rows["param"])
    line = ["panel", "estimator_label", *LINE_KEYS]
    rows = lines_with(largest_m(rows, line, "dim"), line, "dim")
    if not (rows["variance"] > 0).any():
        raise Skip("no estimator was measured on one problem at two or more dimensions")
    return rows


def draw_variance_vs_dimension(rows: pd.DataFrame) -> plt.Figure:
    notes = zero_notes(rows, "panel")
    rows = rows[rows["variance"] > 0]
    grid = facet(rows, "panel", "estimator_label")
    grid.map_dataframe(errorbar_lines, x="dim", y="variance", yerr="variance_se")
    for panel, ax in grid.axes_dict.items():
        set_scales(ax, rows[rows["panel"] == panel], "dim", "variance", force_x=True, force_y=True)
    grid.set_axis_labels("dimension d", "variance per coordinate")
    return finish(grid, f"Variance of one estimate against dimension ({rows['device'].iloc[0]}; "
                        f"error bars: ±1 se)", "estimator", notes)


def bias_vs_temperature(df: pd.DataFrame) -> plt.Figure:
    """‖bias‖ against Gumbel-softmax temperature, one panel per problem configuration and parameter."""
    return draw_bias_vs_temperature(bias_vs_temperature_rows(df))


def bias_vs_temperature_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The points of ``bias_vs_temperature``: lines of two or more temperatures."""
    rows = preferred_device(df[df["temperature"].notna()])
    rows = rows.assign(panel=rows["problem_label"] + " · " + rows["param"])
    line = ["panel", "estimator_family", *LINE_KEYS]
    rows = lines_with(largest_m(rows, line, "temperature"), line, "temperature")
    if rows.empty:
        raise Skip("no estimator with a temperature option was measured at two or more temperatures")
    return rows


def draw_bias_vs_temperature(rows: pd.DataFrame) -> plt.Figure:
    # Hollow markers: bias not significant (within the noise of the estimates).
    rows = rows.assign(calm=~rows["biased"])
    grid = facet(rows, "panel", "estimator_family")
    grid.map_dataframe(errorbar_lines, x="temperature", y="bias_norm", yerr="bias_se", hollow="calm")
    for panel, ax in grid.axes_dict.items():
        set_scales(ax, rows[rows["panel"] == panel], "temperature", "bias_norm")
    grid.set_axis_labels("temperature τ", "‖bias‖₂ of the mean estimate")
    return finish(grid, f"Bias against temperature ({rows['device'].iloc[0]}; error bars: ±1 se; "
                        f"hollow: not significantly biased)", "estimator")


def plot_time_vs_estimates(df: pd.DataFrame) -> plt.Figure:
    """Time per estimate against estimates per call, log-log, device (and seed) as line style.

    A line joins the cells of one estimator, device, ``K`` and seed: runs of different
    seeds stay separate lines, never one line zig-zagging between them.
    """
    return draw_time_vs_estimates(time_vs_estimates_rows(df))


#: What one line of the time figure joins: one estimator, suite, device, K and seed.
TIME_LINE = ["problem_label", "estimator_label", "suite", "device", "num_samples", "seed"]


def time_vs_estimates_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The points of ``plot_time_vs_estimates``: lines timed at two or more M."""
    # One point per line and M: the run given last (seaborn would otherwise average runs).
    rows = df[np.isfinite(df["time_per_estimate_s"])].drop_duplicates(
        [*TIME_LINE, "timed_estimates"], keep="last")
    rows = rows.assign(time_us=rows["time_per_estimate_s"] * 1e6,
                       estimator=rows["estimator_label"], panel=rows["problem_label"])
    rows = lines_with(rows, TIME_LINE, "timed_estimates")
    if rows.empty:
        raise Skip("no estimator was timed at two or more numbers of estimates per call "
                   "(run a suite that varies M, e.g. `scaling`)")
    return rows


def draw_time_vs_estimates(rows: pd.DataFrame) -> plt.Figure:
    labels = sorted(rows["estimator_label"].unique())
    seeds = rows["seed"].nunique() > 1
    rows = rows.assign(line=[f"{d} · seed {s}" if seeds else d
                             for d, s in zip(rows["device"], rows["seed"])])
    styles = sorted(rows["line"].unique(), key=lambda d: (not d.startswith("cpu"), d))
    style = {"style": "line", "style_order": styles, "markers": True, "dashes": True}
    if len(styles) == 1:
        style = {"marker": "o"}
    # One line per unit: seaborn would otherwise join every point of one hue and style.
    rows = rows.assign(unit=rows[TIME_LINE].astype(str).agg("|".join, axis=1))
    grid = sns.relplot(data=rows, kind="line", x="timed_estimates", y="time_us",
                       col="problem_label", col_wrap=min(COL_WRAP, rows["problem_label"].nunique()),
                       col_order=panel_order(rows, "problem_label"), units="unit", estimator=None,
                       hue="estimator", hue_order=labels, palette=palette(labels), **style,
                       height=PANEL_HEIGHT, aspect=PANEL_ASPECT,
                       facet_kws={"sharex": False, "sharey": False, "legend_out": False})
    for panel, ax in grid.axes_dict.items():
        set_scales(ax, rows[rows["problem_label"] == panel], "timed_estimates", "time_us",
                   force_x=True, force_y=True)
    grid.set_axis_labels("estimates per call M", "time per estimate [µs]")
    grid.set_titles(col_template="{col_name}")
    legend_below(grid)
    devices_text = ", ".join(f"{d}: {n}" for d, n in
                             rows.drop_duplicates("device")[["device", "device_name"]].values)
    suptitle(grid.figure, f"Wall-clock time per estimate (median of torch.utils.benchmark; "
                          f"{devices_text})")
    return grid.figure


VARIANT_MARKERS = ["o", "s", "^", "D", "v", "P", "*"]


def variant_labels(rows: pd.DataFrame) -> list[str]:
    """What tells apart points of one estimator in one panel: ``K`` and the device, each
    named only where the rows hold more than one (a one-entry legend says nothing)."""
    parts = []
    if rows["num_samples"].nunique() > 1:
        parts.append([f"K={k}" for k in rows["num_samples"]])
    if rows["device"].nunique() > 1:
        parts.append(list(rows["device"]))
    return [" · ".join(p) for p in zip(*parts)] if parts else [""] * len(rows)


def variant_order(label: str) -> tuple:
    """``K=2`` before ``K=16``, cpu before cuda."""
    return tuple(int(part[2:]) if part.startswith("K=") else (part != "cpu", part)
                 for part in label.split(" · "))


def efficiency(df: pd.DataFrame) -> plt.Figure:
    """Variance against time per estimate, per problem: lower left is better."""
    return draw_efficiency(efficiency_rows(df))


def efficiency_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The points of ``efficiency``: one per problem, estimator, device and K (its most
    precise cell), the variance per coordinate over all its parameters."""
    # A cell of variance 0 (exact; suites.measurement) has no place on a log axis: kept, and
    # named in its panel rather than drawn.
    rows = df[np.isfinite(df["time_per_estimate_s"]) & (df["variance"] >= 0)]
    if rows.empty or not (rows["variance"] > 0).any():
        raise Skip("no timed cells (time_s is missing; run without --min-run-time 0)")
    # problem, problem_variant and dim order the panels (they follow from problem_label)
    cell = ["problem_label", "estimator_label", "device", "num_samples", "num_estimates", "run",
            "problem", "problem_variant", "dim"]
    # Total variance per coordinate over all parameters of a cell: numel-weighted mean.
    per_cell = (rows.assign(weighted=rows["variance"] * rows["numel"])
                .groupby(cell, sort=False, dropna=False)
                .agg(weighted=("weighted", "sum"), numel=("numel", "sum"),
                     time=("time_per_estimate_s", "first"), biased=("biased", "any"))
                .reset_index())
    per_cell = per_cell.assign(variance=per_cell["weighted"] / per_cell["numel"],
                               time_us=per_cell["time"] * 1e6,
                               estimator=per_cell["estimator_label"],
                               panel=per_cell["problem_label"])
    per_cell = largest_m(per_cell, ["problem_label", "estimator_label", "device", "num_samples"],
                         "run")
    return per_cell.drop_duplicates(["problem_label", "estimator_label", "device",
                                     "num_samples"], keep="last")


def draw_efficiency(per_cell: pd.DataFrame) -> plt.Figure:
    notes = zero_notes(per_cell, "problem_label")
    per_cell = per_cell[per_cell["variance"] > 0]
    order = panel_order(per_cell, "problem_label")
    labels = sorted(per_cell["estimator_label"].unique())
    per_cell = per_cell.assign(variant=variant_labels(per_cell))
    variants = sorted(per_cell["variant"].unique(), key=variant_order)
    # never "x", which marks the biased
    style = ({"style": "variant", "style_order": variants,
              "markers": [VARIANT_MARKERS[i % len(VARIANT_MARKERS)] for i in range(len(variants))]}
             if len(variants) > 1 else {})
    grid = sns.relplot(data=per_cell, kind="scatter", x="time_us", y="variance",
                       col="problem_label", col_order=order,
                       col_wrap=min(COL_WRAP, per_cell["problem_label"].nunique()),
                       hue="estimator", hue_order=labels, palette=palette(labels),
                       s=40, height=PANEL_HEIGHT, aspect=PANEL_ASPECT, **style,
                       facet_kws={"sharex": False, "sharey": False, "legend_out": False},
                       zorder=3)
    for panel, ax in grid.axes_dict.items():
        here = per_cell[per_cell["problem_label"] == panel]
        set_scales(ax, here, "time_us", "variance", force_x=True, force_y=True)
        draw_iso_efficiency(ax, here)
        # Low variance bought with bias is not efficiency: the frontier counts only
        # estimators the measurement did not flag, and flagged ones are crossed out.
        biased = here["biased"].astype(bool)
        draw_frontier(ax, here[~biased])
        ax.scatter(here.loc[biased, "time_us"], here.loc[biased, "variance"], marker="x",
                   color="black", s=22, linewidths=0.9, zorder=4)

    grid.set_axis_labels("time per estimate [µs]", "variance per coordinate")
    grid.set_titles(col_template="{col_name}")
    for panel, ax in grid.axes_dict.items():
        if notes.get(panel):  # a log axis has no 0: named under the title, not drawn
            ax.set_title(f"{panel}\n{notes[panel]}", fontsize="small")
    legend_below(grid)
    suptitle(grid.figure, "Efficiency: variance × time (lower left is better; grey dashed: "
                          "equal variance × time; black line: frontier of the unbiased; ×: "
                          "significantly biased)")
    return grid.figure


def draw_iso_efficiency(ax, here: pd.DataFrame) -> None:
    """Dashed lines of constant variance x time, one per decade, through the panel."""
    product = here["variance"] * here["time_us"]
    lo, hi = math.floor(math.log10(product.min())) - 1, math.ceil(math.log10(product.max())) + 1
    xs = np.geomspace(here["time_us"].min() / 2, here["time_us"].max() * 2, 50)
    ylim, xlim = ax.get_ylim(), ax.get_xlim()
    for exponent in range(lo, hi + 1):
        ax.plot(xs, 10.0**exponent / xs, color="0.75", linestyle="--", linewidth=0.6, zorder=1)
    ax.set_ylim(ylim)
    ax.set_xlim(xlim)


def draw_frontier(ax, here: pd.DataFrame) -> None:
    """The Pareto frontier per device: no other estimator is both faster and less noisy."""
    for _, points in here.groupby("device"):
        points = points.sort_values(["time_us", "variance"])
        frontier = points[points["variance"] <= points["variance"].cummin()]
        ax.plot(frontier["time_us"], frontier["variance"], color="black", linewidth=0.9,
                zorder=2)


# --- the `papers` suite's reproduced figures ---------------------------------------------

def papers_rows(df: pd.DataFrame, problem: str) -> pd.DataFrame:
    """Rows of the `papers` suite on ``problem``, with its config keys as columns."""
    import json

    rows = preferred_device(df[(df["suite"] == "papers") & (df["problem"] == problem)])
    configs = pd.DataFrame([json.loads(c) for c in rows["problem_config"]], index=rows.index)
    return rows.join(configs[[c for c in configs.columns if c not in rows.columns]])


def papers_variance_vs_k(df: pd.DataFrame) -> plt.Figure:
    """Variance against k for N(1, 1) and (x - k)^2, log y, one panel per parameter (JMLR 2020, section 8)."""
    rows = papers_rows(df, "gaussian")
    if rows.empty or "k" not in rows:
        raise Skip("no `papers` suite rows on the gaussian problem (run `mcgradbench run papers`)")
    notes = zero_notes(rows, "param", at="k")
    rows = rows[rows["variance"] > 0]
    grid = facet(rows, "param", "estimator_label")
    grid.map_dataframe(errorbar_lines, x="k", y="variance", yerr="variance_se")
    for ax in grid.axes.flat:
        ax.set_yscale("log")
    grid.set_axis_labels("k in the cost (x - k)²", "variance of one estimate")
    return finish(grid, "Reproduced: Mohamed et al. 2020 (JMLR), variance against k, "
                        "N(μ=1, σ=1) (error bars: ±1 se)", "estimator", notes)


def papers_toy_log_variance(df: pd.DataFrame) -> plt.Figure:
    """Variance per estimator on the REBAR/RELAX toy (b - t)^2, log x, one panel per target t.

    A point per estimator (±1 se) on a log axis, its closed form beside it where the
    problem has one: bars of log10 variance would grow downward from 10^0, the longest
    bar the lowest variance (Tucker et al. 2017, figure 1; Grathwohl et al. 2018, figure 1).
    """
    rows = rebar_toy_rows(df)
    if rows.empty or "target" not in rows:
        raise Skip("no `papers` suite rows on the bernoulli toy (run `mcgradbench run papers`)")
    rows = rows[rows["variance"] > 0]
    # K differs by estimator in the papers' set-up (2 for ARM and DisARM, 1 for REBAR)
    rows = rows.assign(entry=rows["estimator_label"] + ", K=" + rows["num_samples"].astype(str))
    entries = list(dict.fromkeys(rows.sort_values(["estimator_label", "num_samples"])["entry"]))
    colours = palette(sorted(rows["estimator_label"].unique()))
    shapes = markers(rows["estimator_label"])
    targets = sorted(rows["target"].unique())
    fig, axes = plt.subplots(1, len(targets), squeeze=False, sharey=True,
                             figsize=(PANEL_HEIGHT * PANEL_ASPECT * len(targets),
                                      0.8 + 0.28 * len(entries)))
    exact_handle = None
    for ax, target in zip(axes.flat, targets):
        here = rows[rows["target"] == target].set_index("entry")
        for y, entry in enumerate(entries):
            if entry not in here.index:
                continue
            row = here.loc[entry]
            ax.errorbar(row["variance"], y, xerr=row["variance_se"], color=colours[row["estimator_label"]],
                        marker=shapes[row["estimator_label"]], markersize=5, capsize=2,
                        linestyle="none")
            if math.isfinite(row["exact_variance"]):
                exact_handle = ax.scatter(row["exact_variance"], y, marker="o", s=90,
                                          facecolors="none", edgecolors="black",
                                          linewidths=0.8, zorder=3)
        ax.set_xscale("log")
        ax.margins(x=0.15, y=0.12)
        values = pd.concat([here["variance"], here["exact_variance"]])
        readable_log_ticks(ax.xaxis, values, ax.get_xlim())
        ax.set_title(f"t = {target:g}")
    axes[0, 0].set_yticks(range(len(entries)), entries)
    axes[0, 0].invert_yaxis()  # the first entry at the top (the y axis is shared)
    # once: under each panel the two ran together
    fig.supxlabel("variance of one estimate", fontsize=plt.rcParams["axes.labelsize"])
    fig.tight_layout()
    if exact_handle is not None:
        legend_under(fig, [exact_handle], ["closed form (exact, by enumeration)"])
    logits = rows["logits"].dropna().unique() if "logits" in rows else []
    with_logit = f" with logit {logits[0]:g}" if len(logits) == 1 else ""
    suptitle(fig, f"Reproduced: the REBAR/RELAX toy f(b) = (b - t)², one Bernoulli{with_logit} "
                  "(error bars: ±1 se)")
    return fig


def rebar_toy_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The `papers` rows of the REBAR/RELAX toy: the Bernoulli cells set by logit (ARMS's toy
    sets ``probs``)."""
    rows = papers_rows(df, "bernoulli")
    return rows[rows["probs"].isna()] if "probs" in rows else rows


def arms_toy_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The `papers` rows of ARMS's toy (Bernoulli cells set by ``probs``), with ``method`` (the
    estimator without ARMS's n) and ``evaluations``: the cost evaluations of one estimate, as
    ``Estimator.evaluations`` charges them (n for ARMS, K for the score function, 2 K for DisARM)."""
    import json

    import estimators

    from suites import problems

    rows = papers_rows(df, "bernoulli")
    if rows.empty or "probs" not in rows:
        return rows.iloc[:0]
    rows = rows[rows["probs"].notna()].copy()

    def evaluations(row) -> int:
        estimator = estimators.get(row["estimator"], **json.loads(row["estimator_config"] or "{}"))
        problem = problems.get(row["problem"], **json.loads(row["problem_config"]))
        return estimator.evaluations(problem, int(row["num_samples"]))

    rows["evaluations"] = [evaluations(row) for _, row in rows.iterrows()] if len(rows) else []
    rows["method"] = rows["estimator"].where(rows["estimator"] == "arms", rows["estimator_label"])
    return rows


def draw_rings(ax, x, exact) -> object | None:
    """The exact values (where finite) as unfilled black rings; the last artist, or None."""
    finite = np.isfinite(np.asarray(exact, dtype=float))
    if not finite.any():
        return None
    return ax.scatter(np.asarray(x)[finite], np.asarray(exact, dtype=float)[finite], marker="o",
                      s=70, facecolors="none", edgecolors="black", linewidths=0.8, zorder=3)


def papers_arms_variance_vs_n(df: pd.DataFrame) -> plt.Figure:
    """ARMS's toy (b - 0.49)^2: variance against cost evaluations n, one panel per p, beside
    the leave-one-out score function and DisARM at the same evaluations (Dimitriev & Zhou
    2021, figure 1, whose curves run along a training run's p)."""
    rows = arms_toy_rows(df)
    if rows.empty:
        raise Skip("no `papers` suite rows on ARMS's toy (run `mcgradbench run papers`)")
    rows = rows[rows["variance"] > 0]
    methods = sorted(rows["method"].unique())
    colours, shapes, styles = palette(methods), markers(methods), line_styles(methods)
    probs = sorted(rows["probs"].unique())
    fig, axes = plt.subplots(1, len(probs), squeeze=False, sharey=True,
                             figsize=(PANEL_HEIGHT * PANEL_ASPECT * len(probs), PANEL_HEIGHT + 0.6))
    handles, ring = {}, None
    for ax, p in zip(axes.flat, probs):
        here = rows[rows["probs"] == p]
        for method in methods:
            part = here[here["method"] == method].sort_values("evaluations")
            if part.empty:
                continue
            handles[method] = ax.errorbar(part["evaluations"], part["variance"], yerr=part["variance_se"],
                                          color=colours[method], marker=shapes[method], markersize=4,
                                          capsize=2, linewidth=1.2, label=method,
                                          linestyle=styles[method])
            ring = draw_rings(ax, part["evaluations"], part["exact_variance"]) or ring
        ax.set_yscale("log")
        ax.set_title(f"p = {p:g}")
        ax.set_xlabel("evaluations per estimate (n)")
    axes[0, 0].set_ylabel("variance of one estimate")
    fig.tight_layout()
    labels = list(handles)
    if ring is not None:
        handles["exact"], labels = ring, labels + ["exact (enumeration)"]
    legend_under(fig, list(handles.values()), labels)
    suptitle(fig, f"Reproduced: ARMS's toy f(b) = (b - {rows['target'].iloc[0]:g})², one Bernoulli "
                  "(error bars: ±1 se)")
    return fig


def indecater_toy_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The `papers` categorical rows of IndeCateR's comparison: the non-separable cost."""
    rows = papers_rows(df, "categorical")
    return rows[rows["cost"] == "mean_square"] if "cost" in rows else rows.iloc[:0]


def set_toy_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The `papers` categorical rows of the unordered set toy: the separable (default) cost."""
    rows = papers_rows(df, "categorical")
    return rows[rows["cost"] != "mean_square"] if "cost" in rows else rows


def papers_set_variance_vs_k(df: pd.DataFrame) -> plt.Figure:
    """Variance against K on one categorical of C classes, log y, the exact value beside each
    point; zero at K = C (the whole support) is drawn at the axis' floor (Kool et al. 2020, figure 2)."""
    rows = set_toy_rows(df)
    if rows.empty:
        raise Skip("no `papers` suite rows on the categorical toy (run `mcgradbench run papers`)")
    colours = palette(sorted(rows["estimator_label"].unique()))
    styles = line_styles(rows["estimator_label"].unique())
    shapes = markers(rows["estimator_label"])
    fig, ax = plt.subplots(figsize=(PANEL_HEIGHT * PANEL_ASPECT * 1.3, PANEL_HEIGHT * 1.1))
    positive = rows.loc[rows["variance"] > 0, "variance"]
    floor = float(positive.min()) / 10 if len(positive) else 1e-12
    zero_handle = exact_handle = None
    for label, here in rows.sort_values("num_samples").groupby("estimator_label", sort=True):
        # zero up to rounding (the whole support): shown at the floor, as an open marker
        tiny = here["variance"] <= 1e-12 * float(here["variance"].max())
        shown = here["variance"].where(~tiny, floor)
        ax.errorbar(here["num_samples"], shown, yerr=here["variance_se"].where(~tiny, 0),
                    color=colours[label], marker=shapes[label], markersize=4, capsize=2, label=label,
                    linestyle=styles[label])
        if tiny.any():
            zero_handle = ax.scatter(here.loc[tiny, "num_samples"], [floor] * int(tiny.sum()),
                                     marker="v", s=70, color=colours[label], zorder=3)
        exact = here[here["exact_variance"].map(math.isfinite) & ~tiny]
        if len(exact):
            exact_handle = ax.scatter(exact["num_samples"], exact["exact_variance"], marker="o", s=80,
                                      facecolors="none", edgecolors="black", linewidths=0.8, zorder=4)
    ax.set_yscale("log")
    ax.set_xlabel("K (cost evaluations per estimate)")
    ax.set_ylabel("variance per coordinate")
    handles, labels = ax.get_legend_handles_labels()
    for handle, text in ((exact_handle, "exact (enumeration of the sets)"),
                         (zero_handle, "0 up to rounding (K = the support)")):
        if handle is not None:
            handles.append(handle)
            labels.append(text)
    fig.tight_layout()
    legend_under(fig, handles, labels)
    classes = rows["num_classes"].dropna().unique() if "num_classes" in rows else []
    of = f" of {int(classes[0])} classes" if len(classes) == 1 else ""
    suptitle(fig, f"Reproduced: unordered set estimator against K, one categorical{of} "
                  "(error bars: ±1 se)")
    return fig


def papers_indecater_variance(df: pd.DataFrame) -> plt.Figure:
    """IndeCateR against the score function at equal cost evaluations on the non-separable
    categorical cost: variance against the dimension D (one IndeCateR sample costs 3 D)."""
    rows = indecater_toy_rows(df)
    if rows.empty:
        raise Skip("no `papers` suite rows on the categorical problem (run `mcgradbench run papers`)")
    rows = rows[rows["variance"] > 0]
    labels = sorted(rows["estimator_label"].unique())
    colours, shapes, styles = palette(labels), markers(labels), line_styles(labels)
    fig, ax = plt.subplots(figsize=(PANEL_HEIGHT * PANEL_ASPECT + 0.4, PANEL_HEIGHT + 0.6))
    for label in labels:
        part = rows[rows["estimator_label"] == label].sort_values("dim")
        ax.errorbar(part["dim"], part["variance"], yerr=part["variance_se"], color=colours[label],
                    marker=shapes[label], markersize=4, capsize=2, linewidth=1.2,
                    label=f"{label}, K = " + "/".join(str(k) for k in part["num_samples"]),
                    linestyle=styles[label])
    ax.set_yscale("log")
    ax.set_xlabel("dimension D (3 classes; 3 D cost evaluations per estimate)")
    ax.set_ylabel("variance of one estimate")
    fig.tight_layout()
    handles, names = ax.get_legend_handles_labels()
    legend_under(fig, handles, names)
    suptitle(fig, "Reproduced: IndeCateR against the score function, (mean z·v - t)², equal "
                  "evaluations (error bars: ±1 se)")
    return fig


class Panelled(NamedTuple):
    """A figure of one panel per value of the column ``panel`` that its ``rows`` make; the
    report draws it once per problem family, in parts of at most ``MAX_PANELS`` panels."""
    stem: str
    title: str
    rows: Callable[[pd.DataFrame], pd.DataFrame]  # the points, with ``panel``; or raise Skip
    draw: Callable[[pd.DataFrame], plt.Figure]  # the points of some panels -> the figure


#: What report.md lists, in order.
FIGURES: list[Panelled] = [
    Panelled("variance_vs_dimension", "Variance against dimension", variance_vs_dimension_rows,
             draw_variance_vs_dimension),
    Panelled("bias_vs_temperature", "Bias against Gumbel-softmax temperature",
             bias_vs_temperature_rows, draw_bias_vs_temperature),
    Panelled("time_vs_estimates", "Time per estimate against the number of estimates",
             time_vs_estimates_rows, draw_time_vs_estimates),
    Panelled("efficiency", "Efficiency frontier: variance × time per estimate", efficiency_rows,
             draw_efficiency),
]

#: Drawn only for runs of the `papers` suite (``suite_figures``).
PAPERS_FIGURES: list[tuple[str, str, Callable[[pd.DataFrame], plt.Figure]]] = [
    ("papers_variance_vs_k", "Reproduced: JMLR 2020 variance against k", papers_variance_vs_k),
    ("papers_toy_log_variance", "Reproduced: REBAR/RELAX toy log-variance", papers_toy_log_variance),
    ("papers_arms_variance_vs_n", "Reproduced: ARMS toy, variance against n", papers_arms_variance_vs_n),
    ("papers_indecater_variance", "Reproduced: IndeCateR against the score function",
     papers_indecater_variance),
    ("papers_set_variance_vs_k", "Reproduced: unordered set estimator, variance against K",
     papers_set_variance_vs_k),
]


class Part(NamedTuple):
    """The panels of one figure file: ``name`` goes after the stem, ``caption`` after the title."""
    name: str
    caption: str
    rows: pd.DataFrame


def parts(rows: pd.DataFrame) -> list[Part]:
    """``rows`` (with a ``panel`` column) split into figures of one problem family each, its
    panels in order and shared as evenly as ``MAX_PANELS`` a figure allows (13 panels: 5, 4,
    4, never 6, 6, 1); a family in n figures is named ``family_i`` and captioned
    ``family (i of n)``."""
    out = []
    for family in sorted(rows["problem"].unique()):
        here = rows[rows["problem"] == family]
        order = panel_order(here, "panel")
        count = math.ceil(len(order) / MAX_PANELS)
        for i, chunk in enumerate(np.array_split(np.array(order, dtype=object), count)):
            name, caption = ((family, family) if count == 1
                             else (f"{family}_{i + 1}", f"{family} ({i + 1} of {count})"))
            out.append(Part(name, caption, here[here["panel"].isin(list(chunk))]))
    return out


def panels(figure: plt.Figure) -> list:
    """The axes of ``figure`` that hold data (a facet grid's spare cells are empty)."""
    return [ax for ax in figure.axes if ax.has_data()]


#: The suites drawn in figures of their own only: the `papers` suite's grid sweeps the
#: papers' settings (seven values of k on one Gaussian), which as panels of the figures by
#: problem would fill two of every three efficiency figures of the gaussian family.
OWN_FIGURES = {"papers": PAPERS_FIGURES}


def suite_figures(df: pd.DataFrame) -> list[tuple[str, str, Callable[[pd.DataFrame], plt.Figure]]]:
    """The figures particular to the suites present in ``df`` (the `papers` reproductions)."""
    present = set(df["suite"])
    return [figure for suite, own in OWN_FIGURES.items() if suite in present for figure in own]


def shared_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows the figures by problem draw: those of suites without figures of their own."""
    return df[~df["suite"].isin(list(OWN_FIGURES))]


def save(figure: plt.Figure, directory: Path, stem: str) -> list[Path]:
    """PNG (for the Markdown report) and SVG (for papers) of ``figure``; closes it."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"{stem}.png", directory / f"{stem}.svg"]
    try:
        figure.savefig(paths[0], dpi=150, bbox_inches="tight", metadata={"Software": None})
        figure.savefig(paths[1], bbox_inches="tight", metadata={"Date": None})
    finally:
        plt.close(figure)
    return paths


# --- the `continuous` suite's figure -----------------------------------------------------

#: Line styles of the two float widths in the `continuous` figure.
DTYPE_STYLES = {"float64": "-", "float32": "--"}


def continuous_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of the `continuous` suite with their scalar ``concentration`` (a Beta's
    ``concentration1``; its ``concentration0`` is equal in the grid) and a panel per family and
    parameter."""
    import json

    rows = preferred_device(df[(df["suite"] == "continuous") & (df["variance"] > 0)])
    configs = [json.loads(c) for c in rows["problem_config"]]
    concentration = [c.get("concentration", c.get("concentration1")) for c in configs]
    rows = rows.assign(concentration=[v if isinstance(v, (int, float)) else math.nan for v in concentration])
    rows = rows[rows["concentration"].notna()]
    return rows.assign(panel=rows["problem"] + " · " + rows["param"])


def continuous_variance_vs_concentration(df: pd.DataFrame) -> plt.Figure:
    """Variance of one estimate against the concentration, log-log, one panel per family and
    parameter; float64 solid, float32 dashed; a ring around each point flagged biased."""
    rows = continuous_rows(df)
    if rows.empty:
        raise Skip("no `continuous` suite rows (run `mcgradbench run continuous`)")
    families = {"gamma": 0, "beta": 1, "dirichlet": 2}
    order = sorted(panel_order(rows, "panel"), key=lambda p: families.get(p.split(" · ")[0], 3))
    labels = sorted(rows["estimator_label"].unique())
    colours, shapes = palette(labels), markers(labels)
    columns = min(COL_WRAP, len(order))
    count = math.ceil(len(order) / columns)
    fig, axes = plt.subplots(count, columns, squeeze=False,
                             figsize=(PANEL_HEIGHT * PANEL_ASPECT * columns, PANEL_HEIGHT * count))
    ring = None
    for ax, panel in zip(axes.flat, order):
        here = rows[rows["panel"] == panel]
        for (label, dtype), line in here.groupby(["estimator_label", "dtype"], sort=True):
            line = line.sort_values("concentration")
            ax.plot(line["concentration"], line["variance"], color=colours[label], marker=shapes[label],
                    markersize=3.5, linewidth=1.1, linestyle=DTYPE_STYLES.get(dtype, ":"),
                    label=label)
            biased = line[line["biased"].astype(bool)]
            if len(biased):
                ring = ax.scatter(biased["concentration"], biased["variance"], s=70, facecolors="none",
                                  edgecolors="black", linewidths=0.8, zorder=3)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(panel)
        ax.set_xlabel("concentration")
        ax.set_ylabel("variance of one estimate")
    for ax in list(axes.flat)[len(order):]:
        ax.set_visible(False)
    fig.tight_layout()
    # one solid entry per estimator (its dtype is told by the line style entries)
    handles = [plt.Line2D([], [], color=colours[label], marker=shapes[label], markersize=3.5,
                          linewidth=1.1) for label in labels]
    names = list(labels)
    handles += [plt.Line2D([], [], color="grey", linestyle=s) for s in DTYPE_STYLES.values()]
    names += list(DTYPE_STYLES)
    if ring is not None:
        handles.append(ring)
        names.append("flagged biased (|z| over the Bonferroni threshold)")
    legend_under(fig, handles, names)
    k = sorted(rows["num_samples"].unique())
    m = sorted(rows["num_estimates"].unique())
    suptitle(fig, f"Variance against concentration: Gamma, Beta, Dirichlet (K = {', '.join(map(str, k))}, "
                  f"M = {', '.join(f'{v:,}' for v in m)})")
    return fig


CONTINUOUS_FIGURES: list[tuple[str, str, Callable[[pd.DataFrame], plt.Figure]]] = [
    ("continuous_variance_vs_concentration", "Variance against concentration (Gamma, Beta, Dirichlet)",
     continuous_variance_vs_concentration),
]
OWN_FIGURES["continuous"] = CONTINUOUS_FIGURES
