"""What the asv benchmarks share: torch threads, the grid, and one seeded cell of it.

The grid is every registered estimator (default options, plus the
leave-one-out baseline) x the problems in ``PROBLEMS`` x ``DIMS`` x
``DEVICES``. Combinations that cannot run (an estimator that does not apply
to a problem, ``cuda`` without a GPU, an estimator an older commit lacks)
raise ``NotImplementedError`` in ``setup``, which asv records as skipped.
To benchmark a new problem, add one line to ``PROBLEMS``.
"""
from __future__ import annotations

import os

import torch

import estimators
from suites import problems

#: torch intra-op threads. 1 by default: on shared machines (CI, the 2-core
#: dev boxes) more threads add noise rather than speed, and a per-core time
#: compares across machines with different core counts. Set
#: MCGRADBENCH_THREADS=N to measure N threads; track_threads records it.
THREADS = int(os.environ.get("MCGRADBENCH_THREADS", "1"))
torch.set_num_threads(THREADS)

#: Problem name -> configuration beyond ``dim``.
PROBLEMS = {
    "gaussian": {"cost": "square"},
    "gaussian_full": {},
    "bernoulli": {},
}

#: Estimator label (as ``Estimator.label`` prints it) -> (registry name, options).
ESTIMATORS = {
    # Built-ins only: a plugin installed in the environment must not change asv's parameters
    # (``origin`` is absent at commits before plugins: all were built-in then).
    **{estimators.get(name).label: (name, {}) for name in estimators.names()
       if getattr(estimators, "origin", lambda _: "built-in")(name) == "built-in"},
    "score_function(baseline=loo)": ("score_function", {"baseline": "loo"}),
}

DIMS = (1, 10, 100)
DEVICES = ("cpu", "cuda")
#: Inner samples per estimate: that of the core suite, enough for the loo baseline.
NUM_SAMPLES = 4
#: Estimates per timed call.
NUM_ESTIMATES = 1_000
SEED = 0

PARAMS = [list(ESTIMATORS), list(PROBLEMS), list(DIMS), list(DEVICES)]
PARAM_NAMES = ["estimator", "problem", "dim", "device"]


def check_device(device: str) -> torch.device:
    """``torch.device(device)``, or ``NotImplementedError`` (asv: skipped) where it is absent."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise NotImplementedError("no CUDA device here")
    return torch.device(device)


def cell(estimator: str, problem: str, dim: int, device: str):
    """The (estimator, problem on device) of one grid point; ``NotImplementedError`` where it cannot run."""
    check_device(device)
    name, options = ESTIMATORS[estimator]
    if name not in estimators.names():  # history runs: a commit before this estimator
        raise NotImplementedError(f"estimator {name!r} is not registered at this commit")
    est = estimators.get(name, **options)
    prob = problems.get(problem, dim=dim, **PROBLEMS[problem]).to(device=device)
    if not est.applies_to(prob):
        raise NotImplementedError(f"{estimator} does not apply to {problem}")
    most = getattr(est, "max_num_samples", lambda _: None)(prob)
    if most is not None and NUM_SAMPLES > most:  # distinct states: unordered_set at dim 1
        raise NotImplementedError(f"{estimator} draws {NUM_SAMPLES} distinct states; {problem} "
                                  f"at dim {dim} has {most}")
    return est, prob


def synchronise(device: str) -> None:
    """Wait for queued CUDA kernels, so a timed body includes them."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
