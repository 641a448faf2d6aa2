"""Peers (estimators.peers): other libraries' estimators, in their own worker processes.

* one-sample: for a fixed seed, each adapter's gradient equals what the library's own
  ``backward()`` gives in a plain script (run in a subprocess: storchastic patches torch);
* the measuring process stays unpatched and never imports storchastic or Pyro;
* the registry lists the adapters; their rows follow our contract, and the score-function
  peers draw the same noise as ours from the same generator (equal rows);
* ``mcgradbench run peers`` on a filtered cell and ``mcgradbench report``: the table
  "Library against mcgradbench" is checked against a recomputation from results.csv.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

import estimators
import suites
from estimators.peers import ORIGIN, PEERS, available, worker
from suites.cli import main

pytestmark = pytest.mark.skipif(
    not (available("storchastic") and available("pyro")),
    reason="storchastic and pyro-ppl are not installed: pip install -e '.[peers]' (make test does)")

NAMES = sorted(cls.name for cls in PEERS)
SEED = 1234
DIM, K, LOGITS, TARGET = 3, 2, 0.3, 0.45

# The plain scripts: the libraries used as their documentation shows, one estimate, no adapter.
PLAIN = textwrap.dedent('''
    import json, sys, torch
    import storch, pyro
    import pyro.distributions as dist
    from torch.distributions import Bernoulli
    from storch.method import ScoreFunction, GumbelSoftmax, ARM, DisARM, REBAR, RELAX
    from pyro.infer import TraceGraph_ELBO
    from pyro.distributions.testing.fakes import NonreparameterizedNormal

    seed, D, K, L, t = %(seed)d, %(dim)d, %(k)d, %(logits)r, %(target)r
    out = {}

    def storch_grad(make):
        torch.manual_seed(seed)
        logits = torch.full((D,), L).requires_grad_(True)
        z = make()(Bernoulli(logits=logits))
        z = z.float() if z.dtype == torch.bool else z
        storch.add_cost(((z - t) ** 2).sum(-1), "cost")
        storch.backward()
        return logits.grad.tolist()

    def relax():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return RELAX("z", n_samples=K, in_dim=D)

    for key, make in {
        "storchastic.score_function(baseline=none)": lambda: ScoreFunction("z", n_samples=K, baseline_factory="none"),
        "storchastic.score_function(baseline=moving_average)": lambda: ScoreFunction("z", n_samples=K, baseline_factory="moving_average"),
        "storchastic.score_function(baseline=batch_average)": lambda: ScoreFunction("z", n_samples=K, baseline_factory="batch_average"),
        "storchastic.gumbel_softmax(straight_through=False)": lambda: GumbelSoftmax("z", n_samples=K),
        "storchastic.gumbel_softmax(straight_through=True)": lambda: GumbelSoftmax("z", n_samples=K, straight_through=True),
        "storchastic.arm": lambda: ARM("z", n_samples=K),
        "storchastic.disarm": lambda: DisARM("z", n_samples=K),
        "storchastic.rebar": lambda: REBAR("z", n_samples=K),
        "storchastic.relax": relax,
    }.items():
        out[key] = storch_grad(make)

    def pyro_grad(baseline, warmup=20):
        torch.manual_seed(seed)
        pyro.clear_param_store()
        logits = torch.full((D,), L).requires_grad_(True)
        infer = {"baseline": {"use_decaying_avg_baseline": True, "baseline_beta": 0.9}} if baseline else {}
        def model():
            z = pyro.sample("z", dist.Bernoulli(logits=logits.detach()).to_event(1))
            pyro.factor("cost", -((z - t) ** 2).sum(-1))
        def guide():
            pyro.sample("z", dist.Bernoulli(logits=logits).to_event(1), infer=infer)
        elbo = TraceGraph_ELBO(num_particles=K, vectorize_particles=True, max_plate_nesting=0)
        for _ in range(warmup if baseline else 0):
            elbo.loss_and_grads(model, guide)
            logits.grad = None
        elbo.loss_and_grads(model, guide)
        return logits.grad.tolist()

    out["pyro.tracegraph(baseline=none)"] = pyro_grad(False)
    out["pyro.tracegraph(baseline=decaying_average)"] = pyro_grad(True)

    # The score-function path on a Normal (gaussian problem, square cost (z - 1)^2, loc 0.5, scale 1).
    torch.manual_seed(seed)
    loc = torch.full((D,), 0.5).requires_grad_(True)
    scale = torch.ones(D).requires_grad_(True)
    def model():
        z = pyro.sample("z", NonreparameterizedNormal(loc.detach(), scale.detach()).to_event(1))
        pyro.factor("cost", -((z - 1.0) ** 2).sum(-1))
    def guide():
        pyro.sample("z", NonreparameterizedNormal(loc, scale).to_event(1))
    TraceGraph_ELBO(num_particles=K, vectorize_particles=True, max_plate_nesting=0).loss_and_grads(model, guide)
    out["pyro.tracegraph on gaussian"] = [loc.grad.tolist(), scale.grad.tolist()]

    # storch's estimators of sets, on one categorical of 3 classes (cost ((z . v) - 0.3)^2), K = 2
    from torch.distributions import OneHotCategorical
    from storch.method import UnorderedSetEstimator, ScoreFunctionWOR
    for key, make in {"storchastic.unordered_set": lambda: UnorderedSetEstimator("z", k=2),
                      "storchastic.score_function_wor": lambda: ScoreFunctionWOR("z", k=2, biased=False)}.items():
        torch.manual_seed(seed)
        logits = torch.linspace(-1.0, 1.0, 3).requires_grad_(True)
        z = make()(OneHotCategorical(logits=logits))
        storch.add_cost(((z * torch.tensor([0.0, 0.5, 1.0])).sum(-1) - 0.3) ** 2, "cost")
        storch.backward()
        out[key] = logits.grad.tolist()
    print(json.dumps(out))
''')


def peer_configs():
    return {
        "storchastic.score_function(baseline=none)": ("storchastic.score_function", {"baseline": "none"}),
        "storchastic.score_function(baseline=moving_average)": ("storchastic.score_function", {"baseline": "moving_average"}),
        "storchastic.score_function(baseline=batch_average)": ("storchastic.score_function", {"baseline": "batch_average"}),
        "storchastic.gumbel_softmax(straight_through=False)": ("storchastic.gumbel_softmax", {}),
        "storchastic.gumbel_softmax(straight_through=True)": ("storchastic.gumbel_softmax", {"straight_through": True}),
        "storchastic.arm": ("storchastic.arm", {}),
        "storchastic.disarm": ("storchastic.disarm", {}),
        "storchastic.rebar": ("storchastic.rebar", {}),
        "storchastic.relax": ("storchastic.relax", {}),
        "pyro.tracegraph(baseline=none)": ("pyro.tracegraph", {"baseline": "none"}),
        "pyro.tracegraph(baseline=decaying_average)": ("pyro.tracegraph", {"baseline": "decaying_average"}),
    }


@pytest.fixture(scope="module")
def plain():
    script = PLAIN % {"seed": SEED, "dim": DIM, "k": K, "logits": LOGITS, "target": TARGET}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("key", list(peer_configs()))
def test_one_sample_equals_the_library_own_backward(plain, key):
    name, options = peer_configs()[key]
    problem = suites.problems.get("bernoulli", dim=DIM, target=TARGET, logits=LOGITS)
    grads = estimators.get(name, **options).call(problem, 1, K, SEED)["grads"]
    assert grads["logits"].shape == (1, DIM)
    torch.testing.assert_close(grads["logits"][0], torch.tensor(plain[key]), rtol=1e-5, atol=1e-6)


def test_one_sample_pyro_on_a_normal_takes_the_score_function_path(plain):
    problem = suites.problems.get("gaussian", dim=DIM, loc=0.5, scale=1.0, cost="square", k=1.0)
    grads = estimators.get("pyro.tracegraph").call(problem, 1, K, SEED)["grads"]
    loc, scale = plain["pyro.tracegraph on gaussian"]
    torch.testing.assert_close(grads["loc"][0], torch.tensor(loc), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grads["scale"][0], torch.tensor(scale), rtol=1e-5, atol=1e-6)


def test_registry_lists_every_peer_with_its_origin():
    assert set(NAMES) <= set(estimators.names())
    assert NAMES == ["pyro.tracegraph", "storchastic.arm", "storchastic.disarm",
                     "storchastic.gumbel_softmax", "storchastic.rebar", "storchastic.relax",
                     "storchastic.score_function", "storchastic.score_function_wor",
                     "storchastic.unordered_set"]
    bernoulli = suites.problems.get("bernoulli", dim=2)
    gaussian = suites.problems.get("gaussian", dim=2)
    one, two = suites.problems.get("categorical", dim=1), suites.problems.get("categorical", dim=2)
    for name in NAMES:
        assert estimators.origin(name).startswith(ORIGIN)  # the plugin route: our entry points
        peer = estimators.get(name)
        if name in SET_PEERS:  # one categorical: storch draws its sets one categorical at a time
            assert peer.applies_to(one) and not any(peer.applies_to(p) for p in (two, bernoulli, gaussian))
            continue
        assert peer.applies_to(bernoulli)
        assert peer.applies_to(gaussian) == (name in ("storchastic.score_function", "pyro.tracegraph"))
    with pytest.raises(ValueError, match="unknown baseline 'loo'.*allowed: none, moving_average"):
        estimators.get("storchastic.score_function", baseline="loo")


SET_PEERS = ("storchastic.unordered_set", "storchastic.score_function_wor")
def test_set_peers_equal_the_library_own_backward(plain):
    problem = suites.problems.get("categorical", dim=1)
    for name in SET_PEERS:
        grads = estimators.get(name).call(problem, 1, 2, SEED)["grads"]
        torch.testing.assert_close(grads["logits"][0, 0], torch.tensor(plain[name]), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="allowed: builtin"):
        estimators.get("storchastic.unordered_set", baseline="none")


def test_measuring_a_peer_leaves_this_process_unpatched():
    originals = (torch.is_tensor, torch.Tensor.to, torch.Tensor.le, torch.Tensor.gt)
    validate = torch.distributions.Distribution._validate_args
    problem = suites.problems.get("bernoulli", dim=2)
    rows = suites.measure(problem, estimators.get("storchastic.disarm"), num_estimates=100,
                          num_samples=2, min_run_time=0.01)
    assert rows["roundtrip_s"].iloc[0] > 0 and rows["time_s"].iloc[0] > 0
    assert (torch.is_tensor, torch.Tensor.to, torch.Tensor.le, torch.Tensor.gt) == originals
    assert torch.is_tensor.__module__ == "torch"
    assert torch.distributions.Distribution._validate_args == validate
    assert "storch" not in sys.modules and "pyro" not in sys.modules
    # ... while the worker did import storchastic and is patched: the isolation is what kept it out.
    probe = worker("storchastic").call("probe")
    assert "storch" in probe["modules"] and probe["is_tensor_module"] != "torch"


@pytest.mark.parametrize("name, problem", [
    ("storchastic.score_function", ("bernoulli", {"dim": 3})),
    ("pyro.tracegraph", ("bernoulli", {"dim": 3})),
    ("storchastic.score_function", ("gaussian", {"dim": 2})),
    ("pyro.tracegraph", ("gaussian", {"dim": 2})),
])
def test_score_function_peers_draw_our_noise_and_give_our_rows(name, problem):
    # Same generator -> same worker seed as our sampling_from -> the same draws: the M rows
    # (the summed-plate trick undone by the M rescaling, one backward) equal ours row by row.
    prob = suites.problems.get(problem[0], **problem[1])
    theirs = estimators.get(name)(prob, 50, 4, torch.Generator().manual_seed(7))
    ours = estimators.get("score_function")(prob, 50, 4, torch.Generator().manual_seed(7))
    for param in prob.params:
        torch.testing.assert_close(theirs[param], ours[param], rtol=1e-4, atol=1e-5)


def test_run_peers_and_the_report_table_agree_with_the_rows(tmp_path):
    run_dir, report_dir = tmp_path / "run", tmp_path / "report"
    result = CliRunner().invoke(main, [
        "run", "peers", "--estimator", "storchastic.score_function", "--estimator", "score_function",
        "--problem", "gaussian", "--num-estimates", "2000", "--min-run-time", "0.02",
        "--out", str(run_dir)])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["report", str(run_dir), "--out", str(report_dir), "--format", "md"])
    assert result.exit_code == 0, result.output
    text = (report_dir / "report.md").read_text()
    assert "## Library against mcgradbench" in text
    table = [line for line in text.split("## Library against mcgradbench", 1)[1].splitlines()
             if line.startswith("| gaussian")]
    rows = pd.read_csv(run_dir / "results.csv")
    peers = rows[rows["estimator"] == "storchastic.score_function"]
    # three baselines x two parameters, each with its counterpart
    assert len(table) == len(peers) == 6
    for line in table:
        cells = [c.strip() for c in line.strip("|").split("|")]
        peer_label, ours_label, param = cells[1], cells[2], cells[3]
        baseline = peer_label.partition("baseline=")[2].rstrip(")") or "none"
        peer = peers[(peers["param"] == param)
                     & (peers["estimator_config"].map(lambda c: json.loads(c)["baseline"]) == baseline)].iloc[0]
        ours_baseline = "loo" if baseline == "batch_average" else "none"
        assert ours_label == ("score_function(baseline=loo)" if ours_baseline == "loo" else "score_function")
        ours = rows[(rows["estimator"] == "score_function") & (rows["param"] == param)
                    & (rows["estimator_config"].map(lambda c: json.loads(c)["baseline"]) == ours_baseline)].iloc[0]
        assert cells[6] == f"{peer['max_abs_z']:.2f} / {ours['max_abs_z']:.2f}"
        r = peer["variance"] / ours["variance"]
        se = r * math.hypot(peer["variance_se"] / peer["variance"], ours["variance_se"] / ours["variance"])
        assert cells[7] == f"{r:.3g} ± {se:.2g}"
        t = (peer["time_s"] / peer["timed_estimates"]) / (ours["time_s"] / ours["timed_estimates"])
        assert cells[8] == f"{t:.3g}"
        assert cells[9] == f"{peer['roundtrip_s'] * 1e3:.3g}"
        # The same draws: equal variances, an unbiased peer agrees.
        assert cells[10].startswith("agrees")
    assert rows[rows["estimator"] == "score_function"]["roundtrip_s"].isna().all()
