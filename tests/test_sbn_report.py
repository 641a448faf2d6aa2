"""sbn: what the report reads from training curves and probes, by value; the suite's new
configurations from the command line; the probes' reference se over resolved coordinates.

The report tests run on hand-made rows (no training), so every number they check is known.
"""
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

import estimators
import suites
from suites.read.report import sbn as report
from suites.read.report import training

pytestmark = pytest.mark.usefixtures("one_thread")

LINEAR = '{"model": "linear"}'


def curve(estimator, seed, steps, heldout, config="{}", probes=None, problem_config=LINEAR):
    """Rows of one curve: held-out bound and objective from ``heldout`` at steps 0..steps."""
    at = [0, steps // 2, steps]
    return pd.DataFrame({
        "suite": "sbn", "problem": "sbn", "problem_config": problem_config, "estimator": estimator,
        "estimator_config": config, "device": "cpu", "seed": seed, "step": at,
        "objective": [h - 10 for h in heldout], "heldout_bound": heldout, "heldout_samples": 100,
        "evaluations": 2, "seconds": [0.0, 1.0, 2.0],
        "probes": [json.dumps(p) if p else "" for p in (probes or [None] * 3)]})


def probe(variance, se, mse, z, biased, reference_se2=0.5):
    return {"variance_encoder": variance, "variance_encoder_se": se, "variance": variance,
            "variance_se": se, "mse": mse, "max_abs_z": z, "biased": biased, "num_estimates": 1000,
            "num_samples": 1, "reference_se2": reference_se2}


def test_curves_of_different_lengths_are_never_averaged_together():
    # DisARM at 1,000 steps (two seeds) and at 50,000 steps (one seed, another run): two tables,
    # each with its own mean and se, never one row mixing the two lengths
    rows = pd.concat([curve("disarm", 0, 1000, [-210, -190, -180.0]),
                      curve("disarm", 1, 1000, [-210, -190, -180.5]),
                      curve("disarm", 0, 50_000, [-210, -150, -120.0]).assign(run="long")])
    rows["run"] = rows["run"].fillna("short")
    frames = report.table_frames(rows)
    assert [title for title, _ in frames] == [
        "sbn: the papers' table, 1,000 steps, 2 seed(s) (mean ± se over seeds)",
        "sbn: the papers' table, 50,000 steps, 1 seed(s) (mean ± se over seeds)"]
    short, long = frames[0][1], frames[1][1]
    se = np.std([-180.0, -180.5], ddof=1) / math.sqrt(2)
    assert short["held-out bound (K=100)"].tolist() == [f"{-180.25:.2f} ± {se:.2f}"]
    assert long["held-out bound (K=100)"].tolist() == ["-120.00"]  # one seed: no se
    assert long["train ELBO"].tolist() == ["-130.00"]


def test_a_small_standard_error_keeps_a_significant_digit():
    assert report.pm(-168.8234, 0.0042) == "-168.82 ± 0.004"
    assert report.pm(-168.8234, 0.013) == "-168.82 ± 0.01"
    assert report.pm(-168.8234, 0.0) == "-168.82 ± 0.00"
    assert report.pm(-168.8234, float("nan")) == "-168.82"


def test_probe_tables_read_every_trajectory_first_to_last_checkpoint():
    # Gumbel-softmax's trajectory ran first; DisARM's panel still leads
    gs_probes = [{"disarm": probe(1e-2, 1e-4, 3e-2, 2.0, False)} for _ in range(3)]
    disarm_probes = [
        {"disarm": probe(1.4e-2, 9e-5, 2e-2, 4.7, False), "gumbel_softmax(temperature=0.5)": probe(1.5e-4, 2e-6, 9e-3, 60.6, True)},
        {"disarm": probe(1.2e-2, 8e-5, 1.9e-2, 3.1, False), "gumbel_softmax(temperature=0.5)": probe(2e-4, 2e-6, 8e-3, 4.0, False)},
        {"disarm": probe(1.0e-2, 7e-5, 1.8e-2, 4.5, False, float("nan")),
         "gumbel_softmax(temperature=0.5)": probe(3e-4, 3e-6, 7e-3, 59.2, True, float("nan"))}]
    rows = pd.concat([curve("gumbel_softmax", 0, 200, [-210, -200, -195.0], '{"temperature": 0.5}', gs_probes),
                      curve("disarm", 1, 200, [-210, -200, -196.0], probes=[None] * 3),
                      curve("disarm", 0, 200, [-210, -200, -196.0], probes=disarm_probes)])
    frames = report.table_frames(rows)[1:]  # after the papers' table
    assert [title for title, _ in frames] == [
        "sbn along disarm: every estimator at the same weights, 3 checkpoints, M = 1,000 estimates each",
        "sbn along gumbel_softmax(temperature=0.5): every estimator at the same weights, 3 checkpoints, "
        "M = 1,000 estimates each"]
    along_disarm = frames[0][1]
    assert along_disarm["estimator"].tolist() == ["gumbel_softmax(temperature=0.5)", "disarm"]  # by variance at step 0
    gs, disarm = along_disarm.iloc[0], along_disarm.iloc[1]
    assert gs["encoder variance, step 0"] == "0.00015 ± 2e-06"
    assert gs["encoder variance, step 200"] == "0.0003 ± 3e-06"
    assert gs["largest |z|"] == "60.6" and gs["flagged biased at step"] == "0, 200"
    assert disarm["largest |z|"] == "4.7" and disarm["flagged biased at step"] == "never"
    assert disarm["MSE (whole gradient), step 200 (reference's se²)"] == "0.018"  # NaN: not recorded
    assert frames[1][1]["MSE (whole gradient), step 200 (reference's se²)"].tolist() == ["0.03 (0.5)"]
    # flagged at every one of three or more checkpoints: said so, not listed
    every = [{"gumbel_softmax(temperature=0.5)": probe(1e-4, 1e-6, 1e-2, 9.0, True, float("nan"))}] * 3
    [(title, frame)] = report.table_frames(curve("disarm", 0, 200, [-210, -200, -196.0], probes=every))[1:]
    assert frame["flagged biased at step"].tolist() == ["every checkpoint (3)"]
    assert list(frame.columns)[4] == "MSE (whole gradient), step 200"
    assert title.endswith("(the reference's own se² was not recorded by this run)")


def test_the_reading_guide_follows_the_rows():
    sbn_rows = curve("disarm", 0, 200, [-210, -200, -196.0])
    train_rows = sbn_rows.assign(heldout_bound=float("nan"), problem="linear_vae")
    assert training.legends(sbn_rows) == [report.LEGEND]
    assert training.legends(train_rows) == [training.LEGEND]
    assert training.legends(pd.concat([train_rows, sbn_rows])) == [training.LEGEND, report.LEGEND]
    assert "exact objective" not in report.LEGEND  # a one-sample ELBO at 200 latents, not exact


def test_a_configuration_the_grid_lacks_is_built_for_the_sbn_suite_only():
    from suites.run.sweep import select_cells

    cells = select_cells("sbn", ["disarm"], ["sbn(latent_dim=3,batch_size=2)"])
    assert [(c.problem_config, c.estimator, c.num_samples) for c in cells] == [
        ({"latent_dim": 3, "batch_size": 2}, "disarm", 1)]
    assert len(cells[0].settings["probes"]) == 11  # every estimator of the grid probes it
    with pytest.raises(ValueError, match=r"holds no problem gaussian\(dim=7\)"):
        select_cells("core", [], ["gaussian(dim=7)"])


def test_the_reference_se_of_a_probe_is_over_the_coordinates_it_resolves(monkeypatch):
    from suites.run import sbn as run

    problem = suites.problems.get("sbn", latent_dim=2, batch_size=2)
    se = {name: torch.full_like(value, 0.5) for name, value in problem.params.items()}
    se["encoder.bias"] = torch.tensor([float("nan"), 2.0])
    mean = {name: torch.zeros_like(value) for name, value in problem.params.items()}
    monkeypatch.setattr(type(problem), "reference_gradient", lambda self: (mean, se))
    measured = run.probe(problem, problem.params, [("score_function", {"baseline": "loo"}, 2)], 2)
    resolved = problem.num_params - 1
    expected = (0.25 * (resolved - 1) + 4.0) / resolved
    assert measured["score_function(baseline=loo)"]["reference_se2"] == pytest.approx(expected, rel=1e-12)


def test_step_timings_time_the_training_step_and_its_floor():
    from suites.run.sbn import step_and_floor, step_timings

    problem = suites.problems.get("sbn", latent_dim=2, batch_size=3)
    before = {k: v.clone() for k, v in problem.params.items()}
    step, floor = step_and_floor(problem, estimators.get("rebar"), 1)
    step()
    assert floor().shape == (3, 3)  # REBAR's 3 evaluations of a batch of 3 images
    assert all(problem.params[k].equal(v) for k, v in before.items())  # the step trains a copy
    table = step_timings(problem, [("disarm", {}, 1), ("rebar", {}, 1)], min_run_time=0.01)
    assert table["evaluations"].tolist() == [2, 3]
    assert (table["ratio"] == table["step_s"] / table["floor_s"]).all()
    assert (table["steps_per_s"] == 1 / table["step_s"]).all()


def test_near_colours_in_one_figure_never_share_a_style():
    from suites.read.report.figures import LINE_STYLES, styles_apart

    olive, green, blue = (0.55, 0.6, 0.2), (0.45, 0.65, 0.25), (0.1, 0.2, 0.9)
    styles = styles_apart({"a": "-.", "b": "-.", "c": "-.", "d": "-."},
                          {"a": olive, "b": green, "c": blue, "d": olive})
    assert styles["a"] == "-." and styles["c"] == "-."  # first, and far from the others
    assert styles["b"] == LINE_STYLES[0]  # the first style its near neighbour lacks
    assert styles["d"] not in {styles["a"], styles["b"]}


def test_variance_relative_to_disarm_at_the_same_weights():
    probes = pd.DataFrame({"problem_label": ["sbn along disarm"] * 4, "step": [0, 0, 10, 10],
                           "estimator_label": ["disarm", "arm", "disarm", "arm"],
                           "variance_encoder": [2.0, 3.0, 1.0, 4.0],
                           "variance_encoder_se": [0.2, 0.6, 0.1, 0.4]})
    rel = report.relative_variance(probes).set_index(["step", "estimator_label"])
    assert rel.loc[(0, "arm"), "ratio"] == 1.5 and rel.loc[(10, "arm"), "ratio"] == 4.0
    assert rel.loc[(0, "arm"), "ratio_se"] == pytest.approx(1.5 * math.sqrt(0.1**2 + 0.2**2), rel=1e-12)
    assert rel.loc[(10, "disarm"), "ratio"] == 1.0 and rel.loc[(10, "disarm"), "ratio_se"] == 0.0
    assert report.relative_variance(probes[probes["estimator_label"] == "arm"]).empty
