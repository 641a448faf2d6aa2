"""Plugins: entry points (the example package under examples/), ad hoc pkg.module:Class, grid files."""
import importlib.metadata

import pytest
from click.testing import CliRunner

import estimators
import suites
from estimators.registry import Registry, split_spec
from suites.run import grids
from suites.cli import main

EXAMPLE_ESTIMATOR = "mcgradbench_example.estimator:ScoreFunctionMedian"
EXAMPLE_PROBLEM = "mcgradbench_example.problem:PoissonLogLinear"


def test_example_plugin_is_found_through_entry_points():
    assert "score_function_median" in estimators.names()
    assert estimators.origin("score_function_median").startswith("plugin mcgradbench-example")
    assert "poisson_loglinear" in suites.problems.names()
    assert "poisson" in grids.names()
    assert estimators.origin("reparam") == "built-in"


def test_list_shows_where_each_came_from():
    # a terminal wide enough for the entry on one line (list wraps to COLUMNS)
    result = CliRunner().invoke(main, ["list"], env={"COLUMNS": "300"})
    assert result.exit_code == 0
    line = next(l for l in result.output.splitlines() if l.strip().startswith("poisson_loglinear"))
    assert "[plugin mcgradbench-example (mcgradbench_example.problem:PoissonLogLinear)]" in line


def test_broken_plugin_is_reported_by_name_and_the_others_load(monkeypatch):
    good = importlib.metadata.EntryPoint("reparam_again", "estimators.reparam:Reparam", "g")
    misnamed = importlib.metadata.EntryPoint("wrong_name", "estimators.reparam:Reparam", "g")
    broken = importlib.metadata.EntryPoint("broken", "tests.plugin_fixtures.broken:Thing", "g")
    example = importlib.metadata.EntryPoint("score_function_median", EXAMPLE_ESTIMATOR, "g")
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group: [broken, misnamed, example, good])
    registry = Registry("estimator", group="g")
    assert registry.names() == ["score_function_median"]
    assert set(registry.failures) == {"broken", "wrong_name", "reparam_again"}
    assert "ImportError: this plugin is broken on purpose" in registry.failures["broken"]
    assert all("\n" not in line for line in registry.failures.values())
    with pytest.raises(ValueError, match="unknown estimator 'broken' .*broken on purpose"):
        registry.lookup("broken")


def test_ad_hoc_names_in_the_python_api():
    est = estimators.get(EXAMPLE_ESTIMATOR)
    assert est.name == "score_function_median"
    prob = suites.problems.get(EXAMPLE_PROBLEM + ",dim=2,counts=[1, 4],scale=0.3")
    assert prob.config["dim"] == 2 and prob.config["scale"] == 0.3
    assert estimators.get("score_function,baseline=loo").config == {"baseline": "loo"}
    assert split_spec("a.b:C,x=1,y=text") == ("a.b:C", {"x": 1, "y": "text"})
    with pytest.raises(ValueError, match="no attribute 'Nope'"):
        estimators.get("estimators.reparam:Nope")
    with pytest.raises(ValueError, match="cannot import 'no_such_module'"):
        suites.problems.get("no_such_module:X")
    with pytest.raises(ValueError, match="expected name,key=value"):
        suites.problems.get(EXAMPLE_PROBLEM + ",dim")


def test_run_measures_an_ad_hoc_estimator_on_a_suites_problems(tmp_path):
    args = ["run", "poisson", "--estimator", EXAMPLE_ESTIMATOR, "--problem", "poisson_loglinear",
            "--num-estimates", "200", "--min-run-time", "0", "--out", str(tmp_path / "r")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    import pandas as pd
    rows = pd.read_csv(tmp_path / "r" / "results.csv")
    # Added on the grid's problem configs (scale 0.5 and 1) at its K = 4, two parameters each.
    assert len(rows) == 4 and set(rows["estimator"]) == {"score_function_median"}
    assert set(rows["num_samples"]) == {4}


def test_an_added_estimator_gets_the_grids_budget_of_cost_evaluations():
    from suites.run.sweep import select_cells
    cells = select_cells("core", estimator_names=["estimators.disarm:DisARM"], problem_names=["bernoulli"])
    # core's budget is 4 evaluations: 2 antithetic pairs, on bernoulli dims 1, 10, 100.
    assert [(c.problem_config["dim"], c.num_samples) for c in cells] == [(1, 2), (10, 2), (100, 2)]


GOOD_GRID = """
name = "mine"
num_estimates = 300
devices = ["cpu"]
[[problems]]
name = "poisson_loglinear"
configs = [{dim = 2, counts = [1, 4]}]
[[estimators]]
name = "score_function_median"
evaluations = [4, 1]
[[estimators]]
name = "disarm"
evaluations = [4]
evaluations_per_sample = 2
[[estimators]]
name = "mcgradbench_example.estimator:ScoreFunctionMedian"
num_samples = [2]
"""


def test_grid_file_runs_plugins(tmp_path):
    grid = tmp_path / "mine.toml"
    grid.write_text(GOOD_GRID)
    cells = grids.load_grid(grid).cells()
    # K = 4 from evaluations 4; K = 1 is refused by the median baseline; disarm does not apply.
    assert [(c.estimator, c.num_samples) for c in cells] == [
        ("score_function_median", 4), (EXAMPLE_ESTIMATOR, 2)]
    result = CliRunner().invoke(main, ["run", "--grid", str(grid), "--min-run-time", "0",
                                       "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert "score_function_median" in result.output


@pytest.mark.parametrize("text, message", [
    ("name = 'x'\n[[estimators]]\nname='reparam'\nnum_samples=[1]\n", "problems: missing"),
    ("colour = 1\n" + GOOD_GRID, "colour: unknown key; allowed: name, description"),
    (GOOD_GRID + "colour = 1\n", r"estimators\[2\].colour: unknown key; allowed: name, options"),
    (GOOD_GRID.replace("num_estimates = 300", "num_estimates = 1"), "num_estimates: must be an integer >= 2"),
    (GOOD_GRID.replace('devices = ["cpu"]', 'devices = ["tpu"]'), "devices: "),
    (GOOD_GRID.replace('name = "disarm"', 'name = "muprop"'), r"estimators\[1\].name: unknown estimator 'muprop'"),
    (GOOD_GRID.replace("evaluations_per_sample = 2", "evaluations_per_sample = 2\nnum_samples = [1]"),
     r"estimators\[1\].num_samples: give exactly one of"),
    (GOOD_GRID.replace("counts = [1, 4]", "cnts = [1, 4]"), r"problems\[0\].configs: unknown option\(s\) \['cnts'\]"),
    (GOOD_GRID.replace("counts = [1, 4]", "counts = [1, -4]"), "problems: counts must be non-negative"),
    ("name = [", "not valid TOML"),
])
def test_malformed_grid_is_one_line_exit_2_and_nothing_runs(tmp_path, text, message):
    grid = tmp_path / "bad.toml"
    grid.write_text(text)
    out = tmp_path / "r"
    result = CliRunner().invoke(main, ["run", "--grid", str(grid), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert __import__("re").search(message, result.output), result.output
    assert not out.exists()


def test_builtin_suites_are_the_shipped_grid_files():
    core = grids.get("core").cells(["cpu"])
    # 16 problem configurations x the estimators that apply to each (core.toml): 150 before
    # ARMS, double CV, IndeCateR (12 cells) and categorical(cost=mean_square) (14 cells)
    # and unordered_set at K = 4 on the 5 configurations whose support holds 4 states (not dim 1)
    assert len(core) == 181
    assert {("arms", 1), ("double_cv", 2), ("indecater", 1), ("unordered_set", 4)} <= {(c.estimator, c.num_samples) for c in core}
    k = {(c.estimator, c.num_samples) for c in core}
    assert ("disarm", 2) in k and ("rebar", 1) in k and ("score_function", 4) in k
    assert ("arm", 2) in k and ("gumbel_rao", 4) in k and ("measure_valued", 1) in k
    vae = grids.get("vae").cells(["cpu"])
    assert not any(c.estimator_config == {"baseline": "loo"} and c.num_samples == 1 for c in vae)
    assert {c.num_samples for c in vae if c.estimator == "disarm"} == {1, 4}
