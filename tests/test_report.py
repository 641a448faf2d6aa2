import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from suites.store import rundir as store
from suites.cli import main
from suites.run.grids import Cell
from suites.read.report import tables
from suites.read.report.runs import load_runs
from suites.run.runner import run_cell

ESTIMATORS = [("score_function", {"baseline": "loo"}), ("gumbel_softmax", {"temperature": 0.5}),
              ("gumbel_softmax", {"temperature": 1.0})]
LABELS = ["score_function(baseline=loo)", "gumbel_softmax(temperature=0.5)",
          "gumbel_softmax"]  # temperature 1.0 is the default: not repeated in labels


def grid(problems, estimators, ms, seed=0):
    return [Cell(p, c, e, o, "cpu", m, 4, seed) for p, c in problems for e, o in estimators
            for m in ms]


BERNOULLI = [("bernoulli", {"dim": 1}), ("bernoulli", {"dim": 4})]


def write_run(run_dir: Path, cells, suite="t", min_run_time=0.002) -> Path:
    """A run directory as ``mcgradbench run`` leaves it, without the CLI's overhead."""
    run_dir.mkdir(parents=True)
    meta = store.new_meta(suite, cells, f"test {run_dir.name}", {}, store.utc_now())
    table = store.empty_table()
    for cell in cells:
        table = store.append_cell(run_dir, table, cell, run_cell(cell, suite, min_run_time))
    store.write_meta(run_dir, {**store.progressed_meta(meta, len(cells), store.utc_now()),
                               "run_id": run_dir.name})
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    full = write_run(root / "run-a", grid(BERNOULLI, ESTIMATORS, [100, 400]))
    again = write_run(root / "run-b", grid(BERNOULLI[:1], ESTIMATORS[:1], [100]))
    other = write_run(root / "run-c", grid([("gaussian", {"dim": 2})], [("reparam", {})], [100]))
    return {"full": full, "again": again, "other": other, "root": root}


def report(*args):
    return CliRunner().invoke(main, ["report", *map(str, args)], catch_exceptions=False)


@pytest.fixture(scope="module")
def rendered(runs):
    out = runs["root"] / "report-all"
    result = report(runs["full"], "--out", out)
    assert result.exit_code == 0, result.output
    return out


def test_every_format_is_written_with_estimator_names(rendered):
    md = (rendered / "report.md").read_text()
    page = (rendered / "report.html").read_text()
    tex = (rendered / "tables.tex").read_text()
    for label in LABELS:
        assert label in md and label in page
        assert label.replace("_", r"\_") in tex
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert rule in tex
    assert "| estimator" in md and "## Runs" in md and "run-a" in md


def test_figures_are_png_and_svg_linked_relatively(rendered):
    md = (rendered / "report.md").read_text()
    # one figure per problem family (here bernoulli only), at most six panels each
    for stem in ("variance_vs_dimension_bernoulli", "bias_vs_temperature_bernoulli",
                 "time_vs_estimates_bernoulli", "efficiency_bernoulli"):
        png, svg = rendered / "figures" / f"{stem}.png", rendered / "figures" / f"{stem}.svg"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", stem
        assert "<svg" in svg.read_text()[:2000], stem
        assert f"](figures/{stem}.png)" in md
    assert "Skipped" not in md
    assert str(rendered) not in md  # links must work on GitHub: relative only


def test_format_option_limits_the_pages(runs, tmp_path):
    result = report(runs["full"], "--out", tmp_path, "--format", "md")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report.md").exists()
    assert not (tmp_path / "report.html").exists() and not (tmp_path / "tables.tex").exists()


def test_merge_reports_a_cell_measured_twice_with_its_run(runs, tmp_path):
    result = report(runs["full"], runs["again"], "--out", tmp_path, "--format", "md")
    assert result.exit_code == 0, result.output
    md = (tmp_path / "report.md").read_text()
    assert "measured in more than one run" in md
    header = next(line for line in md.splitlines() if line.startswith("| estimator"))
    assert "| run" in header
    repeated = [line for line in md.splitlines()
                if line.startswith("| score_function(baseline=loo)") and "| 100 " in line]
    assert {("run-a" in line, "run-b" in line) for line in repeated} >= {(True, False), (False, True)}


def test_merge_of_disjoint_runs_needs_no_run_column(runs, tmp_path):
    df, metas = load_runs([runs["full"], runs["other"]])
    assert [m["run"] for m in metas] == ["run-a", "run-c"]
    assert set(df["problem"]) == {"bernoulli", "gaussian"}
    names = {name for t in tables.comparison_tables(df) for name in t.cells.index.names}
    assert "run" not in names


def test_bold_marks_exactly_the_significantly_biased_cells(runs):
    df, _ = load_runs([runs["full"]])
    for table in tables.comparison_tables(df):
        rows = df[df["problem_label"] == table.title]
        flags = table.bold[("logits", tables.BIAS)]
        expected = {(r.estimator_label, r.num_estimates): r.biased for r in rows.itertuples()}
        assert dict(zip(flags.index, flags)) == expected
    assert df["biased"].any() and not df["biased"].all()


def test_missing_data_skips_figures_with_a_reason(runs, tmp_path):
    single = write_run(tmp_path / "single", grid(BERNOULLI[:1], ESTIMATORS[:1], [100]),
                       min_run_time=0)
    result = report(single, "--out", tmp_path / "out", "--format", "md")
    assert result.exit_code == 0, result.output
    md = (tmp_path / "out" / "report.md").read_text()
    assert len(re.findall(r"^_Skipped: .+\._$", md, flags=re.M)) == 4
    assert "two or more dimensions" in md and "temperatures" in md and "no timed cells" in md


def malformed(root: Path) -> dict[str, tuple[Path, str]]:
    """Inputs that are not runs, and the message each must give."""
    cases = {}
    empty = root / "empty"
    empty.mkdir()
    cases["empty dir"] = (empty, "holds no results.csv")
    other = root / "other-tool"
    other.mkdir()
    (other / "results.csv").write_text("benchmark,mean,stddev\nfoo,1.0,0.1\n")
    cases["another tool"] = (other, "not a mcgradbench results table (missing columns: suite")
    blank = root / "blank"
    blank.mkdir()
    (blank / "results.csv").write_text("")
    cases["empty file"] = (blank, "empty file")
    header = root / "header-only"
    header.mkdir()
    store.atomic_write_text(header / "results.csv", store.table_csv(store.empty_table()))
    cases["no rows"] = (header, "holds no result rows")
    cases["missing"] = (root / "nope", "no such run directory")
    return cases


def test_malformed_input_is_one_line_and_exit_code_2(runs, tmp_path):
    cases = malformed(tmp_path)
    lacking = tmp_path / "lacking"
    lacking.mkdir()
    text = (runs["full"] / "results.csv").read_text().splitlines()
    columns = text[0].split(",")
    drop = columns.index("variance")
    (lacking / "results.csv").write_text(
        "\n".join(",".join(c for i, c in enumerate(columns) if i != drop) for _ in [0]) + "\n")
    cases["missing column"] = (lacking, "missing columns: variance")
    bad_meta = tmp_path / "bad-meta"
    bad_meta.mkdir()
    (bad_meta / "results.csv").write_text((runs["full"] / "results.csv").read_text())
    (bad_meta / "meta.json").write_text("{oops")
    cases["bad meta"] = (bad_meta, "meta.json: not valid JSON")
    for name, (path, message) in cases.items():
        result = report(path, "--out", tmp_path / "out")
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2, (name, result.output)
        assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], (name, lines)
    assert not (tmp_path / "out" / "report.md").exists()


def test_efficiency_frontier_leaves_out_biased_estimators():
    import matplotlib.colors as mcolors
    import pandas as pd

    from suites.read.report import figures

    # A biased estimator that is both faster and less noisy must not define the frontier.
    df = pd.DataFrame({
        "problem": ["toy"] * 3, "problem_variant": ["toy"] * 3, "dim": [1] * 3,
        "problem_label": ["toy"] * 3, "estimator_label": ["fast_biased", "slow", "slower"],
        "device": ["cpu"] * 3, "num_samples": [1] * 3, "num_estimates": [100] * 3,
        "run": ["r"] * 3, "numel": [1] * 3, "biased": [True, False, False],
        "variance": [0.1, 1.0, 0.5], "time_per_estimate_s": [1e-6, 2e-6, 4e-6],
    })
    figure = figures.efficiency(df)
    frontier_x = set()
    for ax in figure.axes:
        for line in ax.lines:
            if mcolors.to_rgba(line.get_color()) == mcolors.to_rgba("black"):
                frontier_x |= set(map(float, line.get_xdata()))
    assert frontier_x == {2.0, 4.0}


def test_tables_show_exact_moments_where_they_exist(runs):
    df, _ = load_runs([runs["full"]])
    by_title = {t.title: t for t in tables.comparison_tables(df)}
    dim1 = next(t for title, t in by_title.items() if "dim=1" in title)
    dim4 = next(t for title, t in by_title.items() if "dim=4" in title)
    assert ("logits", tables.EXACT_VARIANCE) in dim1.cells.columns
    assert ("logits", tables.EXACT_VARIANCE) not in dim4.cells.columns  # too many variates
    rows = df[(df["problem_config"].str.contains('"dim": 1'))
              & (df["estimator_label"] == LABELS[0]) & (df["num_estimates"] == 400)].iloc[0]
    shown = dim1.cells[("logits", tables.EXACT_VARIANCE)].loc[(LABELS[0], 400)]
    assert shown == tables.fmt_exact(rows["exact_variance"], rows["exact_variance_z"])
    assert shown.startswith(f"{rows['exact_variance']:.4g} (")


def test_html_report_is_one_page_with_embedded_figures_and_linked_data(rendered):
    page = (rendered / "report.html").read_text()
    assert 'src="data:image/svg+xml;base64,' in page
    assert not re.search(r'<img src="(?!data:)', page)  # no figure linked as a file
    assert 'href="../run-a/results.csv"' in page
    assert "`" not in re.sub(r"<[^>]+>", "", page.split("<h2>Tables</h2>")[0])  # no Markdown left


def test_html_report_renders_in_a_headless_browser(rendered, tmp_path):
    import shutil
    import subprocess
    browser = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")
                    if shutil.which(b)), None)
    if browser is None:
        pytest.skip("no headless browser installed (apt-get install chromium) to render report.html")
    shot = tmp_path / "page.png"
    result = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                             f"--screenshot={shot}", "--window-size=1200,3000",
                             (rendered / "report.html").resolve().as_uri()],
                            capture_output=True, text=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000, result.stderr[-2000:]
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                          (rendered / "report.html").resolve().as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    assert "Tables" in dom and dom.count("<img") >= 3


# --- figure clarity ---------------------------------------------------------------------

def test_log_axes_over_many_decades_label_at_most_six_powers():
    from suites.read.report.figures import MAX_LOG_TICKS, log_ticks
    ticks, powers = log_ticks(1e-14, 1e4)
    assert powers and 3 <= len(ticks) <= MAX_LOG_TICKS
    assert ticks == sorted(ticks) and all(1e-14 <= t <= 1e4 for t in ticks)


def test_variants_of_one_family_are_shades_far_apart():
    import itertools

    import numpy as np

    from suites.read.report.figures import palette
    labels = ["gumbel_rao", "gumbel_rao(temperature=0.1)", "gumbel_rao(temperature=0.5)",
              "straight_through_gumbel", "straight_through_gumbel(temperature=0.1)"]
    colours = palette(labels)
    for a, b in itertools.combinations(labels, 2):
        # at least a fifth of the RGB cube's edge apart, also within one family
        assert np.linalg.norm(np.subtract(colours[a], colours[b])) > 0.2, (a, b)
    assert all(0 <= c <= 1 for rgb in colours.values() for c in rgb)


def efficiency_rows(num_samples, devices):
    import pandas as pd
    n = len(num_samples)
    return pd.DataFrame({
        "problem": ["toy"] * n, "problem_variant": ["toy"] * n, "dim": [1] * n,
        "problem_label": ["toy"] * n, "estimator_label": ["score_function"] * n,
        "device": devices, "num_samples": num_samples, "num_estimates": [100] * n,
        "run": ["r"] * n, "numel": [1] * n, "biased": [False] * n,
        "variance": [1.0 / k for k in num_samples], "time_per_estimate_s": [1e-6 * k for k in num_samples],
    })


def test_efficiency_tells_k_apart_and_names_no_single_device():
    from suites.read.report import figures
    legend = figures.efficiency(efficiency_rows([1, 2, 8], ["cpu"] * 3)).legends[0]
    texts = [t.get_text() for t in legend.get_texts()]
    assert {"K=1", "K=2", "K=8"} <= set(texts) and "cpu" not in texts
    # no column name as an entry of its own ("variant" mid-column beside nothing)
    assert texts == ["score_function", "K=1", "K=2", "K=8"], texts
    legend = figures.efficiency(efficiency_rows([4, 4], ["cpu", "cuda:0"])).legends[0]
    texts = [t.get_text() for t in legend.get_texts()]
    assert {"cpu", "cuda:0"} <= set(texts) and not any(t.startswith("K=") for t in texts)


def test_every_point_lies_inside_the_frame():
    from suites.read.report import figures
    figure = figures.efficiency(efficiency_rows([1, 2, 8], ["cpu"] * 3))
    ax = figure.axes[0]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    for collection in ax.collections:
        for x, y in collection.get_offsets():
            # strictly inside, by a margin of at least 2% of the log range: no marker is cut
            assert x0 * (x1 / x0) ** 0.02 < x < x1 / (x1 / x0) ** 0.02
            assert y0 * (y1 / y0) ** 0.02 < y < y1 / (y1 / y0) ** 0.02


def test_time_against_m_keeps_runs_of_different_seeds_apart():
    import pandas as pd

    from suites.read.report import figures
    rows = []
    for seed, slope in ((0, 1.0), (1, 3.0)):
        for m in (10, 100, 1000):
            rows.append({"suite": "t", "problem": "toy", "problem_variant": "toy", "dim": 1,
                         "problem_label": "toy",
                         "estimator_label": "reparam", "device": "cpu", "device_name": "x",
                         "num_samples": 1, "seed": seed, "timed_estimates": m,
                         "time_per_estimate_s": slope * 1e-6 * (1 + 10 / m)})
    figure = figures.plot_time_vs_estimates(pd.DataFrame(rows))
    lines = [line for line in figure.axes[0].lines if len(line.get_xdata()) == 3]
    assert len(lines) == 2
    assert sorted(round(float(line.get_ydata()[0]), 6) for line in lines) == [2.0, 6.0]


def test_a_rerender_removes_figures_it_no_longer_draws_and_nothing_else(runs, tmp_path):
    # a family once drawn in three parts, now in one: its old parts must not linger
    (tmp_path / "figures").mkdir()
    stale = tmp_path / "figures" / "efficiency_gaussian_3.png"
    mine = tmp_path / "figures" / "my_sketch.png"
    stale.write_bytes(b"old")
    mine.write_bytes(b"mine")
    result = report(runs["full"], "--out", tmp_path, "--format", "md")
    assert result.exit_code == 0, result.output
    linked = set(re.findall(r"figures/([\w.]+\.(?:png|svg))", (tmp_path / "report.md").read_text()))
    on_disk = {p.name for p in (tmp_path / "figures").iterdir()}
    assert on_disk == linked | {"my_sketch.png"}
    assert mine.read_bytes() == b"mine"
