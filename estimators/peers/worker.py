"""One worker process per peer library: where storchastic and Pyro are imported, and only there.

storchastic patches torch when it is imported (``torch.is_tensor``, some
``Tensor`` methods, distribution argument validation switched off), so a
process that imports it no longer measures our own estimators on stock
torch. Each library therefore lives in its own process, started with the
``spawn`` method (a fresh interpreter: nothing of the parent's torch state is
inherited, nothing of the worker's comes back), lazily on the first call, and
reused for every later call; ``atexit`` shuts it down.

Protocol (``multiprocessing`` pipe, pickled): the parent sends
``(op, payload)`` and receives ``("ok", result)`` or ``("error", text)``.

* ``("estimate", request)``: ``M`` gradient estimates; result
  ``{"grads": {name: tensor (M, *shape)}, "seconds": time inside the worker}``;
* ``("time", request)``: the median, IQR and number of timed blocks of one
  call (of the implementation's step function, after its preparation), by ``torch.utils.benchmark`` inside the worker (what ``suites.measure``
  does for our estimators in-process), so the pipe is not in it;
* ``("probe", None)``: which modules the worker holds, and whether its torch is patched.

A request holds the adapter's ``method`` and ``options``, the problem object
(pickled whole: its class is imported in the worker by unpickling, so plugin
problems travel too), ``num_estimates``, ``num_samples``, ``seed`` and
``threads``.
"""
from __future__ import annotations

import atexit
import importlib
import multiprocessing
import threading
import time
import traceback
from typing import Any

#: Library name -> the module (in this package) that implements its adapters; imported in the worker only.
IMPLEMENTATIONS = {"storchastic": "estimators.peers._storchastic", "pyro": "estimators.peers._pyro"}
#: The importable module of each library: what ``available`` looks for without importing it.
MODULES = {"storchastic": "storch", "pyro": "pyro"}


class PeerError(RuntimeError):
    """A peer call failed inside its worker; the message carries the worker's traceback tail."""


def available(library: str) -> bool:
    """Whether ``library`` is installed (found by ``importlib.util.find_spec``, never imported here)."""
    import importlib.util
    return importlib.util.find_spec(MODULES[library]) is not None


def _step(implementation, request: dict):
    """The implementation's step function for ``request``: one call makes ``M`` estimates."""
    return implementation.step_function(request["method"], dict(request["options"]),
                                        request["problem"], int(request["num_estimates"]),
                                        int(request["num_samples"]))


def _compute(implementation, request: dict) -> dict:
    import torch
    torch.set_num_threads(int(request.get("threads", 1)))
    problem = request["problem"]
    torch.manual_seed(int(request["seed"]))
    start = time.perf_counter()
    grads = _step(implementation, request)()
    seconds = time.perf_counter() - start
    return {"grads": {k: v.detach().to(problem.dtype).contiguous() for k, v in grads.items()},
            "seconds": seconds}


def _time(implementation, request: dict) -> dict:
    import torch
    import torch.utils.benchmark as benchmark
    torch.set_num_threads(int(request.get("threads", 1)))
    torch.manual_seed(int(request["seed"]))
    timer = benchmark.Timer(stmt="step()", globals={"step": _step(implementation, request)},
                            num_threads=torch.get_num_threads())
    result = timer.blocked_autorange(min_run_time=float(request["min_run_time"]))
    samples = len(result.times)
    return {"median": result.median, "iqr": result.iqr if samples >= 4 else float("nan"),
            "samples": samples}


def _probe(_implementation, _request) -> dict:
    import sys
    return {"modules": sorted(m for m in ("storch", "pyro", "suites", "estimators") if m in sys.modules)}


def serve(connection, library: str) -> None:
    """The worker's loop: import the library's adapters, then answer requests until ``None``."""
    try:
        implementation = importlib.import_module(IMPLEMENTATIONS[library])
    except Exception as error:  # reported with the first request
        implementation, failure = None, f"{type(error).__name__}: {error}"
    handlers = {"estimate": _compute, "time": _time, "probe": _probe}
    while True:
        try:
            message = connection.recv()
        except EOFError:
            return
        if message is None:
            return
        op, payload = message
        if implementation is None:
            connection.send(("error", f"cannot import {library} in its worker: {failure}; "
                                      f"install it with pip install 'mcgradbench[peers]'"))
            continue
        try:
            connection.send(("ok", handlers[op](implementation, payload)))
        except Exception as error:
            tail = "".join(traceback.format_exception(error)[-3:]).strip()
            connection.send(("error", f"{type(error).__name__}: {error}\n{tail}"))


class Worker:
    """A persistent ``spawn`` process for one library; ``call`` is thread-safe and restarts a dead one."""

    def __init__(self, library: str):
        self.library = library
        self._process = None
        self._connection = None
        self._lock = threading.Lock()

    def start(self) -> None:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._process = context.Process(target=serve, args=(child, self.library), daemon=True,
                                        name=f"mcgradbench-peer-{self.library}")
        self._process.start()
        child.close()
        self._connection = parent

    def call(self, op: str, payload: Any = None) -> Any:
        with self._lock:
            if self._process is None or not self._process.is_alive():
                self.start()
            try:
                self._connection.send((op, payload))
                status, result = self._connection.recv()
            except (EOFError, OSError, BrokenPipeError) as error:
                self.close()
                raise PeerError(f"the {self.library} worker process died ({type(error).__name__})") from None
        if status != "ok":
            raise PeerError(f"{self.library} worker: {result}")
        return result

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.send(None)
            except (OSError, BrokenPipeError):
                pass
            self._connection.close()
        if self._process is not None:
            self._process.join(timeout=5)
            if self._process.is_alive():
                self._process.terminate()
        self._process = self._connection = None


_WORKERS: dict[str, Worker] = {}


def worker(library: str) -> Worker:
    """The (lazily started) worker of ``library``."""
    if library not in _WORKERS:
        _WORKERS[library] = Worker(library)
    return _WORKERS[library]


@atexit.register
def shutdown() -> None:
    """Stop every worker (also called at interpreter exit)."""
    for w in _WORKERS.values():
        w.close()
