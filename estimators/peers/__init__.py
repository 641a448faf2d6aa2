"""Peers: other libraries' estimators, run through the same contract as ours.

A peer adapter is an ``Estimator`` whose gradient comes from another
library's own gradient computation (its ``backward`` and the ``.grad`` it
leaves), run in that library's worker process (``estimators.peers.worker``):
storchastic patches torch on import, so neither it nor Pyro is ever imported
in the process that measures. Calls are

    grads = estimators.get("storchastic.disarm")(problem, M, K, generator)
    grads["logits"].shape == (M, *problem.params["logits"].shape)

exactly like ours; the problem object travels to the worker pickled, the
worker seeds its RNG from one draw of ``generator`` (so a call is
determined by ``generator``, like ours, but its noise is the library's, not
ours), and the rows come back as tensors. ``suites.measure`` times a peer
inside its worker (``timed_call``: ``torch.utils.benchmark`` around the
library's call, as ours are timed in-process) and reports the process
round-trip separately (``roundtrip_s``).

Peers run on the CPU (the worker's torch); they are named
``library.method``, registered through this package's entry points (the
plugin route, group ``mcgradbench.estimators``), and listed by
``estimators.names()`` whether or not the library is installed; a call without it is a ``ValueError`` saying how to
install it (``pip install 'mcgradbench[peers]'``).
"""
from __future__ import annotations

import statistics
import time
from typing import Any, ClassVar

import torch
from torch.distributions import Distribution

from ..base import Estimator, _check_count, unwrap_independent
from .worker import PeerError, available, worker

#: How the registry's ``origin`` of every peer begins: they register through this package's
#: entry points (group ``mcgradbench.estimators``), the plugin route.
ORIGIN = "plugin mcgradbench (estimators.peers:"
#: Calls whose round-trip ``timed_call`` measures (the median is reported).
ROUNDTRIPS = 5


class Peer(Estimator):
    """Base of the adapters: ``library``, its ``method`` and the families it is run on here."""

    library: ClassVar[str]
    method: ClassVar[str]
    #: Our estimator on the same cells: what the report compares the peer with (name, options).
    counterpart: ClassVar[tuple[str, dict]] = ("score_function", {"baseline": "none"})
    #: Computed in another process: ``suites.measurement.exact`` cannot replay its noise.
    remote: ClassVar[bool] = True

    def check(self, distribution: Distribution) -> None:
        base, _ = unwrap_independent(distribution)
        if type(base).__name__ not in self.families:
            raise ValueError(f"{self.name} is run on {' and '.join(self.families)} variables here, "
                             f"got {type(base).__name__}")

    def surrogate(self, problem, distribution, params, num_samples):
        raise NotImplementedError(f"{self.name} computes its gradient in its library, not by a surrogate")

    def counterpart_config(self) -> tuple[str, dict]:
        """Our estimator (name, options) that this configuration is compared with."""
        return self.counterpart

    def request(self, problem, num_estimates: int, num_samples: int, seed: int) -> dict:
        if not available(self.library):
            raise ValueError(f"{self.name} needs {self.library}, which is not installed: "
                             f"pip install 'mcgradbench[peers]'")
        device = torch.device(getattr(problem, "device", "cpu"))
        if device.type != "cpu":
            raise ValueError(f"{self.name} runs on the CPU only (its worker's torch), got {device}")
        return {"method": self.method, "options": dict(self.config), "problem": problem,
                "num_estimates": num_estimates, "num_samples": num_samples, "seed": seed,
                "threads": torch.get_num_threads()}

    def __call__(self, problem, num_estimates: int, num_samples: int = 1,
                 generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        _check_count("num_estimates", num_estimates, 1)
        _check_count("num_samples", num_samples, 1)
        self.check_num_samples(num_samples)
        self.check(problem.distribution(problem.params))
        seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
        result = self.call(problem, num_estimates, num_samples, seed)
        return result["grads"]

    def call(self, problem, num_estimates: int, num_samples: int, seed: int) -> dict:
        """The worker's reply to one estimate request: ``grads`` and ``seconds`` (inside the worker)."""
        try:
            return worker(self.library).call("estimate", self.request(problem, num_estimates,
                                                                      num_samples, seed))
        except PeerError as error:
            raise RuntimeError(f"{self.label} on {problem.name}: {error}") from None

    def timed_call(self, problem, num_estimates: int, num_samples: int, seed: int,
                   min_run_time: float) -> tuple[float, float, int, float]:
        """Median and IQR of one call timed inside the worker, its timed blocks, and the median
        round-trip of ``ROUNDTRIPS`` calls that carry the same request and rows but compute
        nothing (the worker's ``echo``)."""
        request = self.request(problem, num_estimates, num_samples, seed + 1)
        timing = worker(self.library).call("time", {**request, "min_run_time": min_run_time})
        trips = []
        for _ in range(ROUNDTRIPS):
            start = time.perf_counter()
            worker(self.library).call("echo", request)
            trips.append(time.perf_counter() - start)
        return timing["median"], timing["iqr"], timing["samples"], statistics.median(trips)


class StorchasticScoreFunction(Peer):
    """storchastic's ScoreFunction (REINFORCE), baselines none, moving_average or batch_average."""

    name = "storchastic.score_function"
    library, method = "storchastic", "score_function"
    options = {"baseline": "none"}
    families = ("Bernoulli", "Normal")
    BASELINES = {"none": ("score_function", {"baseline": "none"}),
                 "moving_average": ("score_function", {"baseline": "none"}),
                 "batch_average": ("score_function", {"baseline": "loo"})}

    def __init__(self, **options: Any):
        super().__init__(**options)
        if self.config["baseline"] not in self.BASELINES:
            raise ValueError(f"unknown baseline {self.config['baseline']!r} for {self.name}; "
                             f"allowed: {', '.join(self.BASELINES)}")
        # storch's moving average includes the current call's own mean cost (baseline.py).
        self.unbiased = self.config["baseline"] != "moving_average"

    def check_num_samples(self, num_samples: int) -> None:
        if self.config["baseline"] == "batch_average" and num_samples < 2:
            raise ValueError(f"{self.name}(baseline=batch_average) needs num_samples >= 2, got {num_samples}")

    def counterpart_config(self):
        return self.BASELINES[self.config["baseline"]]


class StorchasticGumbelSoftmax(Peer):
    """storchastic's GumbelSoftmax (relaxed Bernoulli; straight_through: hard forward pass); biased."""

    name = "storchastic.gumbel_softmax"
    library, method = "storchastic", "gumbel_softmax"
    options = {"temperature": 1.0, "straight_through": False}
    families = ("Bernoulli",)
    unbiased = False

    def counterpart_config(self):
        if self.config["straight_through"]:
            return "straight_through_gumbel", {"temperature": self.config["temperature"]}
        return "gumbel_softmax", {"temperature": self.config["temperature"]}


class StorchasticARM(Peer):
    """storchastic's ARM (Yin & Zhou 2019): K antithetic pairs, unbiased per its paper."""

    name = "storchastic.arm"
    library, method = "storchastic", "arm"
    families = ("Bernoulli",)
    counterpart = ("arm", {})
    evaluations_per_sample = 2


class StorchasticDisARM(Peer):
    """storchastic's DisARM (Dong, Mnih & Tucker 2020): K antithetic pairs, unbiased per its paper.

    storchastic 0.3.7 adds the antithetic cost instead of subtracting it (arm.py,
    ``DisARM.estimator`` returns its baseline without ``1 - magic_box``): ``mcgradbench run
    peers`` finds it biased, its mean near zero on the 1-D toys.
    """

    name = "storchastic.disarm"
    library, method = "storchastic", "disarm"
    families = ("Bernoulli",)
    counterpart = ("disarm", {})
    evaluations_per_sample = 2


class StorchasticREBAR(Peer):
    """storchastic's REBAR (Tucker et al. 2017) at its starting temperature 1 and eta 1.

    storchastic 0.3.7 draws the conditional relaxed sample with ``log1p(p)`` where
    the logistic inverse needs ``log(1 - p)`` (storch.py, ``conditional_gumbel_rsample``):
    ``mcgradbench run peers`` finds it biased on the 1-D toys.
    """

    name = "storchastic.rebar"
    library, method = "storchastic", "rebar"
    families = ("Bernoulli",)
    counterpart = ("rebar", {"temperature": 1.0, "eta": 1.0})
    evaluations_per_sample = 3


class StorchasticRELAX(Peer):
    """storchastic's RELAX (Grathwohl et al. 2018) with its untrained 50-unit surrogate (seed 0).

    Shares REBAR's conditional sample (storch.py, ``conditional_gumbel_rsample``, with
    ``log1p(p)`` for ``log(1 - p)``): ``mcgradbench run peers`` finds it biased on the 1-D toys.
    """

    name = "storchastic.relax"
    library, method = "storchastic", "relax"
    families = ("Bernoulli",)
    counterpart = ("relax", {"temperature": 1.0})
    evaluations_per_sample = 3


class _StorchasticWithoutReplacement(Peer):
    """Base of storchastic's estimators that sample one categorical without replacement."""

    families = ("OneHotCategorical",)

    def check(self, distribution: Distribution) -> None:
        super().check(distribution)
        base, ndims = unwrap_independent(distribution)
        # storch decodes one categorical a step (its SampleWithoutReplacement); an Independent of
        # several would be drawn per coordinate, not as one joint state as ours draws it. The
        # coordinates are the dims Independent reinterprets (with or without a sample dim in front).
        coordinates = base.batch_shape[len(base.batch_shape) - ndims:].numel()
        if coordinates != 1:
            raise ValueError(f"{self.name} is run on one categorical per estimate here (storch "
                             f"draws a set of each coordinate, not of their joint), got "
                             f"{coordinates}")

    def check_num_samples(self, num_samples: int) -> None:
        if num_samples < 2:
            raise ValueError(f"{self.name} needs num_samples >= 2 (a set), got {num_samples}")


class StorchasticUnorderedSet(_StorchasticWithoutReplacement):
    """storchastic's UnorderedSetEstimator (Kool et al. 2020): its ratios by a trapezoid rule.

    storch (0.3.7, sampling/unordered_set.py) integrates the leave-one-out ratios with a
    1,000-point trapezoid rule after the change of variable of the paper's appendix (``a = 5``);
    ours are exact up to K = 8. Compared with ``unordered_set``. Only with its built-in
    baseline: without it (``use_baseline=False``) storch 0.3.7's ``estimator`` returns one
    tensor where its caller unpacks two (method/unordered.py), and ``backward`` fails.
    """

    name = "storchastic.unordered_set"
    library, method = "storchastic", "unordered_set"
    options = {"baseline": "builtin", "num_int_points": 1000}

    def __init__(self, **options: Any):
        super().__init__(**options)
        if self.config["baseline"] != "builtin":
            raise ValueError(f"unknown baseline {self.config['baseline']!r} for {self.name}; "
                             f"allowed: builtin (storchastic 0.3.7 fails without it)")

    def counterpart_config(self):
        return "unordered_set", {"baseline": self.config["baseline"]}


class StorchasticScoreFunctionWOR(_StorchasticWithoutReplacement):
    """storchastic's ScoreFunctionWOR (Kool et al. 2019, "Buy 4 REINFORCE samples"): K samples
    without replacement, importance weights and their baseline; ``biased``: normalised weights.

    Compared with our leave-one-out score function (the same paper's estimator with
    replacement). storchastic 0.3.7's normalised version (``biased=True``, its default) returns
    its estimate detached (``iw / WiS`` with ``WiS`` detached, times a detached cost,
    multi_sample_reinforce.py): no gradient reaches the logits, every estimate is 0.
    """

    name = "storchastic.score_function_wor"
    library, method = "storchastic", "score_function_wor"
    options = {"biased": False}
    counterpart = ("score_function", {"baseline": "loo"})

    def __init__(self, **options: Any):
        super().__init__(**options)
        if not isinstance(self.config["biased"], bool):
            raise ValueError(f"biased must be True or False, got {self.config['biased']!r}")
        self.unbiased = not self.config["biased"]


class PyroTraceGraph(Peer):
    """Pyro's TraceGraph_ELBO score function, baseline none or decaying_average (after warmup steps)."""

    name = "pyro.tracegraph"
    library, method = "pyro", "tracegraph"
    options = {"baseline": "none", "warmup": 20}
    families = ("Bernoulli", "Normal")

    def __init__(self, **options: Any):
        super().__init__(**options)
        if self.config["baseline"] not in ("none", "decaying_average"):
            raise ValueError(f"unknown baseline {self.config['baseline']!r} for {self.name}; "
                             f"allowed: none, decaying_average")


PEERS = (StorchasticScoreFunction, StorchasticGumbelSoftmax, StorchasticARM, StorchasticDisARM,
         StorchasticREBAR, StorchasticRELAX, PyroTraceGraph,
         StorchasticUnorderedSet, StorchasticScoreFunctionWOR)

__all__ = ["ORIGIN", "PEERS", "Peer", "PeerError", "available", "worker"]
