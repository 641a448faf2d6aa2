"""What users read: the report, the printed summary, ``advise`` and ``check``.

Holds ``report`` (tables, figures, Markdown, HTML and LaTeX from run
directories), ``summary`` (the table ``run`` prints), ``advise`` (which
estimator to use on a problem) and ``conformance`` (``mcgradbench check``:
an estimator's or a problem's contract, tested). Below them all, ``ranking``
(a cell's totals, the tie rule, ranking) and ``text`` (labels wrapped, tables
fitted, JSON records), which import nothing of ``suites.read``.

May import every layer below (``suites.store``, ``suites.problems``,
``suites.measurement``, ``suites.run``) and ``estimators``; only ``suites.cli`` is above.
"""
