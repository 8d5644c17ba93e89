# Fanout: `make run` serves everything on embedded defaults, `make test` runs the suite.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.package-lock.json

export WEB_PORT ?= 8000
export TRACKER_PORT ?= 6969
export SEEDER_PORT ?= 6881

# Each benchmark is bench/bench_<name>.py, run by `make bench-<name>`; `make bench` runs them all.
BENCHMARKS := $(patsubst bench/bench_%.py,%,$(wildcard bench/bench_*.py))

.PHONY: run test bench $(addprefix bench-,$(BENCHMARKS))

$(PYTHON):
	python3.11 -m venv $(VENV) || python3 -m venv $(VENV)

# The fanout command (client/) too: the tests run it against the server.
$(STAMP): requirements.txt client/pyproject.toml | $(PYTHON)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r requirements.txt
	$(PYTHON) -m pip install --quiet -e ./client
	touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
# Front-end packages are files to serve: none needs its install scripts (one would phone home).
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

run: $(STAMP) $(NODE_STAMP)
	$(PYTHON) scripts/run_all.py

test: $(STAMP) $(NODE_STAMP)
	$(VENV)/bin/ruff check .
	$(PYTHON) -m pytest

bench: $(addprefix bench-,$(BENCHMARKS))

$(addprefix bench-,$(BENCHMARKS)): bench-%: $(STAMP) $(NODE_STAMP)
	$(PYTHON) bench/bench_$*.py
