# algolens: `make demo` and `make test` work on a fresh machine (they create .venv first).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: install demo test test-all check lint format bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) torch==2.13.0
	$(PIP_INSTALL) -e '.[dev,export,notebooks,logs,cluster]'
	touch $(STAMP)

demo: install
	$(VENV)/bin/algolens demo

# the fast tier and every notebook; test-all adds the slow tier (convergence runs, kill tests)
test: install
	$(PY) -m pytest -q -m "not slow" tests --nbmake examples $(PYTEST_ARGS)

test-all: install
	$(PY) -m pytest -q tests --nbmake examples $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff format src tests benchmarks
	$(VENV)/bin/ruff check --fix src tests benchmarks

check: lint
	$(VENV)/bin/mypy
	$(MAKE) test

bench: install
	for b in benchmarks/*.py; do $(PY) $$b; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
