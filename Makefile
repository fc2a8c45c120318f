# ser-recipes: each target sets up what it needs (virtual environment, pip packages, espeak-ng).
VENV ?= .venv
PY := $(VENV)/bin/python
export OMP_NUM_THREADS ?= 2

.PHONY: setup demo demo-msp test bench clean

setup:
	@bash scripts/setup_env.sh

demo: setup
	$(PY) scripts/demo.py

demo-msp: setup
	$(PY) scripts/demo_msp.py

test: setup
	$(PY) -m pytest -q

# Benchmarks: one Markdown table (stdout and $(BENCH_OUT)); BENCH_ARGS=--quick for a short run.
BENCH_OUT ?= results/benchmarks.md
BENCH_ARGS ?=
bench: setup
	@mkdir -p $(dir $(BENCH_OUT))
	$(PY) benchmarks/run_all.py --out $(BENCH_OUT) $(BENCH_ARGS)

clean:
	rm -rf demo_output .pytest_cache
