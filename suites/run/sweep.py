"""A sweep: select a suite's cells, open its run directory, measure the pending cells, store each.

The command line only parses and prints; this module does the work, in the
order data flows: the grid's cells (after the command line's filters and
overrides) -> the run directory (new, or reopened to resume) -> a backend
(``suites.run.backends``: local or Ray) that measures the pending cells and
delivers each finished one -> the store, the one writer, which appends its
rows atomically and keeps ``meta.json`` in step with ``results.csv``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import signal
import threading
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

import estimators

from suites.run import backends, grids, plugins
from suites import problems
from suites.store import rundir as store
from suites.run.grids import Cell
from suites.problems.labels import label_names, parse_label, with_options
from suites.store.lock import RunLock


#: The largest M a cell may ask for: 10^9 estimates take hours even for the cheapest estimator.
MAX_ESTIMATES = 10**9
#: The largest seed: torch generators take 64-bit seeds, and a cell seeds its timing,
#: adaptation and gradient-variance streams at small offsets from its own.
MAX_SEED = 2**62


def select_cells(suite: str, estimator_names: Sequence[str] = (), problem_names: Sequence[str] = (),
                 devices: Sequence[str] = (), num_estimates: int | None = None,
                 seed: int | None = None, num_samples: int | None = None) -> list[Cell]:
    """The cells of ``suite`` after the command line's filters and overrides.

    A name is a label as the tables print it, ``NAME(k=v,...)``, or the same as
    ``NAME,k=v,...``: both select the configuration of a registered NAME; an
    unregistered ``pkg.module:Class`` with its options is measured on the grid's axes.
    """
    estimator_names = [_as_label(name, estimators.names()) for name in estimator_names]
    problem_names = [_as_label(name, problems.names()) for name in problem_names]
    # Unknown names fail here, listing the known ones; a label NAME(k=v,...) names a variant.
    plugins.validate_names([name.split("(", 1)[0] for name in estimator_names],
                           [name.split("(", 1)[0] for name in problem_names])
    if num_estimates is not None and not 2 <= num_estimates <= MAX_ESTIMATES:
        raise ValueError(f"--num-estimates must be in 2..{MAX_ESTIMATES:,} (the moments are "
                         f"accumulated in chunks, but time grows with M), got {num_estimates:,}")
    if num_samples is not None and num_samples < 1:
        raise ValueError(f"--num-samples must be >= 1, got {num_samples}")
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise ValueError(f"--seed must be an integer in 0..2**62 (torch generators take 64-bit "
                         f"seeds), got {seed}")
    for kind, labels in (("estimator", estimator_names), ("problem", problem_names)):
        for label in labels:
            check_label(kind, label)
    from suites.measurement.measure import resolve_device
    for device in devices:
        resolve_device(device)
    grid = grids.get(suite)
    everything = grid.cells(devices or None)
    # A plugin or ad hoc name the grid does not hold runs on the grid's other axes.
    everything = plugins.add_named_cells(
        everything, [name for name in estimator_names if "(" not in name],
        [name for name in problem_names if "(" not in name])
    # A suite that takes new configurations of its problems (sbn: another dataset or size)
    # builds its cells for a label its grid does not hold.
    for label in problem_names:
        name, options = parse_label(label)
        if "(" in label and not any(label_names("problem", label, c.problem, c.problem_config)
                                    for c in everything):
            everything = everything + grid.cells_for(name, options, devices or None)
    cells = [c for c in everything
             if (not estimator_names or any(label_names("estimator", name, c.estimator, c.estimator_config)
                                            for name in estimator_names))
             and (not problem_names or any(label_names("problem", name, c.problem, c.problem_config)
                                           for name in problem_names))]
    if not cells:
        raise ValueError(no_match_reason(suite, everything, estimator_names, problem_names))
    overrides = {}
    if num_estimates is not None:
        overrides["num_estimates"] = num_estimates
    if seed is not None:
        overrides["seed"] = seed
    if num_samples is not None:
        overrides["num_samples"] = num_samples
    cells = [dataclasses.replace(c, **overrides) for c in cells]
    if num_samples is not None:  # a leave-one-out baseline needs K >= 2: its cells drop out
        kept = [c for c in cells if _accepts(c)]
        if not kept:
            reasons = dict.fromkeys(_refusal(c) for c in cells)
            raise ValueError(f"no cell of suite {suite!r} runs with --num-samples {num_samples}: "
                             f"{'; '.join(reasons)}")
        cells = kept
    return cells


def _refusal(cell: Cell) -> str:
    """Why ``cell``'s estimator refuses its ``K`` (``check_num_samples``'s message)."""
    estimator = estimators.get(cell.estimator, **cell.estimator_config)
    try:
        estimator.check_num_samples(cell.num_samples)
    except ValueError as error:
        return f"{estimator.label}: {error}"
    return f"{estimator.label}: accepts K={cell.num_samples}"


def _as_label(spec: str, registered: Sequence[str]) -> str:
    """``NAME(k=v,...)`` (sorted keys) for a registered NAME given either way; an ad hoc
    ``pkg.module:Class`` in the comma form, which ``plugins.add_named_cells`` builds."""
    from estimators.registry import split_spec

    from suites.problems.labels import with_options

    name, options = split_spec(spec)
    if name in registered:
        return with_options(name, options)
    return ",".join([name, *(f"{k}={v}" for k, v in options.items())]) if options else name


def check_label(kind: str, label: str) -> None:
    """``ValueError`` (one line) for a label ``NAME(k=v,...)`` whose options are malformed,
    repeated or invalid for ``NAME`` (``gumbel_softmax(temperature=-1)``): what building it
    would say, before any cell runs. A bare name is checked by ``plugins.validate_names``."""
    if "(" not in label or not label.endswith(")"):
        return
    name, options = parse_label(label)
    try:
        if kind == "estimator":
            estimators.get(name, **options)
        else:
            plugins.built(name, options)
    except (ValueError, TypeError) as error:
        raise ValueError(f"--{kind} {label}: {error}") from None


def no_match_reason(suite: str, everything: list[Cell], estimator_names: Sequence[str],
                    problem_names: Sequence[str]) -> str:
    """Why no cell of ``suite`` matches the labels: a label its grid does not hold (with the
    ones it does), or estimators that apply to none of the problems selected, and why."""
    def matching(kind, labels, cell):
        name, config = ((cell.estimator, cell.estimator_config) if kind == "estimator"
                        else (cell.problem, cell.problem_config))
        return not labels or any(label_names(kind, label, name, config) for label in labels)

    def held(kind, labels):
        """The grid's configurations of ``kind``, of the names ``labels`` give where it has them."""
        pairs = {(c.estimator, grids.base._canonical(c.estimator_config)) if kind == "estimator"
                 else (c.problem, grids.base._canonical(c.problem_config)) for c in everything}
        wanted = {label.split("(", 1)[0] for label in labels} & {name for name, _ in pairs}
        return sorted(with_options(name, json.loads(config)) for name, config in pairs
                      if not wanted or name in wanted)

    by_estimator = [c for c in everything if matching("estimator", estimator_names, c)]
    by_problem = [c for c in everything if matching("problem", problem_names, c)]
    for kind, labels, found in (("estimator", estimator_names, by_estimator),
                                ("problem", problem_names, by_problem)):
        if labels and not found:
            return (f"no cell of suite {suite!r} matches: it holds no {kind} "
                    f"{' or '.join(labels)}, but {', '.join(held(kind, labels))}")
    reasons = []
    selected_problems = {(c.problem, grids.base._canonical(c.problem_config)): c for c in by_problem}
    for cell in {(c.estimator, grids.base._canonical(c.estimator_config)): c
                 for c in by_estimator}.values():
        estimator = estimators.get(cell.estimator, **cell.estimator_config)
        for other in selected_problems.values():
            problem = plugins.built(other.problem, other.problem_config)
            base, _ = estimators.unwrap_independent(problem.distribution(problem.params))
            try:
                estimator.check(problem.distribution(problem.params))
                continue
            except ValueError as error:
                why = str(error)
            families = [f for f in getattr(estimator, "families", ()) if not f.startswith("any")]
            reasons.append(f"{estimator.label} applies to {' and '.join(families)} problems only; "
                           f"{problem.name} is {type(base).__name__}" if families else
                           f"{problem.name}: {why}")
    reason = ("; ".join(dict.fromkeys(reasons)) if reasons else
              "those estimators and problems share no device, M or K in its grid")
    return (f"no cell of suite {suite!r} matches: {reason}; it holds problems "
            f"{', '.join(sorted({c.problem for c in everything}))} and estimators "
            f"{', '.join(sorted({c.estimator for c in everything}))}")


def _accepts(cell: Cell) -> bool:
    try:
        estimators.get(cell.estimator, **cell.estimator_config).check_num_samples(cell.num_samples)
    except ValueError:
        return False
    return True


def load_run(run_dir) -> tuple[dict, pd.DataFrame]:
    """The meta and table of a run to resume (a run killed before its first cell has no rows)."""
    path = Path(run_dir)
    if not path.is_dir():
        raise ValueError(f"{run_dir}: no such run directory to resume")
    meta = store.read_meta(path)
    if not meta and not (path / store.RESULTS).exists():
        raise ValueError(f"{run_dir}: holds neither {store.META} nor {store.RESULTS}; nothing to resume")
    if not (path / store.RESULTS).exists():
        return meta, store.empty_table()
    return meta, store.read_results(path, require_key=True)


def open_run(suite: str, cells: list[Cell], options: dict, out, resume, meta: dict,
             table: pd.DataFrame, command: str, notes: list[str] | None = None
             ) -> tuple[Path, dict, pd.DataFrame, RunLock]:
    """Create (or reopen for ``resume``) the run directory, lock it and write its meta.json.

    The lock is taken before anything is checked or written, so two writers never
    race: the second is refused naming the first. ``ValueError`` (one line) when
    ``out`` already holds a run, is locked, or cannot be created. ``notes`` receives a
    line where a resumed run's meta.json was behind its results.csv (a killed run).
    """
    started = store.utc_now()
    run_dir = Path(resume) if resume is not None else (
        Path(out) if out else store.default_run_dir(suite, started))
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"cannot create {run_dir}: {error.strerror}") from None
    lock = RunLock(run_dir).acquire(command, started.isoformat())
    try:
        if resume is not None:
            # Read again under the lock: another writer may have added cells since.
            meta, table = load_run(run_dir)
            done = store.finished_keys(table)
            _, note = store.reconciled_meta(meta, len(done))
            if note is not None and notes is not None:
                notes.append(note)
            # A cell with rows missing is measured again: its remaining rows make way.
            table = table[~table[store.KEY_COLUMN].isin(store.incomplete_keys(table))]
            run_cells = {store.cell_key(c) for c in cells} | done
            meta = store.resumed_meta(meta, cells, len(done), command, started,
                                      total=len(run_cells))
        else:
            if (run_dir / store.RESULTS).exists() or (run_dir / store.META).exists():
                raise ValueError(f"{run_dir} already holds a run; continue it with --resume "
                                 f"{run_dir} or choose another --out")
            meta = store.new_meta(suite, cells, command, options, started)
            # A header-only table from the start: a run killed before its first cell is resumable.
            store.atomic_write_text(run_dir / store.RESULTS, store.table_csv(table))
        store.write_meta(run_dir, meta)
    except BaseException:
        lock.release()
        raise
    return run_dir, meta, table, lock


@dataclasses.dataclass
class Sweep:
    """The state of one sweep over the pending cells of a run of ``total`` cells (how many are
    finished is read from results.csv, not counted)."""

    run_dir: Path
    meta: dict
    table: pd.DataFrame
    total: int
    #: What opening the run found and set right (a killed run's meta.json brought in line).
    notes: list = dataclasses.field(default_factory=list)

    @property
    def finished(self) -> int:
        """Cells stored in results.csv, counted from the file: an interrupt between the
        atomic write and the bookkeeping after it cannot make the count disagree."""
        try:
            stored = store.read_results(self.run_dir, require_key=True)
        except (ValueError, OSError):
            stored = self.table
        return len(store.finished_keys(stored))

    def store_cell(self, cell: Cell, rows: pd.DataFrame) -> None:
        """The one writer: append a finished cell's rows atomically."""
        self.table = store.append_cell(self.run_dir, self.table, cell, rows)

    def record_progress(self, ended: bool = False, interrupted: str | None = None) -> bool:
        """meta.json in step with results.csv (and this session closed when the sweep is over,
        or ``interrupted`` by that signal); ``False`` when it could not be written (a full disk)."""
        self.meta = store.progressed_meta(self.meta, self.finished,
                                          ended=store.utc_now() if ended or interrupted else None,
                                          interrupted=interrupted)
        try:
            store.write_meta(self.run_dir, self.meta)
        except OSError:
            return False
        return True


#: Signals that end a sweep as Ctrl-C does: a job scheduler's or ``kill``'s SIGTERM, a closed
#: terminal's SIGHUP, and SIGINT itself (which a shell leaves ignored in background jobs).
INTERRUPTS = ("SIGINT", "SIGTERM", "SIGHUP")


def interrupt_signal(interrupt: KeyboardInterrupt) -> str:
    """The signal's name an interrupt came from (``signals_interrupt`` passes it); ``SIGINT``
    for Ctrl-C's own ``KeyboardInterrupt``."""
    name = interrupt.args[0] if interrupt.args else ""
    return name if isinstance(name, str) and name in INTERRUPTS else "SIGINT"


@contextlib.contextmanager
def signals_interrupt():
    """Within the block, each of ``INTERRUPTS`` raises ``KeyboardInterrupt``; handlers restored after.

    Their default action ends the process on the spot, leaving meta.json as it was when the
    sweep began while results.csv holds the cells finished since; as an exception they
    unwind through ``run_sweep``, which brings meta.json in step first. Signal handlers
    can only be set from the main thread: elsewhere the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {}
    try:
        for name in INTERRUPTS:
            if hasattr(signal, name):  # SIGHUP does not exist on Windows
                number = getattr(signal, name)
                previous[number] = signal.signal(number, interrupt)
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def run_sweep(sweep: Sweep, pending: Sequence[Cell], suite: str, min_run_time: float,
              backend=None, on_cell: Callable[[Cell], None] | None = None,
              on_start: Callable[[Cell], None] | None = None) -> pd.DataFrame:
    """Measure ``pending`` on ``backend`` (default: local), storing each cell as it finishes.

    ``on_cell(cell)`` follows each stored cell; ``on_start(cell)`` precedes each cell
    a backend that runs one cell at a time begins (the local one).

    On any exception (an interrupt, bad input found mid-sweep) meta.json is
    brought in step with the stored cells before it propagates.
    """
    backend = backend or backends.get("local")

    def deliver(cell: Cell, rows: pd.DataFrame) -> None:
        sweep.store_cell(cell, rows)
        if on_cell is not None:
            on_cell(cell)

    try:
        extra = {"on_start": on_start} if on_start is not None and getattr(
            backend, "reports_start", False) else {}
        with signals_interrupt():
            backend.run(pending, suite=suite, min_run_time=min_run_time, on_done=deliver, **extra)
    except KeyboardInterrupt as interrupt:
        sweep.record_progress(interrupted=interrupt_signal(interrupt))
        raise
    except BaseException:
        sweep.record_progress()
        raise
    sweep.record_progress(ended=True)
    return sweep.table


# --- a run from options to stored cells: what `mcgradbench run` calls ---------------------

#: Options of a run that set how a cell runs rather than which cells run.
TRAIN_OPTIONS = ("steps", "seeds", "grad_variance")
RUN_OPTIONS = ("min_run_time", "threads", "heldout_samples") + TRAIN_OPTIONS
#: Options that set what a cell measures: a resumed run must keep them, or one table would
#: mix two settings. The filters (estimators, problems, devices) may differ: they pick cells.
SETTINGS = {"steps": "--steps", "grad_variance": "--grad-variance", "heldout_samples": "--heldout-samples",
            "num_estimates": "--num-estimates", "num_samples": "--num-samples", "seed": "--seed",
            "min_run_time": "--min-run-time", "threads": "--threads"}
DEFAULT_OPTIONS = {"estimator_names": [], "problem_names": [], "devices": [], "num_estimates": None,
                   "num_samples": None, "seed": None, "min_run_time": 0.2, "threads": 1,
                   "steps": None, "seeds": None, "grad_variance": None, "heldout_samples": None}
#: Options recorded in meta.json and reused by a resumed run unless given again: all of them.
RECORDED = tuple(DEFAULT_OPTIONS)


@dataclasses.dataclass
class Plan:
    """A run decided but not started: its suite, cells and options, the stored rows of the run
    it resumes, and the backend that will measure it."""

    suite: str
    cells: list[Cell]
    options: dict
    meta: dict
    table: pd.DataFrame
    backend: object
    resume: str | None = None
    out: str | None = None

    @property
    def done(self) -> set:
        return store.finished_keys(self.table)

    @property
    def pending(self) -> list[Cell]:
        done = self.done
        return [c for c in self.cells if store.cell_key(c) not in done]


def plan(suite: str | None = None, options: dict | None = None, given: Sequence[str] = (),
         out=None, resume=None, grid=None, profile: str = "full", backend: str = "local",
         address: str | None = None, workers: int | None = None) -> Plan:
    """Decide a run: the suite (or grid file), its cells after ``options`` (``DEFAULT_OPTIONS``'s
    keys) and ``profile``, and the backend; ``resume``: the run directory to continue, whose
    recorded options apply except those in ``given``. ``ValueError`` (one line) on bad input."""
    from suites.run.profiles import options as profile_options

    options = {**DEFAULT_OPTIONS, **(options or {})}
    # a device given twice would measure every cell twice
    options["devices"] = list(dict.fromkeys(options["devices"]))
    if out and resume:
        raise ValueError("give --out DIR for a new run or --resume DIR to continue one, not both")
    suite = plugins.use_grid(grid, suite) if grid else suite
    meta, table = ({}, store.empty_table()) if resume is None else load_run(resume)
    if resume is not None:
        suite, options = resumed_selection(suite, options, set(given), meta, resume)
    suite = suite or "core"
    profiled = profile_options(profile, suite)
    also = profiled.pop("also", [])
    # the profile's further selections apply where its own did (no names given by the caller)
    also = also if all(not options[key] for key in profiled) else []
    for key, value in profiled.items():
        if not options[key]:  # what the caller gives wins
            options[key] = value
    if not 0 <= options["min_run_time"] < float("inf"):  # also refuses nan
        raise ValueError(f"--min-run-time must be a finite number >= 0, got {options['min_run_time']}")
    if options["threads"] is not None and options["threads"] < 1:
        raise ValueError(f"--threads must be >= 1, got {options['threads']}")
    cells = select_cells(suite, **{k: v for k, v in options.items() if k not in RUN_OPTIONS})
    for selection in also:
        chosen = select_cells(suite, **{k: v for k, v in {**options, **selection}.items()
                                        if k not in RUN_OPTIONS})
        cells += [c for c in chosen if c not in cells]
    if suite == "train":
        from suites.run.grids.train import configured
        cells = configured(cells, options["steps"], options["seeds"], options["grad_variance"])
    elif suite == "sbn":
        from suites.run.grids.sbn import configured as configured_sbn
        cells = configured_sbn(cells, options["steps"], options["seeds"], options["grad_variance"],
                               options["heldout_samples"])
    elif any(options[k] is not None for k in TRAIN_OPTIONS):
        raise ValueError(f"--steps, --seeds and --grad-variance apply to the train and sbn "
                         f"suites, not to {suite!r}")
    if suite != "sbn" and options["heldout_samples"] is not None:
        raise ValueError(f"--heldout-samples applies to the sbn suite, not to {suite!r}")
    check_memory(cells, suite)
    if address and backend != "ray":
        raise ValueError("--address names a Ray cluster: give it with --backend ray")
    if workers is not None and (backend != "ray" or address):
        raise ValueError("--workers sizes the local Ray instance that --backend ray starts "
                         "without --address")
    runner = backends.get(backend, **({"address": address} if address else {}),
                          **({"num_cpus": workers} if workers else {}))
    return Plan(suite, cells, options, meta, table, runner, resume, out)


def check_memory(cells: Sequence[Cell], suite: str) -> None:
    """``ValueError`` (one line) naming the first cell that cannot fit in the memory of its
    device (``runner.check_cell_fits``), before the run directory is made."""
    from suites.run.runner import check_cell_fits

    seen = set()
    for cell in cells:
        shape = (cell.problem, grids.base._canonical(cell.problem_config), cell.estimator,
                 grids.base._canonical(cell.estimator_config), cell.device, cell.num_estimates,
                 cell.num_samples, json.dumps(cell.settings, sort_keys=True, default=str))
        if shape not in seen:
            seen.add(shape)
            check_cell_fits(cell, suite)


def _settings(flag: str, recorded, asked) -> str:
    """What a run was measured with against what a resume asks, as typed: ``with --num-samples
    4, not 8``; ``without --num-samples`` (the suite's own values) where none was given."""
    def setting(value):
        return f"without {flag} (the suite's own values)" if value is None else f"with {flag} {value}"
    if recorded is not None and asked is not None:
        return f"with {flag} {recorded}, not {asked}"
    return f"{setting(recorded)}, not {setting(asked)}"


def resumed_selection(suite, options: dict, given: set, meta: dict, run_dir) -> tuple[str | None, dict]:
    """Suite and options for a resumed run: the recorded ones; filters may be given again,
    settings only with their recorded values."""
    if not meta:
        raise ValueError(f"{run_dir}: has {store.RESULTS} but no {store.META}, so the settings "
                         f"its cells were measured with are unknown; start a new run with --out")
    recorded_suite = meta.get("suite")
    if suite and recorded_suite and suite != recorded_suite:
        raise ValueError(f"--resume: the run holds suite {recorded_suite!r}, not {suite!r}")
    recorded = meta.get("options", {})
    given = {k for k in RECORDED if k in given}
    for key, flag in SETTINGS.items():
        if key in given and key in recorded and options[key] != recorded[key]:
            raise ValueError(f"--resume {run_dir}: the run was measured "
                             f"{_settings(flag, recorded[key], options[key])}; one run keeps one "
                             f"setting (start a new run with --out to measure another)")
    merged = {k: (options[k] if k in given or k not in recorded else recorded[k]) for k in options}
    return suite or recorded_suite, merged


def execute(planned: Plan, command: str = "", on_open: Callable[[Sweep, list], None] | None = None,
            on_start: Callable[[Cell], None] | None = None,
            on_cell: Callable[[Cell], None] | None = None) -> Sweep:
    """Open (or reopen) the run directory under its lock, measure the pending cells with
    ``planned.backend`` storing each, and return the finished sweep.

    ``on_open(sweep, pending)`` follows the opening (a progress display starts there and
    keeps the sweep to name it on an interrupt); ``on_start`` and ``on_cell`` as
    ``run_sweep``. torch's thread count is ``options["threads"]`` for the run, restored after.
    """
    import torch

    options = planned.options
    options["devices"] = options["devices"] or sorted({c.device for c in planned.cells})
    threads_before = torch.get_num_threads()
    try:
        # Set before meta.json is written, so that it records the threads the timings used.
        torch.set_num_threads(options["threads"] or threads_before)
        notes: list[str] = []
        run_dir, meta, table, lock = open_run(planned.suite, planned.cells, options, planned.out,
                                              planned.resume, planned.meta, planned.table, command,
                                              notes)
        with lock:
            done = store.finished_keys(table)  # as read under the lock
            pending = [c for c in planned.cells if store.cell_key(c) not in done]
            sweep = Sweep(run_dir, meta, table, total=len(planned.cells), notes=notes)
            if on_open is not None:
                on_open(sweep, pending)
            run_sweep(sweep, pending, planned.suite, options["min_run_time"], planned.backend,
                      on_cell=on_cell, on_start=on_start)
    finally:
        torch.set_num_threads(threads_before)
    return sweep
