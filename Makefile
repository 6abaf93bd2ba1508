# The two commands of the README: `make run` and `make test`. Each installs what it needs first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VENDOR_STAMP := server/delivery/static/vendor/.installed

.PHONY: run test system-packages venv player bench clean

run: system-packages venv player
	$(BIN)/headwater serve

test: system-packages venv player
	$(BIN)/python -m pytest -q

system-packages:
	./scripts/system-packages.sh

venv: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# hls.js and dash.js from npm, copied into server/delivery/static/vendor/ (not committed).
player:
	@if [ ! -f $(VENDOR_STAMP) ] || [ player/package-lock.json -nt $(VENDOR_STAMP) ]; then \
		npm --prefix player ci --no-audit --no-fund && touch $(VENDOR_STAMP); fi

clean:
	rm -rf $(VENV) player/node_modules server/delivery/static/vendor
