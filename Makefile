# Two commands do everything: `make sim` runs the node, `make test` runs the whole suite.
# Both create .venv with the pinned dependencies on first use; once it is up to date
# they start without touching the network.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# make sim settings
ADDR ?= 127.0.0.1
HEAP ?= 100K
STATE ?= state
SPEED ?= 1
LEGACY_WRITE ?=
OBJECTS ?=

.PHONY: venv build sim test bench fuzz clean help

help:
	@echo "make sim    run the node under the MicroPython unix port (ADDR= HEAP= STATE= SPEED= LEGACY_WRITE= OBJECTS=)"
	@echo "make test   run the whole test suite"
	@echo "make bench  measure round trips and heap, write docs/benchmarks.md"
	@echo "make fuzz   long fuzzing run of the frame parser"
	@echo "make venv   create or update .venv alone"

$(STAMP): requirements.txt requirements-dev.txt requirements-stubs.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --upgrade \
		--target $(VENV)/typings -r requirements-stubs.txt
	touch $@

venv: $(STAMP)

# firmware compiled to .mpy, as it runs on the board (compiling on the device costs heap)
build: venv
	$(BIN)/python tools/build.py

# exec: make forwards SIGTERM to its direct child, which must be sim.py, not a shell
sim: build
	exec $(BIN)/python tools/sim.py --addr "$(ADDR)" --heap "$(HEAP)" --state "$(STATE)" --speed "$(SPEED)" \
		--legacy-write "$(LEGACY_WRITE)" --objects "$(OBJECTS)"

test: build
	$(BIN)/python -m pytest -n 2 host_tests

bench: build
	$(BIN)/python tools/bench.py

# long fuzzing run (make test runs a short one)
fuzz: build
	FUZZ_EXAMPLES=100000 $(BIN)/python -m pytest host_tests/test_fuzz.py -q

clean:
	rm -rf build .pytest_cache
