# mgdsl: `make run` sets everything up and solves the bundled example; `make test` runs the tests.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup run test test-all fmt-check bench-setup bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: setup
	$(BIN)/mgdsl solve models/example.mgd

test: setup
	$(BIN)/python -m pytest -q

# also the slow property tests, with more examples
test-all: setup
	$(BIN)/python -m pytest -q --runslow

# the benchmarks' profiler (pyinstrument); Pyomo comes with the dev extra
bench-setup: setup
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"

# every benchmark at its default size (long: see bench/README.md)
bench: bench-setup
	$(BIN)/python bench/bench_compile.py
	$(BIN)/python bench/bench_end_to_end.py
	$(BIN)/python bench/bench_atc_iteration.py
	$(BIN)/python bench/bench_atc_scaling.py

fmt-check: setup
	$(BIN)/mgdsl fmt --check stdlib/*.mgd models/*.mgd

clean:
	rm -rf $(VENV) results out .pytest_cache .hypothesis
