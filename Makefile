# make test: build .venv from nothing (with the docs extra, the example plugin of examples/, which the
# tests check through its entry points, and the peers extra: storchastic and Pyro, whose
# adapters tests/test_peers.py checks) and run the tests.
# make bench: same set-up, run the quick profile of BENCH_SUITES (suites/run/profiles.py: the
# representative cells of each suite, the same cells with the same seeds, M and K as the
# full grids, and training at 200 steps x 2 seeds) into results/bench.new/<suite>/, render
# the report there, then swap it in as results/bench (only when all of it succeeded);
# suites that are not registered are skipped with a line saying so. Each finished cell is
# one line when the output is not a terminal (make bench > log).
# make bench-full: the full grids into results/latest (the published results).
# CPU timings use one thread (BENCH_ARGS) so that they are steady on a shared machine.
# TORCH is installed before the project so that its range (torch>=2.3) is
# already met and pip never pulls a multi-GB CUDA build by accident; users
# with a GPU override it, e.g. make test TORCH="torch==2.5.1".
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_SUITES ?= core scaling vae papers train continuous sbn
BENCH_PROFILE ?= quick
BENCH_OUT ?= results/bench
BENCH_ARGS ?= --threads 1

ASV := $(BIN)/asv
# Two estimators on two problems at dim 10 (asv matches the regex against
# "name(param, ...)"): timed where they apply, skipped where not or without CUDA. The whole
# grid through asv took 41 s, mostly delta_method; tests/test_asv.py runs every benchmark
# once on a tiny grid in-process.
ASV_QUICK_BENCH ?= EstimateCall.time_estimate\('(reparam|disarm)', '(gaussian|bernoulli)', 10, '(cpu|cuda)'\)

.PHONY: test asv-check bench bench-full install clean docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The TORCH requirement is recorded in a file that changes only when TORCH
# does, so that `make test TORCH=...` reinstalls torch once .venv exists.
TORCH_STAMP := $(VENV)/.torch-$(shell printf '%s' "$(TORCH)" | cksum | cut -d' ' -f1)

$(TORCH_STAMP): $(BIN)/python
	rm -f $(VENV)/.torch-*
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	touch $@

# setuptools warns, ten lines per editable package, that its import hook may lose to a
# same-named folder in the working directory: true of every editable install, and the
# first screen a newcomer reads; that one warning is silenced, nothing else.
QUIET_EDITABLE := PYTHONWARNINGS="ignore:Editable installation"

# make bench needs the package alone; make test and make docs add the extras (pytest,
# Ray, the peers' libraries, MkDocs) and the example plugin. Split so that a newcomer's
# first make bench does not wait for what only the tests use; the full install stands
# for both (one pip call: two cost make test 14 s).
BASE_STAMP := $(VENV)/.installed-base

$(BASE_STAMP): $(TORCH_STAMP) pyproject.toml
	$(QUIET_EDITABLE) $(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP): $(TORCH_STAMP) pyproject.toml examples/mcgradbench-example/pyproject.toml
	$(QUIET_EDITABLE) $(BIN)/python -m pip install --quiet -e ".[dev,ray,peers,docs]"
	$(QUIET_EDITABLE) $(BIN)/python -m pip install --quiet --no-deps -e examples/mcgradbench-example
	touch $(BASE_STAMP) $(STAMP)

install: $(STAMP)

# asv-check runs first so that pytest's summary is the last line CI reads.
# pytest runs in PYTEST_WORKERS processes (pytest-xdist), each with one torch thread: the
# tests are many small tensor ops, where a second intra-op thread per process only spins
# (measured on 2 cores: 292 s in one process with two threads each, 147-170 s in two
# processes of one thread; later, on a faster tree, one process 191 s, two 130 s, three 152 s).
PYTEST_WORKERS ?= 2
test: $(STAMP)
	$(MAKE) asv-check
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist worksteal

# asv-check (part of make test): `asv check` imports every benchmark and
# checks its signature; one quick asv run then executes the estimator timings
# in this interpreter (--python=same). asv exits 2 when a benchmark fails and
# make stops there. asv needs a machine description before its first run:
# `asv machine --yes` writes one without asking. The quick run's table (one row per
# parameter of the benchmark, 240 rows, nearly all n/a: not selected) goes to a log, shown
# in full when the run fails.
ASV_QUICK_LOG := .asv/quick-run.log
asv-check: $(STAMP)
	$(ASV) machine --yes > /dev/null
	$(ASV) check --python=same
	@mkdir -p $(dir $(ASV_QUICK_LOG))
	@echo "$(ASV) run --python=same --quick --show-stderr --bench \"$(ASV_QUICK_BENCH)\" > $(ASV_QUICK_LOG)"
	@$(ASV) run --python=same --quick --show-stderr --bench "$(ASV_QUICK_BENCH)" > $(ASV_QUICK_LOG) 2>&1 \
	  && echo "asv: the quick run passed ($$(grep -c ' ok$$' $(ASV_QUICK_LOG)) benchmark ok; table in $(ASV_QUICK_LOG))" \
	  || { status=$$?; cat $(ASV_QUICK_LOG); exit $$status; }

# The run goes to a fresh directory beside BENCH_OUT; BENCH_OUT is replaced only
# when every suite and the report succeeded, so an interrupted or failed run
# leaves the published results whole (the partial run stays in $(BENCH_OUT).new
# for inspection).
bench: $(BASE_STAMP)
	rm -rf $(BENCH_OUT).new
	@mkdir -p $(BENCH_OUT).new; runs=""; \
	registered=" $$($(BIN)/python -c "import sys, suites.run.grids as g; print(*g.names())") "; \
	for suite in $(BENCH_SUITES); do \
	  case "$$registered" in *" $$suite "*) ;; *) \
	    echo "bench: skipping suite '$$suite' (not registered; see mcgradbench list)"; continue;; esac; \
	  echo "$(BIN)/mcgradbench run $$suite --profile $(BENCH_PROFILE) --out $(BENCH_OUT).new/$$suite $(BENCH_ARGS)"; \
	  $(BIN)/mcgradbench run $$suite --profile $(BENCH_PROFILE) --out $(BENCH_OUT).new/$$suite $(BENCH_ARGS) || exit 1; \
	  runs="$$runs $(BENCH_OUT).new/$$suite"; \
	done; \
	echo "$(BIN)/mcgradbench report$$runs --out $(BENCH_OUT).new"; \
	$(BIN)/mcgradbench report $$runs --out $(BENCH_OUT).new || exit 1; \
	rm -rf $(BENCH_OUT).old; \
	if [ -e $(BENCH_OUT) ]; then mv $(BENCH_OUT) $(BENCH_OUT).old; fi; \
	mv $(BENCH_OUT).new $(BENCH_OUT) && rm -rf $(BENCH_OUT).old; \
	echo "bench: results in $(BENCH_OUT)"

# The full grids (29 minutes on 2 idle cores of a Xeon @ 2.80GHz, 23 of them the train
# suite's 3,000-step curves; continuous adds 5 to 8 minutes), published in results/latest. The
# sbn suite's full grid (50,000 steps x 3 seeds x 2 models x 11 estimators with probes: about
# 22 thread-hours on this machine, by the sbn guide's step timings) is meant for a GPU or a Ray
# cluster (mcgradbench run sbn --backend ray), so it is not part of bench-full.
FULL_SUITES ?= $(filter-out sbn,$(BENCH_SUITES))
bench-full: $(BASE_STAMP)
	$(MAKE) bench BENCH_PROFILE=full BENCH_OUT=results/latest BENCH_SUITES="$(FULL_SUITES)"

# make docs: the guides and the API reference into site/ (open site/index.html); any
# warning (a broken link, a docstring mkdocstrings cannot read) is an error.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) .asv build *.egg-info site
