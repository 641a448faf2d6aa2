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
