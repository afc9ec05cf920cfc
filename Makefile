PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: grade test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,report]'
	touch $(STAMP)

grade: $(STAMP)
	$(BIN)/grade submissions/ --out grading/

test: $(STAMP)
	$(BIN)/ruff check grader tests reference benchmarks examples
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/throughput.py $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check grader tests reference benchmarks examples

clean:
	rm -rf $(VENV) grading
