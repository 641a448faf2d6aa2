import re

import pytest
from click.testing import CliRunner

from suites.cli import main


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_list_shows_every_name():
    import estimators
    import suites
    out = invoke("list").output
    for name in estimators.names() + suites.problems.names() + ["core"]:
        assert name in out


def test_run_prints_table_for_filtered_grid(tmp_path):
    result = invoke("run", "core", "--problem", "bernoulli", "--estimator", "score_function",
                    "--num-estimates", "200", "--seed", "3", "--out", str(tmp_path / "run"))
    assert result.exit_code == 0, result.output
    assert "score_function(baseline=loo)" in result.output
    assert "bernoulli(dim=100" in result.output
    assert "gaussian" not in result.output.split("\n", 1)[1]


def test_unknown_names_are_one_line_errors_with_exit_code_2():
    for args, text in [(("run", "nope"), "unknown suite 'nope'; known: continuous, core"),
                       (("run", "--estimator", "muprop"), "unknown estimator 'muprop'"),
                       (("run", "--problem", "mnist"), "unknown problem 'mnist'"),
                       (("run", "--device", "tpu"), "unknown device 'tpu'"),
                       (("run", "--num-estimates", "1"), "--num-estimates must be in 2..")]:
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert text in result.output
        assert "Traceback" not in result.output


# --- run: store, resume, dry run, reproducibility --------------------------------------

import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from suites.store import rundir as store  # noqa: E402

SMALL = ("core", "--problem", "bernoulli", "--num-estimates", "200")
TIMING = {"time_s", "time_iqr_s", "utc_time"}


def data_lines(run_dir):
    return (Path(run_dir) / "results.csv").read_text().splitlines()[1:]


def test_run_writes_results_and_meta(tmp_path):
    out = tmp_path / "run"
    result = invoke("run", *SMALL, "--estimator", "gumbel_softmax", "--min-run-time", "0",
                    "--out", str(out))
    assert result.exit_code == 0, result.output
    table = store.read_results(out, require_key=True)
    meta = json.loads((out / "meta.json").read_text())
    assert len(table) == 9 and table[store.KEY_COLUMN].nunique() == 9
    assert meta["suite"] == "core" and meta["cells"] == 9 and meta["finished_cells"] == 9
    assert meta["end_utc"] and meta["seeds"] == [0] and meta["devices"] == {"cpu": table["device_name"][0]}
    assert "--num-estimates 200" in meta["command"]


def test_run_refuses_to_overwrite_a_run(tmp_path):
    out = tmp_path / "run"
    args = ("run", *SMALL, "--estimator", "gumbel_softmax", "--min-run-time", "0", "--out", str(out))
    assert invoke(*args).exit_code == 0
    before = (out / "results.csv").read_text()
    result = invoke(*args)
    assert result.exit_code == 2 and "already holds a run; continue it with --resume" in result.output
    assert (out / "results.csv").read_text() == before


def test_dry_run_lists_cells_and_writes_nothing(tmp_path):
    result = invoke("run", *SMALL, "--estimator", "score_function", "--dry-run",
                    "--out", str(tmp_path / "run"))
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1] == "9 cells: 0 finished, 9 to run"  # baselines none, loo, loo_optimal x 3 dims
    assert "bernoulli(dim=10) x score_function(baseline=loo) on cpu M=200 K=4" in result.output
    assert not (tmp_path / "run").exists()


def test_resume_after_killed_run_completes_every_cell_once(tmp_path):
    out = tmp_path / "run"
    from suites.run import grids
    total = sum(c.problem == "bernoulli" and c.problem_config["dim"] == 1
                for c in grids.get("core").cells(["cpu"]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "suites.cli", "run", *SMALL[:1], "--problem", "bernoulli(dim=1)",
         *SMALL[3:], "--min-run-time", "0.05",
         "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / "results.csv").exists() and len(data_lines(out)) >= 2:
                break
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the sweep finished before it could be killed"
    before = data_lines(out)
    killed = store.read_results(out, require_key=True)  # readable, never torn
    assert 2 <= len(before) < total and killed[store.KEY_COLUMN].is_unique

    dry = invoke("run", "--resume", str(out), "--dry-run")
    assert f"{total} cells: {len(before)} finished, {total - len(before)} to run" in dry.output

    result = invoke("run", "--resume", str(out))
    assert result.exit_code == 0, result.output
    after = data_lines(out)
    assert after[:len(before)] == before  # finished cells untouched
    table = store.read_results(out, require_key=True)
    assert len(table) == total and table[store.KEY_COLUMN].nunique() == total
    meta = json.loads((out / "meta.json").read_text())
    assert len(meta["sessions"]) == 2 and meta["finished_cells"] == total
    assert meta["sessions"][0]["end_utc"] is None and meta["end_utc"]


def test_resume_rejects_another_suite_and_missing_dirs(tmp_path):
    out = tmp_path / "run"
    assert invoke("run", *SMALL, "--estimator", "gumbel_softmax", "--min-run-time", "0",
                  "--out", str(out)).exit_code == 0
    for args, text in [(("run", "nope", "--resume", str(out)), "the run holds suite 'core'"),
                       (("run", "--resume", str(tmp_path / "missing")), "no such run directory"),
                       (("run", "--resume", str(tmp_path)), "nothing to resume"),
                       (("run", "--resume", str(out), "--out", str(out)), "not both")]:
        result = invoke(*args)
        assert result.exit_code == 2 and text in result.output, (args, result.output)
        assert "Traceback" not in result.output


def statistics_csv(run_dir):
    table = store.read_results(run_dir)
    return table.drop(columns=sorted(TIMING)).to_csv(index=False)


def test_same_seed_gives_bit_identical_cpu_statistics(tmp_path):
    # every baseline of score_function and reparam, on one problem of each kind at dim 10
    args = ("run", "core", "--problem", "bernoulli(dim=10)", "--problem", "gaussian(cost=cos,dim=10)",
            "--estimator", "score_function", "--estimator", "reparam", "--num-estimates", "300",
            "--device", "cpu", "--min-run-time", "0")
    runs = []
    for name, seed in [("a", "5"), ("b", "5"), ("c", "6")]:
        assert invoke(*args, "--seed", seed, "--out", str(tmp_path / name)).exit_code == 0
        runs.append(statistics_csv(tmp_path / name))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]  # the comparison can fail: another seed changes the numbers


def test_resume_a_run_killed_before_its_first_cell(tmp_path):
    out = tmp_path / "run"
    args = ("run", *SMALL, "--estimator", "gumbel_softmax", "--min-run-time", "0", "--threads", "1")
    assert invoke(*args, "--out", str(out)).exit_code == 0
    header = (out / "results.csv").read_text().splitlines()[0]
    store.atomic_write_text(out / "results.csv", header + "\n")  # as left by a kill at cell 0
    result = invoke("run", "--resume", str(out))
    assert result.exit_code == 0, result.output
    table = store.read_results(out, require_key=True)
    assert len(table) == 9 and set(table["threads"]) == {1}
    assert json.loads((out / "meta.json").read_text())["options"]["threads"] == 1


def test_an_empty_selection_is_an_error_listing_the_suite():
    # reparam does not apply to Bernoulli variables: the filters leave no cell
    result = CliRunner().invoke(main, ["run", "core", "--problem", "bernoulli", "--estimator",
                                       "reparam", "--dry-run"])
    assert result.exit_code == 2
    assert "no cell of suite 'core' matches" in result.output
    assert "holds problems bernoulli, categorical, gaussian, gaussian_full" in result.output


def test_estimator_variants_are_selected_by_the_labels_tables_show():
    result = CliRunner().invoke(main, ["run", "core", "--problem", "bernoulli", "--dry-run",
                                       "--estimator", "gumbel_softmax(temperature=0.5)",
                                       "--estimator", "rebar"])
    assert result.exit_code == 0, result.output
    lines = [l for l in result.output.splitlines() if " x " in l]
    assert lines and all("gumbel_softmax(temperature=0.5)" in l or " x rebar" in l for l in lines)
    # dims 1, 10, 100; the bare name picks every option setting: rebar and rebar(tune=True)
    assert sum(" x rebar on" in l for l in lines) == 3
    assert sum(" x rebar(tune=True) on" in l for l in lines) == 3


def test_problem_configurations_are_selected_by_the_labels_tables_show():
    result = CliRunner().invoke(main, ["run", "train", "--dry-run", "--seeds", "1",
                                       "--problem", "bernoulli_vae(latent_dim=12)",
                                       "--estimator", "disarm"])
    assert result.exit_code == 0, result.output
    lines = [l for l in result.output.splitlines() if " x " in l]
    assert len(lines) == 1 and "bernoulli_vae(latent_dim=12) x disarm" in lines[0], lines
    # the bare name picks every configuration: 8 and 12 latents
    result = CliRunner().invoke(main, ["run", "train", "--dry-run", "--seeds", "1",
                                       "--problem", "bernoulli_vae", "--estimator", "disarm"])
    assert sum(" x disarm" in l for l in result.output.splitlines()) == 2, result.output
    result = CliRunner().invoke(main, ["run", "train", "--dry-run", "--problem", "bernoulli_vea(latent_dim=12)"])
    assert result.exit_code == 2 and "unknown problem 'bernoulli_vea'" in result.output


def test_the_printed_table_fits_an_80_column_terminal(tmp_path):
    # the widest problem label (dim=100) with every estimator label of the suite
    result = CliRunner().invoke(main, ["run", "core", "--problem", "bernoulli(dim=100)",
                                       "--num-estimates", "200", "--min-run-time", "0",
                                       "--out", str(tmp_path / "r")],
                                env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    table = result.stdout
    assert "bernoulli(dim=100) · device=cpu · M=200" in table  # defaults left out of labels
    assert "gumbel_softmax(" in table and "µs/est" in table and "variance" in table
    # the table fits; the progress lines before it ("[3/12] label  0.1 s  stored") are a log's,
    # kept whole (M and K at their end) however wide
    assert max(len(line) for line in table.splitlines() if not re.match(r"\[\d+/\d+\] ", line)) <= 80


def test_input_errors_are_one_line_and_duplicates_collapse(tmp_path):
    def invoke(*args):
        return CliRunner().invoke(main, list(args))

    for bad, message in [(["--min-run-time", "nan"], "finite number >= 0"),
                         (["--min-run-time", "inf"], "finite number >= 0"),
                         (["--num-estimates", "1000000000000"], "--num-estimates must be in 2..1,000,000,000"),
                         (["--num-samples", "0"], "--num-samples must be >= 1")]:
        result = invoke("run", "core", "--problem", "bernoulli", "--dry-run", *bad)
        assert result.exit_code == 2 and message in result.output, (bad, result.output)
        assert len(result.output.strip().splitlines()) == 1
    once = invoke("run", "core", "--problem", "bernoulli", "--estimator", "disarm", "--dry-run")
    twice = invoke("run", "core", "--problem", "bernoulli", "--estimator", "disarm", "--dry-run",
                   "--device", "cpu", "--device", "cpu")
    assert once.output == twice.output
    k1 = invoke("run", "core", "--problem", "bernoulli", "--dry-run", "--num-samples", "1")
    assert "K=1" in k1.output and "baseline=loo" not in k1.output  # leave-one-out needs K >= 2
    listed = invoke("list")
    assert "``" not in listed.output


def test_report_of_a_run_given_twice_and_an_unwritable_out(tmp_path):
    out = tmp_path / "run"
    assert CliRunner().invoke(main, ["run", "core", "--problem", "bernoulli", "--estimator", "disarm",
                                     "--num-estimates", "100", "--min-run-time", "0",
                                     "--out", str(out)]).exit_code == 0
    twice = CliRunner().invoke(main, ["report", str(out), str(out), "--out", str(tmp_path / "rep"),
                                      "--format", "md"])
    assert twice.exit_code == 0, twice.output
    assert (tmp_path / "rep" / "report.md").read_text().count("| run ") <= 1
    unwritable = CliRunner().invoke(main, ["report", str(out), "--out", "/proc/x", "--format", "md"])
    assert unwritable.exit_code == 2 and "cannot write the report to /proc/x" in unwritable.output
    assert "Traceback" not in unwritable.output


def test_measure_refuses_zero_samples():
    import estimators
    import suites
    with pytest.raises(ValueError, match="num_samples must be an integer >= 1, got 0"):
        suites.measure(suites.problems.get("gaussian", dim=1), estimators.get("reparam"), 10,
                       num_samples=0, min_run_time=0)


# --- the first hour: start-up, progress, interrupts, long set-up ------------------------

LIGHT = """
import sys
from suites.cli import main
for args in (["--help"], ["run", "--help"], ["report", "--help"], ["run", "--bogus"],
             ["run", "--num-estimates", "many"], ["report"]):
    try:
        main(args, standalone_mode=False)
    except Exception as error:  # click's usage errors
        assert type(error).__name__ in ("NoSuchOption", "BadParameter", "MissingParameter"), error
heavy = sorted(m for m in ("torch", "pandas", "matplotlib", "seaborn", "numpy") if m in sys.modules)
print(",".join(heavy) or "none")
"""


def test_help_and_usage_errors_load_neither_torch_nor_pandas():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", LIGHT], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "none", out.stdout + out.stderr


LIST = """
import sys
from click.testing import CliRunner
from suites.cli import main
result = CliRunner().invoke(main, ["list"])
assert result.exit_code == 0 and "rebar" in result.output, result.output
print("torch._dynamo" in sys.modules)
"""


def test_list_does_not_load_torch_compiler_stack():
    # A torch optimiser's constructor imports torch._dynamo (0.9 s here); listing the grids
    # builds adaptive estimators, whose optimisers must wait for their first adapt step.
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", LIST], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "False", out.stdout + out.stderr


@pytest.mark.parametrize("width", [60, 80, 120])
def test_the_progress_line_fits_the_terminal_width(width):
    import io
    import time

    from suites.cli import progress_bar
    label = ("gaussian(cost=square,dim=100,k=1.0,loc=0.5) · "
             "straight_through_gumbel(temperature=0.5) · cpu · seed 0 · K=4 · M=10,000")
    bar = progress_bar(1234, "core", width, file=io.StringIO())
    bar.show(f"running {label}")
    bar.start = time.time() - 10 * 86400  # the widest eta: days
    bar.pos, bar.avg = 7, [1e4]
    line = bar.format_progress_line()
    assert len(line) <= width - 1, (len(line), line)
    assert "running gaussian" in line and line.endswith("…")


def test_an_interrupt_before_the_first_cell_is_one_line_and_exit_code_130(monkeypatch, tmp_path):
    import suites.run.sweep

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(suites.run.sweep, "select_cells", interrupted)
    result = CliRunner().invoke(main, ["run", "core", "--out", str(tmp_path / "r")])
    assert result.exit_code == 130
    assert result.output.strip() == "interrupted" and not (tmp_path / "r").exists()


def test_a_long_set_up_step_says_what_it_computes_and_where_it_caches(monkeypatch, tmp_path, caplog):
    import logging

    import suites
    monkeypatch.setenv("MCGRADBENCH_CACHE", str(tmp_path))
    problem = suites.problems.get("logistic_regression", reference_samples=2_000)
    with caplog.at_level(logging.INFO, logger="suites"):
        problem.reference_gradient()
        first = caplog.text
        caplog.clear()
        problem.reference_gradient()  # cached: silent
    assert "Monte Carlo reference gradient once" in first and str(tmp_path) in first
    assert caplog.text == ""


@pytest.mark.parametrize("width", [12, 15, 19, 24, 40])
def test_labels_wrap_between_options_and_values_never_inside_a_word(width):
    from suites.read.summary import wrap_label

    label = "score_function(baseline=loo_optimal)"
    lines = wrap_label(label, width).split("\n")
    assert "".join(lines) == label
    # every piece stays whole; a line is wider than the width only where one piece alone is
    for word in ("score_function(", "baseline=", "loo_optimal)"):
        assert any(word in line for line in lines), lines
    assert all(len(line) <= width or "(" not in line[:-1] and line.count("=") <= 1
               for line in lines), lines


@pytest.mark.parametrize("label, dims", [
    ("gaussian(cost=cos)", {10}), ("gaussian(cost=cos,dim=10)", {10}), ("gaussian(dim=1,cost=cos)", {1}),
    ("gaussian(cost=cos,dim=100,k=1.0)", {100}), ("gaussian", {1, 10, 100}), ("gaussian(cost=cos,dim=7)", set()),
])
def test_a_label_names_the_configuration_whose_options_with_defaults_are_those(label, dims):
    from suites.problems.labels import label_names

    configs = [{"dim": d, "cost": c} for d in (1, 10, 100) for c in ("square", "cos")]
    chosen = [c for c in configs if label_names("problem", label, "gaussian", c)]
    assert {c["dim"] for c in chosen} == dims
    assert all(c["cost"] == "cos" for c in chosen) or label == "gaussian"
    assert label_names("estimator", "score_function(baseline=none)", "score_function", {})
    assert not label_names("estimator", "score_function(baseline=loo)", "score_function", {})
    assert not label_names("problem", "gaussian(cost=cos", "gaussian", {"cost": "cos"})


@pytest.mark.parametrize("label, width, lines", [
    ("straight_through_gumbel(temperature=0.5)", 23, ["straight_through_gumbel(", "temperature=0.5)"]),
    ("score_function_median", 17, ["score_function_median"]),
    ("score_function(baseline=loo_optimal)", 12, ["score_function(", "baseline=", "loo_optimal)"]),
])
def test_a_name_wider_than_its_column_stays_whole_so_a_copied_label_parses(label, width, lines):
    # not 'score_' / 'function_' / 'median': pasted back into --estimator, the spaces a line
    # break leaves after "(", "," or "=" are skipped by the parser, inside a name they are not
    import estimators
    from suites.read.summary import wrap_label
    assert wrap_label(label, width).split("\n") == lines
    assert estimators.get(" ".join(lines)).label == label
