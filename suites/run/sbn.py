"""Training the sigmoid belief network (``suites.problems.sbn``) as the papers do, with checkpoints.

Each step draws a fresh minibatch (dynamically binarised), one estimate of the
ELBO's gradient from the estimator (``K = num_samples``), and takes an Adam
ascent step on every weight (encoder, decoder, prior logits). At step 0, every
``log_every`` steps and the last, a checkpoint row records (evaluation excluded
from ``seconds``):

* ``objective``: the training ELBO, ``1/N sum_n f_n(z_n)`` with one ``z_n ~ q`` per
  training image (at most ``EVAL_IMAGES``), on a binarisation fixed once;
* ``heldout_bound``: the ``heldout_samples``-sample importance-weighted bound on the
  held-out images (Burda et al. 2016; 100 in the papers' tables), binarisation fixed;
* ``probes`` (JSON), with ``variance_estimates = M >= 2``: on the problem's own fixed
  minibatch and the weights frozen at the checkpoint, every probe estimator's ``M``
  estimates measured by ``suites.measure`` against the sampled reference at those
  weights (its se counted in every z): per estimator, the mean per-coordinate variance
  of the encoder's gradient and of all of it (with standard errors), the MSE, the
  largest |z| and whether it is flagged biased, and the reference's mean squared se over the
  coordinates it resolves (which the MSE holds as well: the reference's own noise). Every probe sees the same weights: the
  papers' "variance along training" figure, at equal parameters, not only along each
  estimator's own trajectory. ``grad_variance`` is the trained estimator's own entry.

The evaluation draws come from generators seeded apart from the training seed, the
same at every checkpoint of every curve (common random numbers across estimators).
"""
from __future__ import annotations

import json
import math
import time
from typing import Sequence

import pandas as pd
import torch

from estimators.adaptive import AdaptiveEstimator

from suites.problems import datasets
from suites.run.training import estimated_step
from suites.store.schema import SBN_COLUMNS, TRAIN_COLUMNS

#: Training images the training ELBO averages over (all of the 5,000-image subset's 4,000).
EVAL_IMAGES = 10_000
#: Seeds of the fixed evaluation binarisations and of the evaluation samples.
EVAL_SEED = 1_234_577
#: The probes' measurements draw from this seed (the reference has its own, far away).
PROBE_SEED = 7


def probe_summary(rows: pd.DataFrame) -> dict:
    """One probe's statistics over the parameters (``suites.measure``'s rows): the encoder's and
    the whole gradient's mean per-coordinate variance (coordinate-weighted means of the rows, se
    combined as independent), the MSE, the largest |z|, flagged biased anywhere, and the mean
    squared reference se (what the MSE holds of the reference's own noise)."""
    def weighted(part: pd.DataFrame) -> tuple[float, float]:
        w = part["numel"] / part["numel"].sum()
        return float((w * part["variance"]).sum()), float(((w * part["variance_se"]) ** 2).sum() ** 0.5)

    encoder = rows[rows["param"].str.startswith("encoder")]
    variance_encoder, variance_encoder_se = weighted(encoder)
    variance, variance_se = weighted(rows)
    w = rows["numel"] / rows["numel"].sum()
    return {"variance_encoder": variance_encoder, "variance_encoder_se": variance_encoder_se,
            "variance": variance, "variance_se": variance_se, "mse": float((w * rows["mse"]).sum()),
            "max_abs_z": float(rows["max_abs_z"].max()), "biased": bool(rows["biased"].any()),
            "num_estimates": int(rows["num_estimates"].iloc[0]),
            "num_samples": int(rows["num_samples"].iloc[0])}


def probe(problem, params, probes: Sequence, num_estimates: int) -> dict:
    """Every probe ``(name, options, K)`` measured at frozen ``params`` on ``problem``'s own
    minibatch against the sampled reference there: ``{label: probe_summary}``."""
    import estimators as registry

    from suites.measurement.measure import measure

    frozen = problem.at_batch(problem.x)
    frozen.params = {k: v.detach().clone() for k, v in params.items()}
    _, reference_se = frozen.reference_gradient()  # once: every probe reads it from memory
    # over the coordinates the reference resolves (its se is NaN where it cannot be trusted,
    # and those are left out of every bias test too)
    squares = torch.cat([s.double().square().reshape(-1) for s in reference_se.values()])
    reference_se2 = float(squares.nanmean())
    out = {}
    for name, options, k in probes:
        estimator = registry.get(name, **options)
        rows = measure(frozen, estimator, num_estimates=num_estimates, num_samples=k,
                       seed=PROBE_SEED, device=frozen.device, min_run_time=0, exact=False)
        out[estimator.label] = {**probe_summary(rows), "reference_se2": reference_se2}
    return out


def train_sbn(problem, estimator, steps: int, seed: int = 0, lr: float = 1e-4, num_samples: int = 1,
              log_every: int = 100, heldout_samples: int = 100, probes: Sequence = (),
              variance_estimates: int = 0) -> pd.DataFrame:
    """One training curve of ``problem`` (an ``sbn``) from its initial weights; rows per
    checkpoint (module docstring). ``problem`` is left as it was."""
    from estimators.base import check_problem_argument
    from estimators.registry import check_seed

    from suites.problems.base import check_positive

    check_problem_argument(problem)
    if not all(hasattr(problem, a) for a in ("sample_batch", "at_batch", "bound")):
        raise TypeError(f"train_sbn trains a problem with minibatches (suites.problems.get('sbn')), "
                        f"got {getattr(problem, 'label', problem)!r}; suites.train trains the others")
    check_seed(seed)
    lr = check_positive("lr", lr)
    for name, value, low in (("steps", steps, 1), ("log_every", log_every, 1),
                             ("heldout_samples", heldout_samples, 1),
                             ("variance_estimates", variance_estimates, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if variance_estimates == 1:
        raise ValueError("variance_estimates must be 0 (no probes) or >= 2 (a variance needs two estimates)")
    device = problem.device
    generator = torch.Generator(device=device).manual_seed(seed)
    take_step, params = training_step(problem, estimator, num_samples, generator, lr)
    fixed = torch.Generator(device=device).manual_seed(EVAL_SEED)
    train_eval = datasets.binarise(problem.train_images[:EVAL_IMAGES], fixed)
    heldout = datasets.binarise(problem.heldout_images, fixed)
    adaptive = isinstance(estimator, AdaptiveEstimator) and estimator.has_state()
    rows, seconds = [], 0.0

    def log(step):
        current = {k: v.detach() for k, v in params.items()}
        evaluation = torch.Generator(device=device).manual_seed(EVAL_SEED + 1)
        row = {"step": step, "seconds": seconds,
               "objective": float(problem.bound(train_eval, 1, evaluation, current)),
               "heldout_bound": float(problem.bound(heldout, heldout_samples, evaluation, current)),
               "heldout_samples": heldout_samples, "grad_variance": math.nan, "probes": "",
               "state": json.dumps(estimator.state_summary(), sort_keys=True) if adaptive else ""}
        if probes and variance_estimates:
            measured = probe(problem, current, probes, variance_estimates)
            row["probes"] = json.dumps(measured, sort_keys=True)
            own = measured.get(estimator.label)
            row["grad_variance"] = own["variance_encoder"] if own else math.nan
        rows.append(row)

    log(0)
    for step in range(1, steps + 1):  # optimisation steps are sequential by nature
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        take_step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds += time.perf_counter() - t0
        if step % log_every == 0 or step == steps:
            log(step)
    return pd.DataFrame(rows).assign(seed=seed, lr=lr, num_samples=num_samples)


def sbn_cell(cell) -> pd.DataFrame:
    """The rows of one ``sbn`` suite cell (``Cell.settings``: ``steps``, ``lr``, ``log_every``,
    ``heldout_samples``, ``variance_estimates``, ``probes``), with the run metadata."""
    import estimators as registry

    from suites import problems
    from suites.measurement.measure import resolve_device, run_metadata

    device = resolve_device(cell.device)
    problem = problems.get(cell.problem, **cell.problem_config).to(device=device)
    estimator = registry.get(cell.estimator, **cell.estimator_config)
    settings = cell.settings
    curve = train_sbn(problem, estimator, settings["steps"], seed=cell.seed, lr=settings["lr"],
                      num_samples=cell.num_samples, log_every=settings["log_every"],
                      heldout_samples=settings["heldout_samples"],
                      probes=[tuple(p) for p in settings["probes"]],
                      variance_estimates=settings["variance_estimates"])
    return curve.assign(
        suite="sbn", problem=problem.name, problem_config=problem.config_json,
        estimator=estimator.name, estimator_config=estimator.config_json, device=str(device),
        evaluations=estimator.evaluations(problem, cell.num_samples), **run_metadata(device),
        log_evidence=float("nan"),  # no closed-form log p(x) at 200 latents
    )[TRAIN_COLUMNS + SBN_COLUMNS]


def training_step(problem, estimator, num_samples: int, generator, lr: float):
    """``(step, params)``: ``step()`` takes one training step on a copy of ``problem``'s weights
    (a fresh minibatch from ``generator``, one estimate, the estimator's adaptation after it, an
    Adam ascent step), ``params`` the weights it trains. ``problem`` keeps its own."""
    trained = problem.at_batch(problem.x)
    params = {n: v.detach().clone().requires_grad_(True) for n, v in problem.params.items()}
    optimizer = torch.optim.Adam(list(params.values()), lr=lr, maximize=True)
    adaptive = isinstance(estimator, AdaptiveEstimator) and estimator.has_state()

    def step():
        trained.x = problem.sample_batch(generator)
        estimated_step(trained, estimator, params, optimizer, num_samples, generator, adaptive)

    return step, params


def step_and_floor(problem, estimator, num_samples: int, seed: int = 0, lr: float = 1e-4):
    """``(step, floor)``, two callables of no argument on ``problem`` (an ``sbn``): one training
    step as ``train_sbn`` takes it (``training_step``), and the floor that step cannot avoid, the
    forward pass of its cost evaluations (a fresh minibatch, the encoder, the draw of ``z`` and
    the cost at each evaluation, no gradient). ``problem`` keeps its weights."""
    generator = torch.Generator(device=problem.device).manual_seed(seed)
    step, _ = training_step(problem, estimator, num_samples, generator, lr)
    evaluations = estimator.evaluations(problem, num_samples)
    floor_problem = problem.at_batch(problem.x)

    def floor():
        with torch.no_grad():
            floor_problem.x = problem.sample_batch(generator)
            z = floor_problem.distribution(floor_problem.params).sample((evaluations,))
            return floor_problem.cost(z, floor_problem.params)

    return step, floor


def step_timings(problem, estimator_samples: Sequence, seed: int = 0, lr: float = 1e-4,
                 min_run_time: float = 1.0) -> pd.DataFrame:
    """Seconds of one training step per estimator beside its floor (``step_and_floor``), by
    ``torch.utils.benchmark``, in one process; ``estimator_samples``: ``(name, options, K)``.
    One row each, with ``steps_per_s`` and ``ratio = step / floor``."""
    import torch.utils.benchmark as benchmark

    import estimators as registry

    def timed(call):
        timer = benchmark.Timer(stmt="call()", globals={"call": call}, num_threads=torch.get_num_threads())
        return timer.blocked_autorange(min_run_time=min_run_time).median

    rows = []
    for name, options, k in estimator_samples:
        estimator = registry.get(name, **options)
        step, floor = step_and_floor(problem, estimator, k, seed, lr)
        step_s, floor_s = timed(step), timed(floor)
        rows.append({"estimator": estimator.label, "num_samples": k,
                     "evaluations": estimator.evaluations(problem, k),
                     "step_s": step_s, "steps_per_s": 1 / step_s, "floor_s": floor_s,
                     "ratio": step_s / floor_s})
    return pd.DataFrame(rows)
