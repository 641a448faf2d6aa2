"""The small networks of learned control variates: one hidden ``tanh`` layer, as the papers use.

RELAX's surrogate ``r_phi`` (Grathwohl et al. 2018, the toy and discrete-VAE
experiments: one hidden layer of 10 ``tanh`` units) and NVIL's input-dependent
baseline (Mnih & Gregor 2014, section 3.1) are ``torch.nn`` modules whose
weights live in the estimator's ``state`` (a flat dict of tensors, what
``estimators.adaptive`` tunes, moves between devices and records), under the
prefix ``net.``; they are applied with ``torch.func.functional_call``. The
modules themselves hold no data (they are built on the ``meta`` device).

Initial weights: Glorot-uniform first layer (Glorot & Bengio 2010), drawn by
numpy from the estimator's ``seed`` so that they are not the estimate's noise
(``suites.measurement.exact`` replays torch's random calls), zero biases and a zero output
layer, so that the network starts at 0 (RELAX starts as REBAR, NVIL's
baseline as its constant).
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

PREFIX = "net."


@functools.lru_cache(maxsize=None)
def one_hidden_layer(inputs: int, hidden: int, output_bias: bool = True) -> nn.Module:
    """``x -> tanh(x W1^T + b1) W2^T (+ b2)``, ``(..., inputs) -> (..., 1)``, without storage
    (one shared module per shape: its weights always come from a state)."""
    return nn.Sequential(nn.Linear(inputs, hidden, device="meta"), nn.Tanh(),
                         nn.Linear(hidden, 1, bias=output_bias, device="meta"))


def initial_weights(network: nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """The network's starting weights as state entries (``net.0.weight``, ...): see the module."""
    first, last = network[0], network[-1]
    bound = math.sqrt(6 / (first.in_features + first.out_features)) if first.in_features else 0.0
    # drawn as (inputs, hidden) and transposed: the draws of the hand-written layer this replaced
    draw = np.random.default_rng(seed).uniform(-bound, bound, (first.in_features, first.out_features))
    weights = {"0.weight": torch.from_numpy(draw.T.copy()), "0.bias": torch.zeros(first.out_features),
               "2.weight": torch.zeros(last.weight.shape)}
    if last.bias is not None:
        weights["2.bias"] = torch.zeros(last.bias.shape)
    return {PREFIX + name: value for name, value in weights.items()}


def apply(network: nn.Module, state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The network at the weights in ``state``: ``(..., inputs) -> (...)``."""
    weights = {name[len(PREFIX):]: value for name, value in state.items() if name.startswith(PREFIX)}
    return functional_call(network, weights, (x,)).squeeze(-1)
