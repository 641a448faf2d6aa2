"""Backends: Ray delivers the same rows as the local backend, survives a killed worker, resumes."""
import os
import signal

import pandas as pd
import pytest

from suites.run import backends, grids
from suites.store import rundir as store

pytestmark = pytest.mark.ray
ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e .[ray])")

STATS = ["param", "mean_norm", "bias_norm", "bias_se", "max_abs_z", "variance", "variance_se",
         "mse", "exact_variance"]


@pytest.fixture(scope="module")
def local_ray():
    # One local instance for the module: starting one costs a few seconds.
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def cells(count=6):
    picked = [c for c in grids.get("core").cells(["cpu"])
              if c.problem_config.get("dim") == 1 and c.problem == "bernoulli"][:count]
    return [c.__class__(**{**c.__dict__, "num_estimates": 2000}) for c in picked]


def collect(backend, todo):
    got = {}
    backend.run(todo, suite="core", min_run_time=0,
                on_done=lambda c, r: got.setdefault(store.cell_key(c), []).append(r))
    return got


def test_unknown_backend_is_a_one_line_error():
    with pytest.raises(ValueError, match="unknown backend 'spark'; known: local, ray"):
        backends.get("spark")


def test_ray_gives_the_local_statistics(local_ray):
    todo = cells()
    local = collect(backends.get("local"), todo)
    remote = collect(backends.get("ray"), todo)
    assert set(remote) == {store.cell_key(c) for c in todo}
    assert all(len(v) == 1 for v in remote.values())
    for key in remote:
        pd.testing.assert_frame_equal(local[key][0][STATS], remote[key][0][STATS])


def test_a_killed_worker_loses_no_cell(local_ray, tmp_path):
    todo = cells(4)
    marker = str(tmp_path / "killed-once")
    victim = todo[1].key

    def kill_once(cell, suite, min_run_time, threads):
        # The first attempt at the victim cell kills its own worker process mid-sweep.
        if cell.key == victim and not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        from suites.run.backends.ray import measure_cell
        return measure_cell(cell, suite, min_run_time, threads)

    got = collect(backends.get("ray", cell_function=kill_once), todo)
    assert os.path.exists(marker)  # the worker did die
    assert set(got) == {store.cell_key(c) for c in todo}
    assert all(len(v) == 1 for v in got.values())


def test_resume_after_the_driver_is_interrupted_runs_only_the_missing_cells(local_ray, tmp_path):
    todo = cells(6)
    table = {"t": store.empty_table()}

    def store_cell(cell, rows):
        table["t"] = store.append_cell(tmp_path, table["t"], cell, rows)
        if len(store.finished_keys(table["t"])) == 2:
            raise KeyboardInterrupt  # Ctrl-C at the driver after two stored cells

    with pytest.raises(KeyboardInterrupt):
        backends.get("ray").run(todo, "core", 0, store_cell)
    stored = store.read_results(tmp_path, require_key=True)
    done = store.finished_keys(stored)
    assert len(done) == 2
    missing = [c for c in todo if store.cell_key(c) not in done]
    ran = []
    table["t"] = stored

    def store_rest(cell, rows):
        ran.append(cell)
        table["t"] = store.append_cell(tmp_path, table["t"], cell, rows)

    backends.get("ray").run(missing, "core", 0, store_rest)
    assert sorted(map(store.cell_key, ran)) == sorted(map(store.cell_key, missing))
    final = store.read_results(tmp_path, require_key=True)
    assert store.finished_keys(final) == {store.cell_key(c) for c in todo}
    assert len(final) == len(todo)  # one row per cell (one parameter each), none twice


def test_cli_sweep_on_ray_matches_local_and_resumes_across_backends(local_ray, tmp_path):
    from click.testing import CliRunner

    from suites.cli import main

    args = ["run", "core", "--problem", "bernoulli", "--estimator", "disarm",
            "--num-estimates", "500", "--min-run-time", "0"]
    local = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "local")])
    remote = CliRunner().invoke(main, [*args, "--backend", "ray", "--out", str(tmp_path / "ray")])
    assert local.exit_code == 0 and remote.exit_code == 0, remote.output
    a = store.read_results(tmp_path / "local").sort_values(["cell_key", "param"], ignore_index=True)
    b = store.read_results(tmp_path / "ray").sort_values(["cell_key", "param"], ignore_index=True)
    pd.testing.assert_frame_equal(a[STATS + ["cell_key"]], b[STATS + ["cell_key"]])
    again = CliRunner().invoke(main, ["run", "--resume", str(tmp_path / "ray"), "--dry-run"])
    assert "0 to run" in again.output
    bad = CliRunner().invoke(main, [*args, "--address", "auto", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "--backend ray" in bad.output


def test_training_cells_on_ray_give_the_local_curves(local_ray):
    from suites.run.grids.train import configured
    picked = [c for c in grids.get("train").cells(["cpu"])
              if c.problem == "linear_vae" and c.estimator in ("reparam", "score_function")][:2]
    todo = configured(picked, steps=20, seeds=2)
    local = collect(backends.get("local"), todo)
    remote = collect(backends.get("ray"), todo)
    assert set(remote) == set(local) == {store.cell_key(c) for c in todo}
    for key in remote:
        curve = ["step", "objective", "seed", "grad_variance", "state"]
        pd.testing.assert_frame_equal(local[key][0][curve], remote[key][0][curve])
        assert remote[key][0]["objective"].iloc[-1] > remote[key][0]["objective"].iloc[0]
