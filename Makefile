# riskapp — the commands README names. `make run` and `make test` work from a fresh clone with only Python 3.11.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
# SLOW=1 also runs the slow attack and browser tests (CI does).
SLOW   ?= 0
PYTEST_ARGS ?=

ifeq ($(SLOW),1)
MARKERS :=
else
MARKERS := -m "not slow"
endif

.PHONY: venv run test bench chromium migrate seed clean lint lint-baseline

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

migrate: venv
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo

run: seed
	$(BIN)/python manage.py runstack --host $(HOST) --port $(PORT)

# Debian's chromium for the browser tests; installed when missing and we are allowed to (root + apt).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium poppler-utils >/dev/null) \
	      || echo "warning: could not install chromium; browser tests will be skipped"; \
	  else echo "note: /usr/bin/chromium is missing; browser tests will be skipped"; fi; \
	fi
	@if [ ! -x /usr/bin/pdftoppm ] && [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null || true; fi

test: venv chromium
	$(BIN)/python -m pytest $(MARKERS) $(PYTEST_ARGS)

bench: venv
	$(BIN)/python -m bench.run

# Style and bugs (ruff), types (mypy: no error beyond the committed baseline), import contracts (import-linter).
lint: venv
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/ruff check riskapp workers tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy riskapp workers | $(BIN)/mypy-baseline filter --baseline-path mypy-baseline.txt

# After fixing typing errors (or accepting new ones on purpose), record the remaining ones as the baseline.
lint-baseline: venv
	$(BIN)/mypy riskapp workers | $(BIN)/mypy-baseline sync --baseline-path mypy-baseline.txt

clean:
	rm -rf var/ .pytest_cache test-output
