"""asv: time, peak memory and statistics of every estimator on the benchmark grid.

``EstimateCall`` times one estimator call (``NUM_ESTIMATES`` estimates of
``NUM_SAMPLES`` inner samples each); ``Statistics`` tracks the variance and
bias that ``suites.measure`` reports from a fixed seed, so that a change
which silently alters an estimator's statistics shows as a step in the asv
graph; ``MeasureMemory`` checks that chunked accumulation keeps memory flat
in the number of estimates.
"""
from __future__ import annotations

import itertools
import math

import torch

import estimators
from suites import problems
from benchmarks.common import (NUM_ESTIMATES, NUM_SAMPLES, PARAM_NAMES, PARAMS, SEED, cell, synchronise)
from suites.measurement.measure import measure


def track_threads():
    return torch.get_num_threads()


track_threads.unit = "torch threads"


class EstimateCall:
    """One estimator call: ``NUM_ESTIMATES`` gradient estimates in one batched pass."""

    params = PARAMS
    param_names = PARAM_NAMES
    timeout = 120
    # Calls take 0.3 ms to 0.7 s: let asv pick `number` (sample_time 10 ms) and
    # take at least 5 samples, at most 4 s of them, after a short warm-up.
    repeat = (5, 20, 4.0)
    warmup_time = 0.2

    def setup(self, estimator, problem, dim, device):
        self.estimator, self.problem = cell(estimator, problem, dim, device)
        self.generator = torch.Generator(device=device).manual_seed(SEED)
        self.device = device

    def time_estimate(self, *params):
        self.estimator(self.problem, NUM_ESTIMATES, NUM_SAMPLES, self.generator)
        synchronise(self.device)

    def peakmem_estimate(self, *params):
        self.estimator(self.problem, NUM_ESTIMATES, NUM_SAMPLES, self.generator)


def summary(rows) -> dict[str, float]:
    """``suites.measure`` rows pooled over all parameter coordinates."""
    numel = rows["numel"]
    return {
        "variance": float((rows["variance"] * numel).sum() / numel.sum()),
        "bias_norm": math.sqrt(float((rows["bias_norm"] ** 2).sum())),
        "max_abs_z": float(rows["max_abs_z"].max()),
    }


class Statistics:
    """Variance and bias of each estimator from a fixed seed (``suites.measure``)."""

    params = PARAMS
    param_names = PARAM_NAMES
    timeout = 900
    #: Estimates per statistic: a few seconds for the whole grid.
    num_estimates = 10_000

    def setup_cache(self):
        # One process measures the whole grid once; the three tracks read it.
        stats = {}
        for point in itertools.product(*self.params):
            try:
                est, prob = cell(*point)
            except NotImplementedError:
                continue
            rows = measure(prob, est, self.num_estimates, NUM_SAMPLES, seed=SEED,
                           device=point[-1], min_run_time=0)
            stats[point] = summary(rows)
        return stats

    def setup(self, stats, *point):
        if point not in stats:
            cell(*point)  # raises NotImplementedError saying why
            raise NotImplementedError(f"{point} was not measured")
        self.stats = stats[point]

    def track_variance(self, stats, *point):
        return self.stats["variance"]

    track_variance.unit = "variance (mean over coordinates)"

    def track_bias_norm(self, stats, *point):
        return self.stats["bias_norm"]

    track_bias_norm.unit = "||bias||_2"

    def track_max_abs_z(self, stats, *point):
        return self.stats["max_abs_z"]

    track_max_abs_z.unit = "max |bias| / se"


class MeasureMemory:
    """Peak memory of ``suites.measure`` in small chunks: flat in ``num_estimates``."""

    params = [[10_000, 100_000]]
    param_names = ["num_estimates"]
    timeout = 300
    chunk_size = 1_000

    def setup(self, num_estimates):
        self.problem = problems.get("gaussian", dim=100)
        self.estimator = estimators.get("score_function")

    def peakmem_measure(self, num_estimates):
        measure(self.problem, self.estimator, num_estimates, 1, seed=SEED,
                chunk_size=self.chunk_size, min_run_time=0)
