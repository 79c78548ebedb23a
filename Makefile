# Two commands do everything: `make sim` runs the node, `make test` runs the whole suite.
# Both create .venv with the pinned dependencies on first use; once it is up to date
# they start without touching the network.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# make sim settings
ADDR ?= 127.0.0.1
HEAP ?= 256K
STATE ?= state
SPEED ?= 1
LEGACY_WRITE ?=
OBJECTS ?=
APPLIANCES ?=
DR_TIMEOUT ?= 3600
SECURE ?= on
# root public key files (.pub) built into the firmware for signed updates (docs/updates.md)
ROOT_KEYS ?=

.PHONY: venv build sim test bench fuzz soak clean help

help:
	@echo "make sim    run the node under the MicroPython unix port (ADDR= HEAP= STATE= SPEED= LEGACY_WRITE= OBJECTS="
	@echo "            APPLIANCES= DR_TIMEOUT= SECURE=; README, Two commands)"
	@echo "make test   run the whole test suite"
	@echo "make commission / make factory-reset   press the simulated node's button (STATE=)"
	@echo "make demo   a simulated DR day, plotted to docs/demo.png"
	@echo "make bench  measure round trips and heap, write docs/benchmarks.md"
	@echo "make fuzz   long fuzzing run of the frame parser"
	@echo "make soak   long run of the node under a controller's load (MINUTES=, default 10)"
	@echo "make build  compile the firmware into build/ (ROOT_KEYS= the update root keys)"
	@echo "make flash / deploy / repl / provision   an ESP32 board (PORT= BOARD= FW= SSID= IDENTITY=; README, Hardware quick start)"
	@echo "make venv   create or update .venv alone;  make clean   remove build/"

$(STAMP): requirements.txt requirements-dev.txt requirements-stubs.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --upgrade \
		--target $(VENV)/typings -r requirements-stubs.txt
	touch $@

venv: $(STAMP)

# firmware compiled to .mpy, as it runs on the board (compiling on the device costs heap)
build: venv
	$(BIN)/python tools/build.py --root-keys "$(ROOT_KEYS)"

# exec: make forwards SIGTERM to its direct child, which must be sim.py, not a shell
sim: build
	exec $(BIN)/python tools/sim.py --addr "$(ADDR)" --heap "$(HEAP)" --state "$(STATE)" --speed "$(SPEED)" \
		--legacy-write "$(LEGACY_WRITE)" --objects "$(OBJECTS)" --dr-timeout "$(DR_TIMEOUT)" --secure "$(SECURE)" \
		--appliances "$(APPLIANCES)"

# the simulated node's button (tools/press.py): physical presence
.PHONY: commission factory-reset
commission: venv
	$(BIN)/python tools/press.py --state "$(STATE)" short
factory-reset: venv
	$(BIN)/python tools/press.py --state "$(STATE)" long

test: build
	$(BIN)/python -m pytest -n 2 host_tests

bench: build
	$(BIN)/python tools/bench.py

# a DR day against the simulated node, over real UDP: plot docs/demo.png, samples docs/demo.csv
# (tools/demo.py; DEMO_ARGS= passes options, e.g. DEMO_ARGS="--seconds 90 --out /tmp/demo.png")
.PHONY: demo
demo: build
	exec $(BIN)/python tools/demo.py $(DEMO_ARGS)

# long fuzzing run (make test runs a short one)
fuzz: build
	FUZZ_EXAMPLES=100000 $(BIN)/python -m pytest host_tests/test_fuzz.py -q

# long run of the simulated node under load, its heap watched (tools/soak.py); not in make test
MINUTES ?= 10
soak: build
	$(BIN)/python tools/soak.py --minutes $(MINUTES)

clean:
	rm -rf build .pytest_cache

# -- a real board (README, "Hardware quick start") ------------------------------------
# PORT=   the board's serial port, e.g. /dev/ttyUSB0 (ESP32) or /dev/ttyACM0 (native USB)
# BOARD=  a folder in boards/ (DRREADY_ESP32, DRREADY_ESP32_S3, DRREADY_ESP32_C3), a
#         micropython.org board name (ESP32_GENERIC, ESP32_GENERIC_S3, ESP32_GENERIC_C3) or a
#         chip (esp32, esp32s3, esp32c3); make flash asks the board when it is left out
# FW=     the full MicroPython firmware .bin (v1.29 or later)
# SSID=   the Wi-Fi network; its password comes from the environment variable WIFI_PASSWORD,
#         or make provision asks for it (never shown); OBJECTS=, LEGACY_WRITE= and APPLIANCES= as for make sim
PORT ?=
BOARD ?=
FW ?=
SSID ?=
IDENTITY ?=
FORCE ?=

.PHONY: flash deploy repl provision

# check the image (esptool image-info), erase the flash, write the image at the chip's offset
flash: venv
	$(BIN)/python tools/flash.py --port "$(PORT)" --board "$(BOARD)" "$(FW)"

# copy build/firmware (and boards/BOARD/board.json) to the board, only what changed; then reset it
deploy: build
	@if [ -n "$(BOARD)" ] && [ ! -f "boards/$(BOARD)/board.json" ]; then \
		echo "deploy: BOARD=$(BOARD) is none of boards/: no board.json copied, so no status LED or button pins" >&2; fi
	$(BIN)/python tools/deploy.py --port "$(PORT)" --no-build $(if $(wildcard boards/$(BOARD)/board.json),--board "$(BOARD)")

# the board's MicroPython REPL (Ctrl-] leaves)
repl: venv
	@test -n "$(PORT)" || { echo "make repl: give the board's serial port, e.g. make repl PORT=/dev/ttyUSB0" >&2; exit 2; }
	$(BIN)/mpremote connect "$(PORT)" repl

# IDENTITY= a device directory made by tools/provision.py device: written to /identity/ first;
# then /config.json (Wi-Fi, objects, legacy_write, appliances); then the board resets. The
# settings and the directory are checked, and the password asked for, before anything is written.
# FORCE=1 replaces another device's certificate on the board (its 0x83 changes)
provision: venv
	$(BIN)/python tools/board_config.py --port "$(PORT)" --ssid "$(SSID)" --objects "$(OBJECTS)" --legacy-write "$(LEGACY_WRITE)" \
		--appliances "$(APPLIANCES)" --identity "$(IDENTITY)" $(if $(FORCE),--force)
