"""What the command line adds to the library: one-line errors, progress, and text that fits the terminal.

Progress is drawn from the callbacks of ``suites.run.sweep.execute``: a bar on a
terminal, a line per finished cell otherwise, nothing with ``--quiet``.
"""
from __future__ import annotations

import logging
import shlex
import shutil
import sys

import click



class BadInput(click.ClickException):
    """A one-line error for bad user input; exit code 2 like click's usage errors."""

    exit_code = 2

    def show(self, file=None):
        click.echo(f"Error: {self.format_message()}", err=True)


class Interruptible(click.Group):
    """A group whose commands end in one line, exit code 130, when interrupted at any point
    (also while torch loads, before any cell ran); a sweep's own handler says what was stored."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            ctx.exit(130)
        except click.BadParameter as error:
            # A bad value (``--seed 1e23``) is one line naming the option and what it takes,
            # like every other bad input; click would print the usage lines above it.
            error.ctx = None
            raise


def echo_progress_messages() -> None:
    """Long set-up steps (a reference gradient, trained VAE weights) log at INFO under
    ``suites``: print them on their own line, clear of the progress bar."""
    logger = logging.getLogger("suites")
    if not any(getattr(h, "mcgradbench", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("\n%(message)s"))
        handler.mcgradbench = True
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


#: Positive, finite seconds: click's FloatRange lets ``nan`` through its comparisons.
class Seconds(click.FloatRange):
    name = "seconds"

    def convert(self, value, param, ctx):
        value = super().convert(value, param, ctx)
        if value != value or value == float("inf"):
            self.fail(f"{value} is not a finite number of seconds.", param, ctx)
        return value


def echo_summary(sweep, suite: str, quiet: bool, output: str) -> None:
    """The finished run's table (or JSON) and the per-problem answer; then where it is stored."""
    from suites.read.summary import format_summary, format_train_summary, summary_json
    from suites.read.verdict import format_verdicts
    from suites.store import rundir as store

    width = shutil.get_terminal_size((80, 24)).columns
    if quiet:
        pass
    elif output == "json":
        click.echo(summary_json(sweep.table))
    elif suite in ("train", "sbn"):
        click.echo(format_train_summary(sweep.table, width))
    else:
        click.echo(format_summary(sweep.table, width) + "\n\n" + format_verdicts(sweep.table, width))
    click.echo(f"results: {sweep.run_dir / store.RESULTS}", err=True)


def display(output: str) -> str:
    """How progress shows: a bar on a terminal; a line per finished cell where the output
    is read later (``make bench > log``): on stdout beside a text table, else on stderr."""
    if not sys.stdout.isatty() and output == "text":
        return "stdout"
    return "bar" if sys.stderr.isatty() else "stderr"


def command_line(ctx) -> str:
    """The invocation as typed, rebuilt from the options given (what meta.json records)."""
    words = ["mcgradbench", ctx.info_name]
    for param in ctx.command.params:
        if ctx.get_parameter_source(param.name) in (None, click.core.ParameterSource.DEFAULT):
            continue
        value = ctx.params[param.name]
        if isinstance(param, click.Argument):
            words.append(str(value))
        elif getattr(param, "is_flag", False):
            words += [param.opts[0]] if value else []
        else:
            for item in (value if param.multiple else [value]):
                words += [param.opts[0], str(item)]
    return shlex.join(words)


def echo_cells(cells, done: set) -> None:
    """The ``--dry-run`` listing: one cell a line, finished ones marked."""
    from suites.store import rundir as store

    for cell in cells:
        mark = "done" if store.cell_key(cell) in done else "    "
        click.echo(f"{mark}  {cell.label}")
    finished = sum(store.cell_key(c) in done for c in cells)
    click.echo(f"{len(cells)} cells: {finished} finished, {len(cells) - finished} to run")


def fit(line: str, indent: int) -> str:
    """``line`` wrapped to the terminal's width (``COLUMNS``, default 80), continuation lines
    indented by ``indent`` (under the description, past the name); a word is broken only
    where it alone is wider than a line (a plugin's module path, a long problem label)."""
    import textwrap

    width = shutil.get_terminal_size((80, 24)).columns
    return textwrap.fill(line, width, subsequent_indent=" " * indent, break_long_words=True,
                         break_on_hyphens=False, replace_whitespace=False, drop_whitespace=True)


def shorten(text: str, room: int) -> str:
    """``text`` cut to ``room`` characters, an ellipsis marking the cut."""
    return text if len(text) <= room else text[:max(0, room - 1)] + "…"


def progress_bar(length: int, label: str, width: int, file=None):
    """click's progress bar within ``width`` columns, its last field the cell being measured.

    A line wider than the terminal wraps, and the bar then leaves one stale line per
    update instead of redrawing: the bar and the cell label give way to fit.
    """
    bar_width = max(8, min(30, width // 8))
    status = {"text": ""}
    bar = click.progressbar(length=length, label=shorten(label, max(8, width // 6)),
                            width=bar_width, file=file or sys.stderr, show_pos=True,
                            show_percent=False, item_show_func=lambda _: status["text"] or None)
    # "label  [bar]  pos/length  eta  item", the eta up to "1d 00:00:00"
    fixed = len(bar.label) + 2 + bar_width + 2 + 2 + 2 * len(str(length)) + 1 + 2 + 11 + 2
    room = max(0, width - 1 - fixed)

    def show(text: str) -> None:
        status["text"] = shorten(text, room)
    bar.show = show
    return bar


def progress_sweep(ctx, execute, suite: str, show: str = "bar"):
    """``execute(on_open=, on_start=, on_cell=)`` with its progress shown (``show``: a bar,
    a line per cell on stdout or stderr, or none); an interrupt or bad input ends in one line."""
    import contextlib
    import time

    width = shutil.get_terminal_size((80, 24)).columns
    state = {"sweep": None, "bar": None, "pending": 0, "done": 0, "start": time.perf_counter()}
    with contextlib.ExitStack() as stack:
        def opened(sweep, pending):
            state.update(sweep=sweep, pending=len(pending))
            for note in sweep.notes:
                click.echo(f"{sweep.run_dir}: {note}", err=True)
            if show != "none":
                click.echo(f"{suite}: {len(pending)} of {sweep.total} cells to run, into "
                           f"{sweep.run_dir}", err=True)
            if show == "bar":
                state["bar"] = stack.enter_context(progress_bar(len(pending), suite, width))

        def started(cell):
            state["start"] = time.perf_counter()
            if state["bar"] is not None:
                state["bar"].show(f"running {cell.label}")
                state["bar"].render_progress()  # update(0) would not redraw

        def finished(cell):
            state["done"] += 1
            if state["bar"] is not None:
                state["bar"].show(f"done {cell.label}")
                state["bar"].update(1)
            elif show in ("stdout", "stderr"):
                seconds = time.perf_counter() - state["start"]
                state["start"] = time.perf_counter()  # a backend without starts: since the last
                # A log is read later, by a person or grep: the whole label, M and K included,
                # however long the line; only a terminal's bar must fit its width.
                click.echo(f"[{state['done']}/{state['pending']}] {cell.label}  {seconds:.1f} s  "
                           f"stored", err=show == "stderr")
        try:
            return execute(on_open=opened, on_start=started, on_cell=finished)
        except KeyboardInterrupt as interrupt:
            import signal

            from suites.run.sweep import interrupt_signal

            sweep = state["sweep"]
            if sweep is None:
                raise
            name = interrupt_signal(interrupt)
            click.echo(f"\ninterrupted ({name}): {sweep.finished} of {sweep.total} cells stored "
                       f"in {sweep.run_dir}; continue with: mcgradbench run --resume "
                       f"{sweep.run_dir}", err=True)
            # The shell's convention, 128 + the signal's number: 130 for Ctrl-C, 143 for SIGTERM.
            ctx.exit(128 + getattr(signal, name))
        except ValueError as error:
            raise BadInput(str(error)) from None
        except OSError as error:
            sweep = state["sweep"]
            if sweep is None:
                raise BadInput(str(error)) from None
            # A full disk, a lost mount, a permission change: every finished cell is on disk.
            raise BadInput(f"cannot write to {sweep.run_dir}: {error.strerror or error}; "
                           f"{sweep.finished} of {sweep.total} cells stored; continue with: "
                           f"mcgradbench run --resume {sweep.run_dir}") from None


def echo_registered() -> None:
    """``list``: every estimator (with the families it applies to), problem and suite, where from."""
    import estimators

    from suites.run import plugins
    from suites.problems.labels import plain_text

    for kind, title in (("estimator", "Estimators"), ("problem", "Problems"), ("suite", "Suites")):
        click.echo(f"{title}:")
        for _, name, origin, description in (r for r in plugins.origins() if r[0] == kind):
            where = "" if origin == "built-in" else f"  [{origin}]"
            applies = ""
            if kind == "estimator":
                family = getattr(estimators._REGISTRY.lookup(name), "families", ())
                applies = f" [applies to: {', '.join(family)}]" if family else ""
            click.echo(fit(f"  {name:<26} {plain_text(description)}{applies}{where}", 29))
    for line in plugins.failures():
        click.echo(f"warning: {line}", err=True)
