# emkit: the two commands are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck docs mutation bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/emkit demo

# The suite runs on every core (pytest-xdist; TEST_WORKERS=1 runs it in one process).
TEST_WORKERS ?= auto

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --cov=emkit --cov-report=term --cov-fail-under=90 -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/mypy

typecheck: $(STAMP)
	$(BIN)/mypy

# The documentation site (docs/ and the API reference from the docstrings) in site/;
# --strict fails on any warning, as tests/test_docs_site.py does.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict

# Mutation testing of the engine, stats and the M-step modules (docs/mutation-testing.md):
# long (about an hour and a half on two cores), one worker, lowest CPU priority; not part of make test.
mutation: $(STAMP)
	nice -n 19 $(BIN)/python tools/mutation.py

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist site src/*.egg-info
