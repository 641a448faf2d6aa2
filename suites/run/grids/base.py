"""A suite is a grid of cells; a cell is one measurement.

A cell fixes everything ``suites.measure`` needs: problem name and config,
estimator name and options, device, number of estimates ``M``, inner
samples ``K`` and seed. Its ``key`` identifies it in a results table (what
a resumed sweep skips).
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import torch

from suites.problems.labels import shown, with_options


def _canonical(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True)


@dataclass(frozen=True)
class Cell:
    """One problem config x estimator config x device x (M, K, seed).

    ``settings`` holds what a kind of cell other than a point measurement needs (a
    training run's ``steps`` and ``lr``, ``suites.train``); empty for measurements, and
    then absent from the key, so that keys stored before it existed still match.
    """

    problem: str
    problem_config: dict[str, Any]
    estimator: str
    estimator_config: dict[str, Any]
    device: str = "cpu"
    num_estimates: int = 10_000
    num_samples: int = 1
    seed: int = 0
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple:
        key = (self.problem, _canonical(self.problem_config), self.estimator,
               _canonical(self.estimator_config), self.device, self.num_estimates,
               self.num_samples, self.seed)
        return key + (_canonical(self.settings),) if self.settings else key

    @property
    def estimator_label(self) -> str:
        """The estimator as the tables print it: an ad hoc ``pkg.module:Class,b=0.25`` by its
        own name and options (``constant_baseline(b=0.25)``), one spelling everywhere."""
        if ":" in self.estimator:
            import estimators
            try:
                return estimators.get(self.estimator, **self.estimator_config).label
            except Exception:  # noqa: BLE001 - a label, not a check: the run reports the error
                pass
        return with_options(self.estimator, shown("estimator", self.estimator, self.estimator_config))

    @property
    def label(self) -> str:
        """The cell as the tables, the report and ``advise`` name it: problem and estimator
        with the options that differ from their defaults (``suites.labels``)."""
        names = (f"{with_options(self.problem, shown('problem', self.problem, self.problem_config))} x "
                 f"{self.estimator_label}")
        if self.settings.get("kind") in ("train", "sbn"):
            return (f"{names} on {self.device} K={self.num_samples} seed {self.seed}, "
                    f"{self.settings['steps']} steps")
        return f"{names} on {self.device} M={self.num_estimates} K={self.num_samples}"


@dataclass(frozen=True)
class Suite:
    """A named grid: ``cells(devices)`` lists what ``mcgradbench run NAME`` measures."""

    name: str
    description: str
    build: Callable[[Sequence[str]], list[Cell]] = field(repr=False)
    #: Time one raw call producing all M estimates of a cell (``measure(time_full_call=True)``)
    #: rather than one measurement chunk: for suites about time against M.
    time_full_calls: bool = False
    #: ``(name, options, devices) -> cells``: the suite's cells for a configuration of a
    #: registered problem its grid lacks (``--problem 'sbn(dataset=mnist)'``); None: such a
    #: label only selects from the grid.
    configure: Callable[[str, dict, Sequence[str]], list[Cell]] | None = field(default=None, repr=False)

    def cells(self, devices: Sequence[str] | None = None) -> list[Cell]:
        return self.build(tuple(devices) if devices else default_devices())

    def cells_for(self, name: str, options: dict, devices: Sequence[str] | None = None) -> list[Cell]:
        """The suite's cells for problem ``name`` with ``options`` (none where the suite takes no
        new configurations, or none of ``name``)."""
        if self.configure is None:
            return []
        return self.configure(name, dict(options), tuple(devices) if devices else default_devices())


def default_devices() -> tuple[str, ...]:
    """``cpu``, plus ``cuda`` where a GPU is visible."""
    return ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)


def applicable_cells(problems: Iterable[tuple[str, dict]], estimator_configs: Iterable[tuple[str, dict, int]],
                     devices: Sequence[str], num_estimates: int, seed: int = 0) -> list[Cell]:
    """Every (problem, estimator, device) whose estimator applies to the problem.

    ``estimator_configs`` holds ``(name, options, num_samples)`` triples.
    """
    import estimators
    from suites import problems as problem_registry

    estimator_configs = list(estimator_configs)
    cells = []
    for (pname, pconfig), device in itertools.product(problems, devices):
        problem = problem_registry.get(pname, **pconfig)
        for ename, econfig, num_samples in estimator_configs:
            if estimators.get(ename, **econfig).applies_to(problem):
                cells.append(Cell(pname, dict(pconfig), ename, dict(econfig), device,
                                  num_estimates, num_samples, seed))
    return cells


def samples_within(estimator, problem, budget: int) -> int:
    """The largest ``K`` whose estimate costs at most ``budget`` evaluations on ``problem``
    (``estimator.evaluations``, which grows with ``K``); 0 where one sample is over it."""
    k = 0
    while estimator.evaluations(problem, k + 1) <= budget:
        k += 1
    return k
