# Two commands do all set-up on a fresh machine (Python >= 3.11 and make):
#   make paper   run the daemon in paper mode on the embedded defaults
#   make test    run the whole test suite (lint, types, tests)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: paper test lint

$(STAMP): requirements.lock pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

paper: $(STAMP)
	$(BIN)/hedged run --paper

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHON=$(BIN)/python .ci/typecheck

test: lint
	$(BIN)/python -m pytest -n 2

# Crash torture: kill -9 the daemon KILLS times and print the summary table (tests/crash).
KILLS ?= 200
SEED ?= 1
.PHONY: soak
soak: $(STAMP)
	PYTHONPATH=tests/crash:tests $(BIN)/python -m soak --kills $(KILLS) --seed $(SEED)

# Failover torture: strike the leader of two daemons on one store N times (tests/crash).
N ?= 300
STORE ?= postgres
.PHONY: failover-soak
failover-soak: $(STAMP)
	PYTHONPATH=tests/crash:tests $(BIN)/python -m failover_soak --failovers $(N) --seed $(SEED) --store $(STORE)

# Fleet torture: strike daemons sharing a PostgreSQL store's books N times (tests/crash).
DAEMONS ?= 3
PAIRS ?= 12
.PHONY: fleet-soak
fleet-soak: $(STAMP)
	PYTHONPATH=tests/crash:tests $(BIN)/python -m fleet_soak --strikes $(N) --seed $(SEED) --daemons $(DAEMONS) --pairs $(PAIRS)

# Benchmarks (bench/README.md): figures printed, and written to bench/results/ and, after a
# full run (about 13 minutes), bench/latest.json. BENCH_ARGS=--quick: a 2-minute smoke run.
BENCH_ARGS ?=
.PHONY: bench
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)
