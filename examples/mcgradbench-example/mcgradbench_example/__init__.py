"""An example mcgradbench plugin: an estimator, a problem and a suite, registered by entry points.

``pyproject.toml`` declares them in the groups ``mcgradbench.estimators``
(``estimator.py``), ``mcgradbench.problems`` (``problem.py``) and
``mcgradbench.suites`` (``suite.py``, reading ``poisson.toml``); once this
package is installed, ``mcgradbench list`` shows them and every command
takes their names. This module imports nothing, so that loading one entry
point never loads the others.
"""
