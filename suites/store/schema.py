"""The result schema: the columns of a point measurement's rows and of a training run's rows.

Rows are tidy: one per (suite, problem configuration, estimator configuration,
device, parameter) for a measurement (``suites.measure``), one per logged step
for a training run (``suites.train``). Imports nothing from ``suites``.
"""
from __future__ import annotations

COLUMNS = [
    "suite", "problem", "problem_config", "estimator", "estimator_config", "param", "device",
    "dtype", "num_estimates", "num_samples", "seed", "numel", "reference", "mean_norm",
    "exact_norm", "bias_norm", "bias_se", "max_abs_z", "biased", "variance", "variance_se",
    "mse", "time_s", "time_iqr_s", "timed_estimates", "threads", "package_version",
    "torch_version", "device_name", "git_commit", "utc_time",
    "exact_variance", "exact_bias_norm", "exact_variance_z", "exact_mean_max_abs_z",
    "exact_rel_error", "nonfinite", "timing_samples", "adapt_steps", "adapt_time_s", "adapted_state",
    "roundtrip_s", "z_untested", "pathwise", "variance_floor", "evaluations",
]
#: Columns that runs stored before they existed lack; read as NaN ("not computed").
EXACT_COLUMNS = ["exact_variance", "exact_bias_norm", "exact_variance_z", "exact_mean_max_abs_z",
                 "exact_rel_error"]
#: The adaptation before a point measurement (adaptive estimators; 0, NaN and "" otherwise).
ADAPT_COLUMNS = ["adapt_steps", "adapt_time_s", "adapted_state"]
#: A peer's process round-trip per call (``estimators.peers``), beside its in-worker ``time_s``;
#: NaN for our estimators, which run in-process.
PEER_COLUMNS = ["roundtrip_s"]
#: ``pathwise``: which path a pathwise estimator differentiates through on the row's family
#: (``Estimator.pathwise``): "explicit", "implicit" (torch's implicit reparameterisation
#: gradient: Gamma, Beta, Dirichlet), "rejection"; "" for the others and for older runs.
#: ``z_untested``: coordinates left out of ``max_abs_z`` (too few effective estimates;
#: ``suites.measurement``); ``variance_floor``: the rounding variance below which a coordinate's
#: variance reads as exactly 0; ``evaluations``: the cost evaluations of one estimate
#: (``Estimator.evaluations``, stored so that a plugin named ``pkg.module:Class`` is ranked by
#: work where its label alone cannot rebuild it).
OPTIONAL_COLUMNS = (EXACT_COLUMNS + ["nonfinite", "timing_samples"] + ADAPT_COLUMNS + PEER_COLUMNS
                    + ["z_untested", "pathwise", "variance_floor", "evaluations"])
#: Columns of a training run's ``results.csv``: one row per logged step.
TRAIN_COLUMNS = ["suite", "problem", "problem_config", "estimator", "estimator_config", "device",
                 "num_samples", "seed", "lr", "step", "seconds", "objective", "grad_variance",
                 "state", "evaluations", "threads", "package_version", "torch_version",
                 "device_name", "git_commit", "utc_time", "log_evidence"]
#: Training columns that runs stored before they existed lack; read as NaN. ``log_evidence``:
#: the problem's ``log p(x)`` where it declares one (the conjugate models), so that the report
#: draws ``log p(x) - objective``; NaN elsewhere.
TRAIN_OPTIONAL_COLUMNS = ["log_evidence"]
#: Columns a training run of the ``sbn`` suite adds (``suites.run.sbn``): the held-out
#: importance-weighted bound, its sample count, and the probes' statistics (JSON).
SBN_COLUMNS = ["heldout_bound", "heldout_samples", "probes"]
