"""Steps per second of the sbn suite's training, per estimator, and the ratio to the floor.

``python -m benchmarks.sbn_steps [model ...] [--min-run-time S]`` times one training step of
each estimator of the ``sbn`` grid at its ``K`` and the forward pass that step needs (the
floor), both by ``torch.utils.benchmark`` in one process at one thread
(``suites.run.sbn.step_timings``), and prints a Markdown table per model.
"""
from __future__ import annotations

import argparse

import torch

from suites import problems
from suites.run.grids.sbn import SBN_PROBLEMS, estimator_samples
from suites.run.sbn import step_timings

#: The grid's models (``SBN_PROBLEMS``).
MODELS = tuple(config["model"] for _, config in SBN_PROBLEMS)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="linear (default), nonlinear")
    parser.add_argument("--min-run-time", type=float, default=1.0)
    args = parser.parse_args(argv)
    for model in args.models:
        if model not in MODELS:
            parser.error(f"model {model!r}: choose from {', '.join(MODELS)}")
    torch.set_num_threads(1)
    for model in args.models or ["linear"]:
        problem = problems.get("sbn", model=model)
        table = step_timings(problem, estimator_samples(problem), min_run_time=args.min_run_time)
        table = table.assign(step_ms=table["step_s"] * 1e3, floor_ms=table["floor_s"] * 1e3)
        print(f"\nsbn({model}), batch {problem.config['batch_size']}, {problem.config['latent_dim']} latents, 1 thread, "
              f"torch {torch.__version__}\n")
        print(table[["estimator", "num_samples", "evaluations", "steps_per_s", "step_ms", "floor_ms",
                     "ratio"]].to_markdown(index=False, floatfmt=".3g"))


if __name__ == "__main__":
    main()
