# The two commands of the README: `make run` and `make test`. Each installs what it needs first.
# `make check` (lint, format, types; seconds) runs first in `make test`, so CI fails on any of them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VENDOR_STAMP := server/delivery/static/vendor/.installed

.PHONY: run test check fuzz system-packages bench-packages venv player bench clean

run: system-packages venv player
	$(BIN)/headwater serve

# Two test processes (pytest-xdist), a test module to each at a time (its shared node stays in one):
# most of an e2e test is media playing in real time, so two halve the wall time even on 2 cores.
test: check system-packages bench-packages player
	$(BIN)/python -m pytest -q -n 2 --dist loadscope

# ruff and mypy as configured in pyproject.toml (the strict areas are listed there).
check: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Every parser that reads network bytes under atheris, FUZZ_RUNS inputs each (1,000,000), on all
# cores; prints executions and crashes per harness (fuzz/all.py). FUZZ_SECONDS (0: none) bounds
# each harness's time on a busy machine. `make test` runs a short pass of each.
FUZZ_RUNS ?= 1000000
FUZZ_SECONDS ?= 0
fuzz: venv
	$(BIN)/pip install -q -e '.[fuzz]'
	$(BIN)/python -m fuzz.all --runs $(FUZZ_RUNS) --seconds $(FUZZ_SECONDS)

system-packages:
	./scripts/system-packages.sh

# The benchmarks' reference server and load tool: `make test` runs every benchmark's smoke mode.
bench-packages:
	./scripts/system-packages.sh nginx libnginx-mod-rtmp wrk

venv: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,dev,bench]'
	touch $@

# hls.js and dash.js from npm, copied into server/delivery/static/vendor/ (not committed).
player:
	@if [ ! -f $(VENDOR_STAMP) ] || [ player/package-lock.json -nt $(VENDOR_STAMP) ]; then \
		npm --prefix player ci --no-audit --no-fund && touch $(VENDOR_STAMP); fi

# Prints how to run the benchmarks (`make test` runs each one's smoke mode, tests/bench/test_smoke.py).
bench: system-packages bench-packages venv
	@echo "Benchmarks (each prints Headwater next to its reference, same run):"
	@echo "  $(BIN)/python -m bench.latency        glass-to-fetchable LL-HLS latency vs nginx-rtmp HLS"
	@echo "  $(BIN)/python -m bench.delivery       req/s vs nginx static; N blocking-reload clients"
	@echo "  $(BIN)/python -m bench.stream_cost    CPU per passthrough stream vs nginx-rtmp; parts on time"
	@echo "  $(BIN)/python bench/packager_cost.py  CMAF packager vs ffmpeg -c copy -f hls"
	@echo "  $(BIN)/python -m bench.soak --minutes 30   10 streams, 200 viewers, churn: growth, late parts"
	@echo "  (and the rest of bench/). Each takes --smoke: a few seconds on tiny inputs, to check it"
	@echo "  runs end to end (figures meaningless); make test runs every smoke mode."

clean:
	rm -rf $(VENV) player/node_modules server/delivery/static/vendor
