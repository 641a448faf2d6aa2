"""The `peers` suite: other libraries' estimators (``estimators.peers``) beside ours, cell by cell.

Every peer adapter runs on the REBAR/RELAX ``bernoulli`` toy (dims 1 and 20,
targets 0.45 and 0.499, logits 0 and 1), on ``gaussian`` (dim 10, square
cost) and on ``bernoulli_vae`` (Pyro's score function; see ``VAE_PEERS``),
and our counterpart of each (``Peer.counterpart_config``) runs on the same
cells with the same ``M``, ``K`` and seed: the report's table "Library against
mcgradbench" pairs them. Peers that are not installed are skipped with a
message (install them with ``pip install 'mcgradbench[peers]'``).

storchastic's estimators of sets (its unordered set estimator and its score function
without replacement) run on one categorical (``categorical(dim=1)`` of 3
and of 8 classes, ``K = 2``), beside our ``unordered_set`` and our leave-one-out score
function: storch samples one categorical at a time.

Inner samples: ``K = 4`` for the score function and Gumbel-softmax, 2
antithetic pairs for ARM and DisARM, 1 sample (3 evaluations) for REBAR
and RELAX; each peer and its counterpart count samples alike.
"""
from __future__ import annotations

import sys

from suites.run.grids.base import Cell, Suite

TOY_CONFIGS = [{"dim": dim, "target": target, "logits": logits}
               for dim in (1, 20) for target in (0.45, 0.499) for logits in (0.0, 1.0)]
GAUSSIAN_CONFIGS = [{"dim": 10, "cost": "square"}]
VAE_CONFIGS = [{}]
NUM_ESTIMATES = 10_000
VAE_ESTIMATES = 1_000

#: (peer name, options, K) on every problem they apply to.
PEER_CONFIGS = [
    ("storchastic.score_function", {"baseline": "none"}, 4),
    ("storchastic.score_function", {"baseline": "moving_average"}, 4),
    ("storchastic.score_function", {"baseline": "batch_average"}, 4),
    ("storchastic.gumbel_softmax", {"straight_through": False}, 4),
    ("storchastic.gumbel_softmax", {"straight_through": True}, 4),
    ("storchastic.arm", {}, 2),
    ("storchastic.disarm", {}, 2),
    ("storchastic.rebar", {}, 1),
    ("storchastic.relax", {}, 1),
    ("pyro.tracegraph", {"baseline": "none"}, 4),
    ("pyro.tracegraph", {"baseline": "decaying_average"}, 4),
    ("storchastic.unordered_set", {}, 2),
    ("storchastic.score_function_wor", {"biased": False}, 2),
    ("storchastic.score_function_wor", {"biased": True}, 2),
]
#: One categorical, where storchastic's sampling without replacement draws the joint.
CATEGORICAL_CONFIGS = [{"dim": 1}, {"dim": 1, "num_classes": 8}]
#: On the VAE: Pyro's score function, whose plates give each data point its own learning
#: signal, as ours does. The storchastic adapters run there too, but they score the 200
#: data points' latent vectors as one event weighted by the mean cost (a storch model needs
#: the data denoted a plate, which the adapter cannot do from outside the problem), 3e4 times
#: our encoder variance: a statement about the adapter, not about storchastic, so not run.
VAE_PEERS = ("pyro.tracegraph",)


def pairs(problem: str, config: dict, device: str, num_estimates: int,
          peers=None) -> list[Cell]:
    """The cells of each applicable peer on one problem configuration, each followed by its
    counterpart's cell (once per counterpart)."""
    import estimators
    from suites import problems

    instance = problems.get(problem, **config)
    cells: list[Cell] = []
    for name, options, k in PEER_CONFIGS:
        if peers is not None and name not in peers:
            continue
        peer = estimators.get(name, **options)
        if not peer.applies_to(instance):
            continue
        ours, ours_options = peer.counterpart_config()
        for estimator, estimator_options in ((name, options), (ours, ours_options)):
            cell = Cell(problem, dict(config), estimator, dict(estimator_options), device,
                        num_estimates, k)
            if cell not in cells:
                cells.append(cell)
    return cells


def build(devices):
    from estimators.peers import available

    missing = [lib for lib in ("storchastic", "pyro") if not available(lib)]
    if missing:
        print(f"peers: {', '.join(missing)} not installed; their cells are skipped "
              f"(pip install 'mcgradbench[peers]')", file=sys.stderr)
    cells = []
    for config in TOY_CONFIGS:
        cells += pairs("bernoulli", config, "cpu", NUM_ESTIMATES)
    for config in GAUSSIAN_CONFIGS:
        cells += pairs("gaussian", config, "cpu", NUM_ESTIMATES)
    for config in CATEGORICAL_CONFIGS:
        cells += pairs("categorical", config, "cpu", NUM_ESTIMATES)
    for config in VAE_CONFIGS:
        cells += pairs("bernoulli_vae", config, "cpu", VAE_ESTIMATES, peers=VAE_PEERS)
    keep = {name for name, _, _ in PEER_CONFIGS if available(name.split(".")[0])}
    return [c for c in cells if "." not in c.estimator or c.estimator in keep]


PEERS = Suite("peers", "other libraries' estimators (storchastic, Pyro) beside ours on the same cells: "
              "bernoulli toys (dims 1, 20; t = 0.45, 0.499; logits 0, 1), gaussian, bernoulli_vae, "
              "one categorical (3, 8 classes; sets without replacement); "
              "CPU, M=10,000 (1,000 on the VAE)", build)
