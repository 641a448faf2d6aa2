# make test: build .venv from nothing and run the tests.
# make bench: same set-up, run the default suite and render the report.
# TORCH is installed before the project so that its range (torch>=2.3) is
# already met and pip never pulls a multi-GB CUDA build by accident; users
# with a GPU override it, e.g. make test TORCH="torch==2.5.1".
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/mcgradbench run core

clean:
	rm -rf $(VENV) .asv build *.egg-info
