"""One cell: an estimator on a problem, measured.

Holds ``measure`` (chunked moments to bias, variance, standard errors and
z-scores, and the timing of one call: one tidy row per parameter), ``moments``
(streaming sums), ``exact`` (the exact variance and mean of an estimator where
its noise can be replayed) and ``noise`` (the record of the draws that makes
the replay possible).

May import ``estimators``, ``suites.store`` and ``suites.problems``; nothing above.
"""
