# mgdsl: `make run` sets everything up and solves the bundled example; `make test` runs the tests.
# Installs use the exact versions in requirements.lock (Python 3.11, Linux); `make lock` refreshes it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock
PIP    := $(BIN)/python -m pip --disable-pip-version-check

.PHONY: setup run test grammar-snapshots test-all test-newest lint lock fmt-check bench-setup bench clean

setup: $(STAMP)

# pip, setuptools and wheel come from the lock as well, and the package is built without isolation so the
# build backend is the locked one too; nothing newer than the lock reaches the environment.
$(STAMP): pyproject.toml $(LOCK)
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet -c $(LOCK) pip setuptools wheel
	$(PIP) install --quiet --no-build-isolation -c $(LOCK) -e ".[dev]"
	touch $(STAMP)

# The editor grammar's tests (tests/test_grammar.py) run on node with the npm packages pinned by
# editors/vscode/package-lock.json: installed by `npm ci` when npm is present; without it those tests are skipped.
NPM := $(shell command -v npm 2>/dev/null)
EDITOR_TOOLS := $(if $(NPM),editors/vscode/node_modules/.package-lock.json)

editors/vscode/node_modules/.package-lock.json: editors/vscode/package-lock.json editors/vscode/package.json
	cd editors/vscode && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# rewrite the grammar's snapshots (editors/vscode/test/snap) after a deliberate change of the grammar, the stdlib
# or a model; review the diff and commit it
grammar-snapshots: setup $(EDITOR_TOOLS)
	MGDSL_UPDATE_SNAPSHOTS=1 $(BIN)/python -m pytest -q tests/test_grammar.py -k snapshots

run: setup
	$(BIN)/mgdsl solve models/example.mgd

test: setup $(EDITOR_TOOLS)
	$(BIN)/python -m pytest -q

# also the slow tests (property tests and fuzzing with more examples)
test-all: setup
	$(BIN)/python -m pytest -q --runslow

# the newest releases the version ranges of pyproject.toml allow, in a separate environment: what a plain
# `pip install mgdsl` gets today. The lock-drift test is skipped there (MGDSL_UNLOCKED=1).
test-newest:
	rm -rf .venv-newest
	$(PYTHON) -m venv .venv-newest
	.venv-newest/bin/python -m pip install --quiet --upgrade pip setuptools wheel
	.venv-newest/bin/python -m pip install --quiet --upgrade -e ".[dev]"
	MGDSL_UNLOCKED=1 .venv-newest/bin/python -m pytest -q

# refresh requirements.lock from the newest compatible releases; run `make test` after it and commit both
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip setuptools wheel
	.venv-lock/bin/python -m pip install --quiet -e ".[dev,bench]"
	( echo "# The lock file: the exact version (==) of every direct and transitive dependency mgdsl is tested with (Python 3.11,"; \
	  echo "# Linux x86_64); \`make\` and CI (.ci/run) install only these. Made by \`make lock\`; do not edit by hand."; \
	  .venv-lock/bin/python -m pip freeze --all --exclude-editable | grep -v '^-e ' ) > $(LOCK).tmp
	mv $(LOCK).tmp $(LOCK)
	rm -rf .venv-lock
	@echo "wrote $(LOCK); now run: make test"

lint: setup
	$(BIN)/ruff check mgdsl tests bench

# the benchmarks' profiler (pyinstrument); Pyomo comes with the dev extra
bench-setup: setup
	$(PIP) install --quiet --no-build-isolation -c $(LOCK) -e ".[dev,bench]"

# every benchmark at its default size (long: see bench/README.md)
bench: bench-setup
	$(BIN)/python bench/bench_compile.py
	$(BIN)/python bench/bench_end_to_end.py
	$(BIN)/python bench/bench_atc_iteration.py
	$(BIN)/python bench/bench_atc_scaling.py
	$(BIN)/python bench/bench_executors.py
	$(BIN)/python bench/bench_atc_vs_central.py
	$(BIN)/python bench/bench_cones.py
	$(BIN)/python bench/bench_startup.py

fmt-check: setup
	$(BIN)/mgdsl fmt --check stdlib/*.mgd models/*.mgd

clean:
	rm -rf $(VENV) .venv-newest .venv-lock results out .pytest_cache .hypothesis
