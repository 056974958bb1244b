# The two commands: `make run` (the main job on the embedded Temporal server) and `make test`.
# Both create .venv and install the project into it when needed; nothing else is required.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test lint format bench clean-data help

help:
	@echo "make run    - start the embedded Temporal server and a worker, process samples/tickets.jsonl, print the report"
	@echo "              (RUN_ARGS=--keep-running keeps server and worker up for the Web UI at http://localhost:8233)"
	@echo "make test   - the whole test suite (unit, workflow, replay, integration on a real dev server)"
	@echo "make lint   - ruff"
	@echo "make bench  - benchmarks (bench/)"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=...)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m starter run $(RUN_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(TEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean-data:
	rm -rf data
