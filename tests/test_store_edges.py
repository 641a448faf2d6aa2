"""The run directory's counts by value: cells recorded and finished after interrupts, kills,
partial resumes and rows missing; what a resume refuses and what a report brings in line."""
from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from click.testing import CliRunner

from suites.cli import main
from suites.store import rundir as store

# 4 cells: reparam and score_function with 3 baselines, on one gaussian configuration
RUN = ["run", "core", "--problem", "gaussian(dim=1)", "--estimator", "reparam",
       "--estimator", "score_function", "--num-estimates", "200", "--min-run-time", "0"]


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("measured") / "run"
    result = CliRunner().invoke(main, [*RUN, "--out", str(run_dir)])
    assert result.exit_code == 0, result.output
    return run_dir


@pytest.fixture
def run_dir(measured, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(measured, copy)
    return copy


def meta(run_dir) -> dict:
    return json.loads((run_dir / store.META).read_text())


def keep_rows(run_dir, rows: pd.DataFrame) -> None:
    store.atomic_write_text(run_dir / store.RESULTS, store.table_csv(rows))


def test_an_interrupted_run_resumed_for_part_of_its_cells_keeps_its_cell_count(run_dir):
    table = store.read_results(run_dir, require_key=True)
    first = table[store.KEY_COLUMN].iloc[0]  # score_function, baseline none: stored
    keep_rows(run_dir, table[table[store.KEY_COLUMN] == first])  # interrupted after one cell
    store.write_meta(run_dir, {**meta(run_dir), "finished_cells": 1, "end_utc": None})
    # resume only reparam's cell: 1 of the 3 unfinished
    result = CliRunner().invoke(main, ["run", "--resume", str(run_dir), "--estimator", "reparam"])
    assert result.exit_code == 0, result.output
    after = meta(run_dir)
    assert (after["cells"], after["finished_cells"]) == (4, 2)
    dry = CliRunner().invoke(main, ["run", "--resume", str(run_dir), "--dry-run"])
    assert dry.output.splitlines()[-1] == "4 cells: 2 finished, 2 to run"


def test_a_training_cell_is_incomplete_without_its_last_step_off_the_logging_interval():
    from suites.run.grids.base import Cell
    # 25 steps logged every 10: rows at 0, 10, 20 and the last, 25
    cell = Cell("bernoulli", {}, "reparam", {}, "cpu", 1, 1, 0,
                {"kind": "train", "steps": 25, "lr": 0.1, "log_every": 10, "variance_estimates": 0})
    key = store.cell_key(cell)
    rows = pd.DataFrame({"step": [0, 10, 20, 25], store.KEY_COLUMN: key})
    assert store.incomplete_keys(rows) == set() and store.finished_keys(rows) == {key}
    assert store.incomplete_keys(rows.iloc[:3]) == {key}
    assert store.finished_keys(rows.iloc[:3]) == set()


def test_a_cell_with_a_row_missing_is_never_counted_even_alone_in_its_configuration(run_dir):
    table = store.read_results(run_dir, require_key=True)
    reparam = table[table["estimator"] == "reparam"]
    assert list(reparam["param"]) == ["loc", "scale"] and set(reparam[store.ROWS_COLUMN]) == {2}
    # the only cell of the file, its scale row gone: nothing else says it had one
    keep_rows(run_dir, reparam.iloc[:1])
    cut = store.read_results(run_dir, require_key=True)
    key = reparam[store.KEY_COLUMN].iloc[0]
    assert store.incomplete_keys(cut) == {key} and store.finished_keys(cut) == set()
    store.write_meta(run_dir, {**meta(run_dir), "finished_cells": 4})
    dry = CliRunner().invoke(main, ["run", "--resume", str(run_dir), "--dry-run"])
    assert dry.output.splitlines()[-1] == "4 cells: 0 finished, 4 to run"
    assert store.reconcile_meta(run_dir).endswith(
        "meta.json said 4 of 4 cells finished, results.csv holds 0 (the run was killed before "
        "recording them): brought in line")
    assert meta(run_dir)["finished_cells"] == 0


def test_a_run_stored_before_cell_rows_reads_and_counts_as_before(run_dir):
    table = store.read_results(run_dir, require_key=True)
    keep_rows(run_dir, table.drop(columns=store.ROWS_COLUMN))
    old = store.read_results(run_dir, require_key=True)
    assert old[store.ROWS_COLUMN].isna().all() and len(store.finished_keys(old)) == 4


def test_report_of_a_killed_run_brings_meta_in_line_and_says_so(run_dir, monkeypatch):
    import sys
    import types
    calls = []
    # a stand-in for the renderer (matplotlib takes seconds to import): what it is asked
    stand_in = types.ModuleType("suites.read.report.render")
    stand_in.render = lambda runs, out, formats: calls.append((runs, out)) or []
    monkeypatch.setitem(sys.modules, "suites.read.report.render", stand_in)
    # what kill -9 between a cell's write and its bookkeeping leaves
    store.write_meta(run_dir, {**meta(run_dir), "finished_cells": 0})
    result = CliRunner().invoke(main, ["report", str(run_dir / store.RESULTS)])
    assert result.exit_code == 0, result.output
    assert (f"{run_dir}: meta.json said 0 of 4 cells finished, results.csv holds 4 (the run was "
            f"killed before recording them): brought in line") in result.output
    assert meta(run_dir)["finished_cells"] == 4
    # RUN/results.csv, which --help offers, reports into RUN/report as RUN does
    assert calls == [([str(run_dir / store.RESULTS)], run_dir / "report")]


def test_resume_of_a_killed_run_brings_meta_in_line_and_says_so(run_dir):
    table = store.read_results(run_dir, require_key=True)
    keep_rows(run_dir, table[table["estimator"] == "reparam"])
    store.write_meta(run_dir, {**meta(run_dir), "finished_cells": 0})
    result = CliRunner().invoke(main, ["run", "--resume", str(run_dir), "--estimator", "reparam"])
    assert result.exit_code == 0, result.output
    assert (f"{run_dir}: meta.json said 0 of 4 cells finished, results.csv holds 1 (the run "
            f"was killed before recording them): brought in line") in result.output


def test_a_resume_that_changes_a_setting_says_what_was_and_what_is_asked(run_dir):
    result = CliRunner().invoke(main, ["run", "--resume", str(run_dir), "--num-samples", "3"])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "None" not in result.output
    assert result.output == (f"Error: --resume {run_dir}: the run was measured without "
                             f"--num-samples (the suite's own values), not with --num-samples 3; "
                             f"one run keeps one setting (start a new run with --out to measure "
                             f"another)\n")
