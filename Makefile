# kpibot: `make demo` and `make test` each set up a local virtual environment and run.
#
# The virtual environment installs exactly what requirements.lock pins (every package of the
# runtime and of the slack, telegram and dev extras, with hashes), then kpibot itself without
# dependencies. `make lock` regenerates the lock on purpose; see the README ("Upgrading").
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
# The lock tool, pinned like everything else; it runs only for `make lock`.
UV_VERSION := 0.13.9
LOCK_TOOL := .lock-tool

.PHONY: demo test test-fast lint typecheck bench bench-quick clean setup lock

setup: $(STAMP)

$(STAMP): $(LOCK) pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

# Regenerate the lock from pyproject.toml's ranges: newest versions that fit, for Python 3.11 on
# every platform, with hashes. Then `make test` and commit both files.
lock:
	test -x $(LOCK_TOOL)/bin/uv || ($(PYTHON) -m venv $(LOCK_TOOL) && \
		$(LOCK_TOOL)/bin/python -m pip install --quiet uv==$(UV_VERSION))
	UV_NATIVE_TLS=1 $(LOCK_TOOL)/bin/uv pip compile pyproject.toml requirements-build.in \
		--extra slack --extra telegram --extra dev --generate-hashes --universal \
		--python-version 3.11 --no-header --upgrade -o $(LOCK)
	@echo "Now run 'make test' and commit pyproject.toml and $(LOCK) together."

demo: $(STAMP)
	$(BIN)/kpibot demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -x -m "not postgres and not slow"

# ruff, then the import contracts of pyproject.toml ([tool.importlinter]): the layers of
# ../shared/ARCHITECTURE.md, handlers and scheduler independent, SDKs only in the adapters.
lint: $(STAMP)
	$(BIN)/ruff check bot handlers kpi scheduler tests benchmarks
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# The same set with QUICK=1: smaller inputs, 5 repetitions, a few seconds' budget per script
# (about a minute in all); the report goes to a temporary file, not benchmarks/REPORT.md.
bench-quick: $(STAMP)
	QUICK=1 $(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) $(LOCK_TOOL) build *.egg-info .pytest_cache .hypothesis
