# Two entry points a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# pip runs only when pyproject.toml is newer than these stamps (the install is editable, so
# changed sources need none); `make install` and `make install-test` always run it.
STAMP      := $(VENV)/.installed
STAMP_TEST := $(VENV)/.installed-test

.PHONY: run test install install-test lint bench starter clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# $(1): what to install; $(2): the stamps it makes current.
define pip_install
	$(BIN)/pip install -q -e '$(1)'
	$(BIN)/python -m ticketgate.mail --build-tables
	touch $(2)
endef

$(STAMP): pyproject.toml | $(BIN)/python
	$(call pip_install,.,$(STAMP))

# The test extras include everything `run` needs, so they make both stamps current.
$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(call pip_install,.[test],$(STAMP_TEST) $(STAMP))

install: $(BIN)/python
	$(call pip_install,.,$(STAMP))

install-test: $(BIN)/python
	$(call pip_install,.[test],$(STAMP_TEST) $(STAMP))

run: $(STAMP)
	$(BIN)/ticketgate serve

# The integration tests' system programs (Postfix, slapd, ...) where they can be installed;
# without them those tests skip with the reason (.ci/run makes such a skip a failure).
test: $(STAMP_TEST)
	.ci/system-packages
	$(BIN)/ruff check daemon tests bench
	$(BIN)/mypy daemon/ticketgate
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

lint: $(STAMP_TEST)
	$(BIN)/ruff check daemon tests bench
	$(BIN)/mypy daemon/ticketgate
	$(BIN)/lint-imports

bench: $(STAMP_TEST)
	$(BIN)/python bench/ingest.py

# Copy the example deployment's rules, templates and settings into the package's starter
# (what `ticketgate init` writes); tests/test_init.py says when they differ.
starter:
	mkdir -p daemon/ticketgate/starter/rules daemon/ticketgate/starter/templates
	cp ticketgate.example.yaml daemon/ticketgate/starter/ticketgate.yaml
	cp rules/*.yaml daemon/ticketgate/starter/rules/
	cp templates/*.j2 templates/README.md daemon/ticketgate/starter/templates/

clean:
	rm -rf $(VENV) var
