"""Text shared by what users read: estimator labels wrapped in a column, tables fitted to a
terminal, rows as JSON records. Imports nothing of ``suites.read``."""
from __future__ import annotations

import re
import textwrap

import pandas as pd


def wrap_label(label: str, width: int) -> str:
    """``label`` on lines of at most ``width`` characters, broken after ``(`` and ``,``
    (between options), then after ``=`` (between an option and its value); a piece wider
    than ``width`` breaks before its ``(`` and after its ``_`` (``straight_through_gumbel``
    / ``(temperature=0.5)``, ``score_function_`` / ``median``), and inside a word only
    where one alone is wider."""
    tokens = []
    for token in re.findall(r"[^(,=]*[(,=]|[^(,=]+$", label):
        if len(token) <= width:
            tokens.append(token)
            continue
        name, bracket = (token[:-1], "(") if token.endswith("(") else (token, "")
        tokens += re.findall(r"[^_]*_|[^_]+$", name) + ([bracket] if bracket else [])
    lines = [""]
    for token in tokens:
        if lines[-1] and len(lines[-1]) + len(token) > width:
            lines.append("")
        lines[-1] += token
    return "\n".join(textwrap.fill(line, width, break_on_hyphens=False) for line in lines)


def fitted(frame: pd.DataFrame, width: int, min_label: int = 12) -> str:
    """``frame`` as a plain table within ``width`` columns: estimator labels wrap."""
    from tabulate import tabulate

    # tabulate pads a header to its width plus 2 (MIN_PADDING) and puts columns 2 apart.
    others = sum(max(len(str(h)) + 2, frame[h].astype(str).str.len().max()) + 2
                 for h in frame.columns if h != "estimator")
    label_width = max(min_label, width - others - 1)
    frame = frame.assign(estimator=[wrap_label(e, label_width) for e in frame["estimator"]])
    return tabulate(frame.values.tolist(), headers=list(frame.columns), tablefmt="simple",
                    disable_numparse=True)


def records(frame: pd.DataFrame) -> list[dict]:
    """``frame``'s rows as JSON-ready dicts: floats to the last bit (``to_json`` rounds to 10
    digits), NaN as null."""
    def plain(value):
        if hasattr(value, "item"):  # numpy scalars
            value = value.item()
        return None if isinstance(value, float) and value != value else value
    return [{k: plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
