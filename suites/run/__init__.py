"""Many cells: suites' grids, running a cell, the sweep, backends and training.

Holds ``grids`` (the suites by name: ``Cell``, ``Suite``, grid files, the
papers, peers and train grids), ``runner`` (one cell to its rows),
``training`` (Adam driven by an estimator's gradients), ``backends`` (local or
Ray: where cells run), ``sweep`` (select, open or resume a run directory,
run the pending cells and store each as it finishes) and ``plugins`` (where
each registered name came from; ad hoc names added to a grid).

May import ``estimators``, ``suites.store``, ``suites.problems`` and
``suites.measurement``; nothing above (``suites.read``, ``suites.cli``).
"""
