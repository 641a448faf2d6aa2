"""Shared fixtures.

Statistical tests fix their seeds, and each bound is set so that the test
fails by chance rarely (the rate is stated beside it). To check that no test
passes only at its committed seed, rerun the suite with every seed shifted::

    for s in $(seq 1 10); do MCGRADBENCH_SEED_OFFSET=$s .venv/bin/python -m pytest -q -m "not cuda"; done

``MCGRADBENCH_SEED_OFFSET`` shifts the seed of every ``suites.measure`` call
and the global torch seed each test starts from.
"""
import os

import pytest
import torch

import suites

SEED_OFFSET = int(os.environ.get("MCGRADBENCH_SEED_OFFSET", "0"))


@pytest.fixture(autouse=True)
def _seed_everything(monkeypatch):
    # Statistical tests must not depend on test order: fix the global seed per test.
    torch.manual_seed(1234 + SEED_OFFSET)
    if SEED_OFFSET:
        measure = suites.measure

        def shifted(*args, seed=0, **kwargs):
            return measure(*args, seed=seed + SEED_OFFSET, **kwargs)

        monkeypatch.setattr(suites, "measure", shifted)
    yield


@pytest.fixture
def generator():
    return torch.Generator().manual_seed(0)


@pytest.fixture
def one_thread():
    # For tests made of many small tensor ops: on a shared two-core machine the second
    # intra-op thread mostly waits on the first (10x slower under load); results are the same.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """An empty ``$MCGRADBENCH_CACHE`` for one test module: its cached references (logistic
    regression's, sbn's) are computed once there, never read from the user's cache."""
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("mcgradbench-cache")
        patch.setenv("MCGRADBENCH_CACHE", str(path))
        yield path
