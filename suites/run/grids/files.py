"""Grid files: a suite written in TOML, read with ``tomllib`` and checked before anything runs.

The one way to express a grid: the built-in suites are such files shipped with
the package (``suites/run/grids/*.toml``), and ``mcgradbench run --grid FILE``
runs a user's. A file names problems with their configurations and
estimators with their options and inner samples ``K`` (or a matched budget of
cost evaluations), over ``M``, seeds and devices::

    name = "my_grid"
    description = "score function against reparam on my model"
    num_estimates = 2000                    # M: an integer or a list
    seeds = [0]                             # default [0]
    devices = ["cpu"]                       # default: cpu, and cuda when available
    time_full_calls = false                 # true: time one raw call of all M estimates

    [[problems]]
    name = "gaussian"                       # a registered name or pkg.module:Class
    configs = [{dim = 1}, {dim = 10}]       # default [{}]
    num_estimates = 5000                    # optional: this problem's M

    [[estimators]]
    name = "score_function"
    options = [{baseline = "none"}, {baseline = "loo"}]   # default [{}]
    num_samples = [4]                       # K ...

    [[estimators]]
    name = "disarm"
    evaluations = [4]                       # ... or a budget of cost evaluations per estimate: the
                                            # largest K whose estimate costs at most that on each
                                            # problem (Estimator.evaluations: DisARM 2 K, REBAR
                                            # 3 K, IndeCateR K D C, others K); or
    evaluations_per_sample = 2              # K = floor(evaluations / evaluations_per_sample)

Cells are every problem config x M x device x estimator option x K x seed
where the estimator applies to the problem and accepts that ``K`` (a
leave-one-out baseline needs ``K >= 2``; a budget below one sample gives no
cell): the rule the built-in grids follow. A malformed file is a one-line
``ValueError`` naming the file, the key and what is allowed.
"""
from __future__ import annotations

import itertools
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

from estimators.registry import check_keywords, split_spec

from suites.run.grids.base import Cell, Suite, default_devices, samples_within

TOP_KEYS = {"name": "a string", "description": "a string", "num_estimates": "an integer >= 2 or a list of them",
            "seeds": "a list of integers", "devices": "a list of cpu, cuda or cuda:N",
            "problems": "an array of tables [[problems]]", "estimators": "an array of tables [[estimators]]",
            "time_full_calls": "true or false (time one raw call of all M estimates, not one chunk)"}
PROBLEM_KEYS = {"name": "a problem name or pkg.module:Class", "configs": "a list of tables",
                "num_estimates": "an integer >= 2 or a list of them"}
ESTIMATOR_KEYS = {"name": "an estimator name or pkg.module:Class", "options": "a list of tables",
                  "num_samples": "a list of integers >= 1", "evaluations": "a list of integers >= 1",
                  "evaluations_per_sample": "an integer >= 1"}


class GridError(ValueError):
    """A malformed grid file: one line naming the file, the key and what is allowed."""


def _fail(source: str, key: str, message: str) -> GridError:
    return GridError(f"{source}: {key}: {message}")


def _unknown_keys(source: str, where: str, table: dict, allowed: dict) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise _fail(source, f"{where}{unknown[0]}", f"unknown key; allowed: {', '.join(allowed)}")


def _int_list(source: str, key: str, value: Any, minimum: int, what: str) -> list[int]:
    values = value if isinstance(value, list) else [value]
    if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < minimum for v in values):
        raise _fail(source, key, f"must be {what}, got {value!r}")
    return values


def _tables(source: str, key: str, value: Any) -> list[dict]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, dict) for v in values):
        raise _fail(source, key, f"must be a list of tables like [{{dim = 3}}], got {value!r}")
    return values


def _string(source: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(source, key, f"must be a non-empty string, got {value!r}")
    return value


def _entries(source: str, data: dict, key: str, allowed: dict):
    """``(where, table)`` for each table of the array ``key``, each checked for unknown keys."""
    if not isinstance(data[key], list) or not data[key]:
        raise _fail(source, key, f"must be {TOP_KEYS[key]}")
    for i, entry in enumerate(data[key]):
        if not isinstance(entry, dict):
            raise _fail(source, f"{key}[{i}]", "must be a table")
        _unknown_keys(source, f"{key}[{i}].", entry, allowed)
        yield f"{key}[{i}].", entry


def parse_grid(data: dict, source: str = "<grid>") -> Suite:
    """A ``Suite`` from a grid file's parsed TOML; every key and entry checked first."""
    import estimators

    from suites import problems as problem_registry
    from suites.measurement.measure import resolve_device

    _unknown_keys(source, "", data, TOP_KEYS)
    for key in ("name", "problems", "estimators"):
        if key not in data:
            raise _fail(source, key, f"missing; a grid needs {TOP_KEYS[key]}")
    name = _string(source, "name", data["name"])
    description = _string(source, "description", data.get("description", f"grid file {source}"))
    default_m = _int_list(source, "num_estimates", data.get("num_estimates", 10_000), 2, TOP_KEYS["num_estimates"])
    seeds = _int_list(source, "seeds", data.get("seeds", [0]), 0, "a list of integers >= 0")
    devices = data.get("devices")
    if devices is not None:
        if not isinstance(devices, list) or not devices or not all(isinstance(d, str) for d in devices):
            raise _fail(source, "devices", f"must be {TOP_KEYS['devices']}, got {devices!r}")
        for device in devices:
            try:
                resolve_device(device)
            except ValueError as error:
                raise _fail(source, "devices", str(error)) from None

    problem_entries = []
    for where, entry in _entries(source, data, "problems", PROBLEM_KEYS):
        pname = _string(source, where + "name", entry.get("name"))
        configs = _tables(source, where + "configs", entry.get("configs", [{}]))
        # Name and keywords now; values when the cells are built (constructing a problem
        # may train a model), still before any cell runs.
        try:
            cls = problem_registry._REGISTRY.lookup(split_spec(pname)[0])
            for j, config in enumerate(configs):
                check_keywords("problem", pname, cls.__init__, config)
        except ValueError as error:
            raise _fail(source, f"{where}configs" if configs != [{}] else where + "name", str(error)) from None
        ms = _int_list(source, where + "num_estimates", entry.get("num_estimates", default_m), 2,
                       PROBLEM_KEYS["num_estimates"])
        problem_entries.append((pname, configs, ms))

    estimator_entries = []
    for where, entry in _entries(source, data, "estimators", ESTIMATOR_KEYS):
        ename = _string(source, where + "name", entry.get("name"))
        options = _tables(source, where + "options", entry.get("options", [{}]))
        for j, option in enumerate(options):
            try:
                estimators.get(ename, **option)
            except ValueError as error:
                raise _fail(source, f"{where}options[{j}]" if option else where + "name", str(error)) from None
        if ("num_samples" in entry) == ("evaluations" in entry):
            raise _fail(source, where + "num_samples",
                        "give exactly one of num_samples (K) or evaluations (a cost budget)")
        if "num_samples" in entry:
            if "evaluations_per_sample" in entry:
                raise _fail(source, where + "evaluations_per_sample", "only with evaluations")
            ks = _int_list(source, where + "num_samples", entry["num_samples"], 1, ESTIMATOR_KEYS["num_samples"])
        else:
            budgets = _int_list(source, where + "evaluations", entry["evaluations"], 1, ESTIMATOR_KEYS["evaluations"])
            if "evaluations_per_sample" in entry:
                per = _int_list(source, where + "evaluations_per_sample", entry["evaluations_per_sample"],
                                1, ESTIMATOR_KEYS["evaluations_per_sample"])
                if len(per) != 1 or isinstance(entry["evaluations_per_sample"], list):
                    raise _fail(source, where + "evaluations_per_sample", "must be one integer >= 1")
                ks = [b // per[0] for b in budgets if b // per[0] >= 1]
            else:
                # K per problem and option in grid_cells, from Estimator.evaluations: what
                # advise and the verdict charge (IndeCateR's K D C, ARMS's n K)
                ks = ("budgets", budgets)
        estimator_entries.append((ename, options, ks))

    def build(chosen: Sequence[str]) -> list[Cell]:
        try:
            cells = grid_cells(problem_entries, estimator_entries, devices or chosen, seeds)
        except ValueError as error:
            raise GridError(f"{source}: problems: {error}") from None
        if not cells:
            raise GridError(f"{source}: no cell runs: "
                            f"{'; '.join(why_no_cells(problem_entries, estimator_entries))}")
        return cells

    time_full_calls = data.get("time_full_calls", False)
    if not isinstance(time_full_calls, bool):
        raise _fail(source, "time_full_calls", f"must be {TOP_KEYS['time_full_calls']}, "
                                               f"got {time_full_calls!r}")
    return Suite(name, description, build, time_full_calls=time_full_calls)


def grid_cells(problem_entries, estimator_entries, devices: Sequence[str], seeds: Sequence[int]) -> list[Cell]:
    """Every problem config x M x device x estimator option x K x seed that runs."""
    import estimators

    from suites import problems as problem_registry

    cells = []
    for pname, configs, ms in problem_entries:
        for config in configs:
            problem = problem_registry.get(pname, **config)
            for m, device in itertools.product(ms, devices):
                for ename, options, ks in estimator_entries:
                    for option in options:
                        estimator = estimators.get(ename, **option)
                        if not estimator.applies_to(problem):
                            continue
                        if isinstance(ks, tuple):  # ("budgets", [N, ...]): the largest K within N
                            ks_here = [k for k in (samples_within(estimator, problem, b) for b in ks[1])
                                       if k >= 1]
                        else:
                            ks_here = ks
                        # an estimator of distinct states draws at most the support (unordered_set)
                        most = getattr(estimator, "max_num_samples", lambda _: None)(problem)
                        for k in ks_here:
                            try:
                                estimator.check_num_samples(k)
                            except ValueError:
                                continue
                            if most is not None and k > most:
                                continue
                            cells += [Cell(pname, dict(config), ename, dict(option), device, m, k, seed)
                                      for seed in seeds]
    return cells


def why_no_cells(problem_entries, estimator_entries) -> list[str]:
    """Why each estimator entry gives no cell on each problem entry, one reason each (it does
    not apply to the family, it accepts none of the ``K``, its budget is below one sample)."""
    import estimators

    from suites import problems as problem_registry

    reasons = []
    for ename, options, ks in estimator_entries:
        if not ks:
            reasons.append(f"{ename}: its evaluations budget is below one sample")
            continue
        for option in options:
            estimator = estimators.get(ename, **option)
            for pname, configs, _ in problem_entries:
                for config in configs:
                    problem = problem_registry.get(pname, **config)
                    try:
                        estimator.check(problem.distribution(problem.params))
                    except ValueError as error:
                        reasons.append(f"{estimator.label} on {problem.name}: {error}")
                        continue
                    for k in ks:
                        try:
                            estimator.check_num_samples(k)
                        except ValueError as error:
                            reasons.append(f"{estimator.label} with K={k}: {error}")
    return list(dict.fromkeys(reasons))


def load_grid(path: str | Path) -> Suite:
    """The suite of the grid file at ``path``; ``GridError`` (one line) if it is malformed."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as error:
        raise GridError(f"{path}: cannot read: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise GridError(f"{path}: not valid TOML: {error}") from None
    return parse_grid(data, source=str(path))


def builtin_grids() -> list[Suite]:
    """The suites shipped with the package: ``suites/run/grids/*.toml`` (package data)."""
    folder = resources.files(__package__)
    return [parse_grid(tomllib.loads(f.read_text()), source=f.name)
            for f in sorted(folder.iterdir(), key=lambda f: f.name) if f.name.endswith(".toml")]


__all__ = ["GridError", "builtin_grids", "default_devices", "load_grid", "parse_grid"]
