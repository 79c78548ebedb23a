"""The board definitions in boards/ and what hangs off them: every partition table is one
ESP-IDF accepts and leaves room for safe updates; the build files name files that exist;
the frozen manifest freezes exactly what tools/build.py ships; board.json's pins load
through firmware/hal/board.py; tools/flash.py checks an image before it erases anything
and writes it where the chip's bootloader expects it."""
import json
import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BOARDS = os.path.join(ROOT, "boards")
FIRMWARE = os.path.join(ROOT, "build", "firmware")
ESPTOOL = os.path.join(os.path.dirname(sys.executable), "esptool")

from tools import flash  # noqa: E402  (conftest.py puts the repository on sys.path)

KIB = 1024
MIB = 1024 * KIB
SECTOR = 4 * KIB  # flash erase unit: data partitions
APP_ALIGN = 64 * KIB  # MMU page: app partitions
TABLE_END = 0x9000  # the partition table is at 0x8000 and takes 0xC00 bytes; nothing below 0x9000
MIN_APP = 0x180000  # MicroPython's own OTA variant ships 1.5 MiB app slots; less will not hold the firmware
LFS_BLOCK = 4 * KIB  # littlefs block on the ESP32 (the partition's erase size)
FS_MARGIN = 64 * KIB  # config.json, board.json, the state directory, littlefs copy-on-write headroom

TYPES = {"app": 0x00, "data": 0x01}
SUBTYPES = {
    "app": {"factory": 0x00, "test": 0x20, **{"ota_%d" % i: 0x10 + i for i in range(16)}},
    "data": {"ota": 0x00, "phy": 0x01, "nvs": 0x02, "coredump": 0x03, "nvs_keys": 0x04, "efuse": 0x05,
             "undefined": 0x06, "esphttpd": 0x80, "fat": 0x81, "spiffs": 0x82, "littlefs": 0x83},
}
FS_SUBTYPES = ("fat", "spiffs", "littlefs")
FS_LABELS = ("vfs", "ffat")  # what MicroPython's flashbdev.py mounts


def board_dirs():
    return sorted(d for d in os.listdir(BOARDS) if os.path.isfile(os.path.join(BOARDS, d, "mpconfigboard.cmake")))


def _size(text):
    text = text.strip()
    m = re.fullmatch(r"(0x[0-9a-fA-F]+|[0-9]+)([KM]?)", text)
    assert m, "not a size: %r" % text
    n = int(m.group(1), 0)
    return n * {"": 1, "K": KIB, "M": MIB}[m.group(2)]


def read_csv(path):
    """[(name, type, subtype, offset, size, flags)] as ESP-IDF's gen_esp32part.py reads them
    (every offset is required here: an explicit table is a checked table)."""
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fields = [x.strip() for x in line.split(",")]
            fields += [""] * (6 - len(fields))
            name, ptype, subtype, offset, size, flags = fields[:6]
            assert ptype in TYPES, "%s:%d: type %r is not app or data" % (path, n, ptype)
            assert subtype in SUBTYPES[ptype], "%s:%d: %r is not a %s subtype" % (path, n, subtype, ptype)
            assert offset, "%s:%d: give every partition an explicit offset" % (path, n)
            rows.append((name, ptype, subtype, _size(offset), _size(size), flags))
    return rows


def flash_size(board):
    with open(os.path.join(BOARDS, board, "sdkconfig.board")) as f:
        sizes = re.findall(r"^CONFIG_ESPTOOLPY_FLASHSIZE_(\d+)MB=y", f.read(), re.M)
    assert len(sizes) == 1, "%s/sdkconfig.board must set exactly one CONFIG_ESPTOOLPY_FLASHSIZE_xMB=y" % board
    return int(sizes[0]) * MIB


def board_json(board):
    with open(os.path.join(BOARDS, board, "board.json")) as f:
        return json.load(f)


def ensure_build():
    if not os.path.isfile(os.path.join(FIRMWARE, "main.py")):
        from tools import build

        build.build()


def fs_footprint(tree):
    """Bytes a littlefs filesystem needs for the files under tree: whole blocks per file,
    a metadata pair (two blocks) per directory."""
    total = 0
    for d, _dirs, files in os.walk(tree):
        total += 2 * LFS_BLOCK
        for f in files:
            size = os.path.getsize(os.path.join(d, f))
            total += max(1, -(-size // LFS_BLOCK)) * LFS_BLOCK
    return total


# -- partition tables ------------------------------------------------------------------

def test_every_board_has_its_files():
    boards = board_dirs()
    assert {"DRREADY_ESP32", "DRREADY_ESP32_S3", "DRREADY_ESP32_C3"} <= set(boards)
    for board in boards:
        for name in ("mpconfigboard.cmake", "mpconfigboard.h", "sdkconfig.board", "partitions.csv", "manifest.py",
                     "board.json", "mpconfigvariant_PROD.cmake"):
            assert os.path.isfile(os.path.join(BOARDS, board, name)), "%s/%s is missing" % (board, name)


@pytest.mark.parametrize("board", board_dirs())
def test_partition_table(board):
    path = os.path.join(BOARDS, board, "partitions.csv")
    rows = read_csv(path)
    names = [r[0] for r in rows]
    assert len(names) == len(set(names)), "duplicate partition names in %s" % path
    assert all(len(n) <= 16 for n in names), "partition names have at most 16 characters"
    size_of_flash = flash_size(board)

    end = TABLE_END
    for name, ptype, _sub, offset, size, _flags in sorted(rows, key=lambda r: r[3]):
        align = APP_ALIGN if ptype == "app" else SECTOR
        assert offset % align == 0, "%s: %s at 0x%x is not %d KiB-aligned" % (board, name, offset, align // KIB)
        assert size > 0 and size % SECTOR == 0, "%s: %s size 0x%x is not a whole number of 4 KiB sectors" % (board, name, size)
        assert offset >= end, "%s: %s at 0x%x overlaps what ends at 0x%x" % (board, name, offset, end)
        end = offset + size
    assert end <= size_of_flash, "%s: partitions end at 0x%x, beyond the %d MiB flash" % (board, end, size_of_flash // MIB)

    by_sub = {}
    for r in rows:
        by_sub.setdefault((r[1], r[2]), []).append(r)
    ota = [r for r in rows if r[1] == "app" and r[2].startswith("ota_")]
    assert sorted(r[2] for r in ota) == ["ota_0", "ota_1"], "%s: needs exactly two OTA slots, ota_0 and ota_1" % board
    assert ota[0][4] == ota[1][4], "%s: the two OTA slots differ in size: an image for one may not fit the other" % board
    assert ota[0][4] >= MIN_APP, "%s: OTA slots of 0x%x are too small for MicroPython (0x%x)" % (board, ota[0][4], MIN_APP)
    assert not by_sub.get(("app", "factory")), "%s: a factory app would be a third image outside the update scheme" % board
    otadata = by_sub.get(("data", "ota"), [])
    assert len(otadata) == 1 and otadata[0][4] == 0x2000, "%s: needs one otadata partition of 0x2000 (two sectors)" % board
    nvs = by_sub.get(("data", "nvs"), [])
    assert len(nvs) == 1 and nvs[0][4] >= 0x3000, "%s: needs an nvs partition of at least 0x3000" % board
    assert by_sub.get(("data", "phy")), "%s: needs phy_init" % board

    fs = [r for r in rows if r[1] == "data" and r[2] in FS_SUBTYPES and r[0] in FS_LABELS]
    assert len(fs) == 1, "%s: needs one filesystem partition labelled vfs (what MicroPython mounts)" % board
    ensure_build()
    needed = 2 * fs_footprint(FIRMWARE) + FS_MARGIN  # the node plus a second copy during an app update
    raw = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(FIRMWARE) for f in files)
    assert needed >= 2 * raw + FS_MARGIN
    assert fs[0][4] >= needed, "%s: filesystem of %d KiB < %d KiB needed for two copies of build/firmware and state" % (
        board, fs[0][4] // KIB, needed // KIB)


def test_the_checks_catch_a_bad_table(tmp_path):
    """A table that overlaps and misaligns fails the checks above."""
    bad = tmp_path / "partitions.csv"
    bad.write_text("nvs, data, nvs, 0x9000, 0x4000,\nota_0, app, ota_0, 0x18000, 0x180000,\n")
    rows = read_csv(str(bad))
    assert rows[1][3] % APP_ALIGN != 0
    with pytest.raises(AssertionError):
        read_csv(str(_write(tmp_path, "nvs, data, nvs, , 0x4000,\n")))
    with pytest.raises(AssertionError):
        read_csv(str(_write(tmp_path, "x, app, spiffs, 0x10000, 0x1000,\n")))


def _write(tmp_path, text):
    p = tmp_path / "t.csv"
    p.write_text(text)
    return p


# -- build files -----------------------------------------------------------------------

@pytest.mark.parametrize("board", board_dirs())
def test_build_files_agree(board):
    d = os.path.join(BOARDS, board)
    info = board_json(board)
    with open(os.path.join(d, "mpconfigboard.cmake")) as f:
        cmake = "\n".join(line.split("#", 1)[0] for line in f)  # without the comments
    target = re.search(r"set\(IDF_TARGET (\w+)\)", cmake)
    assert target and target.group(1) == info["mcu"], "%s: IDF_TARGET and board.json mcu differ" % board
    for ref in re.findall(r"\$\{MICROPY_BOARD_DIR\}/([\w./]+)", cmake):
        assert os.path.isfile(os.path.join(d, ref)), "%s/mpconfigboard.cmake names %s, which does not exist" % (board, ref)
    assert "${MICROPY_BOARD_DIR}/partitions.csv" in cmake
    assert "sdkconfig.ble" not in cmake and "MICROPY_PY_BLUETOOTH=0" in cmake, "%s: Bluetooth must be off" % board
    assert "MICROPY_FROZEN_MANIFEST ${MICROPY_BOARD_DIR}/manifest.py" in cmake
    with open(os.path.join(d, "mpconfigvariant_PROD.cmake")) as f:
        prod = f.read()
    assert "MICROPY_HW_ENABLE_UART_REPL=0" in prod, "%s: the production variant must turn the REPL off" % board
    for ref in re.findall(r"\$\{MICROPY_BOARD_DIR\}/([\w./]+)", prod):
        assert os.path.isfile(os.path.join(d, ref))
    # the image starts where flash.py writes it for this chip
    assert int(info["deploy_options"]["flash_offset"], 0) == flash.OFFSETS[info["mcu"]]
    with open(os.path.join(BOARDS, "common", "sdkconfig.drready")) as f:
        common = f.read()
    assert re.search(r"^CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE=y", common, re.M)
    assert not re.search(r"^CONFIG_SECURE_FLASH_ENC_ENABLED=y", common, re.M)


class FakeManifest:
    """The part of MicroPython's manifest API (tools/manifestfile.py) the boards use:
    records what would be frozen, following include() into this repository."""

    def __init__(self):
        self.frozen = set()  # module paths as they would be imported, e.g. echonet/node.mpy
        self.external = []  # (function, path, script) naming MicroPython's own tree

    def _api(self):
        return {"include": self.include, "freeze": self.freeze, "freeze_mpy": self.freeze_mpy}

    def include(self, path):
        if path.startswith("$("):
            self.external.append(("include", path, None))
            return
        path = os.path.abspath(path)
        prev = os.getcwd()
        os.chdir(os.path.dirname(path))
        try:
            with open(path) as f:
                exec(f.read(), self._api())
        finally:
            os.chdir(prev)

    def freeze(self, path, script=None):
        assert path.startswith("$("), "freeze() of a path in this repository: use freeze_mpy on build/firmware"
        self.external.append(("freeze", path, script))

    def freeze_mpy(self, path, script):
        base = os.path.abspath(path)
        full = os.path.join(base, script)
        if os.path.isdir(full):
            for d, _dirs, files in os.walk(full):
                for f in files:
                    if f.endswith(".mpy"):
                        self.frozen.add(os.path.relpath(os.path.join(d, f), base))
        else:
            assert os.path.isfile(full), full
            self.frozen.add(script)


@pytest.mark.parametrize("board", board_dirs())
def test_manifest_freezes_exactly_the_built_node(board):
    ensure_build()
    m = FakeManifest()
    m.include(os.path.join(BOARDS, board, "manifest.py"))
    built = {os.path.relpath(os.path.join(d, f), FIRMWARE) for d, _, files in os.walk(FIRMWARE) for f in files}
    assert m.frozen == {p for p in built if p.endswith(".mpy")}
    assert "main.py" not in m.frozen  # MicroPython runs /main.py from the filesystem only
    assert {"app.mpy", "startup.mpy"} <= m.frozen
    assert {p.split("/")[0] for p in m.frozen if "/" in p} >= {"echonet", "drready", "hal"}
    assert not any(p.endswith("declare.mpy") for p in m.frozen)  # host-only helpers are not shipped
    # only asyncio and the port's start-up modules come from MicroPython's tree: no webrepl, mip, espnow...
    assert ("include", "$(MPY_DIR)/extmod/asyncio", None) in m.external
    text = repr(m.external).lower()
    for unwanted in ("webrepl", "bundle-networking", "espnow", "boards/manifest.py"):
        assert unwanted not in text


# -- the production variant (BOARD_VARIANT=PROD) ---------------------------------------
# MicroPython's ports/esp32/CMakeLists.txt includes mpconfigboard.cmake, then
# mpconfigvariant_<BOARD_VARIANT>.cmake; the SDKCONFIG_DEFAULTS fragments are concatenated
# in list order (a later line wins) and MICROPY_DEF_BOARD becomes -D definitions, which
# win over a board header's #ifndef defaults. The checks below follow the same rules.

_CMAKE_TOKEN = re.compile(r'\s*((?:[^\s()"]|"[^"]*")+)')
USB_SERIAL_JTAG_CHIPS = ("esp32s3", "esp32c3", "esp32c5", "esp32c6", "esp32h2", "esp32p4")
USB_OTG_CHIPS = ("esp32s2", "esp32s3", "esp32p4")
EFUSE_BURNING = ("CONFIG_SECURE_BOOT", "CONFIG_SECURE_BOOT_V2_ENABLED", "CONFIG_SECURE_FLASH_ENC_ENABLED",
                 "CONFIG_SECURE_ENABLE_SECURE_ROM_DL_MODE", "CONFIG_SECURE_DISABLE_ROM_DL_MODE",
                 "CONFIG_BOOTLOADER_APP_ANTI_ROLLBACK", "CONFIG_NVS_ENCRYPTION")


def _cmake_text(board, variant=None):
    """The board's cmake (then the variant's), without comments, as the port includes them."""
    names = ["mpconfigboard.cmake"] + (["mpconfigvariant_%s.cmake" % variant] if variant else [])
    text = ""
    for name in names:
        with open(os.path.join(BOARDS, board, name)) as f:
            text += "\n".join(line.split("#", 1)[0] for line in f) + "\n"
    return text


def cmake_list(text, name):
    """The value of the CMake list `name` after every set(name ...) / list(APPEND name ...)."""
    out = []
    for m in re.finditer(r"\b(set|list)\(\s*(?:APPEND\s+)?%s\b" % name, text):
        items, pos = [], m.end()
        while True:
            t = _CMAKE_TOKEN.match(text, pos)
            if not t:
                break
            items.append(t.group(1))
            pos = t.end()
        assert re.match(r"\s*\)", text[pos:]), "cannot read the %s list at %r" % (name, text[m.start():pos + 20])
        out = items if m.group(1) == "set" else out + items
    return out


def definitions(board, variant=None):
    """MICROPY_DEF_BOARD as {NAME: value}."""
    return dict(d.split("=", 1) for d in cmake_list(_cmake_text(board, variant), "MICROPY_DEF_BOARD"))


def sdkconfig_fragments(board, variant=None):
    """Paths of this repository's sdkconfig fragments the build applies, in order (MicroPython's
    own boards/... and the generated partition fragment are left out)."""
    out = []
    for item in cmake_list(_cmake_text(board, variant), "SDKCONFIG_DEFAULTS"):
        if item.startswith("${MICROPY_BOARD_DIR}/"):
            out.append(os.path.normpath(os.path.join(BOARDS, board, item[len("${MICROPY_BOARD_DIR}/"):])))
        else:
            assert item.startswith(("boards/", "${CMAKE_BINARY_DIR}/")), "%s: unexpected sdkconfig fragment %s" % (board, item)
    return out


def sdkconfig(paths):
    """The settings the fragments leave, later lines winning; "# CONFIG_X is not set" is n."""
    cfg = {}
    for path in paths:
        with open(path) as f:
            for line in f:
                line = line.strip()
                m = re.fullmatch(r"(CONFIG_\w+)=(.*)", line) or re.fullmatch(r"# (CONFIG_\w+) is not set()", line)
                if m:
                    cfg[m.group(1)] = m.group(2) or "n"
    return cfg


@pytest.mark.parametrize("board", board_dirs())
def test_production_variant_turns_every_repl_and_console_off(board):
    info = board_json(board)
    chip = info["mcu"]
    assert "PROD" in info.get("variants", {}), "%s: board.json does not list the PROD variant" % board
    prod = definitions(board, "PROD")
    off = ["MICROPY_HW_ENABLE_UART_REPL"]
    if chip in USB_SERIAL_JTAG_CHIPS:
        off.append("MICROPY_HW_ESP_USB_SERIAL_JTAG")
    if chip in USB_OTG_CHIPS:
        off += ["MICROPY_HW_ENABLE_USBDEV", "MICROPY_HW_USB_CDC"]
    for name in off:
        assert prod.get(name) == "0", "%s: the production variant must set %s=0 (a REPL on %s)" % (board, name, chip)
    # a board header may give defaults, but only under #ifndef, so the variant's -D wins
    with open(os.path.join(BOARDS, board, "mpconfigboard.h")) as f:
        header = f.read()
    for name in off:
        if re.search(r"#define\s+%s\b" % name, header):
            assert re.search(r"#ifndef\s+%s\s*\n\s*#define\s+%s\b" % (name, name), header), (
                "%s/mpconfigboard.h defines %s without #ifndef: the production variant could not turn it off" % (board, name))
    cfg = sdkconfig(sdkconfig_fragments(board, "PROD"))
    assert cfg.get("CONFIG_ESP_CONSOLE_NONE") == "y" and cfg.get("CONFIG_ESP_CONSOLE_SECONDARY_NONE") == "y"
    consoles = [k for k, v in cfg.items() if re.fullmatch(r"CONFIG_ESP_CONSOLE_(UART|USB)\w*", k) and v == "y"]
    assert not consoles, "%s: the production variant still selects a console: %s" % (board, consoles)
    assert cfg.get("CONFIG_LOG_DEFAULT_LEVEL_NONE") == "y" and cfg.get("CONFIG_BOOTLOADER_LOG_LEVEL_NONE") == "y"
    assert cfg.get("CONFIG_ESP_SYSTEM_PANIC_GDBSTUB") != "y" and cfg.get("CONFIG_ESP_SYSTEM_PANIC_SILENT_REBOOT") == "y"
    assert cfg.get("CONFIG_ESP_COREDUMP_ENABLE_TO_NONE") == "y"
    # the development image keeps its REPL: make deploy and make provision need it
    dev = definitions(board)
    assert dev.get("MICROPY_HW_ENABLE_UART_REPL") != "0"
    assert not any(p.endswith("sdkconfig.production") for p in sdkconfig_fragments(board))


@pytest.mark.parametrize("board", board_dirs())
def test_only_the_production_variant_names_itself_production(board):
    """The node arms its watchdog at every boot of a production image, which it knows by the
    board name MicroPython reports (os.uname().machine; firmware/hal/board.py production)."""
    prod = definitions(board, "PROD").get("MICROPY_HW_BOARD_NAME", "")
    assert "production" in prod, "%s: the PROD variant's board name must say production: %s" % (board, prod)
    with open(os.path.join(BOARDS, board, "mpconfigboard.h")) as f:
        dev = re.search(r'#define\s+MICROPY_HW_BOARD_NAME\s+"([^"]*)"', f.read())
    assert dev and "production" not in dev.group(1), "%s: the development board name says production" % board


@pytest.mark.parametrize("board", board_dirs())
def test_production_variant_keeps_rollback_and_burns_no_efuse(board):
    cfg = sdkconfig(sdkconfig_fragments(board, "PROD"))
    assert cfg.get("CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE") == "y", "%s: app rollback must stay on in production" % board
    assert cfg.get("CONFIG_BT_ENABLED") == "n"
    burning = [k for k in EFUSE_BURNING if cfg.get(k) == "y"]
    assert not burning, "%s: %s burn eFuses: leave them as commented guidance (docs/security.md)" % (board, burning)
    # the guidance is there, commented out, with ESP-IDF's option names
    with open(os.path.join(BOARDS, "common", "sdkconfig.production")) as f:
        guidance = f.read()
    for name in ("CONFIG_SECURE_BOOT_V2_ENABLED", "CONFIG_SECURE_SIGNED_APPS_RSA_SCHEME",
                 "CONFIG_SECURE_ENABLE_SECURE_ROM_DL_MODE", "CONFIG_BOOTLOADER_APP_ANTI_ROLLBACK"):
        assert re.search(r"^# %s=" % name, guidance, re.M), "sdkconfig.production lacks the guidance for %s" % name
    # flash encryption is named, and said not to be for these boards (MicroPython lacks it)
    assert "CONFIG_SECURE_FLASH_ENC_ENABLED" in guidance and "NOT for these boards" in guidance


@pytest.mark.parametrize("board", board_dirs())
def test_production_image_has_no_remote_shell(board):
    """Neither WebREPL nor telnet nor anything else that would give a shell over the
    network is frozen into the PROD image, nor started by the node."""
    ensure_build()
    text = _cmake_text(board, "PROD")
    manifest = cmake_list(text, "MICROPY_FROZEN_MANIFEST")
    assert manifest == ["${MICROPY_BOARD_DIR}/manifest.py"], "%s: PROD freezes another manifest: %s" % (board, manifest)
    m = FakeManifest()
    m.include(os.path.join(BOARDS, board, "manifest.py"))
    everything = (repr(m.external) + repr(sorted(m.frozen))).lower()
    for unwanted in ("webrepl", "telnet", "bundle-networking", "boards/manifest.py", "upysh", "mip", "espnow"):
        assert unwanted not in everything, "%s: the production image would freeze %s" % (board, unwanted)
    # the port's modules/ only by name: the whole directory would bring espnow.py and more
    assert all(script is not None for fn, _path, script in m.external if fn == "freeze")
    prod = definitions(board, "PROD")
    for name in ("MICROPY_PY_BLUETOOTH", "MICROPY_PY_ESPNOW", "MICROPY_HW_ENABLE_MDNS_QUERIES",
                 "MICROPY_HW_ENABLE_MDNS_RESPONDER"):
        assert prod.get(name) == "0", "%s: %s must be 0" % (board, name)
    # and nothing the node runs starts one: no webrepl import, no os.dupterm redirection
    for d, _dirs, files in os.walk(os.path.join(ROOT, "firmware")):
        for f in files:
            if f.endswith(".py"):
                with open(os.path.join(d, f)) as src:
                    code = src.read()
                assert not re.search(r"\bwebrepl\b|\bdupterm\b|\btelnet", code), "%s starts a remote shell" % f


# -- board.json pins through firmware/hal/board.py --------------------------------------

@pytest.mark.parametrize("board", board_dirs())
def test_board_json_pins_load(board, monkeypatch):
    import machine

    from hal import board as hal_board

    sent = []
    monkeypatch.setattr(machine, "bitstream", lambda pin, enc, timing, data: sent.append(bytes(data)), raising=False)
    path = os.path.join(BOARDS, board, "board.json")
    pins = hal_board.load(path)
    declared = board_json(board)["pins"]
    assert pins["status_led"] == declared["status_led"] and pins["button"] == declared["button"]
    led, button = hal_board.open_pins(path)
    assert button is not None and led is not None
    assert button.pressed() is False  # pulled up, active low: released reads 1
    led.on()
    assert led.lit
    if pins["status_led"]["type"] == "ws2812":
        assert sent[-1] != b"\0\0\0"
        led.off()
        assert sent[-1] == b"\0\0\0"
    else:
        assert led._pin.value() == (0 if pins["status_led"]["active_low"] else 1)
        led.toggle()
        assert not led.lit and led._pin.value() == (1 if pins["status_led"]["active_low"] else 0)


def test_board_pins_defaults_and_errors(tmp_path):
    from hal import board as hal_board

    pins = hal_board.load(str(tmp_path / "none.json"))
    assert pins["status_led"] is None and pins["button"]["gpio"] in (0, 9)
    led, button = hal_board.open_pins(str(tmp_path / "none.json"))
    assert led is None and button is not None
    low = tmp_path / "low.json"
    low.write_text('{"pins": {"status_led": {"gpio": 5, "active_low": true}, "button": {"gpio": 4, "active_low": false, '
                   '"pull": "down"}}}')
    led, button = hal_board.open_pins(str(low))
    assert led is not None and button is not None
    led.on()
    assert led._pin.value() == 0
    assert button.pressed() is False  # pulled down, active high
    for text, words in [
        ("{", "not valid JSON"),
        ('{"pins": 3}', "no \"pins\""),
        ('{"pins": {"button": {"gpio": 99}}}', "pins.button.gpio"),
        ('{"pins": {"status_led": {"gpio": 2, "type": "rgb"}}}', "pins.status_led.type"),
        ('{"pins": {"button": {"gpio": 0, "pull": "sideways"}}}', "pins.button.pull"),
        ('{"pins": {"button": {"gpio": 0, "active_low": "yes"}}}', "active_low"),
    ]:
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(ValueError) as e:
            hal_board.load(str(bad))
        assert words in str(e.value) and "\n" not in str(e.value)


# -- tools/flash.py, offline: image checks and the esptool command lines ----------------

def _elf(path, machine, segments):
    """A minimal 32-bit little-endian ELF: one loadable section per (address, data)."""
    import struct

    names = b"\0.shstrtab\0" + b"".join(b".s%d\0" % i for i in range(len(segments)))
    off = 52 + 32 * len(segments)  # program headers follow the 52-byte ELF header
    ph, sh, body, name_off = b"", b"\0" * 40, b"", 11
    for i, (addr, data) in enumerate(segments):
        ph += struct.pack("<8I", 1, off, addr, addr, len(data), len(data), 7, 4)
        sh += struct.pack("<10I", name_off, 1, 7, addr, off, len(data), 0, 0, 4, 0)
        name_off += len(b".s%d\0" % i)
        body += data
        off += len(data)
    sh += struct.pack("<10I", 1, 3, 0, 0, off, len(names), 0, 0, 1, 0)
    body += names
    header = b"\x7fELF\x01\x01\x01" + b"\0" * 9 + struct.pack(
        "<HHIIIIIHHHHHH", 2, machine, 1, segments[0][0], 52, off + len(names), 0, 52, 32, len(segments), 40,
        len(segments) + 2, len(segments) + 1)
    with open(path, "wb") as f:
        f.write(header + ph + body + sh)


ELF = {  # chip: (ELF machine, IRAM address, DRAM address)
    "esp32": (94, 0x40080000, 0x3FFB0000),
    "esp32s3": (94, 0x40370000, 0x3FC88000),
    "esp32c3": (243, 0x40380000, 0x3FC80000),
}


def _partition_table(rows):
    import hashlib
    import struct

    out = b""
    for name, ptype, subtype, offset, size, _flags in rows:
        out += struct.pack("<2sBBII16sI", b"\xaa\x50", TYPES[ptype], SUBTYPES[ptype][subtype], offset, size,
                           name.encode(), 0)
    out += b"\xeb\xeb" + b"\xff" * 14 + hashlib.md5(out).digest()
    return out + b"\xff" * (0xC00 - len(out))


def _image(tmp_path, chip, with_table=True):
    """A full firmware image as esptool and MicroPython lay it out: bootloader at the chip's
    offset, the partition table at 0x8000, the app at 0x10000 (both images made by
    esptool elf2image from a tiny ELF: they are valid images, not bootable ones)."""
    machine, iram, dram = ELF[chip]
    elf = tmp_path / ("%s.elf" % chip)
    _elf(str(elf), machine, [(iram, b"\x00" * 64), (dram, b"\x11" * 32)])
    app = tmp_path / ("%s-app.bin" % chip)
    r = subprocess.run([ESPTOOL, "--chip", chip, "elf2image", "-o", str(app), str(elf)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    board = next(b for b in board_dirs() if board_json(b)["mcu"] == chip)
    base = flash.OFFSETS[chip]
    image = bytearray(b"\xff" * (0x10000 - base))
    boot = app.read_bytes()
    image[0:len(boot)] = boot
    if with_table:
        table = _partition_table(read_csv(os.path.join(BOARDS, board, "partitions.csv")))
        image[0x8000 - base:0x8000 - base + len(table)] = table
    image += boot
    path = tmp_path / ("%s-%s.bin" % (chip, "full" if with_table else "apponly"))
    path.write_bytes(bytes(image))
    return str(path), board


@pytest.mark.parametrize("chip", sorted(flash.OFFSETS))
def test_flash_prints_the_commands_for_each_chip(chip, tmp_path, capsys):
    fw, board = _image(tmp_path, chip)
    assert flash.main(["--port", "/dev/ttyUSB0", "--board", board, "--dry-run", fw]) == 0
    out = capsys.readouterr().out.splitlines()
    offset = {"esp32": "0x1000", "esp32s3": "0x0", "esp32c3": "0x0"}[chip]
    assert "$ %s --chip %s --port /dev/ttyUSB0 erase-flash" % (flash.ESPTOOL, chip) in out
    assert "$ %s --chip %s --port /dev/ttyUSB0 --baud 460800 write-flash %s %s" % (flash.ESPTOOL, chip, offset, fw) in out
    assert any("ota_0@0x10000" in line and "vfs@" in line for line in out)


def test_flash_refuses_bad_images_and_arguments(tmp_path, capsys):
    esp32, _ = _image(tmp_path, "esp32")
    apponly, _ = _image(tmp_path, "esp32c3", with_table=False)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(os.urandom(0x20000))
    cases = [
        (["--board", "DRREADY_ESP32_S3", "--dry-run", esp32], "is a firmware image for the ESP32, not for the esp32s3"),
        (["--board", "ESP32_GENERIC_C3", "--dry-run", apponly], "no partition table"),
        (["--board", "esp32", "--dry-run", str(junk)], "not a valid esp32 firmware image"),
        (["--board", "esp32", "--dry-run", str(tmp_path / "missing.bin")], "does not exist"),
        (["--board", "esp32", "--dry-run"], "give the firmware image"),
        (["--board", "ESP8266", "--dry-run", esp32], "unknown board"),
        (["--board", "esp32", "--baud", "fast", "--dry-run", esp32], "baud rate"),
        (["--dry-run", esp32], "give BOARD="),
    ]
    for argv, words in cases:
        assert flash.main(["--port", "/dev/ttyUSB0"] + argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert words in err and "\n" not in err and err.startswith("flash: "), (argv, err)
    # no port, or a port that is not there: one line, exit 2, before esptool touches anything
    assert flash.main(["--board", "esp32", esp32]) == 2
    assert "serial port" in capsys.readouterr().err
    assert flash.main(["--port", "/dev/nonexistent-tty", "--board", "esp32", esp32]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_flash_erases_then_writes_and_names_a_wrong_chip(tmp_path, capsys, monkeypatch):
    """Without a board: esptool's board-facing steps are replaced by recordings of what
    esptool prints; image-info still runs the real esptool."""
    fw, board = _image(tmp_path, "esp32s3")
    real_run = flash._run
    ran = []

    def fake(cmd, echo):
        if "image-info" in cmd:
            return real_run(cmd, echo)
        ran.append(cmd[1:])
        if "chip-id" in cmd:
            return 0, "Connecting....\nDetecting chip type... ESP32-S3\nChip type:          ESP32-S3 (QFN56)\n"
        return 0, "Hash of data verified.\n"

    monkeypatch.setattr(flash, "_run", fake)
    assert flash.main(["--port", "/dev/null", fw]) == 0  # chip asked from the board
    capsys.readouterr()
    assert ran == [["--port", "/dev/null", "chip-id"],
                   ["--chip", "esp32s3", "--port", "/dev/null", "erase-flash"],
                   ["--chip", "esp32s3", "--port", "/dev/null", "--baud", "460800", "write-flash", "0x0", fw]]

    def wrong_chip(cmd, echo):
        if "image-info" in cmd:
            return real_run(cmd, echo)
        return 2, "Connecting...\nA fatal error occurred: This chip is ESP32-C3, not ESP32-S3. Wrong chip argument?\n"

    monkeypatch.setattr(flash, "_run", wrong_chip)
    assert flash.main(["--port", "/dev/null", "--board", board, fw]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "flash: the board on /dev/null is an ESP32-C3, not an ESP32-S3: give the BOARD= and FW= for an ESP32-C3"

    monkeypatch.setattr(flash, "_run", lambda cmd, echo: (0, "Connecting...\nDetecting chip type... ESP32-C6\n"))
    assert flash.main(["--port", "/dev/null", fw]) == 2
    assert "ESP32-C6" in capsys.readouterr().err


def test_board_json_loads_under_micropython():
    """hal/board.py as the device runs it: the real MicroPython (unix port, which has no
    machine.Pin, so no pins are opened there)."""
    micropython = os.path.join(os.path.dirname(sys.executable), "micropython")
    code = ("from hal import board\n"
            "for b in %r:\n"
            "    p = board.load('%s/' + b + '/board.json')\n"
            "    print(b, p['status_led']['gpio'], p['button']['gpio'])\n"
            "print(board.open_pins('none.json'))\n") % (board_dirs(), BOARDS)
    r = subprocess.run([micropython, "-X", "heapsize=64K", "-c", code], capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, MICROPYPATH=os.path.join(ROOT, "firmware") + ":.frozen"))
    assert r.returncode == 0, r.stdout + r.stderr
    want = ["%s %d %d" % (b, board_json(b)["pins"]["status_led"]["gpio"], board_json(b)["pins"]["button"]["gpio"])
            for b in board_dirs()]
    assert r.stdout.splitlines() == want + ["(None, None)"]
