"""storchastic's estimators on a problem: imported in the storchastic worker process only.

Importing this module imports ``storch``, which patches torch (see
``estimators.peers.worker``); never import it in a measuring process.

How ``M`` estimates come out of one ``storch.backward()``: the problem's
parameters are replicated to leaves of shape ``(M, *shape)`` and denoted an
independent plate ``"estimates"`` (``storch.denote_independent``); the
method samples ``K`` draws in its own plate ``"z"``. Each estimate's cost
and score then involve only its own replica, and storch's surrogate loss is
the plate *mean* over ``"estimates"``, so ``leaf.grad`` holds ``grad F / M``
per row: the rows returned are ``M * leaf.grad``, storch's own gradient,
rescaled by the plate weight and nothing else.

A storch method is created afresh for every call (a call is determined by
the seed alone): the moving-average baseline starts from zero each call and
is updated once, by the call's own mean cost, as storch does on the first
step of training; RELAX's surrogate network is initialised from seed 0 and
REBAR/RELAX's temperature and ``eta`` stay at storch's starting values 1
(storch's ``backward`` computes their gradients; no optimiser steps them here).
"""
from __future__ import annotations

import torch

import storch
from storch.method import (ARM, DisARM, GumbelSoftmax, REBAR, RELAX, ScoreFunction,
                           ScoreFunctionWOR, UnorderedSetEstimator)

from ..base import unwrap_independent


def make_method(method: str, options: dict, num_samples: int, event_numel: int):
    """The storch ``Method`` for one call (plate ``"z"`` of ``num_samples`` draws)."""
    if method == "score_function":
        return ScoreFunction("z", n_samples=num_samples, baseline_factory=options["baseline"])
    if method == "gumbel_softmax":
        return GumbelSoftmax("z", n_samples=num_samples, straight_through=options["straight_through"],
                             initial_temperature=options["temperature"])
    if method == "arm":
        return ARM("z", n_samples=num_samples)
    if method == "disarm":
        return DisARM("z", n_samples=num_samples)
    if method == "rebar":
        return REBAR("z", n_samples=num_samples)
    if method == "unordered_set":
        return UnorderedSetEstimator("z", k=num_samples, use_baseline=options["baseline"] == "builtin",
                                     num_int_points=options["num_int_points"])
    if method == "score_function_wor":
        return ScoreFunctionWOR("z", k=num_samples, biased=options["biased"])
    if method == "relax":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return RELAX("z", n_samples=num_samples, in_dim=event_numel)
    raise ValueError(f"unknown storchastic method {method!r}")


def step_function(method: str, options: dict, problem, num_estimates: int, num_samples: int):
    """A function of no arguments returning ``M`` estimates (``{name: (M, *shape)}``) per call."""
    M, K = num_estimates, num_samples

    def run():
        leaves = {n: p.detach().expand(M, *p.shape).clone().requires_grad_(True)
                  for n, p in problem.params.items()}
        plated = {n: storch.denote_independent(v, 0, "estimates") for n, v in leaves.items()}
        distribution = problem.distribution(plated)
        base, _ = unwrap_independent(distribution)
        event_numel = int(torch.Size(distribution.event_shape).numel())
        z = make_method(method, options, K, event_numel)(base)
        if z.dtype == torch.bool:  # storch's DisARM samples booleans (arm.py, sample_disarm)
            z = z.to(problem.dtype)
        cost = problem.cost(z, plated)
        # Independent factors (data points): F is their mean, storch takes one cost per draw.
        while cost.event_shape != ():
            cost = cost.mean(-1)
        storch.add_cost(cost, "cost")
        storch.backward()
        return {n: (v.grad if v.grad is not None else torch.zeros_like(v)) * M
                for n, v in leaves.items()}

    return run
