# riskwatch: `make demo` runs the whole pipeline on local defaults; `make test` runs the linters,
# then every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RW     := $(BIN)/riskwatch
KAFKA_LIB := deploy/kafka/lib
DEMO_EVENTS ?= 8000

.PHONY: models install kafka-jars postgres-bin chromium-bin demo lint test test-sqlite test-postgres unit integration bench \
        clean kafka-up kafka-down

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

kafka-jars: $(KAFKA_LIB)/.fetched

$(KAFKA_LIB)/.fetched: deploy/kafka/pom.xml
	rm -rf $(KAFKA_LIB)
	mvn -q -B -f deploy/kafka/pom.xml dependency:copy-dependencies
	touch $@

# The demo starts from an empty store of its own each run: its two hours of event time would
# otherwise fall into the windows a previous run left (query it with the URL it prints).
DEMO_DB := $(CURDIR)/.riskwatch/demo.db

demo: install kafka-jars
	mkdir -p .riskwatch && rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm
	RISKWATCH_DATABASE_URL=sqlite:///$(DEMO_DB) $(RW) demo --events $(DEMO_EVENTS)

# ruff (lint and format) and mypy, pinned in the dev extras; the paths mypy checks are in
# pyproject.toml.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The linters first, so a lint error fails CI (.ci/run) before the broker starts; then the whole
# suite twice: on SQLite, then with every audit store on a private PostgreSQL server
# (tests/conftest.py starts it from Debian's binaries on 127.0.0.1:55433). The suites run from the
# recipe, not as prerequisites, so they start only after lint passed even under `make -j`.
test: lint
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres

test-sqlite: install kafka-jars chromium-bin
	$(BIN)/pytest

test-postgres: install kafka-jars postgres-bin chromium-bin
	RISKWATCH_TEST_DB=postgres $(BIN)/pytest

# Debian's PostgreSQL server binaries, installed only when none are found.
postgres-bin:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null || \
	  { echo "installing Debian's postgresql package"; \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q postgresql >/dev/null; }

# Debian's headless-capable Chromium, for the HTML report test (tests/unit/audit/report/test_build.py);
# installed only when the binary is missing.
chromium-bin:
	@command -v chromium >/dev/null || \
	  { echo "installing Debian's chromium package"; \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q chromium >/dev/null; }

unit: install chromium-bin
	$(BIN)/pytest tests/unit

integration: install kafka-jars
	$(BIN)/pytest tests/integration

bench: install kafka-jars
	$(BIN)/python bench/pipeline.py

# The text-risk scorers (detectors/text_risk/models/*.npz) and the PII detector's NER
# (detectors/pii/models/ner/), committed: retrained from the shared data, deterministically; the
# worker only loads them.
models: install
	$(BIN)/python -m detectors.text_risk.train
	$(BIN)/python -m detectors.pii.train

kafka-up: install kafka-jars
	$(RW) kafka up

kafka-down: install
	$(RW) kafka down

clean:
	-$(RW) kafka down
	rm -rf .riskwatch riskwatch.db riskwatch.db-wal riskwatch.db-shm .pytest_cache
