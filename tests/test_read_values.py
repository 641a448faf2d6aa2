"""What users read (advise, the verdict, run's summary and JSON, the report), checked by value:
each number recomputed here from ``measure``'s rows of the same seeded cells, or from rows
written by hand, never from a table the same code built.

Statistics here are of fixed seeds and recomputed exactly (no bound has a false-alarm rate):
the same estimates measured twice give the same moments to the last bit.
"""
import json
import math
import statistics

import pandas as pd
import pytest

import estimators
import suites
from suites.measurement import measure as measurement
from suites.read import advise as advice
from suites.read import summary, verdict
from suites.read.ranking import TIE_SE

CHUNK = 300  # estimates per batched pass here; every M below spans several


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(measurement, "default_chunk_size", lambda problem, k: CHUNK)


# --- advise's columns from measure's rows ------------------------------------------------

#: Seconds of one timed call, per estimator and round (what a patched timer returns).
ROUND_TIMES = {"reparam": [1.0e-3, 1.3e-3, 0.9e-3], "score_function": [2.0e-3, 2.0e-3, 2.6e-3]}


@pytest.fixture
def gaussian_advice(small_chunks, monkeypatch):
    calls = {name: iter(times) for name, times in ROUND_TIMES.items()}
    sizes = []

    def timer(problem, estimator, num_estimates, num_samples, seed, min_run_time):
        sizes.append(num_estimates)
        return next(calls[estimator.label]), math.nan, 1

    monkeypatch.setattr(advice, "timed_call", timer)
    problem = suites.problems.get("gaussian", dim=2)  # loc and scale: two parameters of 2
    table, _ = advice.advise(problem, 4, 1200, min_run_time=0.03, by="time", rounds=3,
                             variants=[("reparam", {}), ("score_function", {})])
    assert sizes == [CHUNK] * 6  # each call one timed chunk, as run times it, never M
    return problem, table.set_index("estimator")


def test_advise_columns_are_measures_rows_combined(gaussian_advice):
    problem, table = gaussian_advice
    for name in ("reparam", "score_function"):
        rows = measurement.measure(problem, estimators.get(name), 1200, 4, seed=0,
                                   min_run_time=0)
        assert len(rows) == 2 and (rows["numel"] == 2).all()
        got = table.loc[name]
        total = float((rows["variance"] * rows["numel"]).sum())
        # the parameters' standard errors in quadrature, each scaled by its coordinates
        total_se = math.sqrt(sum((s * n) ** 2 for s, n in zip(rows["variance_se"], rows["numel"])))
        assert got["total_variance"] == pytest.approx(total, rel=1e-12)
        assert got["total_variance_se"] == pytest.approx(total_se, rel=1e-12)
        assert got["mean_variance_se"] == pytest.approx(total_se / 4, rel=1e-12)
        assert got["evaluations"] == 4
        assert got["work_variance"] == pytest.approx(4 * total, rel=1e-12)
        assert got["work_variance_se"] == pytest.approx(4 * total_se, rel=1e-12)
        assert got["bias_norm"] == pytest.approx(math.hypot(*rows["bias_norm"]), rel=1e-12)
        assert got["bias_se"] == pytest.approx(math.hypot(*rows["bias_se"]), rel=1e-12)
        assert got["max_abs_z"] == max(rows["max_abs_z"])


def test_advise_times_are_per_timed_estimate_and_the_time_se_is_the_rounds_spread(gaussian_advice):
    _, table = gaussian_advice
    for name, times in ROUND_TIMES.items():
        got = table.loc[name]
        median = statistics.median(times)
        assert got["time_per_estimate_s"] == pytest.approx(median / CHUNK, rel=1e-12)
        assert got["time_spread"] == pytest.approx((max(times) - min(times)) / median, rel=1e-12)
        time_rse = statistics.stdev(times) / math.sqrt(3) / median
        variance_rse = got["total_variance_se"] / got["total_variance"]
        value = got["total_variance"] * median / CHUNK
        assert got["time_variance"] == pytest.approx(value, rel=1e-12)
        assert got["time_variance_se"] == pytest.approx(
            value * math.hypot(variance_rse, time_rse), rel=1e-12)


def printed_cell(value: float, se: float) -> str:
    """``value±se`` to 3 and 2 digits, exponents without zeros: ``8.09e-7±2.9e-8``."""
    return (f"{value:.3g}±{se:.2g}".replace("e-0", "e-").replace("e+0", "e").replace("e+", "e"))


def test_the_printed_advice_shows_the_rows_values(gaussian_advice):
    problem, table = gaussian_advice
    work = advice.rank(table.reset_index(), "work")
    text = advice.render(problem.label, work, 4, [], width=100)
    for _, row in work.iterrows():
        line = next(line for line in text.splitlines() if f" {row['estimator']} " in line)
        words = line.split()
        assert words[3] == str(row["evaluations"])
        assert words[4] == printed_cell(row["work_variance"], row["work_variance_se"])
        assert words[5] == f"{row['time_per_estimate_s'] * 1e6:.3g}"
        assert words[6] == f"{row['time_spread']:.0%}"
    text = advice.render(problem.label, table.reset_index(), 4, [], width=100)  # by time
    for _, row in table.reset_index().iterrows():
        words = next(line for line in text.splitlines() if f" {row['estimator']} " in line).split()
        assert words[3] == printed_cell(row["total_variance"], row["total_variance_se"])
        assert words[6] == printed_cell(row["time_variance"], row["time_variance_se"])


# --- ranking and ties --------------------------------------------------------------------

def rows_at(gaps, rse=0.05):
    """Unbiased rows whose work values lie ``gaps`` combined (log) standard errors above 1."""
    values = [math.exp(g * math.hypot(rse, rse)) for g in gaps]
    return pd.DataFrame({"estimator": [f"e{i}" for i in range(len(gaps))], "K": 4,
                         "biased": False, "declared_unbiased": True, "max_abs_z": 1.0,
                         "work_variance": values, "work_variance_se": [v * rse for v in values]})


def test_the_tie_rule_is_two_combined_standard_errors():
    table = advice.rank(rows_at([0.0, 1.5, 1.99, 2.01, 2.5]), "work")
    assert TIE_SE == 2.0
    assert list(table["tied"]) == [True, True, True, False, False]
    data = advice.as_json("p", table.assign(evaluations=4, total_variance=1.0,
                                            total_variance_se=0.1, num_estimates=100,
                                            time_spread=0.0, time_per_estimate_s=1e-6), 4, [])
    assert data["best"] == ["e0", "e1", "e2"]  # every estimator tied with the best


def test_biased_rows_come_last_unranked_also_when_only_declared_biased():
    rows = rows_at([3.0, 0.0, 1.0]).assign(
        biased=[False, True, False], declared_unbiased=[True, False, True])
    table = advice.rank(rows, "work")
    assert list(table["estimator"]) == ["e2", "e0", "e1"]
    assert table["rank"].tolist()[:2] == [1, 2] and pd.isna(table["rank"].iloc[2])


def test_advise_keeps_a_declared_biased_estimator_apart_though_unflagged():
    # reparam's own estimates under a class that declares itself biased: the z test cannot
    # flag them (they are unbiased), the declaration alone sets them apart.
    fixture = "tests.plugin_fixtures.broken_estimators:DeclaredBiased"
    said = []
    table, _ = advice.advise(suites.problems.get("gaussian", dim=1), 2, 300, min_run_time=1e-4,
                             rounds=1, variants=[(fixture, {}), ("score_function", {})],
                             progress=said.append)
    # what a user waiting on a terminal reads, before each measurement and timing round
    assert said == ["[1/2] declared_biased K=2 M=300", "[2/2] score_function K=2 M=300",
                    "timing round 1/1"]
    row = table.iloc[-1]
    assert row["estimator"] != "score_function" and not row["declared_unbiased"]
    assert row["biased"] and pd.isna(row["rank"])
    assert row["max_abs_z"] < 4.5  # false alarm 7e-6 per coordinate
    assert advice.recommendation(table) == "Use score_function: the only unbiased estimator that applies."
    assert not any("declares itself unbiased" in line for line in advice.caveats("p", table, 2, []))


def test_the_caveat_names_only_estimators_that_claim_no_bias_but_were_flagged():
    rows = rows_at([0.0, 1.0, 2.0]).assign(
        biased=[True, True, False], declared_unbiased=[True, False, True],
        max_abs_z=[9.0, 1.0, 0.5], num_estimates=100, time_spread=0.0)
    lines = advice.caveats("p", advice.rank(rows, "work"), 4, [])
    named = [line for line in lines if "declares itself unbiased" in line]
    assert named == ["e0 declares itself unbiased but was flagged biased (max |z| = 9.0): "
                     "check it with `mcgradbench check estimator`."]


# --- the verdict from stored rows --------------------------------------------------------

def stored(cells):
    """Result rows by hand: (estimator, config, K, M, variance per parameter, biased), one
    parameter ``logits`` of one coordinate, timed 0.01 s a call of 100 estimates."""
    rows = []
    for i, (name, config, k, m, variance, biased) in enumerate(cells):
        rows.append({"suite": "s", "problem": "bernoulli", "problem_config": '{"dim": 1}',
                     "estimator": name, "estimator_config": json.dumps(config), "device": "cpu",
                     "param": "logits", "numel": 1, "num_estimates": m, "num_samples": k,
                     "seed": 0, "variance": variance, "variance_se": 0.05 * variance,
                     "bias_norm": 0.01, "bias_se": 0.01, "max_abs_z": 1.0, "biased": biased,
                     "z_untested": 0, "nonfinite": 0, "time_s": 0.01, "time_iqr_s": 0.0,
                     "timed_estimates": 100})
    return pd.DataFrame(rows)


LOO, SF = ("score_function", {"baseline": "loo"}), ("score_function", {"baseline": "none"})
GAP = 0.05 * math.sqrt(2)  # one combined (log) standard error of two rows of rse 0.05


def test_the_verdict_sentence_for_a_tie_at_the_best_k_and_largest_m():
    cells = [(*LOO, 4, 1000, 1.0, False),
             (*LOO, 2, 1000, 2.1, False),            # the same estimator at another K: not "next"
             (*SF, 4, 1000, math.exp(1.5 * GAP), False),
             (*SF, 4, 100, 0.01, False),             # M = 100 of a cell measured at M = 1000
             ("gumbel_softmax", {"temperature": 1.0}, 4, 1000, 1e-3, False)]  # declared biased
    table = verdict.verdicts(stored(cells)).set_index("by")
    work = table.loc["work"]
    assert verdict.sentence(work) == ("score_function(baseline=loo) (K=4), 1.11x below "
                                      "score_function (K=4): tied within 2 se (1.5)")
    assert "by work: " + verdict.sentence(work) in verdict.format_verdicts(stored(cells), 200)
    assert work["tied"] == ["score_function(baseline=loo)", "score_function"]
    best = {b["by"]: b for b in json.loads(summary.summary_json(stored(cells)))["best"]}
    assert best["work"]["tied"] == ["score_function(baseline=loo)", "score_function"]
    assert work["biased"] == "gumbel_softmax (K=4) ‖bias‖ 0.01±0.01"
    # seconds per timed estimate: 0.01 s over the 100 estimates of a call, not over M
    found = verdict.candidates(stored(cells)).set_index(["estimator_label", "num_samples"])
    assert found.loc[("score_function", 4), "time_per_estimate_s"] == pytest.approx(1e-4)
    assert found.loc[("score_function", 4), "M"] == 1000


def test_the_verdict_sentence_for_a_significant_gap():
    cells = [(*LOO, 4, 1000, 1.0, False), (*SF, 4, 1000, math.exp(10 * GAP), False)]
    work = verdict.verdicts(stored(cells)).set_index("by").loc["work"]
    assert verdict.sentence(work) == ("score_function(baseline=loo) (K=4), 2.03x below "
                                      "score_function (K=4): significant (10 se)")
    assert work["tied"] == ["score_function(baseline=loo)"]


def test_the_latest_runs_row_speaks_for_a_cell_measured_twice():
    from suites.read.report.runs import latest
    first = stored([(*LOO, 4, 1000, 1.0, False), (*SF, 4, 1000, 3.0, False)])
    again = stored([(*SF, 4, 1000, 0.5, False)])  # the later run: now score_function is best
    both = pd.concat([first, again], ignore_index=True)
    work = verdict.verdicts(both).set_index("by").loc["work"]
    assert work["best"] == "score_function" and work["value"] == pytest.approx(4 * 0.5)
    assert latest(both.assign(estimator_config=both["estimator_config"]))["variance"].tolist() == [1.0, 0.5]


def test_rebar_and_relax_cost_three_evaluations_a_sample_in_advise_and_the_verdict():
    from suites.run.grids.base import samples_within
    problem = suites.problems.get("bernoulli", dim=1)
    for name in ("rebar", "relax"):
        assert samples_within(estimators.get(name), problem, 7) == 2
        assert verdict._evaluations("bernoulli(dim=1)", name, 2) == 6


# --- run's summary and JSON --------------------------------------------------------------

def test_summary_and_json_print_the_rows_own_variance_se_and_time_per_timed_estimate():
    rows = stored([(*LOO, 4, 1000, 2.0, False)]).assign(variance_se=0.3, bias_se=0.7,
                                                        bias_norm=0.05)
    view = summary.summary_table(rows).iloc[0]
    assert view["variance"] == "2±0.3" and view["µs/est"] == "100"  # 0.01 s / 100 estimates
    data = json.loads(summary.summary_json(rows))
    assert data["rows"][0]["time_per_estimate_s"] == pytest.approx(1e-4)


def test_the_untested_mark_is_where_no_coordinate_was_tested_only():
    from suites.read.report.tables import untested_mark
    assert untested_mark(math.nan, 3) == " †"   # none of 3 tested
    assert untested_mark(2.5, 2) == ""          # 1 of 3 tested: a test, of fewer coordinates
    assert untested_mark(2.5, 0) == ""


# --- zero variance at the estimates' resolution ------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_an_exact_zero_computed_in_floats_is_stored_as_zero_and_not_flagged(dtype):
    # The delta method on a quadratic cost returns the exact gradient in every estimate: its
    # sampled spread (1e-12 in float32, 1e-30 in float64) is rounding of sums of O(1) terms,
    # also in scale's coordinates, whose own values are far smaller than those terms.
    problem = suites.problems.get("gaussian", dim=3, cost="square", loc=[0.3, -1.7, 2.9],
                                  scale=[0.5, 2.0, 1.3])
    rows = measurement.measure(problem, estimators.get("delta_method"), 400, 2, seed=0,
                               min_run_time=0, dtype=dtype, exact=False)
    assert (rows["variance"] == 0).all() and (rows["variance_se"] == 0).all()
    assert (rows["mse"] == rows["bias_norm"] ** 2 / 3).all()
    # its bias, rounding too, tested against that rounding: z is a number, and small
    assert (rows["z_untested"] == 0).all() and not rows["biased"].any()
    assert rows["max_abs_z"].max() < 1
    eps = {"float32": 1.1920929e-07, "float64": 2.220446049250313e-16}[dtype]
    # the cell's largest number, loc's gradient 2 (mu - k) = -5.4 (as rms and as |g|), times
    # the square root of its 6 coordinates
    assert rows["variance_floor"].iloc[0] == pytest.approx((8 * eps * 2 * 5.4) ** 2 * 6, rel=1e-5)
    # reparam's real spread stays: same cell size, variance far above the floor
    reparam = measurement.measure(problem, estimators.get("reparam"), 400, 2, seed=0,
                                  min_run_time=0, dtype=dtype, exact=False)
    assert (reparam["variance"] > 1).all()


def test_a_zero_variance_best_reads_as_zero_never_infx(recwarn):
    import warnings
    warnings.simplefilter("error")
    cells = [("delta_method", {}, 2, 1000, 0.0, False), (*LOO, 4, 1000, 1.0, False)]
    rows = stored(cells).assign(problem="gaussian", problem_config='{"dim": 1}')
    work = verdict.verdicts(rows).set_index("by").loc["work"]
    assert verdict.sentence(work) == ("delta_method (K=2), zero variance, below "
                                      "score_function(baseline=loo) (K=4): significant (20 se)")
    both = stored(cells).assign(problem="gaussian", problem_config='{"dim": 1}', variance=0.0)
    work = verdict.verdicts(both).set_index("by").loc["work"]
    assert "zero variance, as" in verdict.sentence(work) and "tied" in verdict.sentence(work)
    table = advice.rank(rows_at([0.0, 3.0]).assign(work_variance=[0.0, 2.0],
                                                   work_variance_se=[0.0, 0.1]), "work")
    assert "0 ± 0, zero variance, lower than the next, e1 (20.0 standard" in advice.recommendation(table)


# --- the report's tables -----------------------------------------------------------------

def report_rows(cells, **columns):
    """``stored`` rows with what the report's tables read besides, annotated as the report does."""
    from suites.read.report.runs import annotate
    defaults = dict(exact_variance=math.nan, exact_variance_z=math.nan, exact_bias_norm=math.nan,
                    adapt_steps=0, adapt_time_s=math.nan, device_name="cpu x", reference="exact",
                    run="r")
    rows = stored(cells).assign(**{**defaults, **columns})
    return annotate(rows)


def test_report_cells_time_per_timed_estimate_and_bold_by_the_rule():
    from suites.read.report import tables
    rows = report_rows([(*LOO, 4, 1000, 2.0, False), (*SF, 4, 1000, 3.0, True),
                        ("reparam", {}, 4, 1000, 1.0, False)],
                       nonfinite=[0, 0, 7], max_abs_z=[2.0, 9.0, 50.0])
    table = tables.problem_table("s", "bernoulli(dim=1)", rows, False)
    cells, bold = table.cells, table.bold
    assert list(cells[("", tables.TIME)]) == ["100"] * 3   # 0.01 s a call of 100, M = 1000
    assert list(cells[("logits", tables.VARIANCE)]) == ["2 ± 0.1", "3 ± 0.15",
                                                        "1 ± 0.05 (7 non-finite)"]
    # bold: the variance where estimates were non-finite; the bias where flagged, not where
    # |z| is merely large
    assert list(bold[("logits", tables.VARIANCE)]) == [False, False, True]
    assert list(bold[("logits", tables.BIAS)]) == [False, True, False]


def test_latex_tables_are_ascii_with_a_math_minus_and_a_dagger():
    from suites.read.report import tables
    rows = report_rows([(*LOO, 4, 1000, 2.0, False), (*SF, 4, 1000, 3.0, False)],
                       exact_variance=[2.1, 2.9], exact_variance_z=[-0.9, 1.2],
                       max_abs_z=[math.nan, 1.0], z_untested=[1, 0])
    latex = tables.to_latex(tables.problem_table("s", "bernoulli(dim=1)", rows, False))
    assert latex.isascii(), [c for c in latex if not c.isascii()]
    assert r"2.1 ($-$0.9)" in latex and r"2.9 (+1.2)" in latex
    assert r"0.01 $\pm$ 0.01 \textsuperscript{\dag}" in latex
    assert "--0.9" not in latex
    from suites.read.report.render import latex_tables
    assert latex_tables([tables.problem_table("s", "bernoulli(dim=1)", rows, False)]).isascii()


# --- the figures' helpers ----------------------------------------------------------------

def panel_rows(count, family="gaussian"):
    return pd.DataFrame({"problem": family, "problem_variant": family, "dim": range(1, count + 1),
                         "panel": [f"{family}(dim={d})" for d in range(1, count + 1)]})


def test_six_panels_are_one_figure_and_seven_two():
    from suites.read.report import figures
    assert figures.MAX_PANELS == 6
    one = figures.parts(panel_rows(6))
    assert [(p.name, len(p.rows)) for p in one] == [("gaussian", 6)]
    two = figures.parts(panel_rows(7))
    assert [(p.name, p.caption, len(p.rows)) for p in two] == [
        ("gaussian_1", "gaussian (1 of 2)", 4), ("gaussian_2", "gaussian (2 of 2)", 3)]


def test_a_label_coloured_later_never_takes_a_colour_already_given():
    from suites.read.report import figures
    figures.use_colours(["b", "d"])
    first = figures.palette(["b", "d"])
    later = figures.palette(["a", "c", "b"])  # a and c sort before the labels already coloured
    assert later["b"] == first["b"]
    given = [first["b"], first["d"]]
    assert later["a"] not in given and later["c"] not in given and later["a"] != later["c"]
    figures.use_colours([])


def test_per_line_and_x_the_row_with_most_estimates_is_drawn():
    from suites.read.report import figures
    rows = pd.DataFrame({"line": ["a", "a", "a", "b"], "x": [1, 1, 1, 1],
                         "num_estimates": [400, 1600, 100, 50], "y": [4.0, 16.0, 1.0, 0.5]})
    drawn = figures.largest_m(rows, ["line"], "x").set_index("line")
    assert drawn.loc["a", "y"] == 16.0 and drawn.loc["b", "y"] == 0.5 and len(drawn) == 2


def test_a_cell_biased_on_one_parameter_is_crossed_out_and_off_the_frontier():
    from suites.read.report import figures
    # two parameters per cell; "fast" is flagged on its second only, and would otherwise be
    # the frontier's lower left
    cells = {"fast": (1e-6, 0.1, [False, True]), "mid": (2e-6, 1.0, [False, False]),
             "slow": (4e-6, 0.5, [False, False])}
    rows = pd.DataFrame([
        {"problem": "toy", "problem_variant": "toy", "dim": 1, "problem_label": "toy",
         "estimator_label": name, "device": "cpu", "num_samples": 1, "num_estimates": 100,
         "run": "r", "param": param, "numel": 1, "variance": variance,
         "biased": flags[i], "time_per_estimate_s": t}
        for name, (t, variance, flags) in cells.items() for i, param in enumerate(("a", "b"))])
    per_cell = figures.efficiency_rows(rows).set_index("estimator_label")
    assert per_cell["biased"].to_dict() == {"fast": True, "mid": False, "slow": False}
    ax = figures.draw_efficiency(per_cell.reset_index()).axes[0]
    frontier = [line for line in ax.lines if line.get_color() == "black"]
    assert len(frontier) == 1
    assert sorted(frontier[0].get_xdata()) == [2.0, 4.0]  # mid and slow, in µs; not fast
    crosses = [c for c in ax.collections if c.get_offsets().shape[0] == 1
               and tuple(c.get_offsets()[0]) == (1.0, 0.1)]
    assert crosses, "the biased cell is crossed out where it lies"


# --- adaptive state the readers rely on --------------------------------------------------

def test_nvil_centres_on_the_signal_the_moved_network_leaves():
    # c <- 0.8 c + 0.2 mean(f - r_psi(x)), r_psi as it stands before this step's Adam update:
    # replayed here on the same draws, over steps where r_psi has moved away from 0.
    import torch

    from estimators.base import replicate, sampling_from
    problem = suites.problems.get("bernoulli_vae", latent_dim=3, num_data=7).to(dtype=torch.float64)
    est = estimators.get("nvil", hidden=5)
    generator = torch.Generator().manual_seed(3)
    c = None
    for step in range(4):
        est.ensure_state(problem)
        replay = torch.Generator().set_state(generator.get_state())
        params = replicate(problem.params, 8)
        with torch.no_grad(), sampling_from(replay):
            distribution = problem.distribution(params)
            cost = problem.cost(distribution.sample((2,)), params)
            network = est.network(problem)
        if step >= 2:
            assert float(network.abs().max()) > 1e-3  # the network has moved
        centre = float((cost - network).mean())
        c = centre if c is None else 0.8 * c + 0.2 * centre
        est.adapt(problem, 8, 2, generator)
        assert float(est.state["c"].detach()) == pytest.approx(c, rel=1e-12, abs=1e-12)


def test_the_verdict_says_why_a_ranking_is_empty():
    # a plugin named pkg.module:Class: its label cannot rebuild it here, its row stores its cost
    plugin = ("constant_baseline", {"b": 0.25}, 4, 1000, 2.0, False)
    rows = stored([plugin, (*LOO, 4, 1000, 1.0, False)])
    work = verdict.verdicts(rows.assign(evaluations=4.0)).set_index("by").loc["work"]
    assert verdict.sentence(work).startswith("score_function(baseline=loo) (K=4), 2x below "
                                             "constant_baseline(b=0.25) (K=4): significant")
    old = verdict.verdicts(rows).set_index("by").loc["work"]  # stored before the cost was
    assert verdict.sentence(old) == ("score_function(baseline=loo) (K=4), the only unbiased one "
                                     "ranked; cost in evaluations unknown: constant_baseline(b=0.25)")
    untimed = verdict.verdicts(rows.assign(evaluations=4.0, time_s=math.nan)).set_index("by")
    assert verdict.sentence(untimed.loc["time"]) == (
        "not timed (run with --min-run-time > 0): constant_baseline(b=0.25), "
        "score_function(baseline=loo)")
    biased = verdict.verdicts(rows.assign(biased=True)).set_index("by")
    assert verdict.sentence(biased.loc["time"]) == "no unbiased estimator measured"


def test_measure_stores_the_cost_of_one_estimate():
    rows = measurement.measure(suites.problems.get("gaussian", dim=3), estimators.get("delta_method"),
                               20, 2, min_run_time=0, exact=False)
    assert (rows["evaluations"] == 2 * 2 + 2 + 3).all()


def test_a_fitted_table_keeps_every_label_piece_whole_within_80_columns():
    from suites.read.text import fitted, label_tokens
    labels = ["straight_through_gumbel(temperature=0.5)", "score_function(baseline=loo_optimal)",
              "score_function_median", "gumbel_rao(num_rb_samples=4,temperature=0.1)"]
    frame = pd.DataFrame({"#": ["=1", "2", "3", "10"], "estimator": labels, "K": [4, 4, 4, 4],
                          "evals": [4, 4, 4, 4], "evals×var": ["1.57e-6±1.3e-7"] * 4,
                          "µs/est": ["19.5"] * 4, "range": ["226%"] * 4})
    text = fitted(frame, 80)
    assert max(map(len, text.splitlines())) <= 80, text
    for label in labels:
        assert all(token in text for token in label_tokens(label)), (label, text)


def test_a_zero_variance_cell_is_named_in_its_panel_not_stretched_over_a_log_axis():
    import warnings

    from suites.read.report import figures
    rows = pd.DataFrame([
        {"problem": "toy", "problem_variant": "toy", "dim": 1, "problem_label": "toy",
         "estimator_label": name, "device": "cpu", "num_samples": 2, "num_estimates": 100,
         "run": "r", "param": "a", "numel": 1, "variance": variance, "biased": False,
         "time_per_estimate_s": t}
        for name, t, variance in (("exact", 1e-6, 0.0), ("noisy", 2e-6, 1.0), ("other", 4e-6, 0.5))])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax = figures.efficiency(rows).axes[0]
    assert ax.get_title() == "toy\nvariance 0: exact (K=2)"
    (y0, y1) = ax.get_ylim()
    assert 0.1 < y0 and y1 < 10  # the axis spans the drawn variances, not 15 decades


def test_one_spelling_of_a_configuration_wherever_it_is_printed():
    from suites.problems.labels import estimator_label, problem_label
    problem = suites.problems.get("bernoulli", dim=3)
    assert problem.label == problem_label(problem.name, problem.config_json) == "bernoulli(dim=3)"
    assert suites.problems.get(problem.label).config_json == problem.config_json
    spec = "tests.plugin_fixtures.broken_estimators:DeclaredBiased,b=0.25"
    fixture = estimators.get(spec)
    assert fixture.label == estimator_label(fixture.name, fixture.config_json) == "declared_biased(b=0.25)"
    from suites.run.grids import Cell
    cell = Cell("bernoulli", {"dim": 3}, spec, {}, "cpu", 100, 4, 0)
    assert cell.label == "bernoulli(dim=3) x declared_biased(b=0.25) on cpu M=100 K=4"
    with pytest.raises(ValueError, match=r"no estimator applies to bernoulli\(dim=3\) at"):
        advice.advise(problem, 4, 100, variants=[("reparam", {})])


def test_latex_tables_compile_with_pdflatex(tmp_path):
    """The LaTeX the report writes compiles (booktabs, the math minus, the dagger, escaped
    underscores in labels): checked with pdflatex where a TeX is installed (Debian:
    apt-get install texlive-latex-recommended), skipped with that message elsewhere."""
    import shutil
    import subprocess

    from suites.read.report import tables
    from suites.read.report.render import latex_tables

    if shutil.which("pdflatex") is None:
        pytest.skip("no pdflatex: apt-get install texlive-latex-recommended to compile tables.tex")
    rows = report_rows([(*LOO, 4, 1000, 2.0, False), (*SF, 4, 1000, 3.0, False)],
                       exact_variance=[2.1, 2.9], exact_variance_z=[-0.9, 1.2],
                       max_abs_z=[math.nan, 1.0], z_untested=[1, 0])
    (tmp_path / "tables.tex").write_text(
        latex_tables([tables.problem_table("s", "bernoulli(dim=1)", rows, False)]))
    (tmp_path / "doc.tex").write_text("\\documentclass{article}\\usepackage{booktabs}"
                                      "\\begin{document}\\input{tables.tex}\\end{document}\n")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 0
