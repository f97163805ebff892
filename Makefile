# riskwatch: `make demo` runs the whole pipeline on local defaults; `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RW     := $(BIN)/riskwatch
KAFKA_LIB := deploy/kafka/lib
DEMO_EVENTS ?= 8000

.PHONY: install kafka-jars demo test unit integration bench clean kafka-up kafka-down

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

demo: install kafka-jars
	$(RW) demo --events $(DEMO_EVENTS)

test: install kafka-jars
	$(BIN)/pytest

unit: install
	$(BIN)/pytest tests/unit

integration: install kafka-jars
	$(BIN)/pytest tests/integration

bench: install kafka-jars
	$(BIN)/python bench/pipeline.py

kafka-up: install kafka-jars
	$(RW) kafka up

kafka-down: install
	$(RW) kafka down

clean:
	-$(RW) kafka down
	rm -rf .riskwatch riskwatch.db riskwatch.db-wal riskwatch.db-shm .pytest_cache
