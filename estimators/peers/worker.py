"""One worker process per peer library: where storchastic and Pyro are imported, and only there.

storchastic patches torch when it is imported (``torch.is_tensor``, some
``Tensor`` methods, distribution argument validation switched off), so a
process that imports it no longer measures our own estimators on stock
torch. Each library therefore lives in its own process, a fresh interpreter (as with
``multiprocessing``'s ``spawn``: nothing of the parent's torch state is
inherited, nothing of the worker's comes back), started lazily on the first
call and reused for every later call; ``atexit`` shuts it down.

Protocol (pickles over the worker's stdin and stdout): the parent sends
``(op, payload)`` and receives ``("ok", result)`` or ``("error", text)``.

* ``("estimate", request)``: ``M`` gradient estimates; result
  ``{"grads": {name: tensor (M, *shape)}, "seconds": time inside the worker}``;
* ``("time", request)``: the median, IQR and number of timed blocks of one
  call (of the implementation's step function, after its preparation), by ``torch.utils.benchmark`` inside the worker (what ``suites.measure``
  does for our estimators in-process), so the pipe is not in it;
* ``("echo", request)``: zero rows of the shape ``estimate`` returns, computed
  by nothing: the parent's wall time of this call is the process round-trip
  (pickling the problem and the rows, both ways through the pipes);
* ``("probe", None)``: which modules the worker holds, and whether its torch is patched.

A request holds the adapter's ``method`` and ``options``, the problem object
(pickled whole: its class is imported in the worker by unpickling, so plugin
problems travel too), ``num_estimates``, ``num_samples``, ``seed`` and
``threads``.
"""
from __future__ import annotations

import atexit
import importlib
import os
import pickle
import subprocess
import sys
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


def _echo(_implementation, request: dict) -> dict:
    """Rows of the shape an estimate call returns, computed by nothing: one round-trip's cost."""
    import torch
    problem, m = request["problem"], int(request["num_estimates"])
    return {"grads": {k: torch.zeros((m, *p.shape), dtype=p.dtype) for k, p in problem.params.items()},
            "seconds": 0.0}


def _probe(_implementation, _request) -> dict:
    """What the worker holds: which of the libraries are imported, whether its torch is patched."""
    import torch
    return {"modules": sorted(m for m in ("storch", "pyro", "suites", "estimators") if m in sys.modules),
            "is_tensor_module": torch.is_tensor.__module__}


def serve(library: str) -> None:
    """The worker's loop: import the library's adapters, then answer requests until ``None``.

    Requests come pickled on stdin, answers go pickled to the original stdout; fd 1 then
    points at stderr, so that a library's prints cannot corrupt the protocol.
    """
    requests = sys.stdin.buffer
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def send(message):
        pickle.dump(message, answers, protocol=pickle.HIGHEST_PROTOCOL)
        answers.flush()

    try:
        implementation = importlib.import_module(IMPLEMENTATIONS[library])
    except Exception as error:  # reported with the first request
        implementation, failure = None, f"{type(error).__name__}: {error}"
    handlers = {"estimate": _compute, "time": _time, "echo": _echo, "probe": _probe}
    while True:
        try:
            message = pickle.load(requests)
        except EOFError:
            return
        if message is None:
            return
        op, payload = message
        if implementation is None:
            send(("error", f"cannot import {library} in its worker: {failure}; "
                                      f"install it with pip install 'mcgradbench[peers]'"))
            continue
        try:
            send(("ok", handlers[op](implementation, payload)))
        except Exception as error:
            tail = "".join(traceback.format_exception(error)[-3:]).strip()
            send(("error", f"{type(error).__name__}: {error}\n{tail}"))


class Worker:
    """A persistent worker process for one library; ``call`` is thread-safe and restarts a dead one.

    The process is a fresh interpreter, ``python -m estimators.peers LIBRARY``
    (what ``multiprocessing``'s ``spawn`` start method also gives, without re-running the
    parent's ``__main__``: a script read from stdin, or a test module, must not run again
    in the worker). Messages are pickled over its stdin and stdout; the worker sends
    everything it prints to stderr.
    """

    def __init__(self, library: str):
        self.library = library
        self._process = None
        self._lock = threading.Lock()

    def start(self) -> None:
        env = dict(os.environ)
        # The worker imports this package from where the parent does (an uninstalled checkout too).
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in [env.get("PYTHONPATH")] if p])
        self._process = subprocess.Popen(
            [sys.executable, "-m", "estimators.peers", self.library],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def call(self, op: str, payload: Any = None) -> Any:
        with self._lock:
            if not self.alive():
                self.start()
            try:
                pickle.dump((op, payload), self._process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                self._process.stdin.flush()
                status, result = pickle.load(self._process.stdout)
            except (EOFError, OSError, pickle.UnpicklingError) as error:
                code = self._process.poll()
                self.close()
                raise PeerError(f"the {self.library} worker process died ({type(error).__name__}, "
                                f"exit code {code}; its stderr is above)") from None
        if status != "ok":
            raise PeerError(f"{self.library} worker: {result}")
        return result

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.alive() else None

    def close(self) -> None:
        if self._process is None:
            return
        try:
            pickle.dump(None, self._process.stdin)
            self._process.stdin.close()
        except (OSError, ValueError):
            pass
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.terminate()
            self._process.wait(timeout=5)
        self._process = None


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

