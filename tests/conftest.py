import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_everything():
    # Statistical tests must not depend on test order: fix the global seed per test.
    torch.manual_seed(1234)
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
