# MicroStax — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements-s3.txt | sha1sum | cut -c1-12)

.PHONY: run test test-sqlite test-postgres screenshots bench lint venv e2e-cluster

$(STAMP): pyproject.toml requirements-s3.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/pip install --quiet -r requirements-s3.txt  # boto3 + moto: see the file for why not in pyproject
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

## Regenerate the README walkthrough's screenshots (docs/walkthrough/*.png) with the browser test.
screenshots: venv
	MICROSTAX_SCREENSHOTS=docs/walkthrough $(BIN)/python -m pytest -q -p no:cacheprovider tests/e2e/test_walkthrough_screenshots.py

## Benchmarks (kept out of `make test`): each script in tests/bench prints its figures.
bench: venv
	@status=0; for f in tests/bench/bench_*.py; do echo "== $$f"; \
	  DEBUG=true $(BIN)/python $$f || { echo "!! $$f: a target was missed or the run failed"; status=1; }; \
	done; exit $$status

lint: venv
	$(BIN)/ruff check .

## The contract suite against a real, throw-away kind cluster, where kind and a container engine exist.
e2e-cluster: venv
	@if ! command -v kind >/dev/null 2>&1; then \
	  echo "e2e-cluster: 'kind' is not installed here, so no real cluster can be created; nothing was run."; exit 0; fi; \
	if ! (docker info >/dev/null 2>&1 || podman info >/dev/null 2>&1); then \
	  echo "e2e-cluster: no running container engine (docker or podman), so kind cannot start a cluster; nothing was run."; exit 0; fi; \
	set -e; name=microstax-e2e-$$$$; cfg=$$(mktemp); \
	trap 'kind delete cluster --name '$$name' >/dev/null 2>&1 || true; rm -f '$$cfg EXIT; \
	kind create cluster --name $$name --kubeconfig $$cfg --wait 120s; \
	MICROSTAX_TEST_KUBECONFIG=$$cfg $(BIN)/python -m pytest tests/kube -q
