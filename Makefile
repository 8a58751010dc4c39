# Two commands on a fresh machine with Python >= 3.11 and make:
#   make run    set up, migrate, seed and serve on http://127.0.0.1:8000 (SQLite in ./data/)
#   make test   set up and run the tests (SQLite; TEST_DATABASE_URL=postgresql://… for PostgreSQL)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/hrc_digest_test

.PHONY: install run test test-pg lint clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "hrc-digest needs Python >= 3.11 (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/hrc-digest serve --host $(HOST) --port $(PORT)

test: install
	$(BIN)/pytest

# Against a PostgreSQL database that exists and may be emptied (see .ci/run for a fresh one).
test-pg: install
	TEST_DATABASE_URL=$(PG_URL) $(BIN)/pytest

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache
