"""The report as a paper takes it: figures of at most six panels, one line per estimator,
suite, device and K, distinct colours kept across figures; every printed cell equal to the
value of its own row (cells measured in several chunks), and no ``nan`` printed as a number."""
import math
import re
from pathlib import Path

import matplotlib.colors as mcolors
from matplotlib.lines import Line2D
import pandas as pd
import pytest

import sys

import suites.measurement.measure  # noqa: F401  (the module, reached through sys.modules)
from suites.store import rundir as store
from suites.run.grids import Cell
from suites.read.report import figures, tables
from suites.read.report.render import render
from suites.read.report.runs import latest, load_runs
from suites.run.runner import run_cell

CORE = [("score_function", {"baseline": "loo"}), ("score_function", {}), ("disarm", {}),
        ("reparam", {}), ("gumbel_softmax", {"temperature": 0.5}), ("gumbel_softmax", {})]


def write_run(run_dir: Path, cells, suite) -> Path:
    run_dir.mkdir(parents=True)
    meta = store.new_meta(suite, cells, f"test {run_dir.name}", {}, store.utc_now())
    table = store.empty_table()
    for cell in cells:
        table = store.append_cell(run_dir, table, cell, run_cell(cell, suite, 0.002))
    store.write_meta(run_dir, {**store.progressed_meta(meta, len(cells), store.utc_now()),
                               "run_id": run_dir.name})
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    # Chunks of 1,000 estimates: every M = 3,000 cell is three chunks merged.
    patch = pytest.MonkeyPatch()
    patch.setattr(sys.modules["suites.measurement.measure"], "default_chunk_size", lambda problem, k: 1000)
    root = tmp_path_factory.mktemp("paper")
    problems = [("bernoulli", {"dim": d}) for d in (1, 3, 9)] + [
        ("gaussian", {"dim": d, "cost": c}) for d in (1, 3) for c in ("cos", "square")] + [
        ("categorical", {"dim": d}) for d in (1, 2, 3, 4, 5, 6, 7)]
    core = []
    for name, config in problems:
        for estimator, options in CORE:
            k = 2 if estimator == "disarm" else 4
            core.append(Cell(name, config, estimator, options, "cpu", 3000, k, 0))
    core = [c for c in core if _applies(c)
            and (c.problem != "categorical" or c.estimator in ("score_function", "reparam"))]
    # The same estimator and problem in a second suite at two M: never one line with the first.
    # M = 40: 3M below 150 effective estimates, so no coordinate's bias is tested (the † cell)
    scaling = [Cell("bernoulli", {"dim": 3}, "score_function", {"baseline": "loo"}, "cpu", m, 4, 0)
               for m in (40, 100, 1000)]
    other = [Cell("bernoulli", {"dim": 3}, "score_function", {"baseline": "loo"}, "cpu", m, 4, 0)
             for m in (200, 2000)]
    paths = [write_run(root / "core", core, "core"), write_run(root / "scaling", scaling, "scaling"),
             write_run(root / "other", other, "other")]
    patch.undo()
    return paths, root


def _applies(cell):
    import estimators
    import suites
    return estimators.get(cell.estimator, **cell.estimator_config).applies_to(
        suites.problems.get(cell.problem, **cell.problem_config))


@pytest.fixture(scope="module")
def drawn(runs):
    from suites.read.report.render import draw_figures
    import matplotlib.pyplot as plt
    df = latest(load_runs(runs[0])[0])
    made = {}
    original = figures.save

    def keep(figure, directory, stem):
        made[stem] = figure
        return []
    figures.save, saved = keep, original
    try:
        draw_figures(df, runs[1] / "figs")
    finally:
        figures.save = saved
    yield df, made
    plt.close("all")


def test_no_figure_has_more_than_six_panels(drawn):
    _, made = drawn
    # categorical at 7 dimensions: its efficiency figure is split in two
    assert {"efficiency_categorical_1", "efficiency_categorical_2"} <= set(made)
    # shared evenly: 4 and 3, not 6 and 1
    assert [len(figures.panels(made[f"efficiency_categorical_{i}"])) for i in (1, 2)] == [4, 3]
    for stem, figure in made.items():
        assert 1 <= len(figures.panels(figure)) <= figures.MAX_PANELS, stem


def test_time_lines_never_join_two_suites(drawn):
    df, made = drawn
    figure = made["time_vs_estimates_bernoulli"]
    # bernoulli(dim=3) x score_function(loo): scaling (M = 40, 100, 1000) and other (200, 2000)
    (ax,) = [a for a in figures.panels(figure) if a.get_title() == "bernoulli(dim=3)"]
    lines = [line for line in ax.get_lines() if len(line.get_xdata()) >= 2]
    # x is the estimates one timed call made: M up to the chunk of 1,000
    assert sorted(sorted(line.get_xdata()) for line in lines) == [[40, 100, 1000], [200, 1000]]


def test_variance_lines_one_per_estimator_suite_device_and_k(drawn):
    df, made = drawn
    figure = made["variance_vs_dimension_bernoulli"]
    (ax,) = figures.panels(figure)
    rows = df[(df["problem"] == "bernoulli") & (df["suite"] == "core")]
    expected = rows.groupby(["estimator_label", "suite", "device", "num_samples"]).ngroups
    # the data lines (error bar caps are Line2D objects of markers only)
    lines = [line for line in ax.get_lines()
             if len(line.get_xdata()) >= 2 and line.get_linestyle() not in ("None", "none", "")]
    assert len(lines) == expected
    assert all(sorted(line.get_xdata()) == [1, 3, 9] for line in lines)
    # distinct colours, one per estimator
    colours = {mcolors.to_hex(line.get_color()) for line in lines}
    assert len(colours) == rows["estimator_label"].nunique()


def test_an_estimator_keeps_its_colour_in_every_figure(drawn):
    _, made = drawn
    seen = {}
    for stem, figure in made.items():
        legend = figure.legends[0] if figure.legends else None
        if legend is None:
            continue
        for text, handle in zip(legend.get_texts(), legend.legend_handles):
            colour = (handle.get_color() if hasattr(handle, "get_color")
                      else handle.get_facecolor())
            try:
                colour = mcolors.to_hex(colour if not hasattr(colour, "ndim") or colour.ndim == 1
                                        else colour[0])
            except ValueError:
                continue
            seen.setdefault(text.get_text(), set()).add(colour)
    assert "score_function(baseline=loo)" in seen
    assert all(len(c) == 1 for label, c in seen.items() if "(" in label or "_" in label), seen


def test_every_printed_cell_is_the_value_of_its_own_row(runs, monkeypatch):
    paths, root = runs
    out = root / "report"
    # The cells, not the figures (the fixture `drawn` has those): drawing them is 12 s of CPU.
    monkeypatch.setattr(sys.modules["suites.read.report.render"], "draw_figures",
                        lambda df, directory: [])
    render(paths, out, ["md"])
    text = (out / "report.md").read_text()
    # Python's spelling of a missing number (the legend's words "NaN or inf" are prose)
    assert not re.search(r"\bnan\b|\binf\b|nanx", text.replace("NaN or inf", ""))
    assert text.count(" †") >= 1  # the M = 40 cell
    df, _ = load_runs(paths)
    checked = 0
    for table in tables.comparison_tables(df):
        frame = table.cells
        for key, cells in frame.iterrows():
            label = key if isinstance(key, str) else key[0]
            for (param, metric), value in cells.items():
                rows = df[(df["suite"] == table.suite) & (df["problem_label"] == table.title)
                          & (df["estimator_label"] == label)]
                if not isinstance(key, str):
                    levels = dict(zip(frame.index.names[1:], key[1:]))
                    rows = rows[(rows["num_estimates"].astype(str) == str(levels.get("M", rows["num_estimates"].iloc[0])))] if "M" in levels else rows
                if param:
                    rows = rows[rows["param"] == param]
                row = rows.iloc[-1]
                want = {tables.VARIANCE: tables.fmt_pm(row.variance, row.variance_se)
                        + tables.fmt_nonfinite(row.nonfinite),
                        tables.BIAS: tables.fmt_pm(row.bias_norm, row.bias_se, 2)
                        + (" †" if row.z_untested == row.numel else ""),
                        tables.EXACT_VARIANCE: tables.fmt_exact(row.exact_variance, row.exact_variance_z),
                        tables.EXACT_BIAS: tables.fmt_value(row.exact_bias_norm),
                        tables.TIME: tables.fmt_time(row.time_s / row.timed_estimates)}.get(metric)
                if want is None:
                    continue
                assert value == want, (table.title, label, param, metric)
                assert value in text or value.replace(" ± ", " ± ") in text
                checked += 1
    assert checked > 100
    # the per-problem answer at the top names an estimator measured on that problem
    head = text.split("## Runs")[0]
    assert "## Best estimator per problem" in head and "bernoulli(dim=3)" in head


def test_a_zero_exact_variance_prints_no_z():
    assert tables.fmt_exact(0.0, float("nan")) == "0 (–)"
    assert tables.fmt_exact(0.0186, -0.83) == "0.0186 (−0.8)"
    assert math.isnan(float("nan"))


def test_a_legend_shows_each_estimator_with_its_marker(drawn):
    # estimators of near colours are told apart by marker; the legend must show it
    _, made = drawn
    checked = 0
    for stem, figure in made.items():
        if not stem.startswith("variance_vs_dimension"):
            continue
        legend = figure.legends[0]
        marked = [line for line in legend.findobj(Line2D)
                  if line.get_marker() not in (None, "", "None") and line.get_visible()]
        assert len(marked) >= len(legend.get_texts()), stem
        checked += 1
    assert checked >= 2


def test_parts_share_the_panels_evenly_in_panel_order():
    # 13 panels of one family: 5, 4, 4 in panel order (dimension, then name)
    rows = pd.DataFrame({"problem": "gaussian", "problem_variant": "gaussian",
                         "dim": [float(d) for d in range(1, 14)],
                         "panel": [f"gaussian(dim={d})" for d in range(1, 14)]})
    rows = pd.concat([rows, pd.DataFrame({"problem": ["bernoulli"], "problem_variant": ["bernoulli"],
                                          "dim": [1.0], "panel": ["bernoulli(dim=1)"]})])
    got = figures.parts(rows)
    assert [(p.name, p.caption, list(p.rows["dim"].astype(int))) for p in got] == [
        ("bernoulli", "bernoulli", [1]),
        ("gaussian_1", "gaussian (1 of 3)", [1, 2, 3, 4, 5]),
        ("gaussian_2", "gaussian (2 of 3)", [6, 7, 8, 9]),
        ("gaussian_3", "gaussian (3 of 3)", [10, 11, 12, 13])]


def test_panels_follow_the_numbers_in_their_configuration():
    # as strings, k=-1.0 sorts before k=-3.0 and dim=10 before dim=2
    labels = {(k, d): f"gaussian(dim={d},k={k:.1f})" for k in (-3.0, -1.0, 0.0, 2.0) for d in (2, 10)}
    rows = pd.DataFrame([{"problem": "gaussian", "problem_variant": f"gaussian(k={k:.1f})",
                          "dim": float(d), "panel": label} for (k, d), label in labels.items()])
    rows = rows.sample(frac=1.0, random_state=0)  # the order they come in must not matter
    assert figures.panel_order(rows, "panel") == [labels[k, d] for k in (-3.0, -1.0, 0.0, 2.0)
                                                  for d in (2, 10)]


def test_no_figure_is_wider_than_its_row_of_panels(drawn):
    # seaborn widens a figure to hold a legend beside the panels; ours goes below them, so a
    # widened figure would print every panel and its text smaller at the page's width
    _, made = drawn
    row = figures.COL_WRAP * figures.PANEL_HEIGHT * figures.PANEL_ASPECT
    for stem, figure in made.items():
        assert figure.get_figwidth() <= row + 1e-6, (stem, figure.get_figwidth())
