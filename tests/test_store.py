import os

import pandas as pd
import pytest

from suites.store import rundir as store
from suites.run.grids import Cell
from suites.measurement.measure import COLUMNS
from suites.run.runner import run_cell

CELLS = [Cell("bernoulli", {"dim": 3}, "score_function", {"baseline": "loo"}, "cpu", 50, 4, 0),
         Cell("bernoulli", {"dim": 3}, "gumbel_softmax", {"temperature": 0.5}, "cpu", 50, 4, 0)]


@pytest.fixture(scope="module")
def cell_rows():
    return [(cell, run_cell(cell, suite="t", min_run_time=0)) for cell in CELLS]


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "f.txt"
    store.atomic_write_text(target, "old")
    store.atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert os.listdir(tmp_path) == ["f.txt"]


def test_failed_write_keeps_old_file_intact_and_cleans_up(tmp_path, monkeypatch):
    target = tmp_path / "results.csv"
    store.atomic_write_text(target, "a,b\n1,2\n")

    def broken_fsync(fd):
        raise OSError("disk full")
    monkeypatch.setattr(store.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        store.atomic_write_text(target, "half a table")
    assert target.read_text() == "a,b\n1,2\n"
    assert os.listdir(tmp_path) == ["results.csv"]


def test_interrupt_during_write_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "results.csv"
    store.atomic_write_text(target, "old")

    def interrupted(src, dst):
        raise KeyboardInterrupt
    monkeypatch.setattr(store.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["results.csv"]


def test_append_cell_by_cell_reads_back_exactly(tmp_path, cell_rows):
    table = store.empty_table()
    for n, (cell, rows) in enumerate(cell_rows, start=1):
        table = store.append_cell(tmp_path, table, cell, rows)
        back = store.read_results(tmp_path, require_key=True)
        # After each cell the file on disk holds exactly the finished cells.
        assert store.finished_keys(back) == {store.cell_key(c) for c, _ in cell_rows[:n]}
    expected = pd.concat([rows for _, rows in cell_rows], ignore_index=True)
    pd.testing.assert_frame_equal(back[COLUMNS], expected[COLUMNS], check_exact=True,
                                  check_dtype=False)
    assert back["biased"].dtype == bool


def test_read_results_rejects_what_is_not_a_run(tmp_path):
    with pytest.raises(ValueError, match="holds no results.csv"):
        store.read_results(tmp_path)
    (tmp_path / "results.csv").write_text("")
    with pytest.raises(ValueError, match="empty file"):
        store.read_results(tmp_path)
    (tmp_path / "results.csv").write_text("name,score\nfoo,1\n")
    with pytest.raises(ValueError, match=r"not a mcgradbench results table \(missing columns: suite"):
        store.read_results(tmp_path)
    with pytest.raises(ValueError, match="no such run directory"):
        store.read_results(tmp_path / "nope")


def test_read_results_rejects_non_numeric_statistics(tmp_path, cell_rows):
    cell, rows = cell_rows[0]
    store.append_cell(tmp_path, store.empty_table(), cell, rows.assign(variance="lots"))
    with pytest.raises(ValueError, match="column 'variance' holds non-numbers"):
        store.read_results(tmp_path)


def test_resume_needs_the_key_column(tmp_path, cell_rows):
    rows = cell_rows[0][1]
    (tmp_path / "results.csv").write_text(rows.to_csv(index=False))
    assert len(store.read_results(tmp_path)) == len(rows)
    with pytest.raises(ValueError, match="missing columns: cell_key"):
        store.read_results(tmp_path, require_key=True)


def test_meta_records_environment_and_sessions(tmp_path):
    started = store.utc_now()
    meta = store.new_meta("core", CELLS, "mcgradbench run core", {"seed": None}, started)
    store.write_meta(tmp_path, meta)
    back = store.read_meta(tmp_path)
    for key in ("package_version", "torch_version", "git_commit", "cpu_model", "devices",
                "command", "seeds", "suite", "cells", "start_utc", "end_utc"):
        assert key in back, key
    assert back["cells"] == 2 and back["seeds"] == [0] and back["end_utc"] is None
    assert "cpu" in back["devices"]
    resumed = store.resumed_meta(back, CELLS, 1, "mcgradbench run --resume x", started)
    done = store.progressed_meta(resumed, 2, ended=started)
    assert len(done["sessions"]) == 2 and done["sessions"][-1]["end_utc"] == started.isoformat()
    assert done["finished_cells"] == 2 and done["start_utc"] == meta["start_utc"]


def test_read_meta_rejects_bad_json(tmp_path):
    (tmp_path / "meta.json").write_text("{not json")
    with pytest.raises(ValueError, match="meta.json: not valid JSON"):
        store.read_meta(tmp_path)
    (tmp_path / "empty").mkdir()
    assert store.read_meta(tmp_path / "empty") == {}


def test_default_run_dir_is_unique(tmp_path):
    moment = store.utc_now()
    first = store.default_run_dir("core", moment, root=tmp_path)
    first.mkdir()
    second = store.default_run_dir("core", moment, root=tmp_path)
    assert first.name.endswith("Z-core") and second != first


def test_a_run_directory_has_one_writer(tmp_path):
    from click.testing import CliRunner

    from suites.cli import main
    from suites.store.lock import RunLock

    args = ["run", "core", "--problem", "bernoulli", "--estimator", "disarm",
            "--num-estimates", "100", "--min-run-time", "0"]
    out = tmp_path / "run"
    out.mkdir()
    holder = RunLock(out).acquire("mcgradbench run core (the first writer)", "2026-01-01T00:00:00")
    try:
        second = CliRunner().invoke(main, [*args, "--out", str(out)])
        assert second.exit_code == 2
        assert "being written by another run" in second.output
        assert f"pid {os.getpid()}" in second.output and "the first writer" in second.output
        assert not (out / "results.csv").exists()  # the refused writer wrote nothing
    finally:
        holder.release()
    first = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert first.exit_code == 0, first.output
    with RunLock(out).acquire("another", "now"):
        resumed = CliRunner().invoke(main, ["run", "--resume", str(out)])
        assert resumed.exit_code == 2 and "being written by another run" in resumed.output


def test_written_files_get_the_mode_the_umask_gives(tmp_path):
    from suites.store.atomic import atomic_write_text
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "new.csv", "a\n")
        assert (tmp_path / "new.csv").stat().st_mode & 0o777 == 0o644
        os.chmod(tmp_path / "new.csv", 0o640)
        atomic_write_text(tmp_path / "new.csv", "b\n")  # a replaced file keeps its own mode
        assert (tmp_path / "new.csv").stat().st_mode & 0o777 == 0o640
        os.umask(0o077)
        atomic_write_text(tmp_path / "private.csv", "c\n")
        assert (tmp_path / "private.csv").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


@pytest.mark.parametrize("failure", ["disk full", "interrupt after the write"])
def test_a_failing_store_ends_in_one_line_and_meta_agrees_with_the_table(tmp_path, monkeypatch, failure):
    import errno
    import json

    from click.testing import CliRunner

    from suites.store import rundir as store_module
    from suites.cli import main

    real_append = store_module.append_cell
    calls = {"n": 0}

    def failing_append(run_dir, table, cell, rows):
        calls["n"] += 1
        if calls["n"] == 3:
            if failure == "disk full":
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            real_append(run_dir, table, cell, rows)
            raise KeyboardInterrupt  # after the atomic write, before the bookkeeping
        return real_append(run_dir, table, cell, rows)

    monkeypatch.setattr(store_module, "append_cell", failing_append)
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", "core", "--problem", "bernoulli", "--num-estimates",
                                       "100", "--min-run-time", "0", "--out", str(out)])
    stored = len(store_module.finished_keys(store_module.read_results(out, require_key=True)))
    meta = json.loads((out / "meta.json").read_text())
    assert meta["finished_cells"] == stored == (2 if failure == "disk full" else 3)
    assert f"{stored} of {meta['cells']} cells stored" in result.output
    assert f"mcgradbench run --resume {out}" in result.output
    if failure == "disk full":
        assert result.exit_code == 2 and "No space left on device" in result.output
        # the run's heading, the bar's label (printed once off a terminal), the error
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 3
        assert result.output.strip().splitlines()[-1].startswith("Error: cannot write to")
    else:
        assert result.exit_code == 130


def test_resume_refuses_mixed_settings_missing_meta_and_truncated_tables(tmp_path):
    from click.testing import CliRunner

    from suites.cli import main

    out = tmp_path / "run"
    first = CliRunner().invoke(main, ["run", "core", "--problem", "bernoulli", "--estimator", "disarm",
                                      "--num-estimates", "100", "--min-run-time", "0", "--out", str(out)])
    assert first.exit_code == 0, first.output
    mixed = CliRunner().invoke(main, ["run", "--resume", str(out), "--num-estimates", "200"])
    assert mixed.exit_code == 2
    assert "measured with --num-estimates 100, not 200" in mixed.output
    same = CliRunner().invoke(main, ["run", "--resume", str(out), "--num-estimates", "100"])
    assert same.exit_code == 0, same.output

    text = (out / "results.csv").read_text()
    (out / "results.csv").write_text(text[: len(text) - 40])
    truncated = CliRunner().invoke(main, ["run", "--resume", str(out)])
    assert truncated.exit_code == 2 and "truncated" in truncated.output
    (out / "results.csv").write_text(text)

    (out / "meta.json").unlink()
    no_meta = CliRunner().invoke(main, ["run", "--resume", str(out)])
    assert no_meta.exit_code == 2 and "no meta.json" in no_meta.output
