"""The run directory stays true: signals, resumes, rows missing, files cut short."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from suites.store import rundir as store
from suites.cli import main

ROOT = Path(__file__).resolve().parents[1]


def stored_cells(run_dir) -> int:
    return len(store.finished_keys(store.read_results(run_dir, require_key=True)))


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT", "SIGHUP"])
def test_a_signal_during_run_leaves_meta_in_step_with_results(tmp_path, name):
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "suites.cli", "run", "core", "--problem", "bernoulli",
         "--num-estimates", "20000", "--min-run-time", "0", "--out", str(run_dir)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if stored_cells(run_dir) >= 2:
                    break
            except (ValueError, OSError):
                pass  # not created yet, or created between two looks at it
            time.sleep(0.05)
        assert process.poll() is None, "the run ended before the signal"
        process.send_signal(getattr(signal, name))
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    meta = json.loads((run_dir / store.META).read_text())
    stored = stored_cells(run_dir)
    # the shell's convention: 128 + the signal's number (130 SIGINT, 143 SIGTERM, 129 SIGHUP)
    assert process.returncode == 128 + getattr(signal, name), (process.returncode, err[-2000:])
    assert "Traceback" not in err and f"interrupted ({name}): {stored} of" in err, err[-2000:]
    assert 2 <= stored < meta["cells"] == 65  # 54, ARMS, double CV, IndeCateR at 3 dims, unordered_set at 2
    assert meta["finished_cells"] == stored, (meta["finished_cells"], stored)
    # the session ended, by that signal; the run did not
    [session] = meta["sessions"]
    assert session["end_utc"] >= session["start_utc"] and session["interrupted"] == name
    assert meta["end_utc"] is None


def small_run(run_dir, *extra, problem="bernoulli(dim=1)"):
    result = CliRunner().invoke(main, ["run", "core", "--problem", problem,
                                       "--num-estimates", "200", "--min-run-time", "0", *extra,
                                       "--out", str(run_dir)])
    assert result.exit_code == 0, result.output
    return result


def report_runs_line(run_dir, out):
    from suites.read.report.render import render
    render([run_dir], out, ["md"])
    text = (out / "report.md").read_text()
    return text, next(line for line in text.splitlines() if "[results.csv](" in line)


def test_report_counts_finished_cells_from_results_csv(tmp_path):
    run_dir = tmp_path / "run"
    small_run(run_dir, "--estimator", "disarm", "--estimator", "reparam", "--estimator", "arm")
    meta = json.loads((run_dir / store.META).read_text())
    cells = stored_cells(run_dir)
    assert cells == meta["cells"] >= 2
    # What a SIGKILL between a cell's write and the bookkeeping leaves: meta behind results.csv.
    (run_dir / store.META).write_text(json.dumps({**meta, "finished_cells": 0}))
    text, line = report_runs_line(run_dir, tmp_path / "report")
    assert f"| {cells}/{cells} " in line, line
    assert "Not finished" not in text


def test_a_resume_never_shrinks_the_run(tmp_path):
    run_dir = tmp_path / "run"
    small_run(run_dir, "--estimator", "disarm", "--estimator", "arm")
    before = json.loads((run_dir / store.META).read_text())
    result = CliRunner().invoke(main, ["run", "--resume", str(run_dir), "--estimator", "disarm"])
    assert result.exit_code == 0, result.output
    after = json.loads((run_dir / store.META).read_text())
    assert after["cells"] == before["cells"] == stored_cells(run_dir) == after["finished_cells"]
    assert after["seeds"] == before["seeds"] and after["options"] == before["options"]
    _, line = report_runs_line(run_dir, tmp_path / "report")
    assert f"| {before['cells']}/{before['cells']} " in line, line


def test_a_cell_with_a_row_missing_is_rerun_and_reported(tmp_path):
    run_dir = tmp_path / "run"
    small_run(run_dir, "--estimator", "reparam", "--estimator", "score_function",
              problem="gaussian(dim=1)")
    table = store.read_results(run_dir, require_key=True)
    complete = stored_cells(run_dir)
    params = set(table["param"])
    assert len(params) >= 2  # a row per parameter, so that one can go missing
    victim = table[store.KEY_COLUMN].iloc[0]
    dropped = table.drop(index=table.index[0])  # one parameter's row of the first cell
    store.atomic_write_text(run_dir / store.RESULTS, store.table_csv(dropped))
    cut = store.read_results(run_dir, require_key=True)
    assert store.incomplete_keys(cut) == {victim}
    assert store.finished_keys(cut) == set(table[store.KEY_COLUMN]) - {victim}
    text, line = report_runs_line(run_dir, tmp_path / "report")
    assert f"| {complete - 1}/{complete} " in line, line
    assert "Warning: 1 cell(s)" in text and "rows missing" in text
    dry = CliRunner().invoke(main, ["run", "--resume", str(run_dir), "--dry-run"])
    assert f"{complete - 1} finished, 1 to run" in dry.output, dry.output
    result = CliRunner().invoke(main, ["run", "--resume", str(run_dir)])
    assert result.exit_code == 0, result.output
    again = store.read_results(run_dir, require_key=True)
    assert len(again) == len(table) and not store.incomplete_keys(again)
    # The rerun measures the same numbers (same seed): the table is whole again.
    key = ["cell_key", "param"]
    merged = again.merge(table, on=key, suffixes=("", "_before"))
    assert len(merged) == len(table)
    assert (merged["variance"] == merged["variance_before"]).all()
    assert json.loads((run_dir / store.META).read_text())["finished_cells"] == complete


def test_a_training_cell_with_a_step_missing_is_incomplete():
    from suites.run.grids.base import Cell
    cell = Cell("bernoulli", {}, "reparam", {}, "cpu", 1, 1, 0,
                {"kind": "train", "steps": 20, "lr": 0.1, "log_every": 10, "variance_estimates": 0})
    import pandas as pd
    rows = pd.DataFrame({"step": [0, 10, 20], store.KEY_COLUMN: store.cell_key(cell)})
    assert store.incomplete_keys(rows) == set()
    assert store.incomplete_keys(rows.iloc[[0, 2]]) == {store.cell_key(cell)}
    assert store.finished_keys(rows.iloc[[0, 1]]) == set()


def test_a_file_cut_anywhere_but_a_line_end_reads_as_truncated(tmp_path):
    run_dir = tmp_path / "run"
    small_run(run_dir, "--estimator", "disarm")
    whole = (run_dir / store.RESULTS).read_bytes()
    cut_file = tmp_path / "cut" / store.RESULTS
    cut_file.parent.mkdir()
    step = max(1, len(whole) // 97)  # about a hundred cuts: in the header, mid-row, mid-field
    for end in list(range(1, len(whole) - 1, step)) + [len(whole) - 1]:
        if whole[end - 1:end] == b"\n":
            continue
        cut_file.write_bytes(whole[:end])
        with pytest.raises(ValueError) as error:
            store.read_results(cut_file)
        assert "truncated" in str(error.value) and "\n" not in str(error.value), (end, str(error.value))
