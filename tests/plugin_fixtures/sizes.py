"""Problems for the memory checks: one whose construction asks torch's allocator for more than
any machine has, one with a scalar parameter and a wide sample (it declares no sizes)."""
import torch
from torch.distributions import Independent, Normal

from suites.problems.base import Problem


class Huge(Problem):
    """A plugin that allocates 4 * 10^14 bytes without checking first."""

    name = "huge"

    def __init__(self):
        self.params = {"loc": torch.zeros(10**14)}
        self.config = {}

    def distribution(self, params):
        return Independent(Normal(params["loc"], 1.0), 1)

    def cost(self, z, params):
        return z.sum(-1)


class Wide(Problem):
    """One shared location for ``width`` independent Normals: 1 parameter, ``width`` numbers a sample."""

    name = "wide"

    def __init__(self, width: int = 1000):
        self.width = width
        self.params = {"loc": torch.zeros(())}
        self.config = {"width": width}

    def distribution(self, params):
        loc = params["loc"][..., None].expand(*params["loc"].shape, self.width)
        return Independent(Normal(loc, 1.0), 1)

    def cost(self, z, params):
        return z.sum(-1)

    def expectation(self, params):
        return self.width * params["loc"]
