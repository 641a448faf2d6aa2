"""The Python API does what the command line does: ``suites.plan`` and ``suites.execute``."""
from __future__ import annotations

import suites
from suites.store.rundir import read_meta, read_results


def test_plan_and_execute_run_and_store_what_run_would(tmp_path):
    seen = []
    planned = suites.plan("core", {"problem_names": ["bernoulli(dim=1)"], "estimator_names": ["disarm"],
                                   "min_run_time": 0.0}, out=tmp_path / "run")
    assert [c.estimator for c in planned.cells] == ["disarm"] * len(planned.cells)
    sweep = suites.execute(planned, on_cell=seen.append)
    table = read_results(tmp_path / "run")
    # every planned cell was reported through the callback and stored, and meta.json agrees
    assert seen == planned.cells
    assert sweep.finished == len(planned.cells) == read_meta(tmp_path / "run")["finished_cells"]
    assert set(table["estimator"]) == {"disarm"} and set(table["problem"]) == {"bernoulli"}


def test_the_public_api_is_stated_in_one_place():
    import estimators
    for name in suites.__all__:
        assert getattr(suites, name) is not None, name
    for name in estimators.__all__:
        assert getattr(estimators, name) is not None, name
