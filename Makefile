# Two commands for a newcomer: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.requirements-installed
HOST ?= 127.0.0.1:8000

.PHONY: venv demo seed run test lint format migrations-check browser benchmark clean

$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

## demo: set up, migrate a SQLite database, seed demo data and serve http://127.0.0.1:8000
demo: venv
	DJANGO_DEBUG=1 $(BIN)/python manage.py migrate --noinput
	DJANGO_DEBUG=1 $(BIN)/python manage.py seed_demo
	DJANGO_DEBUG=1 $(BIN)/python manage.py runserver $(HOST)

## test: set up and run the whole suite (lint, migrations check, pytest incl. browser tests)
# In parallel (pytest-xdist: one process per core, PYTEST_WORKERS=0 for one process),
# in random order (pytest-randomly: the seed is printed; -p no:randomly for file
# order), then the ten slowest tests.
PYTEST_WORKERS ?= auto
test: venv browser lint migrations-check
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --durations=10 $(PYTEST_ARGS)

# lint-imports: the floors of the apps (.importlinter); scripts/lint-imports says why not the bare command.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python scripts/lint-imports --no-cache

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# DEBUG off is production and needs real keys: development commands say DJANGO_DEBUG=1.
migrations-check: venv
	DJANGO_DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run

browser:
	@scripts/ensure-chromium

## benchmark: admin pages at scale (use a PostgreSQL DATABASE_URL; rolls back what it writes)
# DEBUG off (as in production: no query log), on the tests' throwaway keys.
benchmark: venv
	DJANGO_SETTINGS_MODULE=backoffice.settings_test $(BIN)/python manage.py migrate --noinput
	DJANGO_SETTINGS_MODULE=backoffice.settings_test $(BIN)/python manage.py benchmark_admin $(BENCH_ARGS)

clean:
	rm -rf $(VENV) db.sqlite3 .pytest_cache .ruff_cache
