"""The command line's last sharp edges: malformed labels called so, grids where nothing runs
explained, help that names files that exist, progress lines in a log kept whole."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import estimators
from suites.cli import main

ROOT = Path(__file__).resolve().parents[1]


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output, result.output
    return result.output.strip()


@pytest.mark.parametrize("label, where", [
    ("gumbel_softmax(temperature=0.5", "'(' at position 15 is never closed"),
    ("gumbel_softmax,temperature=0.5)", "')' at position 31 closes nothing"),
    ("gaussian(dim=3", "'(' at position 9 is never closed"),
])
def test_an_unbalanced_label_is_called_malformed(label, where):
    option = "--problem" if label.startswith("gaussian") else "--estimator"
    message = one_line_error(CliRunner().invoke(main, ["run", option, label, "--dry-run"]))
    assert message == (f"Error: malformed label '{label}': {where}; write NAME(key=value,...) "
                       f"or NAME,key=value,...")
    with pytest.raises(ValueError, match=re.escape(f"malformed label '{label}'")):
        estimators.get(label)
    assert estimators.registry.split_spec("poisson,counts=[1, 4]") == ("poisson", {"counts": [1, 4]})


def test_a_grid_where_nothing_applies_says_why(tmp_path):
    grid = tmp_path / "nothing.toml"
    grid.write_text('name = "nothing"\nnum_estimates = 200\n[[problems]]\nname = "bernoulli"\n'
                    '[[estimators]]\nname = "reparam"\nnum_samples = [1]\n'
                    '[[estimators]]\nname = "score_function"\noptions = [{baseline = "loo"}]\n'
                    'num_samples = [1]\n')
    message = one_line_error(CliRunner().invoke(main, ["run", "--grid", str(grid), "--dry-run"]))
    assert message.startswith(f"Error: {grid}: no cell runs: reparam on bernoulli: reparam does "
                              f"not apply to Bernoulli: it has no rsample")
    assert "; score_function(baseline=loo) with K=1: baseline='loo' needs num_samples >= 2" in message
    assert "problems  and" not in message and "share no device" not in message


def test_a_num_samples_no_selected_cell_accepts_says_why():
    message = one_line_error(CliRunner().invoke(main, [
        "run", "core", "--problem", "gaussian(dim=1)", "--estimator", "score_function(baseline=loo)",
        "--num-samples", "1", "--dry-run"]))
    assert message.startswith("Error: no cell of suite 'core' runs with --num-samples 1: "
                              "score_function(baseline=loo): baseline='loo' needs num_samples >= 2")


@pytest.mark.parametrize("command", ["run", "report", "check", "advise", "list"])
def test_every_file_a_help_text_names_exists(command):
    text = CliRunner().invoke(main, [command, "--help"], env={"COLUMNS": "400"}).output
    named = re.findall(r"[\w/]+\.(?:py|toml)\b", text)
    for path in named:
        assert (ROOT / path).exists(), f"{command} --help names {path}, which does not exist"
    if command == "run":
        assert "suites/run/grids/files.py" in named


def test_progress_lines_in_a_log_keep_the_whole_label(tmp_path):
    # not a terminal: a line per cell on stdout; the label (90 characters) ends in M and K
    result = CliRunner().invoke(main, [
        "run", "core", "--problem", "gaussian(cost=cos,dim=100)", "--estimator",
        "score_function(baseline=loo_optimal)", "--num-estimates", "200", "--min-run-time", "0",
        "--out", str(tmp_path / "run")], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.output.splitlines() if line.startswith("[1/1] ")]
    assert re.fullmatch(r"\[1/1\] gaussian\(cost=cos,dim=100\) x score_function\(baseline="
                        r"loo_optimal\) on cpu M=200 K=4  \d+\.\d s  stored", line), line
