"""The raw estimator call over many estimates: chunked internally, seeded, and still correct."""
import math
import os
import platform
import subprocess
import sys

import pytest
import torch

import estimators
import suites
from estimators import base


@pytest.fixture
def small_chunks(monkeypatch):
    # gaussian dim 3 has 6 parameters: 60 numbers a pass is 10 estimates at K = 1
    monkeypatch.setattr(base, "CHUNK_ELEMENTS", 60)


def test_chunk_size_follows_problem_size():
    prob = suites.problems.get("gaussian", dim=100)
    assert base.chunk_size(prob, 1) == base.CHUNK_ELEMENTS // 200
    assert base.chunk_size(prob, 4) == base.CHUNK_ELEMENTS // 800


@pytest.mark.parametrize("name", ["score_function", "reparam"])
def test_chunked_raw_call_is_seeded_fresh_per_chunk_and_unbiased(small_chunks, name):
    prob = suites.problems.get("gaussian", dim=3, cost="cos")
    est = estimators.get(name)
    num = 20_003  # an uneven last chunk
    grads = est(prob, num, 1, torch.Generator().manual_seed(5))
    again = est(prob, num, 1, torch.Generator().manual_seed(5))
    for param, rows in grads.items():
        assert rows.shape == (num, 3) and torch.isfinite(rows).all()
        torch.testing.assert_close(rows, again[param], rtol=0, atol=0)
        # consecutive chunks draw fresh noise: no chunk repeats the one before
        assert not torch.equal(rows[:10], rows[10:20])
        exact = prob.exact_gradient()[param]
        se = rows.std(0) / math.sqrt(num)
        assert ((rows.mean(0) - exact).abs() < 5 * se).all(), (param, rows.mean(0), exact)


def test_raw_call_below_one_chunk_is_the_single_batched_pass():
    """Calls that fit in one chunk (every call suites.measure makes) draw exactly as before."""
    prob = suites.problems.get("gaussian", dim=3)
    est = estimators.get("score_function")
    direct = est(prob, 50, 1, torch.Generator().manual_seed(2))
    with estimators.sampling_from(torch.Generator().manual_seed(2)):
        single = est.batched_pass(prob, 50, 1)
    for name in direct:
        torch.testing.assert_close(direct[name], single[name], rtol=0, atol=0)


def test_every_row_of_a_chunked_call_is_written(small_chunks):
    # reparam on a linear cost has zero variance in loc: every row is the exact gradient,
    # so a row left unwritten or scaled in any chunk shows
    prob = suites.problems.get("gaussian", dim=3, cost="linear")
    rows = estimators.get("reparam")(prob, 1_005, 1, torch.Generator().manual_seed(0))["loc"]
    torch.testing.assert_close(rows, prob.exact_gradient()["loc"].expand_as(rows))


def test_bench_raw_call_times_every_path():
    from benchmarks import bench_raw_call

    seconds = bench_raw_call.compare(num_estimates=2_000, dim=10, repeats=1)
    assert set(seconds) == {(e, p) for e in bench_raw_call.ESTIMATORS for p in bench_raw_call.PATHS}
    assert all(0 < s < 10 for s in seconds.values())


PAGE_FAULTS = """
import resource, torch, estimators, suites
torch.set_num_threads(1)
prob = suites.problems.get("gaussian", dim=100)
est, g = estimators.get("score_function"), torch.Generator().manual_seed(0)
est(prob, 100_000, 1, g)
faults = []
for _ in range(3):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    est(prob, 100_000, 1, g)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(min(faults))
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the allocator setting is glibc's")
def test_repeated_raw_calls_reuse_freed_memory_instead_of_faulting_in_new_pages():
    def faults(**env):
        out = subprocess.run([sys.executable, "-c", PAGE_FAULTS], capture_output=True, text=True,
                             check=True, env={**os.environ, **env})
        return int(out.stdout.split()[-1])
    # A repeated call of 20 passes reuses the earlier calls' memory (the fewest faults of
    # three calls: 0 to a few thousand seen here, where the heap's layout varies); with
    # glibc's defaults its passes fault their intermediates in anew (30,000 to 51,000).
    kept, system = faults(), faults(MCGRADBENCH_MALLOC="system")
    assert kept < 5_000 and system > 15_000, (kept, system)
