# Fanout: `make run` serves everything on embedded defaults, `make test` runs the suite.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed

export WEB_PORT ?= 8000
export TRACKER_PORT ?= 6969
export SEEDER_PORT ?= 6881

.PHONY: run test lint bench

$(PYTHON):
	python3.11 -m venv $(VENV) || python3 -m venv $(VENV)

$(STAMP): requirements.txt | $(PYTHON)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

run: $(STAMP)
	$(PYTHON) manage.py migrate --no-input
	$(PYTHON) manage.py ensure_admin
	$(PYTHON) scripts/run_all.py

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PYTHON) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
