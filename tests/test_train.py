"""The training loop on linear_vae: exact ascent, reparam reaching the optimum, reproducibility."""
import numpy as np
import pytest

import estimators
import suites.problems
from suites.run.training import ExactGradient, train


def test_exact_gradient_raises_the_exact_elbo_monotonically_at_a_small_step():
    prob = suites.problems.get("linear_vae")
    df = train(prob, ExactGradient(), steps=100, lr=1e-3, log_every=5)
    assert (np.diff(df["objective"]) > 0).all()
    assert df["step"].tolist()[:3] == [0, 5, 10]


def test_reparam_reaches_the_generating_optimum_of_linear_vae():
    # The generating decoder with its exact posterior bounds the maximum ELBO from below
    # (the maximum-likelihood decoder of the 100 points is at least as good).
    prob = suites.problems.get("linear_vae")
    optimum = float(prob.expectation(prob.optimum()))
    df = train(prob, estimators.get("reparam"), steps=1500, lr=2e-2, num_samples=4, log_every=100)
    start, final = df["objective"].iloc[0], df["objective"].iloc[-3:].mean()
    assert final > optimum - 0.02 * abs(optimum - start)


def test_same_seed_same_curve_and_params_restored():
    prob = suites.problems.get("linear_vae")
    before = {k: v.clone() for k, v in prob.params.items()}
    a = train(prob, estimators.get("reparam"), steps=30, seed=3, log_every=10)
    b = train(prob, estimators.get("reparam"), steps=30, seed=3, log_every=10)
    c = train(prob, estimators.get("reparam"), steps=30, seed=4, log_every=10)
    assert a["objective"].tolist() == b["objective"].tolist()
    assert a["objective"].tolist() != c["objective"].tolist()
    for k in before:
        assert (prob.params[k] == before[k]).all()
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        train(prob, ExactGradient(), steps=0)


def test_cli_run_train_writes_rising_rows_under_the_store_and_resumes(tmp_path):
    import json

    import pandas as pd
    from click.testing import CliRunner

    from suites.cli import main
    out = tmp_path / "run"
    args = ["run", "train", "--problem", "linear_vae", "--estimator", "reparam", "--steps", "30",
            "--seeds", "2", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out / "results.csv")
    assert sorted(set(df["seed"])) == [0, 1]
    first = df[df["seed"] == 0]
    assert first["step"].tolist() == list(range(0, 31, 3))  # log_every = steps // 10
    assert first["objective"].iloc[-1] > first["objective"].iloc[0]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["suite"] == "train" and meta["cells"] == meta["finished_cells"] == 2
    assert meta["options"]["steps"] == 30
    # --resume with a third seed trains only the new curve; another --steps is refused
    more = CliRunner().invoke(main, ["run", "--resume", str(out), "--seeds", "3"])
    assert more.exit_code == 0, more.output
    again = pd.read_csv(out / "results.csv")
    assert sorted(set(again["seed"])) == [0, 1, 2] and len(again) == 3 * len(first)
    pd.testing.assert_frame_equal(again.iloc[:len(df)], df)
    refused = CliRunner().invoke(main, ["run", "--resume", str(out), "--steps", "40"])
    assert refused.exit_code == 2 and "--steps 30, not 40" in refused.output


def test_gradient_variance_is_that_of_extra_estimates_and_leaves_the_curve_alone():
    import torch

    from suites.run.training import VARIANCE_SEED_OFFSET
    prob = suites.problems.get("linear_vae")
    est = estimators.get("score_function", baseline="loo")
    plain = train(prob, est, steps=20, seed=5, lr=1e-2, num_samples=4, log_every=10)
    measured = train(prob, est, steps=20, seed=5, lr=1e-2, num_samples=4, log_every=10,
                     variance_estimates=50)
    assert plain["objective"].tolist() == measured["objective"].tolist()
    assert plain["grad_variance"].isna().all()
    # at step 0 the parameters are the problem's own: recompute from the same generator
    g = torch.Generator().manual_seed(5 + VARIANCE_SEED_OFFSET)
    grads = est(prob, 50, 4, g)
    flat = torch.cat([v.reshape(50, -1) for v in grads.values()], 1)
    assert measured["grad_variance"].iloc[0] == pytest.approx(float(flat.var(0).mean()), rel=1e-6)


def test_an_adaptive_estimator_records_its_state_and_adapts_while_training():
    import json
    prob = suites.problems.get("bernoulli", dim=5)
    df = train(prob, estimators.get("rebar", tune=True), steps=60, seed=0, log_every=30)
    states = [json.loads(s) for s in df["state"]]
    assert set(states[0]) == {"eta", "log_temperature"} and states[0]["eta"] == 1.0
    assert states[-1]["eta"] != states[0]["eta"]


def test_the_reports_final_objective_is_the_mean_and_se_over_seeds(tmp_path):
    import pandas as pd
    from click.testing import CliRunner

    from suites.cli import main
    from suites.read.report import training
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", "train", "--problem", "linear_vae", "--estimator",
                                       "reparam", "--estimator", "score_function", "--steps", "20",
                                       "--seeds", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out / "results.csv")
    final = training.final_table(training.load([out])[0]).set_index("estimator_label")
    assert len(final) == 3  # reparam, score_function and score_function(baseline=loo)
    for label, name, config in (("reparam", "reparam", "{}"),
                                ("score_function", "score_function", '{"baseline": "none"}')):
        last = df[(df["estimator"] == name) & (df["estimator_config"] == config)
                  & (df["step"] == 20)]["objective"]
        assert len(last) == 3
        assert final.loc[label, "objective"] == pytest.approx(last.mean(), rel=1e-12)
        assert final.loc[label, "objective_se"] == pytest.approx(last.std() / 3 ** 0.5, rel=1e-9)
    report = CliRunner().invoke(main, ["report", str(out), "--out", str(tmp_path / "rep")])
    assert report.exit_code == 0, report.output
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "#### linear_vae: 20 steps, 3 seed(s)" in text
    assert (tmp_path / "rep" / "figures" / "train_objective_vs_seconds.svg").exists()
    # drawn at the panel size of the report's other figures (its text as large when printed),
    # the legend below the panels rather than widening the figure
    from suites.read.report import figures
    for stem, _, figure in training.figures_for(training.load([out])[0]):
        assert figure.get_figwidth() == pytest.approx(figures.PANEL_HEIGHT * figures.PANEL_ASPECT)
        (legend,) = figure.legends
        box = legend.get_window_extent(figure.canvas.get_renderer())
        assert box.y1 <= figure.bbox.y0 + 1, stem
