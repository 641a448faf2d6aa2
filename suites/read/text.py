"""Text shared by what users read: estimator labels wrapped in a column, tables fitted to a
terminal, rows as JSON records. Imports nothing of ``suites.read``."""
from __future__ import annotations

import re
import textwrap

import pandas as pd


#: Where a label may break: after ``(``, ``,`` and ``=``, where the label parser
#: (``estimators.get``, ``suites.problems.get``) skips the spaces a copied line break leaves.
LABEL_BREAKS = r"[^(,=]*[(,=]|[^(,=]+$"


def label_tokens(label: str) -> list[str]:
    """``label``'s unbreakable pieces: ``score_function(``, ``baseline=``, ``loo_optimal)``."""
    return re.findall(LABEL_BREAKS, label)


def wrap_label(label: str, width: int) -> str:
    """``label`` on lines of at most ``width`` characters, broken only after ``(``, ``,``
    and ``=`` (between options, and between an option and its value), never inside a name
    or a value: a piece wider than ``width`` stays whole on a line of its own, so that the
    label, copied from a table, still parses (``--estimator``)."""
    lines = [""]
    for token in label_tokens(label):
        if lines[-1] and len(lines[-1]) + len(token) > width:
            lines.append("")
        lines[-1] += token
    return "\n".join(lines)


def label_width(labels, room: int, least: int = 10) -> int:
    """The width of a column of ``labels`` given ``room``: at least its widest piece (no
    label breaks inside a name) and ``least``."""
    widest = max((len(t) for label in labels for t in label_tokens(str(label))), default=0)
    return max(least, room, widest)


def fill(text: str, width: int, **options) -> str:
    """``textwrap.fill`` that breaks at spaces only: never inside a label (a long one stays
    whole on its line) nor at the hyphen of a negative value (``k=-1.0``)."""
    return textwrap.fill(text, width, break_long_words=False, break_on_hyphens=False, **options)


def fitted(frame: pd.DataFrame, width: int, min_label: int = 12) -> str:
    """``frame`` as a plain table within ``width`` columns: estimator labels wrap."""
    import tabulate

    # Columns 2 apart, a header no wider than its name (tabulate's MIN_PADDING of 2 would add
    # 2 to each: 14 columns of a terminal's 80 in advise's table).
    others = sum(max(len(str(h)), frame[h].astype(str).str.len().max()) + 2
                 for h in frame.columns if h != "estimator")
    fit = label_width(frame["estimator"], width - others - 1, min_label)
    frame = frame.assign(estimator=[wrap_label(e, fit) for e in frame["estimator"]])
    padding, tabulate.MIN_PADDING = tabulate.MIN_PADDING, 0
    try:
        return tabulate.tabulate(frame.values.tolist(), headers=list(frame.columns),
                                 tablefmt="simple", disable_numparse=True)
    finally:
        tabulate.MIN_PADDING = padding


def records(frame: pd.DataFrame) -> list[dict]:
    """``frame``'s rows as JSON-ready dicts: floats to the last bit (``to_json`` rounds to 10
    digits), NaN as null."""
    def plain(value):
        if hasattr(value, "item"):  # numpy scalars
            value = value.item()
        return None if isinstance(value, float) and value != value else value
    return [{k: plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
