"""asv: other libraries' estimators (``estimators.peers``) on the toys, timed like ours.

``PeerCall.time_estimate`` times one call exactly as ``EstimateCall`` times ours
(``NUM_ESTIMATES`` estimates of the peer grid's ``K``), which for a peer includes
its process round-trip; ``track_worker_seconds`` is the same call's time inside
the peer's worker, without the round-trip. Where storchastic or Pyro is not
installed, the benchmark is skipped (``NotImplementedError``).
"""
from __future__ import annotations

import torch

import estimators
from suites import problems
from benchmarks.common import NUM_ESTIMATES, SEED
from suites.run.grids.peers import PEER_CONFIGS
from suites.problems.labels import with_options

#: Peer label -> (name, options, K), the configurations of the `peers` suite.
PEERS = {with_options(name, options): (name, options, k) for name, options, k in PEER_CONFIGS}
PROBLEMS = {"bernoulli": {"target": 0.45}, "gaussian": {"cost": "square"}}


class PeerCall:
    """One peer call: ``NUM_ESTIMATES`` estimates from the library, in its worker process."""

    params = [list(PEERS), list(PROBLEMS), [1, 20]]
    param_names = ["peer", "problem", "dim"]
    timeout = 120
    repeat = (5, 20, 4.0)
    warmup_time = 0.2

    def setup(self, peer, problem, dim):
        from estimators.peers import available
        name, options, self.num_samples = PEERS[peer]
        if not available(name.split(".")[0]):
            raise NotImplementedError(f"{name.split('.')[0]} is not installed")
        self.estimator = estimators.get(name, **options)
        self.problem = problems.get(problem, dim=dim, **PROBLEMS[problem])
        if not self.estimator.applies_to(self.problem):
            raise NotImplementedError(f"{peer} does not apply to {problem}")
        self.generator = torch.Generator().manual_seed(SEED)
        self.estimator(self.problem, 2, self.num_samples, self.generator)  # start the worker

    def time_estimate(self, *params):
        self.estimator(self.problem, NUM_ESTIMATES, self.num_samples, self.generator)

    def track_worker_seconds(self, *params):
        return self.estimator.call(self.problem, NUM_ESTIMATES, self.num_samples, SEED)["seconds"]

    track_worker_seconds.unit = "seconds"
