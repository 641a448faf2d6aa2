"""The asv benchmarks (``asv.conf.json``: ``"benchmark_dir": "benchmarks"``).

Each module times or tracks the library through its public modules; nothing
in ``suites`` or ``estimators`` imports from here.
"""
