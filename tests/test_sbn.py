"""sbn: the IDX reader, the MNIST subset, and the sampled reference in the bias test.

Sizes are cut for speed (the suite's models have 200 latents and a batch of 50):
4 latents, a batch of 2 images, a reference of 8,000 DisARM pairs.
"""
import gzip
import json

import pytest
import torch

import estimators
import suites
from suites.measurement.measure import bonferroni_z
from suites.problems import datasets
from suites.problems import sbn as module
from suites.run.sbn import train_sbn

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = {"latent_dim": 4, "batch_size": 2, "reference_samples": 8000}
#: Unbiased estimators must stay below the Bonferroni threshold at a family-wise false alarm
#: rate of 1e-4 per parameter (5 parameters x 4 checks: at most 2e-3 for the file).
UNBIASED_ALPHA = 1e-4


def idx_bytes(array: torch.Tensor, type_code: int = 0x08) -> bytes:
    """An IDX file written by hand: magic, big-endian sizes, big-endian values."""
    header = bytes([0, 0, type_code, array.dim()]) + b"".join(
        n.to_bytes(4, "big") for n in array.shape)
    values = array.contiguous().view(torch.uint8).reshape(-1, array.element_size()).flip(1)
    return header + bytes(values.reshape(-1).tolist())


def test_idx_reader_reads_what_was_written(tmp_path):
    images = torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    (tmp_path / "a-idx3-ubyte").write_bytes(idx_bytes(images))
    (tmp_path / "a-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
    wide = torch.tensor([[1, -2, 300], [70000, 5, -6]], dtype=torch.int32)
    (tmp_path / "w-idx2-int").write_bytes(idx_bytes(wide, 0x0C))
    assert torch.equal(datasets.read_idx(tmp_path / "a-idx3-ubyte"), images)
    assert torch.equal(datasets.read_idx(tmp_path / "a-idx3-ubyte.gz"), images)
    assert torch.equal(datasets.read_idx(tmp_path / "w-idx2-int"), wide)


def test_idx_errors_name_the_file_and_what_was_expected(tmp_path):
    images = torch.zeros(3, 28, 28, dtype=torch.uint8)
    cut = tmp_path / "train-images-idx3-ubyte"
    cut.write_bytes(idx_bytes(images)[:-10])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte: truncated IDX file .*2368 bytes expected, the file has 2358") as error:
        datasets.read_idx(cut)
    assert "\n" not in str(error.value)
    (tmp_path / "cut.gz").write_bytes(gzip.compress(idx_bytes(images))[:-20])
    with pytest.raises(ValueError, match=r"cut.gz: unreadable"):
        datasets.read_idx(tmp_path / "cut.gz")
    (tmp_path / "text").write_bytes(b"hello world")
    with pytest.raises(ValueError, match=r"text: not an IDX file \(expected the magic bytes"):
        datasets.read_idx(tmp_path / "text")
    with pytest.raises(ValueError, match=r"nothing-here: no such IDX file"):
        datasets.read_idx(tmp_path / "nothing-here")
    with pytest.raises(ValueError, match=r"no train-images-idx3-ubyte \(or .gz\) for dataset 'mnist'"):
        datasets.load("mnist", str(tmp_path / "empty"))


def test_idx_data_sets_from_an_option_or_the_environment(tmp_path, monkeypatch):
    generator = torch.Generator().manual_seed(1)
    train = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8, generator=generator)
    test = torch.randint(0, 256, (2, 28, 28), dtype=torch.uint8, generator=generator)
    raw = tmp_path / "FashionMNIST" / "raw"  # torchvision's layout
    raw.mkdir(parents=True)
    (raw / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(train)))
    (raw / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(test))
    loaded = datasets.load("fashion_mnist", str(tmp_path))
    assert torch.equal(loaded[0], train.reshape(5, 784)) and torch.equal(loaded[1], test.reshape(2, 784))
    monkeypatch.setenv(datasets.DATA_ENV, str(tmp_path))
    datasets.load.cache_clear()
    problem = suites.problems.get("sbn", dataset="fashion_mnist", latent_dim=2, batch_size=3)
    assert torch.equal(problem.train_images, train.reshape(5, 784))
    assert "data_dir" not in problem.config
    (raw / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(test.reshape(2, 28, 28)[:, :14]))
    datasets.load.cache_clear()
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte: expected uint8 images of shape \(N, 28, 28\), got uint8 of shape \(2, 14, 28\)"):
        datasets.load("fashion_mnist", str(tmp_path))


def test_mnist_subset_split_and_dynamic_binarisation():
    train, heldout = datasets.load("mnist_subset")
    assert train.shape == (4000, 784) and heldout.shape == (1000, 784) and train.dtype == torch.uint8
    everything = datasets.subset_images()
    # a partition of the 5,000 digits: the pixel sums of the two sets add up
    assert int(train.sum()) + int(heldout.sum()) == int(everything.sum())
    probs = train[:50].float() / 255
    draws = torch.stack([datasets.binarise(train[:50], torch.Generator().manual_seed(s)) for s in range(200)])
    # Bernoulli(p) mean over 200 draws: |mean - p| < 6 sd everywhere (sd <= 0.5 / sqrt(200))
    assert float((draws.mean(0) - probs).abs().max()) < 6 * 0.5 / 200**0.5
    assert bool(((draws == 0) | (draws == 1)).all())


def test_model_as_the_reference_code():
    problem = suites.problems.get("sbn", model="nonlinear", latent_dim=3, batch_size=2)
    shapes = {name: tuple(p.shape) for name, p in problem.params.items()}
    assert shapes == {"encoder.0.weight": (200, 784), "encoder.0.bias": (200,),
                      "encoder.1.weight": (200, 200), "encoder.1.bias": (200,),
                      "encoder.2.weight": (3, 200), "encoder.2.bias": (3,),
                      "decoder.0.weight": (200, 3), "decoder.0.bias": (200,),
                      "decoder.1.weight": (200, 200), "decoder.1.bias": (200,),
                      "decoder.2.weight": (784, 200), "decoder.2.bias": (784,), "prior.logits": (3,)}
    mean = problem.train_images.double().mean(0) / 255
    torch.testing.assert_close(problem.params["decoder.2.bias"].double(),
                               torch.logit(mean.clamp(0.001, 0.999)), atol=1e-5, rtol=0)
    bound = (6 / (784 + 200)) ** 0.5
    weight = problem.params["encoder.0.weight"]
    assert float(weight.abs().max()) <= bound and float(weight.abs().max()) > 0.99 * bound
    # the cost at a binary z by hand: encoder on x - xbar, decoder on 2z - 1, LeakyReLU(0.3)
    z = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    p = {k: v.double() for k, v in problem.params.items()}
    x = problem.x.double()
    leaky = lambda h: torch.where(h > 0, h, 0.3 * h)  # noqa: E731
    h = x - problem.mean_image.double()
    for i in range(3):
        h = h @ p[f"encoder.{i}.weight"].T + p[f"encoder.{i}.bias"]
        h = leaky(h) if i < 2 else h
    q = torch.distributions.Bernoulli(logits=h)
    d = 2 * z.double() - 1
    for i in range(3):
        d = d @ p[f"decoder.{i}.weight"].T + p[f"decoder.{i}.bias"]
        d = leaky(d) if i < 2 else d
    expected = (torch.distributions.Bernoulli(logits=d).log_prob(x).sum(-1)
                + torch.distributions.Bernoulli(logits=p["prior.logits"]).log_prob(z.double()).sum(-1)
                - q.log_prob(z.double()).sum(-1))
    torch.testing.assert_close(problem.to(dtype=torch.float64).cost(z.double()[None], p)[0], expected)


def test_bad_sizes_are_refused_before_allocating(monkeypatch):
    # 0.5 GiB free: 10,000 latents need 12 copies of 15.7 million weights (0.7 GiB) and a
    # reference pass of 100 pairs x 50 images x 20,784 activations (5 GiB), and are refused;
    # were the check gone, the weights alone (63 MB) would still be harmless here.
    monkeypatch.setattr(module, "available_bytes", lambda: 2**29)
    with pytest.raises(ValueError, match=r"^sbn\(latent_dim=10000, batch_size=50, model=linear\) needs about 5.3 GiB, 0.5 GiB are available; choose fewer latents"):
        suites.problems.get("sbn", latent_dim=10_000)
    assert suites.problems.get("sbn", latent_dim=100).num_params == 2 * 784 * 100 + 100 + 784 + 100
    with pytest.raises(ValueError, match=r"unknown model 'deep'; allowed: linear, nonlinear"):
        suites.problems.get("sbn", model="deep")
    with pytest.raises(ValueError, match=r"reference_samples must be a positive multiple of 200"):
        suites.problems.get("sbn", reference_samples=1000 + 1)


def test_reference_se_is_stored_and_enters_every_bias_test(cache):
    problem = suites.problems.get("sbn", **SMALL)
    reference, reference_se = problem.reference_gradient()
    stored = torch.load(problem.cache_path(), weights_only=True)
    assert json.loads(stored["config"]) == problem.config
    for name, p in problem.params.items():
        assert stored["se"][name].shape == p.shape and bool((stored["se"][name] > 0).any())
        torch.testing.assert_close(reference_se[name], stored["se"][name], rtol=0, atol=0, equal_nan=True)
    # bias_se is sqrt(sum_i var_i / M + se_ref_i^2): the reference's error is counted (NaN:
    # a coordinate the reference could not resolve, left out of the test)
    estimator = estimators.get("score_function", baseline="loo")
    rows = suites.measure(problem, estimator, num_estimates=400, num_samples=2, seed=3,
                          min_run_time=0, exact=False, chunk_size=400).set_index("param")
    grads = estimator(problem, 400, 2, torch.Generator().manual_seed(3))
    for name, g in grads.items():
        expected = (g.double().var(0) / 400 + reference_se[name].double().nan_to_num(0) ** 2).sum().sqrt()
        assert rows.loc[name, "bias_se"] == pytest.approx(float(expected), rel=1e-4)


PROBES = [("score_function", {"baseline": "loo"}, 2), ("arm", {}, 1), ("disarm", {}, 1),
          ("gumbel_softmax", {"temperature": 0.5}, 2)]


def test_probes_at_init_and_after_training_flag_gumbel_softmax_only(cache):
    # 30 DisARM steps (lr 1e-2) with probes at step 0 (the initialisation) and step 30, each
    # estimator measured at M = 1,000 against 8,000 reference pairs at the same weights. Power:
    # Gumbel-softmax's largest |z| was 6.7 (init) and 9.4 (step 30) at M = 1,500 (measured),
    # so about 5.5 and 7.6 here, against Bonferroni thresholds of 3.7 to 5.1; the unbiased ones
    # stay below the threshold at 1e-4 per parameter (UNBIASED_ALPHA: 5 parameters x 3
    # estimators x 2 checkpoints, a false alarm rate under 3e-3 for the test).
    problem = suites.problems.get("sbn", **SMALL)
    curve = train_sbn(problem, estimators.get("disarm"), 30, seed=0, lr=1e-2, log_every=30,
                      heldout_samples=2, probes=PROBES, variance_estimates=1000)
    assert list(curve["step"]) == [0, 30]
    strict = bonferroni_z(problem.params["encoder.bias"].numel(), UNBIASED_ALPHA)
    for probes in curve["probes"]:
        measured = json.loads(probes)
        for label in ("score_function(baseline=loo)", "arm", "disarm"):
            assert measured[label]["max_abs_z"] < strict and not measured[label]["biased"], (label, measured[label])
        assert measured["gumbel_softmax(temperature=0.5)"]["biased"]
    assert curve["grad_variance"].tolist() == [json.loads(p)["disarm"]["variance_encoder"] for p in curve["probes"]]
    # training with DisARM raises the held-out bound, at a second seed too (no probes)
    again = train_sbn(problem, estimators.get("disarm"), 30, seed=1, lr=1e-2, log_every=30, heldout_samples=2)
    for rows in (curve, again):
        assert rows["heldout_bound"].iloc[1] > rows["heldout_bound"].iloc[0] + 1
    assert problem.params["encoder.weight"].equal(suites.problems.get("sbn", **SMALL).params["encoder.weight"])


def test_a_cell_is_stored_read_back_resumable_and_tabled(tmp_path, cache):
    from suites.read.report.sbn import pm, table_frames
    from suites.run.grids import Cell
    from suites.run.sbn import sbn_cell
    from suites.store import rundir as store

    settings = {"kind": "sbn", "steps": 2, "lr": 1e-2, "log_every": 2, "heldout_samples": 3,
                "variance_estimates": 0, "probes": []}
    cells = [Cell("sbn", {"latent_dim": 2, "batch_size": 2}, "disarm", {}, "cpu", 1, 1, seed, settings)
             for seed in (0, 1)]
    table = store.empty_table()
    for cell in cells:
        table = store.append_cell(tmp_path, table, cell, sbn_cell(cell))
    read = store.read_results(tmp_path, require_key=True)
    assert list(read["step"]) == [0, 2] * 2 and read["heldout_bound"].notna().all()
    assert (read["heldout_samples"] == 3).all() and (read["suite"] == "sbn").all()
    assert store.finished_keys(read) == {store.cell_key(c) for c in cells}
    # a cut curve is measured again on --resume
    assert store.incomplete_keys(read.iloc[1:]) == {store.cell_key(cells[0])}
    [(title, frame)] = table_frames(read)
    last = read[read["step"] == 2]["heldout_bound"]
    se = last.std() / 2**0.5
    assert "2 steps, 2 seed(s)" in title
    assert frame["held-out bound (K=3)"].iloc[0] == pm(last.mean(), se)


def test_grid_every_estimator_at_two_evaluations_probes_on_seed_zero(monkeypatch):
    from suites.run.grids import sbn as grid

    monkeypatch.setattr(grid, "SBN_PROBLEMS", (("sbn", {"latent_dim": 2, "batch_size": 2}),))
    cells = grid.sbn_cells(["cpu"])
    samples = {(c.estimator, c.estimator_config.get("baseline")): c.num_samples for c in cells}
    assert samples == {("score_function", "none"): 2, ("score_function", "loo"): 2, ("nvil", None): 2,
                       ("arm", None): 1, ("disarm", None): 1, ("rebar", None): 1, ("relax", None): 1,
                       ("gumbel_softmax", None): 2, ("straight_through_gumbel", None): 2,
                       ("gumbel_rao", None): 2, ("unordered_set", None): 2}
    assert all(c.settings["probes"] == [[c2.estimator, c2.estimator_config, c2.num_samples] for c2 in cells]
               for c in cells)
    short = grid.configured(cells[:1], steps=100, seeds=2, heldout_samples=7)
    assert [(c.seed, c.settings["log_every"], c.settings["heldout_samples"], len(c.settings["probes"]))
            for c in short] == [(0, 100, 7, 11), (1, 100, 7, 0)]
    assert grid.configured(cells[:1], steps=50_000, seeds=1)[0].settings["log_every"] == 5000
    # a new estimator is one line; one not registered (another branch's) is left out
    monkeypatch.setattr(grid, "SBN_ESTIMATORS", grid.SBN_ESTIMATORS + (("disarm", {}), ("not_merged_yet", {})))
    assert len(grid.sbn_cells(["cpu"])) == 12


def test_a_coordinate_the_reference_cannot_resolve_is_left_out_of_the_bias_test(cache, monkeypatch):
    problem = suites.problems.get("sbn", **SMALL)
    mean, se = problem.reference_gradient()
    wrong = {n: m.clone() for n, m in mean.items()}
    wrong["encoder.bias"][0] += 1.0  # a reference mean far off at one coordinate
    unresolved = {n: s.nan_to_num(1e-6) for n, s in se.items()}
    unresolved["encoder.bias"][0] = float("nan")
    estimator = estimators.get("disarm")

    def bias_row(reference):
        monkeypatch.setattr(problem, "reference_gradient", lambda: reference)
        rows = suites.measure(problem, estimator, num_estimates=300, seed=1, min_run_time=0, exact=False)
        return rows.set_index("param").loc["encoder.bias"]

    trusted = bias_row((wrong, {n: s.nan_to_num(1e-6) for n, s in se.items()}))
    assert trusted["biased"] and trusted["z_untested"] == 0
    left_out = bias_row((wrong, unresolved))
    assert not left_out["biased"] and left_out["z_untested"] == 1
