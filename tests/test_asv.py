"""The asv benchmarks run: every bench_* class and function, once, on a tiny grid, in-process."""
import importlib
import inspect
import itertools
import math
import pathlib
import pkgutil
import re

import pytest
import torch

import benchmarks

BENCH_PREFIX = re.compile(r"^(time|peakmem|mem|track)_")
#: Parameter values that keep each benchmark to milliseconds.
TINY = {"dim": [1], "device": ["cpu"], "num_estimates": [2_000], "sbn_estimator": ["disarm"],
        "model": ["linear"]}
BENCH_DIR = pathlib.Path(benchmarks.__file__).parent


def bench_modules():
    return [importlib.import_module(f"benchmarks.{m.name}")
            for m in pkgutil.iter_modules([str(BENCH_DIR)]) if m.name.startswith("bench_")]


def benchmarks_of(module):
    """(class or None, [benchmark attribute names]) defined in ``module``."""
    found = []
    for name, obj in vars(module).items():
        if inspect.isclass(obj) and obj.__module__ == module.__name__:
            methods = [m for m in dir(obj) if BENCH_PREFIX.match(m)]
            if methods:
                found.append((obj, methods))
        elif inspect.isfunction(obj) and BENCH_PREFIX.match(name):
            found.append((None, [name]))
    return found


_THREADS = torch.get_num_threads()
CASES = [pytest.param(module, cls, methods, id=f"{module.__name__}.{cls.__name__ if cls else methods[0]}")
         for module in bench_modules() for cls, methods in benchmarks_of(module)]
# benchmarks.common fixed torch threads when imported above; give the other tests theirs back.
torch.set_num_threads(_THREADS)


@pytest.fixture(autouse=True)
def _bench_threads():
    # Run benchmarks with the threads asv gives them (on a loaded machine the
    # naive loop's tiny ops are many times slower with more).
    from benchmarks.common import THREADS
    torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(_THREADS)


def test_every_bench_module_has_benchmarks():
    names = {case.values[0].__name__ for case in CASES}
    assert {"benchmarks.bench_estimators", "benchmarks.bench_vectorisation"} <= names


def test_asv_discovers_benchmarks_only_in_bench_modules():
    # asv collects any time_*/track_* in benchmark_dir (benchmarks/): a helper so named
    # elsewhere would become a broken benchmark.
    from asv_runner.discovery import disc_benchmarks
    names = [b.name for b in disc_benchmarks(str(BENCH_DIR))]
    assert names and all(name.startswith("bench_") for name in names), names


@pytest.mark.parametrize("module,cls,methods", CASES)
def test_benchmark_runs_once_on_a_tiny_grid(module, cls, methods):
    if cls is None:
        value = getattr(module, methods[0])()
        assert value is None or math.isfinite(value)
        return
    # Our classes give params as a list of lists, one per name in param_names.
    tiny = [TINY.get(name, values)
            for name, values in zip(getattr(cls, "param_names", []), getattr(cls, "params", []))]
    small = type(cls.__name__, (cls,), {"params": tiny} if tiny else {})
    cache = [small().setup_cache()] if hasattr(small, "setup_cache") else []
    ran = 0
    for point in itertools.product(*tiny):
        for method in methods:
            bench = small()
            try:
                if hasattr(bench, "setup"):
                    bench.setup(*cache, *point)
            except NotImplementedError:
                continue
            value = getattr(bench, method)(*cache, *point)
            if method.startswith("track_"):
                assert math.isfinite(value) and value >= 0, (method, point, value)
            ran += 1
    assert ran > 0, f"every combination of {cls.__name__} was skipped"
