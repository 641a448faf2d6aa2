"""A run directory on disk: ``results.csv`` (tidy rows) and ``meta.json``, written atomically.

Every write goes to a temporary file in the same directory, is flushed and
fsynced, then ``os.replace``d over the target: readers (and a run killed at
any instant) see the old file or the new one, never a torn one. The table
is rewritten whole after every cell, so a killed sweep leaves exactly the
cells that finished; ``--resume`` skips them by the ``cell_key`` column (the
JSON of ``Cell.key``). Cells are anything with ``key``, ``seed`` and ``device``
(``suites.run.grids.Cell``): the store knows the schema, not the grids.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd
import torch

from suites.store.atomic import atomic_write_text, write_json
from suites.store.environment import cpu_name, device_name, git_commit, package_version, resolve_device
from suites.store.schema import (COLUMNS, OPTIONAL_COLUMNS, SBN_COLUMNS, TRAIN_COLUMNS,
                                   TRAIN_OPTIONAL_COLUMNS)

RESULTS = "results.csv"
META = "meta.json"
#: Not a measurement column: which grid cell a row belongs to (what a resumed sweep skips).
KEY_COLUMN = "cell_key"
#: Not a measurement column either: how many rows the cell stored (one per parameter), so
#: that a cell with rows missing is known as such even where no other cell of its problem
#: configuration says which parameters it has. Runs stored before it read as NaN.
ROWS_COLUMN = "cell_rows"
STORED_COLUMNS = COLUMNS + [KEY_COLUMN, ROWS_COLUMN]
META_FORMAT = "mcgradbench-run/1"

BOOL_COLUMNS = ["biased"]
STRING_COLUMNS = [
    "suite", "problem", "problem_config", "estimator", "estimator_config", "param", "device",
    "dtype", "reference", "package_version", "torch_version", "device_name", "git_commit",
    "utc_time", KEY_COLUMN, "adapted_state",
    "pathwise",
]
NUMERIC_COLUMNS = [c for c in COLUMNS if c not in STRING_COLUMNS + BOOL_COLUMNS] + [ROWS_COLUMN]
#: Columns a stored table may lack (stored before they existed): read as NaN or "".
MISSING_OK = OPTIONAL_COLUMNS + [ROWS_COLUMN]
#: A training run's table (``suites.train``): one row per logged step.
TRAIN_STORED_COLUMNS = TRAIN_COLUMNS + [KEY_COLUMN]
TRAIN_STRING_COLUMNS = ["suite", "problem", "problem_config", "estimator", "estimator_config",
                        "device", "state", "package_version", "torch_version", "device_name",
                        "git_commit", "utc_time", KEY_COLUMN, "probes"]
TRAIN_NUMERIC_COLUMNS = [c for c in TRAIN_COLUMNS + SBN_COLUMNS if c not in TRAIN_STRING_COLUMNS]


# --- the results table -------------------------------------------------------------------

def table_csv(table: pd.DataFrame) -> str:
    """The CSV text of a results table (floats as shortest round-trip reprs, so reading is exact)."""
    return table.to_csv(index=False, lineterminator="\n")


def cell_key(cell: Any) -> str:
    """The ``cell_key`` column value of ``cell``'s rows."""
    return json.dumps(list(cell.key))


def empty_table() -> pd.DataFrame:
    return pd.DataFrame(columns=STORED_COLUMNS)


def append_cell(run_dir: str | os.PathLike, table: pd.DataFrame, cell: Any,
                rows: pd.DataFrame) -> pd.DataFrame:
    """``table`` plus ``cell``'s rows, rewritten atomically to ``run_dir/results.csv``; the new table."""
    if "step" in rows.columns:
        rows = rows.assign(**{c: float("nan") for c in TRAIN_OPTIONAL_COLUMNS if c not in rows})
        columns = TRAIN_COLUMNS + [c for c in SBN_COLUMNS if c in rows.columns] + [KEY_COLUMN]
        rows = rows.assign(**{KEY_COLUMN: cell_key(cell)})[columns]
    else:
        rows = rows.assign(**{KEY_COLUMN: cell_key(cell), ROWS_COLUMN: len(rows)})[STORED_COLUMNS]
    table = rows if table.empty else pd.concat([table, rows], ignore_index=True)
    atomic_write_text(Path(run_dir) / RESULTS, table_csv(table))
    return table


def finished_keys(table: pd.DataFrame) -> set[str]:
    """The ``cell_key`` of every cell that has all its rows in ``table`` (``incomplete_keys``
    are not finished: a resume measures them again)."""
    if KEY_COLUMN not in table:
        return set()
    return set(table[KEY_COLUMN]) - incomplete_keys(table)


def incomplete_keys(table: pd.DataFrame) -> set[str]:
    """The ``cell_key`` of every cell some of whose rows are missing from ``table``.

    The store writes a cell's rows together, so a gap means the file was edited or cut
    outside it. A measurement has one row per parameter of its problem: as many rows as its
    ``cell_rows`` says, and the parameters the table holds for that problem configuration
    (all that a run stored before ``cell_rows`` existed can tell). A training cell has a row
    at step 0, every ``log_every`` steps and the last (its key's settings).
    """
    if KEY_COLUMN not in table or table.empty:
        return set()
    cells = table.groupby(KEY_COLUMN, sort=False)
    if "step" in table.columns:
        return {key for key, rows in cells if not _train_steps_complete(key, set(rows["step"]))}
    expected = table.groupby(["problem", "problem_config"], sort=False)["param"].agg(set)

    def whole(rows) -> bool:
        counts = rows[ROWS_COLUMN].dropna() if ROWS_COLUMN in rows else ()
        if len(counts) and (counts != len(rows)).any():
            return False
        return set(rows["param"]) == expected[(rows["problem"].iloc[0], rows["problem_config"].iloc[0])]
    return {key for key, rows in cells if not whole(rows)}


def _train_steps_complete(key: str, steps: set) -> bool:
    """Whether a training cell's logged ``steps`` are all those its settings log."""
    try:
        settings = json.loads(json.loads(key)[-1])
        last, every = int(settings["steps"]), int(settings["log_every"])
    except (ValueError, TypeError, KeyError, IndexError):
        return True  # a key without settings: nothing to check against
    return {0, last, *range(every, last + 1, every)} <= {int(s) for s in steps}


def results_path(path: str | os.PathLike) -> Path:
    """``results.csv`` of a run directory (or the CSV itself when given one)."""
    path = Path(path)
    if path.is_dir():
        return path / RESULTS
    if path.suffix == ".csv" or path.exists():
        return path
    raise ValueError(f"{path}: no such run directory")


TRUNCATED = ("{csv}: truncated (its last line is incomplete); restore it from a backup, or "
             "delete the incomplete line to resume without that cell")


def read_results(path: str | os.PathLike, require_key: bool = False) -> pd.DataFrame:
    """The validated results table of a run directory; ``ValueError`` (one line) if it is not one."""
    csv = results_path(path)
    if not csv.exists():
        raise ValueError(f"{csv.parent}: holds no {RESULTS} (not a mcgradbench run directory)")
    # The store writes whole files ending in a newline; anything else was cut short outside
    # it. Checked before parsing, which would name a cut file after wherever the cut fell.
    with open(csv, "rb") as handle:
        if handle.seek(0, os.SEEK_END) and (handle.seek(-1, os.SEEK_END), handle.read(1))[1] != b"\n":
            raise ValueError(TRUNCATED.format(csv=csv))
    try:
        header = pd.read_csv(csv, nrows=0).columns
    except pd.errors.EmptyDataError:
        raise ValueError(f"{csv}: empty file, not a mcgradbench results table") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise ValueError(f"{csv}: unreadable CSV ({str(error).splitlines()[0]})") from None
    if "step" in header:
        return read_train_results(csv, header, require_key)
    required = STORED_COLUMNS if require_key else COLUMNS
    missing = [c for c in required if c not in header and c not in MISSING_OK]
    if missing:
        shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
        raise ValueError(f"{csv}: not a mcgradbench results table (missing columns: {shown})")
    try:
        table = pd.read_csv(
            csv, keep_default_na=False,
            dtype={c: str for c in STRING_COLUMNS + BOOL_COLUMNS if c in header},
            na_values={c: ["", "nan", "NaN"] for c in NUMERIC_COLUMNS},
        )
    except (ValueError, pd.errors.ParserError) as error:
        raise ValueError(f"{csv}: unreadable CSV ({str(error).splitlines()[0]})") from None
    if len(table) and table.iloc[-1].isna().all():
        raise ValueError(TRUNCATED.format(csv=csv))
    # Columns added after a run was stored were not computed for it: NaN, never a guess.
    table = table.assign(**{c: "" if c in STRING_COLUMNS else float("nan")
                            for c in OPTIONAL_COLUMNS if c not in table})
    if KEY_COLUMN in table and ROWS_COLUMN not in table:
        table = table.assign(**{ROWS_COLUMN: float("nan")})
    return _typed(table, csv)


def read_train_results(csv: Path, header, require_key: bool) -> pd.DataFrame:
    """A training run's validated table (``read_results`` of a run whose rows have ``step``)."""
    required = TRAIN_STORED_COLUMNS if require_key else TRAIN_COLUMNS
    missing = [c for c in required if c not in header and c not in TRAIN_OPTIONAL_COLUMNS]
    if missing:
        raise ValueError(f"{csv}: not a mcgradbench training table (missing columns: "
                         f"{', '.join(missing[:6])})")
    try:
        table = pd.read_csv(csv, keep_default_na=False,
                            dtype={c: str for c in TRAIN_STRING_COLUMNS if c in header},
                            na_values={c: ["", "nan", "NaN"] for c in TRAIN_NUMERIC_COLUMNS})
    except (ValueError, pd.errors.ParserError) as error:
        raise ValueError(f"{csv}: unreadable CSV ({str(error).splitlines()[0]})") from None
    if len(table) and table.iloc[-1].isna().all():
        raise ValueError(TRUNCATED.format(csv=csv))
    # Columns added after a run was stored were not computed for it: NaN, never a guess.
    table = table.assign(**{c: float("nan") for c in TRAIN_OPTIONAL_COLUMNS if c not in table})
    for column in TRAIN_NUMERIC_COLUMNS:
        if len(table) and column in table and not pd.api.types.is_numeric_dtype(table[column]):
            raise ValueError(f"{csv}: column {column!r} holds non-numbers")
    return table


def _typed(table: pd.DataFrame, csv: Path) -> pd.DataFrame:
    if table.empty:
        # A header-only table (a run killed before its first cell) has no values to infer from.
        return table.astype({c: float for c in NUMERIC_COLUMNS if c in table} | {"biased": bool})
    for column in (c for c in NUMERIC_COLUMNS if c in table):
        if not pd.api.types.is_numeric_dtype(table[column]):
            raise ValueError(f"{csv}: column {column!r} holds non-numbers")
    flags = table["biased"].map({"True": True, "False": False})
    if flags.isna().any():
        raise ValueError(f"{csv}: column 'biased' holds values other than True/False")
    return table.assign(biased=flags.astype(bool))


# --- run metadata ------------------------------------------------------------------------

def utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)


def utc_stamp(moment: _dt.datetime) -> str:
    """``20250102T030405Z``: sortable and safe in a directory name."""
    return moment.strftime("%Y%m%dT%H%M%SZ")


def default_run_dir(suite: str, moment: _dt.datetime, root: str = "results/runs") -> Path:
    """``results/runs/<utc-time>-<suite>``, made unique if that name is taken."""
    base = Path(root) / f"{utc_stamp(moment)}-{suite}"
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def git_dirty() -> bool | None:
    """Whether tracked files differ from the commit (then ``git_commit`` is not the whole story)."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        # results/ is data, rewritten by `make bench` itself: its changes say nothing of the code.
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                              ":(top)", ":(top,exclude)results"], cwd=here,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.stdout.strip()) if out.returncode == 0 else None


def environment(devices: Iterable[str]) -> dict[str, Any]:
    """Versions, commit and hardware: what a number depends on besides its cell."""
    return {
        "package_version": package_version(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "cpu_model": cpu_name(),
        "threads": torch.get_num_threads(),
        "devices": {d: device_name(resolve_device(d)) for d in sorted(set(devices))},
    }


def open_session(cells: Sequence[Any], command: str, started: _dt.datetime) -> dict[str, Any]:
    """One invocation of ``run`` (the first, or a ``--resume``): command, times, environment."""
    return {"command": command, "start_utc": started.isoformat(), "end_utc": None,
            **environment(c.device for c in cells)}


def new_meta(suite: str, cells: Sequence[Any], command: str, options: dict[str, Any],
             started: _dt.datetime) -> dict[str, Any]:
    """``meta.json`` of a run that is starting."""
    session = open_session(cells, command, started)
    return {
        "format": META_FORMAT,
        "run_id": f"{utc_stamp(started)}-{suite}",
        "suite": suite,
        "cells": len(cells),
        "finished_cells": 0,
        "seeds": sorted({c.seed for c in cells}),
        "options": options,
        **session,
        "sessions": [session],
    }


def resumed_meta(meta: dict[str, Any], cells: Sequence[Any], finished: int, command: str,
                 started: _dt.datetime, total: int | None = None) -> dict[str, Any]:
    """``meta`` with one more session (a ``--resume``) opened; ``total``: the run's cells
    as far as this session knows them (default: ``len(cells)``), never fewer than recorded."""
    session = open_session(cells, command, started)
    # A resume that selects fewer cells runs part of the run; the run stays what it was (its
    # recorded cells and seeds), grown by whatever new cells the resume adds.
    return {**meta, "cells": max(int(meta.get("cells") or 0), len(cells) if total is None else total),
            "finished_cells": finished, "end_utc": None,
            "seeds": sorted({*meta.get("seeds", []), *(c.seed for c in cells)}),
            "sessions": [*meta.get("sessions", []), session]}


def progressed_meta(meta: dict[str, Any], finished: int, ended: _dt.datetime | None = None,
                    interrupted: str | None = None) -> dict[str, Any]:
    """``meta`` after ``finished`` cells; with ``ended``, this session is over: the run too,
    unless ``interrupted`` (the signal, ``SIGTERM``), which the session then records."""
    if ended is None:
        return {**meta, "finished_cells": finished}
    sessions = [*meta.get("sessions", [])]
    if sessions:
        sessions[-1] = {**sessions[-1], "end_utc": ended.isoformat(),
                        **({"interrupted": interrupted} if interrupted else {})}
    if interrupted:
        return {**meta, "finished_cells": finished, "sessions": sessions}
    return {**meta, "finished_cells": finished, "end_utc": ended.isoformat(), "sessions": sessions}


def reconciled_meta(meta: dict[str, Any], finished: int) -> tuple[dict[str, Any], str | None]:
    """``meta`` with ``finished_cells`` set to the ``finished`` cells ``results.csv`` holds, and
    the line that says so where they disagreed (a run killed by SIGKILL or a power cut after
    storing a cell and before recording it), else ``None``."""
    recorded = meta.get("finished_cells")
    if not meta or recorded == finished:
        return meta, None
    note = (f"{META} said {recorded} of {meta.get('cells', '?')} cells finished, {RESULTS} "
            f"holds {finished} (the run was killed before recording them): brought in line")
    return {**meta, "finished_cells": finished}, note


def reconcile_meta(run_dir: str | os.PathLike) -> str | None:
    """Bring ``run_dir``'s ``meta.json`` in line with its ``results.csv`` (``reconciled_meta``),
    under the run's lock; the line saying so, or ``None`` (nothing to do, or another process
    is writing the run: it keeps meta.json in step itself)."""
    from suites.store.lock import RunLock, RunLocked

    def behind() -> tuple[dict, str | None]:
        table = read_results(run_dir, require_key=True)
        return reconciled_meta(read_meta(run_dir), len(finished_keys(table)))

    run_dir = Path(run_dir)
    run_dir = run_dir if run_dir.is_dir() else run_dir.parent
    try:
        if not (run_dir / META).exists() or behind()[1] is None:
            return None  # in step: nothing to lock or write (a published run stays untouched)
        lock = RunLock(run_dir).acquire("mcgradbench report", utc_now().isoformat())
    except (RunLocked, ValueError, OSError):
        return None  # being written, unreadable (the reader reports it) or read-only
    with lock:
        try:
            meta, note = behind()  # again, under the lock
            if note:
                write_meta(run_dir, meta)
        except (ValueError, OSError):
            return None
    return f"{run_dir}: {note}" if note else None


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    """A run directory's ``meta.json`` (``{}`` when it has none; ``ValueError`` when unreadable)."""
    path = Path(path)
    meta_path = (path if path.is_dir() else path.parent) / META
    if not meta_path.exists():
        return {}
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{meta_path}: not valid JSON ({error})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{meta_path}: expected a JSON object, got {type(meta).__name__}")
    return meta


def write_meta(run_dir: str | os.PathLike, meta: dict[str, Any]) -> None:
    write_json(Path(run_dir) / META, meta)
