"""One cell: an estimator on a problem, measured.

Holds ``measure`` (chunked moments to bias, variance, standard errors and
z-scores, and the timing of one call: one tidy row per parameter), ``moments``
(streaming sums), ``exact`` (the exact variance and mean of an estimator where
its noise can be replayed) and ``noise`` (the record of the draws that makes
the replay possible).

Knows a problem and an estimator only through their contracts (``Problem``,
``Estimator``), so a plugin is measured like a built-in one. May import
``estimators`` and ``suites.store``; nothing above (the problems' Monte Carlo
references use ``moments``).
"""
