# Two entry points a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test install install-test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .
	$(BIN)/python -m ticketgate.mail --build-tables

install-test: $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/python -m ticketgate.mail --build-tables

run: install
	$(BIN)/ticketgate serve

test: install-test
	$(BIN)/ruff check daemon tests bench
	$(BIN)/mypy daemon/ticketgate
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

lint: install-test
	$(BIN)/ruff check daemon tests bench
	$(BIN)/mypy daemon/ticketgate
	$(BIN)/lint-imports

bench: install-test
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) var
