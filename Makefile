# Two commands on a fresh machine with Python >= 3.11 and make:
#   make run    set up, migrate, seed and serve on http://127.0.0.1:8000 (SQLite in ./data/)
#   make test   set up and run the tests (SQLite; TEST_DATABASE_URL=postgresql://… for PostgreSQL)
# Set up = a .venv/ holding exactly the versions in requirements/dev.lock (hash-checked).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/hrc_digest_test

DEV_LOCK     := requirements/dev.lock
RUNTIME_LOCK := requirements/runtime.lock
# The locks are resolved for CPython 3.11 on Linux x86_64 (this project's machines, CI, the image).
LOCK_FLAGS   := --quiet --generate-hashes --python-version 3.11 --python-platform x86_64-unknown-linux-gnu
LOCK_NOTE    := \#    by `make lock` (keeps locked versions that still fit) or `make upgrade` (newest allowed)

.PHONY: install run test test-pg lint lock upgrade clean

# --clear: a changed lock gives a new venv, so a package dropped from the lock is gone too.
# --no-deps: the lock already holds every dependency; pip installs the project only.
$(STAMP): pyproject.toml $(DEV_LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "hrc-digest needs Python >= 3.11 (set PYTHON=python3.11)")'
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
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

# Both locks from pyproject's ranges, with uv from the venv (installed first only when missing:
# a venv behind a just-edited pyproject still has it). The runtime lock (the Docker image) is
# constrained to the dev lock, so the two never disagree. The next make target reinstalls the venv.
define compile_locks
	@test -x $(BIN)/uv || $(MAKE) install
	$(BIN)/uv pip compile pyproject.toml --extra dev $(LOCK_FLAGS) $(1) --output-file $(DEV_LOCK)
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) -c $(DEV_LOCK) --output-file $(RUNTIME_LOCK)
	@for f in $(DEV_LOCK) $(RUNTIME_LOCK); do \
	  { sed -n 1,2p $$f; echo '$(LOCK_NOTE)'; sed 1,2d $$f; } > $$f.tmp && mv $$f.tmp $$f; done
endef

# Re-lock after a change to pyproject's dependencies, keeping the locked versions that still fit.
lock:
	$(call compile_locks,)

# Re-lock at the newest versions pyproject's ranges allow; then run make test and commit.
upgrade:
	$(call compile_locks,--upgrade)

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache
