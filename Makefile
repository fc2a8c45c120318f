# ser-recipes: each target sets up what it needs (virtual environment, pip packages, espeak-ng).
VENV ?= .venv
# TORCH=cpu: torch and torchaudio from the PyTorch CPU index (no CUDA libraries), chosen when the
# environment is created and kept by later targets; TORCH=default: PyPI's (CUDA build on Linux).
# DRY_RUN=1: make setup prints the commands it would run.
TORCH ?=
DRY_RUN ?=
PY := $(VENV)/bin/python
export OMP_NUM_THREADS ?= 2

.PHONY: setup demo demo-msp lint format test bench clean

setup:
	@VENV="$(VENV)" TORCH="$(TORCH)" DRY_RUN="$(DRY_RUN)" bash scripts/setup_env.sh

demo: setup
	$(PY) scripts/demo.py

demo-msp: setup
	$(PY) scripts/demo_msp.py

# ruff (configured in pyproject.toml): the lint rules and the formatting, checked; make format applies them.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint
	$(PY) -m pytest -q

# Benchmarks: one Markdown table (stdout and $(BENCH_OUT)); BENCH_ARGS=--quick for a short run.
BENCH_OUT ?= results/benchmarks.md
BENCH_ARGS ?=
bench: setup
	@mkdir -p $(dir $(BENCH_OUT))
	$(PY) benchmarks/run_all.py --out $(BENCH_OUT) $(BENCH_ARGS)

clean:
	rm -rf demo_output .pytest_cache
