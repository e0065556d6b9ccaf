# Two commands: `make run` serves, `make test` runs every check. Both set up what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
SDK_STAMP := tests/sdk/node_modules/.installed
WEB_STAMP := web/node_modules/.installed

.PHONY: setup system-deps run test lint format schema bench clean

setup: system-deps $(PY_STAMP) $(SDK_STAMP) $(WEB_STAMP)

system-deps:
	@scripts/system-deps.sh

$(PY_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned: the CPU wheel (2.13.0+cpu, from pip's find-links) outranks the CUDA build of
	# the same version, and nothing later may pull another torch (with gigabytes of CUDA libraries).
	$(BIN)/pip install --quiet --disable-pip-version-check 'torch==2.13.0'
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

$(SDK_STAMP): tests/sdk/package.json tests/sdk/package-lock.json
	npm ci --prefix tests/sdk --no-audit --no-fund --loglevel=error
	touch $@

# The front-end files this service serves itself (GraphiQL, Swagger UI, xterm.js for the local terminal), from
# the npm registry at setup: no CDN at run time. No install script runs (swagger-ui-dist's would phone home).
$(WEB_STAMP): web/package.json web/package-lock.json
	npm ci --prefix web --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

run: $(PY_STAMP) $(WEB_STAMP)
	$(BIN)/python app.py serve

# One worker per core, a test file at a time each (a file's tests share its fixtures); the longest files first.
test: setup lint
	$(BIN)/python -m pytest -n auto --dist loadfile --no-loadscope-reorder

lint: $(PY_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(PY_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

schema: $(PY_STAMP)
	$(BIN)/python app.py export-schema  # also records breaking changes in docs/graphql-changelog.md

bench: setup
	$(BIN)/python bench/rest_vs_graphql.py
	$(BIN)/python bench/event_fanout.py
	$(BIN)/python bench/task_overhead.py
	$(BIN)/python bench/execution_overhead.py
	$(BIN)/python bench/memory_search.py
	$(BIN)/python bench/graphql_deep.py
	$(BIN)/python bench/reconnect_storm.py
	$(BIN)/python bench/companion_proxy.py
	$(BIN)/python bench/replicas.py

clean:
	rm -rf $(VENV) tests/sdk/node_modules web/node_modules .pytest_cache .ruff_cache
