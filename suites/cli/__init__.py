"""The command line, ``mcgradbench``: the top layer, over ``suites.read`` and ``suites.run``.

``commands`` holds the click group and its commands, each a short function that
turns options into a library call; ``terminal`` what the command line adds (one-line
errors with exit code 2, the progress display, text that fits ``COLUMNS``).
"""
from suites.cli.commands import main
from suites.cli.terminal import progress_bar

__all__ = ["main", "progress_bar"]
