"""The `papers` suite: its grid, and the two reproduced figures drawn from a small run."""
import json

import pandas as pd
import pytest
from click.testing import CliRunner

from suites.cli import main
from suites.read.report import figures
from suites.run import grids


def test_papers_grid_has_the_published_configurations():
    cells = grids.get("papers").cells(["cpu"])
    gaussian = [c for c in cells if c.problem == "gaussian"]
    assert sorted({c.problem_config["k"] for c in gaussian}) == [-3, -2, -1, 0, 1, 2, 3]
    assert {(c.problem_config["loc"], c.problem_config["scale"], c.problem_config["dim"])
            for c in gaussian} == {(1.0, 1.0, 1)}
    assert {c.estimator for c in gaussian} == {"score_function", "reparam", "measure_valued"}
    toy = [c for c in cells if c.problem == "bernoulli" and "probs" not in c.problem_config]
    assert sorted({c.problem_config["target"] for c in toy}) == [0.45, 0.499]
    assert {"score_function", "disarm", "rebar"} <= {c.estimator for c in toy}


def test_papers_arms_and_indecater_cells_spend_equal_cost_evaluations():
    import estimators
    from suites import problems

    cells = grids.get("papers").cells(["cpu"])
    arms = [c for c in cells if c.problem == "bernoulli" and "probs" in c.problem_config]
    assert {c.problem_config["target"] for c in arms} == {0.49}
    assert sorted({c.estimator_config["n"] for c in arms if c.estimator == "arms"}) == [2, 4, 6, 8, 10]
    indecater = [c for c in cells if c.problem == "categorical"
                 and c.problem_config.get("cost") == "mean_square"]
    assert {c.estimator for c in indecater} == {"indecater", "score_function"}
    for group in (arms, indecater):
        spent = {}
        for c in group:  # per problem configuration, every estimator spends the same budgets
            problem = problems.get(c.problem, **c.problem_config)
            cost = estimators.get(c.estimator, **c.estimator_config).evaluations(problem, c.num_samples)
            spent.setdefault(problem.label, {}).setdefault(c.estimator, set()).add(cost)
        for label, by_estimator in spent.items():
            assert len({frozenset(v) for v in by_estimator.values()}) == 1, (label, by_estimator)


def test_papers_grid_sweeps_the_unordered_set_up_to_the_support():
    cells = [c for c in grids.get("papers").cells(["cpu"]) if c.problem == "categorical"
             and c.problem_config.get("cost") != "mean_square"]
    assert {json.dumps(c.problem_config, sort_keys=True) for c in cells} == {
        '{"dim": 1, "num_classes": 8}'}
    by = {}
    for c in cells:
        by.setdefault((c.estimator, c.estimator_config["baseline"]), set()).add(c.num_samples)
    assert by == {("unordered_set", "builtin"): set(range(2, 9)), ("unordered_set", "none"): set(range(1, 9)),
                  ("score_function", "loo"): set(range(2, 9)), ("score_function", "none"): set(range(1, 9))}


def test_papers_run_renders_both_figures(tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", "papers", "--num-estimates", "300", "--min-run-time", "0",
                                       "--out", str(run)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(run / "results.csv")
    # Pathwise d/dmu of (x - k)^2 is 2 (x - k): variance 4 sigma^2 / K = 1 at every k.
    reparam = rows[(rows["estimator"] == "reparam") & (rows["param"] == "loc")]
    assert len(reparam) == 7 and ((reparam["variance"] - 1).abs() < 5 * reparam["variance_se"]).all()
    assert {json.loads(c)["k"] for c in reparam["problem_config"]} == set(range(-3, 4))
    # md only: the html page embeds the same figures again as SVG (seconds of drawing)
    result = CliRunner().invoke(main, ["report", str(run), "--format", "md", "--out", str(tmp_path / "report")],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for stem in ("papers_variance_vs_k", "papers_toy_log_variance", "papers_set_variance_vs_k"):
        assert (tmp_path / "report" / "figures" / f"{stem}.png").stat().st_size > 10_000
    # The report sets each figure beside the papers' claims and the closed forms.
    text = (tmp_path / "report" / "report.md").read_text()
    # and draws the papers' sweep in those figures only, saying so where the others would be
    assert not list((tmp_path / "report" / "figures").glob("efficiency*"))
    assert text.count("`papers` has figures of its own, below") == len(figures.FIGURES)
    notes = text.split("## Reproduced figures against the papers", 1)[1].split("## Tables", 1)[0]
    # one REINFORCE sample on the toy at logit 1: p f1^2 (1-p)^2 + (1-p) f0^2 p^2 - (p(1-p)(f1-f0))^2
    p = 1 / (1 + __import__("math").exp(-1.0))
    for t in (0.45, 0.499):
        f1, f0 = (1 - t) ** 2, t ** 2
        one = p * (f1 * (1 - p)) ** 2 + (1 - p) * (f0 * p) ** 2 - (p * (1 - p) * (f1 - f0)) ** 2
        assert f"against its closed form {one / 4:.4g}" in notes and f"one REINFORCE sample {one:.3g}" in notes
    assert "Pathwise" in notes and "Measure-valued" in notes and "DisARM" in notes
    # the unordered set estimator reaches zero variance at the support (K = 8 classes)
    assert "at K = 8 (the set is the whole support" in notes
    sets = rows[(rows["estimator"] == "unordered_set") & (rows["num_samples"] == 8)]
    assert len(sets) == 2 and (sets["variance"] < 1e-14).all()


def test_toy_figure_puts_each_variance_and_its_closed_form_on_its_own_row():
    import matplotlib.pyplot as plt
    from matplotlib.collections import PathCollection

    rows = []
    for t, scale in ((0.45, 1.0), (0.499, 1e-3)):
        for label, k, variance in (("score_function", 4, 2.6e-3), ("disarm", 2, 1.7e-4),
                                   ("rebar", 1, 1.7e-2), ("rebar(tune=True)", 1, 1.0e-2)):
            rows.append({"suite": "papers", "problem": "bernoulli", "device": "cpu",
                         "problem_config": json.dumps({"dim": 1, "logits": 1.0, "target": t}),
                         "estimator_label": label, "num_samples": k, "variance": variance * scale,
                         "variance_se": variance * scale / 100,
                         "exact_variance": variance * scale * 0.97})
    df = pd.DataFrame(rows)
    figure = figures.papers_toy_log_variance(df)
    axes = figures.panels(figure)
    assert [ax.get_title() for ax in axes] == ["t = 0.45", "t = 0.499"]
    names = [tick.get_text() for tick in axes[0].get_yticklabels()]
    # rebar's two variants sorted by label, each with the K it was measured at
    assert names == ["disarm, K=2", "rebar, K=1", "rebar(tune=True), K=1", "score_function, K=4"]
    for ax in axes:
        t = float(ax.get_title().split("= ")[1])
        want = df[df["problem_config"].str.contains(f'"target": {t}')]
        want = dict(zip(want["estimator_label"] + ", K=" + want["num_samples"].astype(str),
                        zip(want["variance"], want["exact_variance"])))
        # the estimate's marker (an error bar's caps are markers "|" at x ± se)
        points = {names[int(line.get_ydata()[0])]: line.get_xdata()[0] for line in ax.get_lines()
                  if len(line.get_xdata()) == 1 and line.get_marker() not in ("None", "", None, "|")}
        assert points == pytest.approx({n: v for n, (v, _) in want.items()}, rel=1e-12)
        # the closed form: an unfilled ring on the same row
        rings = {names[int(y)]: x for c in ax.collections
                 if isinstance(c, PathCollection) and not len(c.get_facecolor())
                 for x, y in c.get_offsets()}
        assert rings == pytest.approx({n: e for n, (_, e) in want.items()}, rel=1e-12)
        assert ax.get_xscale() == "log"
    plt.close(figure)


def test_the_papers_sweep_is_drawn_in_its_own_figures_only():
    # seven values of k on one Gaussian would be seven panels of every figure by problem
    rows = pd.DataFrame({"suite": ["core", "papers", "papers"], "problem": "gaussian"})
    assert list(figures.shared_rows(rows)["suite"]) == ["core"]
    assert [stem for stem, _, _ in figures.suite_figures(rows)] == [
        "papers_variance_vs_k", "papers_toy_log_variance", "papers_arms_variance_vs_n",
        "papers_indecater_variance", "papers_set_variance_vs_k"]
    assert figures.suite_figures(rows[rows["suite"] == "core"]) == []
