"""The CUDA path against the exact moments and against the CPU path.

Every test here needs a CUDA device and skips without one (``-m "not cuda"``
deselects them). They check what only a GPU run can: that each estimator's
estimates drawn on the GPU have the exact mean and variance that
``suites.measurement.exact`` computes, that the exact moments computed on the GPU equal
those computed on the CPU, that a raw call larger than one pass stays on the
device, and that the timer waits for the GPU's work.

False alarms: each statistical assertion is a 5-standard-error bound
(two-sided rate 5.7e-7 per coordinate); over the ~40 cells and ~400
coordinates here the suite-wide rate is below 1e-3.
"""
import time

import pytest
import torch

import estimators
import suites
from suites.measurement.exact import exact_moments

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

#: (estimator, options, K) x (problem, config): small problems, so that the exact moments exist.
ESTIMATORS = [("score_function", {"baseline": "none"}, 1), ("score_function", {"baseline": "loo"}, 4),
              ("score_function", {"baseline": "loo_optimal"}, 4), ("reparam", {}, 2),
              ("disarm", {}, 2), ("arm", {}, 1), ("rebar", {}, 1),
              ("gumbel_softmax", {"temperature": 0.5}, 1),
              ("straight_through_gumbel", {"temperature": 0.5}, 1),
              ("gumbel_rao", {"temperature": 0.5}, 1),
              ("measure_valued", {}, 1), ("delta_method", {}, 2)]
PROBLEMS = [("gaussian", dict(dim=1, cost="cos")), ("gaussian", dict(dim=2, cost="square")),
            ("bernoulli", dict(dim=1)), ("bernoulli", dict(dim=2, logits=[-1.0, 1.0], target=0.45)),
            ("categorical", dict(dim=1))]
CELLS = [(p, c, e, o, k) for p, c in PROBLEMS for e, o, k in ESTIMATORS
         if estimators.get(e, **o).applies_to(suites.problems.get(p, **c))]


@pytest.mark.parametrize("problem,config,estimator,options,num_samples", CELLS, ids=str)
def test_cuda_estimates_have_the_exact_moments(problem, config, estimator, options, num_samples):
    prob = suites.problems.get(problem, **config)
    est = estimators.get(estimator, **options)
    df = suites.measure(prob, est, num_estimates=50_000, num_samples=num_samples, seed=3,
                        device="cuda", min_run_time=0)
    assert (df["device"] == "cuda:0").all() and (df["nonfinite"] == 0).all()
    if est.unbiased:
        assert (df["max_abs_z"] < 5).all(), df[["param", "max_abs_z"]]
    # The sample mean and variance drawn on the GPU against the exact ones (biased estimators
    # too), where the exact moments exist (most cells here; test_exact_moments_on_cuda_... says which).
    assert (df["exact_mean_max_abs_z"].fillna(0).abs() < 5).all(), df[["param", "exact_mean_max_abs_z"]]
    assert (df["exact_variance_z"].fillna(0).abs() < 5).all(), df[["param", "exact_variance_z"]]


@pytest.mark.parametrize("problem,config,estimator,options,num_samples",
                         [c for c in CELLS if c[0] != "gaussian" or c[1]["dim"] == 1], ids=str)
def test_exact_moments_on_cuda_equal_those_on_cpu(problem, config, estimator, options, num_samples):
    prob = suites.problems.get(problem, **config)
    est = estimators.get(estimator, **options)
    on_cpu = exact_moments(prob, est, num_samples)
    on_gpu = exact_moments(prob.to(device=torch.device("cuda")), est, num_samples)
    assert (on_cpu is None) == (on_gpu is None)
    if on_cpu is None:
        pytest.skip("no exact moments for this cell on either device")
    for name in on_cpu.mean:
        scale = float((on_cpu.mean[name].square() + on_cpu.variance[name]).mean().sqrt())
        torch.testing.assert_close(on_gpu.mean[name].cpu(), on_cpu.mean[name], rtol=0, atol=1e-9 * scale)
        torch.testing.assert_close(on_gpu.variance[name].cpu(), on_cpu.variance[name], rtol=1e-7,
                                   atol=1e-9 * scale ** 2)


@pytest.mark.parametrize("estimator,problem", [("score_function", "gaussian"), ("reparam", "gaussian"),
                                               ("disarm", "bernoulli")])
def test_a_raw_call_larger_than_one_pass_stays_on_the_gpu_and_is_unbiased(estimator, problem):
    prob = suites.problems.get(problem, dim=100).to(device=torch.device("cuda"))
    est = estimators.get(estimator)
    g = torch.Generator(device="cuda").manual_seed(0)
    grads = est(prob, num_estimates=100_000, num_samples=4, generator=g)
    exact = prob.exact_gradient()
    for name, value in grads.items():
        assert value.device.type == "cuda" and value.shape == (100_000, *prob.params[name].shape)
        se = value.std(0) / 100_000 ** 0.5
        assert float(((value.mean(0) - exact[name]).abs() / se).max()) < 5


def test_cuda_timing_waits_for_the_gpu():
    """time_s covers the kernels, not only their launch: at least the synchronised wall time."""
    prob = suites.problems.get("gaussian", dim=100)
    est = estimators.get("score_function", baseline="loo")
    df = suites.measure(prob, est, num_estimates=200_000, num_samples=8, seed=0, device="cuda",
                        min_run_time=0.2, time_full_call=True)
    on_gpu = prob.to(device=torch.device("cuda"))
    g = torch.Generator(device="cuda").manual_seed(0)
    est(on_gpu, 200_000, 8, g)
    best = float("inf")
    for _ in range(5):
        torch.cuda.synchronize()
        start = time.perf_counter()
        est(on_gpu, 200_000, 8, g)
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    # measure() times the same call; an unsynchronised timer reports the launch time only,
    # a small fraction of this.
    assert float(df["time_s"].iloc[0]) > 0.5 * best, (float(df["time_s"].iloc[0]), best)


SBN_SMALL = {"latent_dim": 4, "batch_size": 2, "reference_samples": 8000}


def sbn_on(device: str):
    """The sbn checks of one device (``cuda`` here; the same function runs on ``cpu`` to check
    the test itself): the sampled reference there against the CPU's within their joint se, and
    a short training curve with probes that rises and flags Gumbel-softmax only."""
    import json

    from suites.measurement.measure import bonferroni_z
    from suites.run.sbn import train_sbn

    from suites.problems.sbn import sampled_reference

    on_cpu = suites.problems.get("sbn", **SBN_SMALL)
    there = suites.problems.get("sbn", **SBN_SMALL).to(device=torch.device(device))
    reference, reference_se = on_cpu.reference_gradient()
    # computed there, not read from the cache the CPU's filled (the key is the same point)
    mean, se = sampled_reference(there, SBN_SMALL["reference_samples"])
    for name in reference:
        z = (mean[name] - reference[name]) / (se[name].square() + reference_se[name].square()).sqrt()
        resolved = z.isfinite()  # NaN: a pixel dark in the minibatch (no gradient), or unresolved
        assert float(z[resolved].abs().max()) < bonferroni_z(int(resolved.sum()), 1e-4), name
    probes = [("score_function", {"baseline": "loo"}, 2), ("disarm", {}, 1), ("gumbel_softmax", {"temperature": 0.5}, 2)]
    curve = train_sbn(there, estimators.get("disarm"), 30, seed=0, lr=1e-2, log_every=30, heldout_samples=2,
                      probes=probes, variance_estimates=1000)
    assert curve["heldout_bound"].iloc[1] > curve["heldout_bound"].iloc[0] + 1
    for row in curve["probes"]:
        measured = json.loads(row)
        assert not measured["disarm"]["biased"] and not measured["score_function(baseline=loo)"]["biased"]
        assert measured["gumbel_softmax(temperature=0.5)"]["biased"]


@pytest.mark.usefixtures("cache")
def test_sbn_reference_training_and_probes_on_cuda():
    # False alarms: the reference comparison at 1e-4 per parameter (5 parameters), the probes'
    # unbiased estimators at the measurement's own family-wise rate (2 x 2 cells): under 1e-2.
    sbn_on("cuda")
