"""tools/build.py: what ships, and that a build reporting success never keeps a stale .mpy
(after a failed compile, another checkout's build, or a hand-edited file)."""
import os
import shutil

import pytest

from tools import build

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A copy of firmware/ to break, and the build's output beside it."""
    src = tmp_path / "firmware"
    shutil.copytree(os.path.join(ROOT, "firmware"), src)
    monkeypatch.setattr(build, "SRC", str(src))
    return src, str(tmp_path / "build" / "firmware")


def _mpy(out, rel):
    with open(os.path.join(out, rel), "rb") as f:
        return f.read()


def test_declarations_are_inlined_and_neither_they_nor_empty_package_markers_ship(tree):
    _src, out = tree
    build.build(out=out, root_keys=[])
    shipped = {os.path.relpath(os.path.join(d, f), out) for d, _, fs in os.walk(out) for f in fs}
    assert "drready/battery.mpy" in shipped and "security/__init__.mpy" in shipped  # a marker with code ships
    assert not [p for p in shipped if "_props" in p or p in ("drready/__init__.mpy", "echonet/__init__.mpy")]
    assert b"drready.battery" in _mpy(out, "drready/battery.mpy")  # its source name: the module name
    assert os.path.exists(out + ".romfs")


def test_a_failed_compile_leaves_no_mpy_and_the_next_build_fails_too(tree):
    src, out = tree
    build.build(out=out, root_keys=[])
    with open(src / "drready" / "clock.py", "a") as f:
        f.write("\ndef broken(:\n")
    for _ in range(2):
        with pytest.raises(build.BuildError, match="drready/clock.py does not compile"):
            build.build(out=out, root_keys=[])
        assert not os.path.exists(os.path.join(out, "drready", "clock.mpy"))


def test_an_mpy_that_is_not_what_the_last_compile_made_is_compiled_again(tree):
    _src, out = tree
    build.build(out=out, root_keys=[])
    good = _mpy(out, "hal/udp.mpy")
    with open(os.path.join(out, "hal", "udp.mpy"), "wb") as f:  # as another checkout's build leaves it
        f.write(good[:-8] + b"\0" * 8)
    build.build(out=out, root_keys=[])
    assert _mpy(out, "hal/udp.mpy") == good


def test_a_declaration_import_the_build_cannot_inline_is_an_error(tree):
    src, out = tree
    with open(src / "drready" / "household.py", "a") as f:
        f.write("\n\ndef _late():\n    from drready.battery_props import TABLE\n    return TABLE\n")
    with pytest.raises(build.BuildError, match="drready/household.py imports a \\*_props module"):
        build.build(out=out, root_keys=[])
