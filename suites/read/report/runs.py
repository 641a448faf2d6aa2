"""Load one or more run directories into one table, each row tagged with its run, plus derived columns."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from suites.store import rundir as store
from suites.problems.labels import (estimator_label, parse_config, problem_label, varying_keys, with_options)
from suites.read.ranking import seconds_per_estimate

#: What identifies one measured number (a cell and parameter) across runs.
IDENTITY = ["suite", "problem", "problem_config", "estimator", "estimator_config", "device",
            "num_estimates", "num_samples", "seed", "param"]


def load_runs(paths: Sequence[str | Path]) -> tuple[pd.DataFrame, list[dict]]:
    """All rows of ``paths`` (with ``run`` and ``run_dir`` columns) and each run's meta."""
    frames, metas = read_runs(paths)
    return annotate(pd.concat(frames, ignore_index=True)), metas


def read_runs(paths: Sequence[str | Path]) -> tuple[list[pd.DataFrame], list[dict]]:
    """Each run's table (with ``run`` and ``run_dir`` columns) and meta, runs named apart."""
    if not paths:
        raise ValueError("no run directories given")
    frames, metas, seen = [], [], set()
    for path in paths:
        table = store.read_results(path)
        if table.empty:
            raise ValueError(f"{store.results_path(path)}: holds no result rows")
        meta = store.read_meta(path)
        run = unique_name(meta.get("run_id") or _run_dir(path).name, seen)
        seen.add(run)
        frames.append(table.assign(run=run, run_dir=str(_run_dir(path))))
        counted = {}
        if store.KEY_COLUMN in table:
            # Counted from results.csv, which a killed run (SIGKILL, a power cut) leaves ahead
            # of meta.json; a cell with rows missing is not finished.
            incomplete = store.incomplete_keys(table)
            counted = {"finished_cells": len(store.finished_keys(table)),
                       "incomplete_cells": sorted(incomplete)}
        metas.append({**meta, **counted, "run": run, "run_dir": str(_run_dir(path)),
                      "rows": len(table)})
    return frames, metas


def _run_dir(path: str | Path) -> Path:
    path = Path(path)
    return path if path.is_dir() else path.parent


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name#2``, ``name#3``... when two inputs share a run id."""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}#{n}"
    return candidate


def annotate(df: pd.DataFrame) -> pd.DataFrame:
    """Derived columns the tables and figures share: labels, dim, temperature, time per estimate."""
    problem_keys = {name: varying_keys(group["problem_config"].unique())
                    for name, group in df.groupby("problem")}
    variant_keys = {name: [k for k in keys if k != "dim"] for name, keys in problem_keys.items()}
    problem_configs = [parse_config(c) for c in df["problem_config"]]
    estimator_configs = [parse_config(c) for c in df["estimator_config"]]
    return df.assign(
        estimator_label=[estimator_label(n, c) for n, c in zip(df["estimator"], df["estimator_config"])],
        # The estimator without its temperature: one line per family in bias-vs-temperature.
        estimator_family=[with_options(n, {k: v for k, v in c.items() if k != "temperature"})
                          for n, c in zip(df["estimator"], estimator_configs)],
        # One label format everywhere: the one run, advise and check accept and the CLI prints.
        problem_label=[problem_label(n, c) for n, c in zip(df["problem"], df["problem_config"])],
        problem_variant=[problem_label(n, c, variant_keys[n])
                         for n, c in zip(df["problem"], df["problem_config"])],
        dim=[c.get("dim") for c in problem_configs],
        temperature=[c.get("temperature") for c in estimator_configs],
        time_per_estimate_s=seconds_per_estimate(df["time_s"], df["timed_estimates"]),
    )


def repeated(df: pd.DataFrame) -> bool:
    """Whether some cell was measured in more than one run."""
    return bool(df.duplicated(IDENTITY).any())


def latest(df: pd.DataFrame) -> pd.DataFrame:
    """One row per cell and parameter: the run given last wins (what the figures plot)."""
    return df.drop_duplicates(IDENTITY, keep="last")
