"""``mcgradbench report``: comparison tables and figures from one or more run directories.

>>> from suites.read.report.render import render
>>> render(["results/latest/core"], "results/latest", formats=["md", "html", "latex"])

Kept import-light (no matplotlib here) so that ``mcgradbench list``/``run`` start fast.
"""
FORMATS = ("md", "html", "latex")

__all__ = ["FORMATS"]
