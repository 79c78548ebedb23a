# Frozen into the DRready ESP32-C3 image: see ../common/manifest.py (run `make build` first).
include("../common/manifest.py")  # noqa: F821  (given by MicroPython's makemanifest)
