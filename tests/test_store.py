import os

import pandas as pd
import pytest

from suites import store
from suites.grids import Cell
from suites.measure import COLUMNS
from suites.runner import run_cell

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
