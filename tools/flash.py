"""Put a MicroPython firmware image on an ESP32 board with esptool: `make flash PORT=... BOARD=... FW=...`.

    flash.py --port /dev/ttyUSB0 --board DRREADY_ESP32 ESP32_GENERIC-OTA-20260101-v1.29.0.bin
    flash.py --port /dev/ttyACM0 ESP32_GENERIC_S3-20260101-v1.29.0.bin      (chip detected)
    flash.py --port /dev/ttyUSB0 --board esp32c3 --dry-run firmware.bin     (print the commands)

FW is the full firmware .bin: bootloader + partition table + MicroPython, as
micropython.org/download/ESP32_GENERIC (…_S3, …_C3) offers it, or the firmware.bin a
MicroPython build with boards/BOARD writes. Steps:

1. The chip comes from --board (a folder in boards/, a micropython.org board name such as
   ESP32_GENERIC_S3, or a chip name: esp32, esp32s3, esp32c3), or else is asked from the
   board (`esptool --port P chip-id`).
2. The image is checked before anything is erased: `esptool --chip CHIP image-info FW`
   must accept it, its header must name the same chip, its checksum and SHA-256 must be
   valid, and it must hold a partition table at 0x8000 (an application-only .bin would
   leave the board unbootable).
3. `esptool --chip CHIP --port P erase-flash`, then
   `esptool --chip CHIP --port P --baud 460800 write-flash OFFSET FW`, where OFFSET is where
   the image starts on that chip: 0x1000 on the ESP32, 0x0 on the ESP32-S3 and -C3.

Erasing wipes the filesystem too (deployed files, /config.json, the device identity):
run `make deploy` and `make provision` afterwards.

Exit codes: 0 flashed (or, with --dry-run, checked); 2 a bad argument, a missing port, a
wrong chip, a missing or invalid firmware file; 1 esptool failed talking to the board.
"""

import argparse
import json
import os
import re
import shlex
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOARDS = os.path.join(ROOT, "boards")
_VENV_ESPTOOL = os.path.join(os.path.dirname(sys.executable), "esptool")
ESPTOOL = _VENV_ESPTOOL if os.path.exists(_VENV_ESPTOOL) else "esptool"

# where the full firmware image starts in flash (the second-stage bootloader's address)
OFFSETS = {"esp32": 0x1000, "esp32s3": 0x0, "esp32c3": 0x0}
# esptool's chip names (CHIP_NAME) to its --chip argument
CHIP_NAMES = {"ESP32": "esp32", "ESP32-S3": "esp32s3", "ESP32-C3": "esp32c3"}
# board names of micropython.org/download
DOWNLOAD_BOARDS = {"ESP32_GENERIC": "esp32", "ESP32_GENERIC_S3": "esp32s3", "ESP32_GENERIC_C3": "esp32c3"}
PARTITION_TABLE = 0x8000  # flash address of the partition table in MicroPython builds
BAUD = 460800


class FlashError(Exception):
    def __init__(self, message, code=2):
        super().__init__(message)
        self.code = code


def our_boards():
    """{folder in boards/: its board.json}"""
    out = {}
    if os.path.isdir(BOARDS):
        for name in sorted(os.listdir(BOARDS)):
            path = os.path.join(BOARDS, name, "board.json")
            if os.path.isfile(path):
                with open(path) as f:
                    out[name] = json.load(f)
    return out


def chip_for(board):
    """The esptool chip name for --board: a boards/ folder, a micropython.org board, or a chip."""
    boards = our_boards()
    if board in boards:
        return boards[board]["mcu"]
    if board in DOWNLOAD_BOARDS:
        return DOWNLOAD_BOARDS[board]
    if board.lower() in OFFSETS:
        return board.lower()
    known = list(boards) + list(DOWNLOAD_BOARDS) + list(OFFSETS)
    raise FlashError("unknown board %r; give one of: %s" % (board, ", ".join(known)))


def esptool_cmd(chip=None, port=None, baud=None):
    cmd = [ESPTOOL]
    if chip:
        cmd += ["--chip", chip]
    if port:
        cmd += ["--port", port]
    if baud:
        cmd += ["--baud", str(baud)]
    return cmd


def _run(cmd, echo):
    """Run cmd; returns (rc, output). With echo the output also goes to our stdout as it comes."""
    try:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except OSError as e:
        raise FlashError("cannot run esptool (%s): run `make venv` first" % e.strerror, code=2)
    chunks = []
    assert p.stdout is not None
    while True:
        data = os.read(p.stdout.fileno(), 4096)
        if not data:
            break
        chunks.append(data)
        if echo:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
    return p.wait(), b"".join(chunks).decode("utf-8", "replace")


def _last_error(output):
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if "error" in line.lower() or "not a valid" in line.lower():
            return line.replace("A fatal error occurred: ", "")
    return lines[-1] if lines else "no output"


def parse_partition_table(data):
    """[(label, type, subtype, offset, size)] from a binary ESP-IDF partition table."""
    out = []
    for i in range(0, min(len(data), 0xC00), 32):
        entry = data[i:i + 32]
        if len(entry) < 32 or entry[:2] != b"\xaa\x50":
            break
        ptype, subtype = entry[2], entry[3]
        offset = int.from_bytes(entry[4:8], "little")
        size = int.from_bytes(entry[8:12], "little")
        label = entry[12:28].split(b"\0", 1)[0].decode("ascii", "replace")
        out.append((label, ptype, subtype, offset, size))
    return out


def check_file(fw):
    if not fw:
        raise FlashError("give the firmware image, e.g. FW=ESP32_GENERIC-20260101-v1.29.0.bin (from micropython.org/download)")
    if not os.path.isfile(fw):
        raise FlashError("firmware image %s does not exist" % fw)
    if os.path.getsize(fw) < 0x1000:
        raise FlashError("%s is too small to be a MicroPython firmware image" % fw)


def check_image(fw, chip):
    """Raise FlashError unless fw is a complete, valid firmware image for chip; returns its partitions."""
    check_file(fw)
    rc, out = _run(esptool_cmd(chip) + ["image-info", fw], echo=False)
    if rc != 0:
        raise FlashError("%s is not a valid %s firmware image: %s" % (fw, chip, _last_error(out)))
    m = re.search(r"Chip ID:\s*\d+\s*\(([^)]+)\)", out)
    if m and CHIP_NAMES.get(m.group(1).strip()) != chip:
        raise FlashError("%s is a firmware image for the %s, not for the %s: download the one for your board"
                         % (fw, m.group(1).strip(), chip))
    for line in out.splitlines():
        if line.startswith(("Checksum:", "Validation hash:")) and "(invalid)" in line:
            raise FlashError("%s is damaged (%s): download it again" % (fw, line.split(":")[0].lower()))
    with open(fw, "rb") as f:
        f.seek(PARTITION_TABLE - OFFSETS[chip])
        table = parse_partition_table(f.read(0xC00))
    if not any(t == 0 for _label, t, _sub, _off, _size in table):
        raise FlashError("%s holds no partition table with an app partition at 0x%x: it is not a full firmware image "
                         "(use the .bin from micropython.org/download, or firmware.bin of a build, not micropython.bin)"
                         % (fw, PARTITION_TABLE))
    return table


def detect_chip(port):
    rc, out = _run(esptool_cmd(port=port) + ["chip-id"], echo=False)
    m = re.search(r"(?:Detecting chip type\.\.\.|Connected to)\s*(ESP[0-9A-Z-]+)", out)
    if rc != 0 or not m:
        raise FlashError("could not ask the board on %s for its chip (%s): hold BOOT, press RESET, and try again; "
                         "or give BOARD=" % (port, _last_error(out)), code=1)
    name = m.group(1)
    if name not in CHIP_NAMES:
        raise FlashError("the board on %s is an %s; these boards are %s" % (port, name, ", ".join(CHIP_NAMES)))
    return CHIP_NAMES[name]


def _flash_step(cmd, port, state):
    """Run one esptool step; state says what a failure leaves on the board."""
    print("$ " + shlex.join(cmd), flush=True)
    rc, out = _run(cmd, echo=True)
    if rc != 0:
        m = re.search(r"This chip is (\S+), not (\S+?)\.", out)
        if m:
            raise FlashError("the board on %s is an %s, not an %s: give the BOARD= and FW= for an %s"
                             % (port, m.group(1), m.group(2), m.group(1)))
        raise FlashError("esptool failed (exit %d: %s); %s. Hold BOOT, press RESET and run make flash again"
                         % (rc, _last_error(out), state), code=1)


def parse(argv):
    ap = argparse.ArgumentParser(prog="flash.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("firmware", nargs="?", default="", help="full firmware image (.bin)")
    ap.add_argument("--port", default="", help="serial port of the board, e.g. /dev/ttyUSB0")
    ap.add_argument("--board", default="", help="boards/ folder, micropython.org board name or chip; detected if left out")
    ap.add_argument("--baud", default=str(BAUD), help="baud rate for write-flash (default %d; 115200 if it fails)" % BAUD)
    ap.add_argument("--dry-run", action="store_true", help="check the image and print the esptool commands, flash nothing")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    try:
        if not re.fullmatch(r"[1-9][0-9]{3,7}", args.baud):
            raise FlashError("baud rate %r is not a number like 460800 or 115200" % args.baud)
        if not args.port:
            raise FlashError("give the board's serial port, e.g. PORT=/dev/ttyUSB0 (ls /dev/ttyUSB* /dev/ttyACM*)")
        if not args.dry_run and args.port.startswith(("/", ".")) and not os.path.exists(args.port):
            raise FlashError("serial port %s does not exist: is the board plugged in? (ls /dev/ttyUSB* /dev/ttyACM*)" % args.port)
        if args.board:
            chip = chip_for(args.board)
        elif args.dry_run:
            raise FlashError("--dry-run talks to no board: give BOARD= (e.g. DRREADY_ESP32, ESP32_GENERIC_S3 or esp32c3)")
        else:
            check_file(args.firmware)  # a missing image is reported before the board is touched
            chip = detect_chip(args.port)
            print("flash: the board on %s is an %s" % (args.port, chip))
        table = check_image(args.firmware, chip)
        offset = OFFSETS[chip]
        print("flash: %s is a valid %s image; partitions: %s" % (
            args.firmware, chip, ", ".join("%s@0x%x" % (label, off) for label, _t, _s, off, _size in table)))
        erase = esptool_cmd(chip, args.port) + ["erase-flash"]
        write = esptool_cmd(chip, args.port, args.baud) + ["write-flash", "0x%x" % offset, args.firmware]
        if args.dry_run:
            print("$ " + shlex.join(erase))
            print("$ " + shlex.join(write))
            return 0
        _flash_step(erase, args.port, "no image was written")
        _flash_step(write, args.port, "the board's flash is erased or partly written")
    except FlashError as e:
        print("flash: " + str(e), file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print("flash: interrupted; flash again before using the board", file=sys.stderr)
        return 1
    print("flash: done; next: make deploy PORT=%s%s" % (args.port, " BOARD=" + args.board if args.board in our_boards() else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
