# The two commands a newcomer needs: `make demo` and `make test`.
# Each sets up its own virtual environment first, so they work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_CONFIG := examples/stockbot.toml
# pytest arguments for `make test`: two workers (pytest-xdist) by default, as CI's
# machine has two cores; PYTEST_ARGS= runs the suite in one process.
PYTEST_ARGS ?= -n 2 --dist worksteal

.PHONY: install install-oracle demo test test-sqlite test-postgres-suite test-postgres lint bench clean

$(BIN)/stockbot: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(BIN)/stockbot

install: $(BIN)/stockbot

# The tests' oracle (statsforecast, ~560 MB): for `make test` only, never the bot.
$(VENV)/.oracle: $(BIN)/stockbot
	$(BIN)/python -m pip install --quiet -e '.[dev,oracle]'
	touch $(VENV)/.oracle

install-oracle: $(VENV)/.oracle

demo: install
	$(BIN)/stockbot --config $(DEMO_CONFIG) catalog import examples/catalog.csv
	$(BIN)/stockbot --config $(DEMO_CONFIG) run

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy bot handlers suppliers stores transport
	$(BIN)/lint-imports

# The SQLite and PostgreSQL suites run side by side: many tests wait on processes and
# sockets, so two suites on two cores finish sooner than one after the other. Each
# suite's output is printed whole when it ends (--output-sync).
test: lint install-oracle
	$(MAKE) --no-print-directory -j2 --output-sync=target test-sqlite test-postgres-suite

test-sqlite: install-oracle
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-postgres-suite: install-oracle
	bash scripts/test-postgres.sh -q $(PYTEST_ARGS)

test-postgres: install
	bash scripts/test-postgres.sh

bench: install
	$(BIN)/python bench/poll_bench.py
	$(BIN)/python bench/forecast_bench.py

clean:
	rm -rf $(VENV) examples/stockbot.db*
