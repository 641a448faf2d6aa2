"""Write a report directory: report.md, report.html, tables.tex and figures/ from run directories."""
from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from suites.measurement.measure import package_version
from suites.store.atomic import atomic_write_text
from suites.store.rundir import utc_now
from suites.read.report import FORMATS, figures, papers, peers, tables, training
from suites.read.report import continuous
from suites.read.report.runs import latest, load_runs, repeated
from suites.read.verdict import TIE_SE, verdict_frame

FILES = {"md": "report.md", "html": "report.html", "latex": "tables.tex"}


@dataclass(frozen=True)
class Drawn:
    """One figure of the report: its files, or why it was skipped."""

    stem: str
    title: str
    paths: list[Path]
    skipped: str = ""


def render(paths: Sequence[str | Path], out: str | Path, formats: Sequence[str] = FORMATS
           ) -> list[Path]:
    """Read the runs at ``paths``, write the report into ``out``; the files written."""
    if not paths:
        raise ValueError("no run directories given")
    train_paths = [p for p in paths if training.is_training_run(p)]
    measured = [p for p in paths if p not in train_paths]
    out = Path(out)
    df, metas, drawn, comparison = None, [], [], []
    if measured:
        df, metas = load_runs(measured)
    train = None
    if train_paths:
        train_df, train_metas = training.load(train_paths)
        metas = metas + train_metas
        train = (train_df, training.table_frames(train_df))
    out.mkdir(parents=True, exist_ok=True)
    if df is not None:
        drawn = draw_figures(latest(df), out / "figures")
        comparison = tables.comparison_tables(df)
    if train is not None:
        figures.style()
        drawn += [Drawn(stem, title, figures.save(fig, out / "figures", stem))
                  for stem, title, fig in training.figures_for(train[0])]
    written = [p for d in drawn for p in d.paths]
    remove_stale_figures(out / "figures", written)
    # Both pages open with the same per-problem answer: computed once.
    best = verdict_frame(df) if df is not None and {"md", "html"} & set(formats) else pd.DataFrame()
    pages = {"md": lambda: markdown_report(df, metas, comparison, drawn, out, train, best),
             "html": lambda: html_report(df, metas, comparison, drawn, out, train, best),
             "latex": lambda: latex_tables(comparison, train)}
    for fmt in dict.fromkeys(formats):
        atomic_write_text(out / FILES[fmt], pages[fmt]())
        written.append(out / FILES[fmt])
    return written


#: How the report's figure files are named: a figure by problem, a suite's own, training's.
FIGURE_PREFIXES = tuple([f.stem for f in figures.FIGURES]
                        + [stem for own in figures.OWN_FIGURES.values() for stem, _, _ in own]
                        + ["train_"])


def remove_stale_figures(directory: Path, written: list[Path]) -> None:
    """Delete the report's figure files that this rendering did not write (a family now in
    fewer parts, a figure now skipped), so that the folder holds what the pages link; files
    not named like the report's figures are left alone."""
    if not directory.is_dir():
        return
    keep = {p.resolve() for p in written}
    for path in directory.iterdir():
        if (path.suffix in (".png", ".svg") and path.stem.startswith(FIGURE_PREFIXES)
                and path.resolve() not in keep):
            path.unlink()


def draw_figures(df: pd.DataFrame, directory: Path) -> list[Drawn]:
    """Every figure that the rows allow, as PNG and SVG; skipped ones with their reason."""
    figures.style()
    figures.use_colours(df["estimator_label"].tolist() + df["estimator_family"].tolist())
    drawn = []
    shared = figures.shared_rows(df)
    for stem, title, points, draw in figures.FIGURES:
        # One figure per problem family, at most MAX_PANELS panels each.
        try:
            if shared.empty:
                raise figures.Skip("drawn for the other suites; "
                                   + " and ".join(f"`{s}`" for s in sorted(set(df["suite"])))
                                   + " has figures of its own, below")
            rows = points(shared)
        except figures.Skip as reason:
            drawn.append(Drawn(stem, title, [], str(reason)))
            continue
        for name, caption, part in figures.parts(rows):
            drawn.append(Drawn(f"{stem}_{name}", f"{title}: {caption}",
                               figures.save(draw(part), directory, f"{stem}_{name}")))
    for stem, title, draw in figures.suite_figures(df):
        try:
            figure = draw(df)
        except figures.Skip as reason:
            drawn.append(Drawn(stem, title, [], str(reason)))
            continue
        drawn.append(Drawn(stem, title, figures.save(figure, directory, stem)))
    return drawn


# --- shared content ---------------------------------------------------------------------

def runs_frame(metas: list[dict], out: Path) -> pd.DataFrame:
    """One line per run: what, where, with which versions and when."""
    def commit(meta):
        sha = str(meta.get("git_commit", "–"))[:10]
        return sha + (" (dirty)" if meta.get("git_dirty") else "")
    return pd.DataFrame({
        "run": [m["run"] for m in metas],
        "suite": [m.get("suite", "–") for m in metas],
        "cells": [f"{m.get('finished_cells', '–')}/{m.get('cells', '–')}" for m in metas],
        "rows": [m["rows"] for m in metas],
        "devices": ["; ".join(f"{d}: {n}" for d, n in m.get("devices", {}).items()) or "–"
                    for m in metas],
        "threads": [m.get("threads", "–") for m in metas],
        "torch": [m.get("torch_version", "–") for m in metas],
        "mcgradbench": [m.get("package_version", "–") for m in metas],
        "commit": [commit(m) for m in metas],
        "started (UTC)": [m.get("start_utc") or "–" for m in metas],
        "finished (UTC)": [m.get("end_utc") or "not finished" for m in metas],
        "data": [os.path.relpath(m["run_dir"], out) for m in metas],
    })


def device_sentence(df: pd.DataFrame) -> str:
    """Which device the numbers come from, in one sentence."""
    names = df.drop_duplicates("device")[["device", "device_name"]].values
    listed = ", ".join(f"`{d}` ({n})" for d, n in names)
    if len(names) == 1:
        return f"Every number comes from one device: {listed}."
    return f"Numbers come from {listed}; each table says which device a row was measured on."


def notes(df: pd.DataFrame, metas: list[dict]) -> list[str]:
    lines = [device_sentence(df)]
    if not any(str(d).startswith("cuda") for d in df["device"]):
        lines.append("No CUDA run is included: times are CPU times only.")
    if repeated(df):
        lines.append("Some cells were measured in more than one run: tables list each "
                     "measurement with its run; figures use the run given last.")
    unfinished = [m["run"] for m in metas if m.get("cells") and m.get("finished_cells") != m.get("cells")]
    if unfinished:
        lines.append(f"Not finished (partial grids): {', '.join(unfinished)}.")
    for meta in metas:
        if meta.get("incomplete_cells"):
            count = len(meta["incomplete_cells"])
            lines.append(f"Warning: {count} cell(s) of {meta['run']} have rows missing from its "
                         f"results.csv (edited or cut outside mcgradbench); they count as not "
                         f"finished, and `mcgradbench run --resume` measures them again.")
    return lines


# --- Markdown ---------------------------------------------------------------------------

def markdown_report(df, metas, comparison, drawn, out: Path, train=None,
                    best: pd.DataFrame | None = None) -> str:
    """report.md: metadata, figures, tables; relative links so it reads on GitHub."""
    frame = runs_frame(metas, out)
    frame["data"] = [f"[results.csv]({p}/results.csv)" for p in frame["data"]]
    lines = ["# mcgradbench report", "",
             f"Rendered {utc_now().isoformat()} by mcgradbench {package_version()} from "
             f"{len(metas)} run(s).", "", *verdict_markdown(best), "## Runs", "",
             frame.to_markdown(index=False, disable_numparse=True), ""]
    for meta in metas:
        if meta.get("command"):
            lines.append(f"- `{meta['run']}`: `{meta['command']}`")
    legends = ([tables.LEGEND, ""] if df is not None else []) + (
        [part for legend in training.legends(train[0]) for part in (legend, "")] if train else [])
    lines += ["", *(notes(df, metas) if df is not None else []), "", "## How to read the numbers", "",
              *legends, "## Figures", ""]
    for fig in drawn:
        lines += [f"### {fig.title}", ""]
        if fig.skipped:
            lines += [f"_Skipped: {fig.skipped}._", ""]
            continue
        png, svg = (os.path.relpath(p, out) for p in fig.paths)
        lines += [f"![{fig.title}]({png})", "", f"[SVG]({svg})", ""]
    reproduced = papers.papers_notes(df) if df is not None else []
    if reproduced:
        lines += ["## Reproduced figures against the papers", "", *[f"- {n}" for n in reproduced], ""]
    against = peers.peers_table(df) if df is not None else pd.DataFrame()
    if not against.empty:
        lines += [f"## {peers.TITLE}", "", f"{peers.LEGEND}.", "",
                  against.to_markdown(index=False, disable_numparse=True), ""]
    implicit = continuous.implicit_bias_table(df) if df is not None else pd.DataFrame()
    if not implicit.empty:
        lines += [f"## {continuous.TITLE}", "", f"{continuous.LEGEND}.", "",
                  implicit.to_markdown(index=False, disable_numparse=True), ""]
    lines += ["## Tables", ""]
    for suite, group in _by_suite(comparison):
        lines += [f"### Suite `{suite or '(none)'}`", ""]
        for table in group:
            lines += [f"#### {table.title}", "", f"{table.note}.", "", tables.to_markdown(table), ""]
    if train:
        lines += ["### Training runs", ""]
        for title, frame in train[1]:
            lines += [f"#### {title}", "", frame.to_markdown(index=False, disable_numparse=True), ""]
    return "\n".join(lines)


def _by_suite(comparison):
    suites = list(dict.fromkeys(t.suite for t in comparison))
    return [(s, [t for t in comparison if t.suite == s]) for s in suites]


# --- HTML -------------------------------------------------------------------------------

CSS = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
caption { caption-side: top; text-align: left; color: #444; padding-bottom: 0.3rem; }
img { max-width: 100%; }
/* a wide table scrolls inside its own box: the page stays within 1280 px */
.scroll { overflow-x: auto; max-width: 100%; }
code { background: #f4f4f4; padding: 0 0.2rem; }
"""


def scroll(table_html: str) -> str:
    """A table in a box of its own that scrolls sideways when the table is wider than the page."""
    return f'<div class="scroll">{table_html}</div>'


VERDICT_TITLE = "Best estimator per problem"
VERDICT_NOTE = ("Per problem and device: the unbiased estimator of least work-normalised "
                "variance (total variance × cost evaluations per estimate) and of least "
                "time-normalised variance (total variance × seconds per estimate), the ratio to "
                f"the next and whether the gap exceeds {TIE_SE:g} combined standard errors (log "
                "scale); "
                "biased estimators apart, with their ‖bias‖ ± se (suites/read/verdict.py).")


def verdict_markdown(frame: pd.DataFrame | None) -> list[str]:
    """The report's opening section: the best estimator per problem (``verdict_frame``;
    none for training runs)."""
    if frame is None or frame.empty:
        return []
    return [f"## {VERDICT_TITLE}", "", VERDICT_NOTE, "",
            frame.to_markdown(index=False, disable_numparse=True), ""]


def verdict_html(frame: pd.DataFrame | None) -> list[str]:
    if frame is None or frame.empty:
        return []
    return [f"<h2>{html.escape(VERDICT_TITLE)}</h2>", f"<p>{html.escape(VERDICT_NOTE)}</p>",
            scroll(frame.to_html(index=False, border=0))]


def inline_code(text: str) -> str:
    """Escaped HTML with Markdown's `code` spans as <code> (the notes are written for Markdown)."""
    pieces = html.escape(str(text)).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))


def html_report(df, metas, comparison, drawn, out: Path, train=None,
                best: pd.DataFrame | None = None) -> str:
    """report.html: one standalone page, the figures embedded as SVG data."""
    esc = html.escape
    runs = runs_frame(metas, out)
    # The data column links each run's results.csv (relative to the page).
    runs["data"] = [f'<a href="{esc(d)}/results.csv">{esc(d)}</a>' for d in runs["data"]]
    parts = [f"<h1>mcgradbench report</h1><p>Rendered {esc(utc_now().isoformat())} by "
             f"mcgradbench {esc(package_version())} from {len(metas)} run(s).</p>",
             *verdict_html(best), "<h2>Runs</h2>",
             scroll(runs.to_html(index=False, border=0, escape=False,
                                 formatters={c: (lambda v: esc(str(v))) for c in runs.columns
                                             if c != "data"}))]
    parts += [f"<p><code>{esc(m['run'])}</code>: <code>{esc(m['command'])}</code></p>"
              for m in metas if m.get("command")]
    parts += [f"<p>{inline_code(line)}</p>" for line in (notes(df, metas) if df is not None else [])]
    parts += ["<h2>How to read the numbers</h2>"]
    parts += [f"<p>{inline_code(tables.LEGEND)}</p>"] if df is not None else []
    parts += [f"<p>{inline_code(legend)}</p>" for legend in (training.legends(train[0]) if train else [])]
    parts += ["<h2>Figures</h2>"]
    for fig in drawn:
        parts.append(f"<h3>{esc(fig.title)}</h3>")
        if fig.skipped:
            parts.append(f"<p><em>Skipped: {inline_code(fig.skipped)}.</em></p>")
        else:
            # Embedded, so that the page is one file that can be mailed or served alone.
            svg = base64.b64encode(Path(fig.paths[1]).read_bytes()).decode("ascii")
            parts.append(f'<img src="data:image/svg+xml;base64,{svg}" alt="{esc(fig.title)}">')
    reproduced = papers.papers_notes(df) if df is not None else []
    if reproduced:
        parts.append("<h2>Reproduced figures against the papers</h2>")
        parts += [f"<p>{inline_code(n)}</p>" for n in reproduced]
    against = peers.peers_table(df) if df is not None else pd.DataFrame()
    if not against.empty:
        parts += [f"<h2>{esc(peers.TITLE)}</h2>", f"<p>{inline_code(peers.LEGEND)}.</p>",
                  scroll(against.to_html(index=False, border=0))]
    implicit = continuous.implicit_bias_table(df) if df is not None else pd.DataFrame()
    if not implicit.empty:
        parts += [f"<h2>{esc(continuous.TITLE)}</h2>", f"<p>{inline_code(continuous.LEGEND)}.</p>",
                  scroll(implicit.to_html(index=False, border=0))]
    parts.append("<h2>Tables</h2>")
    for suite, group in _by_suite(comparison):
        parts.append(f"<h3>Suite <code>{esc(suite or '(none)')}</code></h3>")
        parts += [scroll(tables.to_html(t)) for t in group]
    if train:
        parts.append("<h3>Training runs</h3>")
        for title, frame in train[1]:
            parts += [f"<h4>{esc(title)}</h4>", scroll(frame.to_html(index=False, border=0))]
    body = "\n".join(parts)
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>mcgradbench report</title><style>{CSS}</style></head>\n<body>\n{body}\n"
            f"</body></html>\n")


# --- LaTeX ------------------------------------------------------------------------------

def latex_tables(comparison, train=None) -> str:
    """tables.tex: every comparison table, for ``\\input`` into a paper."""
    header = ["% mcgradbench comparison tables; needs \\usepackage{booktabs}.",
              f"% {tables.latex_escape(tables.LEGEND)}".replace("\n", " "), ""]
    body = [tables.to_latex(t) for t in comparison]
    for title, frame in (train[1] if train else []):
        frame = frame.map(tables.latex_escape).rename(columns=tables.latex_escape)
        body.append(f"% {title}\n" + frame.to_latex(index=False, escape=False))
    return "\n".join(header + body)
