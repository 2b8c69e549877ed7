# MicroStax — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: run test test-sqlite test-postgres bench lint venv e2e-cluster

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

venv: $(STAMP)

## Set up and run MicroStax on the embedded defaults (SQLite, ORM broker, in-memory channels).
run: venv
	DEBUG=true $(BIN)/python -m microstax.devserver

## Set up and run the whole suite on SQLite, then on PostgreSQL when DATABASE_URL points at one.
test: venv
	env -u DATABASE_URL $(BIN)/python -m pytest
	@case "$$DATABASE_URL" in \
	  postgres://*|postgresql://*) echo "== again on PostgreSQL ($$DATABASE_URL)"; $(BIN)/python -m pytest ;; \
	  *) echo "DATABASE_URL does not point at PostgreSQL: ran on SQLite only" ;; \
	esac

## Benchmarks (kept out of `make test`): each script in tests/bench prints its figures.
bench: venv
	@set -e; for f in tests/bench/bench_*.py; do echo "== $$f"; DEBUG=true $(BIN)/python $$f; done

lint: venv
	$(BIN)/ruff check .
