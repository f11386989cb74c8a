# algolens: `make demo` and `make test` work on a fresh machine (they create .venv first).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: install demo test test-all test-tl3 check lint format bench docs clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) torch==2.13.0
	$(PIP_INSTALL) -e '.[dev,export,notebooks,logs,cluster,docs]'
	touch $(STAMP)

demo: install
	$(VENV)/bin/algolens demo

# the fast tier, every notebook and the docs site's strict build; test-all adds the slow tier
# (convergence runs, kill tests)
test: install docs
	$(PY) -m pytest -q -m "not slow" tests --nbmake examples $(PYTEST_ARGS)

test-all: install
	$(PY) -m pytest -q tests --nbmake examples $(PYTEST_ARGS)

# TransformerLens 3.x beside SAELens (which needs TransformerLens < 4), in a second venv: what
# `pip install algolens sae-lens` resolves to; the TransformerLens and patching tests run there
VENV_TL3 := .venv-tl3
STAMP_TL3 := $(VENV_TL3)/.installed-stamp
TL3_TESTS := tests/unit/test_transformer_lens.py tests/unit/test_patching.py

$(STAMP_TL3): pyproject.toml constraints.txt
	test -x $(VENV_TL3)/bin/python || $(PYTHON) -m venv $(VENV_TL3)
	$(VENV_TL3)/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt torch==2.13.0
	$(VENV_TL3)/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt \
		-e . 'transformer-lens<4' sae-lens 'pytest>=8' 'hypothesis>=6.100'
	$(VENV_TL3)/bin/python -m pip list 2>/dev/null | grep -iE '^(transformer-lens|sae-lens|torch) '
	touch $(STAMP_TL3)

test-tl3: $(STAMP_TL3)
	$(VENV_TL3)/bin/python -m pytest -q -p no:cacheprovider -m "not slow" $(TL3_TESTS) $(PYTEST_ARGS)

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

# the docs site (mkdocs-material, mkdocstrings) into site/; --strict turns every warning into a failure
docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

bench: install
	for b in benchmarks/*.py; do $(PY) $$b; done

clean:
	rm -rf $(VENV) $(VENV_TL3) .pytest_cache .mypy_cache .ruff_cache site
