"""Strings the running node makes are never interned. MicroPython keeps every interned
string (qstr) for good, in pools that grow by doubling: on the 64-bit unix port the pool
that follows 620 names takes 7 KB in one piece, and the node with all five objects runs
close to that boundary. A qstr made at run time can therefore fail long after boot in a
fragmented heap (a MemoryError "allocating 640 bytes", the pool's entry count). Iterating
or indexing a str makes one-character qstrs; the event log's detail cleaning and the
controller-name check used to, once per new character seen."""
import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.path.join(ROOT, "build", "firmware")
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")


def _qstr_counts(code):
    """Run code under the unix port on the compiled firmware; the n_qstr of each
    micropython.qstr_info() it prints."""
    if not os.path.exists(os.path.join(BUILD, "main.py")):
        pytest.fail("%s missing: make test builds the firmware first (make build)" % BUILD)
    env = dict(os.environ, MICROPYPATH=BUILD + ":.frozen")
    r = subprocess.run([MICROPYTHON, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return [int(n) for n in re.findall(r"n_qstr=(\d+)", r.stdout)]


def test_a_str_iterated_interns_its_characters_under_micropython():
    """The hazard itself, so this file would notice if MicroPython stopped doing it."""
    before, after = _qstr_counts("import micropython\nmicropython.qstr_info()\n"
                                 "for c in 'Zq#%s' % 'Xw': pass\nmicropython.qstr_info()\n")
    assert after > before


def test_event_details_and_controller_names_intern_nothing():
    code = (
        "import micropython\n"
        "from security.eventlog import clean\n"
        "from security.controllers import check_name, fp_hex\n"
        "micropython.qstr_info()\n"
        "out = (clean('set 027D01 98=07EA0B1B from 127.77.11.2 \\x01\\u00e9' + 'Zq#'),\n"
        "       check_name('hems-Zq#4'), fp_hex(bytes(range(32))))\n"
        "micropython.qstr_info()\n"
        "assert out[0] == 'set 027D01 98=07EA0B1B from 127.77.11.2 ???Zq#', out[0]\n"
        "assert out[2] == bytes(range(32)).hex(), out[2]\n"
    )
    before, after = _qstr_counts(code)
    assert after == before


def test_the_all_five_node_needs_no_sixth_name_pool(tmp_path):
    """Booted as in the 96K target (all five objects, unprovisioned), the node has interned
    fewer than 620 names at READY, so the 7 KB pool that follows is never needed. This
    helper's own names (about six) count too: the test trips that many names early, a
    margin. If it fails, look for new module-level names, modules or short string
    literals on the boot path (README, Memory; tools/build.py inlines tables and names
    modules by their import name to save names)."""
    from tools import romfs

    (tmp_path / "qcheck.py").write_text(
        "import builtins, micropython\n"
        "_p = builtins.print\n"
        "def p(*a, **k):\n"
        "    _p(*a, **k)\n"
        "    if a and str(a[0]).startswith('READY'):\n"
        "        micropython.qstr_info()\n"
        "        raise SystemExit\n"
        "builtins.print = p\n"
        "import main\n"
    )
    from drready import registry

    state = tmp_path / "s"
    state.mkdir()
    cfg = state / "config.json"
    cfg.write_text('{"addr": "127.0.0.1", "state_dir": "%s", "objects": %s, "legacy_write": []}'
                   % (state, '["' + '", "'.join(registry.CLASSES) + '"]'))
    image = romfs.image_of(BUILD)
    env = dict(os.environ, MICROPYPATH=str(tmp_path) + ":.frozen")
    r = subprocess.run(romfs.command(image, "256K", "qcheck", [cfg]), capture_output=True, text=True, env=env, timeout=60)
    m = re.search(r"n_pool=(\d+), n_qstr=(\d+)", r.stdout)
    assert m, r.stdout + r.stderr
    assert int(m.group(1)) <= 5, "the node interned %s names by READY: past 620 the unix port adds a 7 KB pool" % m.group(2)
