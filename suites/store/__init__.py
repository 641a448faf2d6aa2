"""The store: the result schema and the run directory on disk.

Holds ``schema`` (the columns of a measurement's and a training run's rows),
``environment`` (devices, versions, commit: what every row and ``meta.json``
record), ``atomic`` (writes that readers and a killed run see whole or not at
all), ``lock`` (one writer per run directory) and ``rundir`` (``results.csv``
and ``meta.json``: append a cell, read back, resume).

Layer 0 of ``suites``: imports nothing from ``suites``. Everything above writes
or reads this format (``suites.run`` writes it, ``suites.read`` reads it).
"""
