"""Host-side code (tools/, host_tests/) type-checks against CPython's own typeshed.

test_static.py checks firmware/ against the MicroPython ESP32 stubs, which replace the
CPython typeshed; the code that runs on the host needs the opposite, so it has its own
project, pyright-host.json: pyright's default typeshed, basic mode, the firmware and the
CPython shim on the import path (as conftest.py sets it up for pytest).

Left out there: tools/bench_heap.py, tools/bench_crypto.py and host_tests/run_mp.py, which
run under the MicroPython unix port (gc.mem_alloc, sys.print_exception are not CPython). Files that had
errors when this check arrived get, in an execution environment of their own, exactly the
rules they broke lowered to warnings (still printed); every other file, and every new one,
gets the full basic check.
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


def test_host_code_type_checks_against_cpython_typeshed():
    r = subprocess.run([os.path.join(BIN, "pyright"), "-p", "pyright-host.json", "--outputjson"], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    try:
        report = json.loads(r.stdout)
    except ValueError:
        raise AssertionError("pyright gave no report:\n" + r.stdout + r.stderr)
    errors = ["%s:%d: %s (%s)" % (os.path.relpath(d["file"], ROOT), d["range"]["start"]["line"] + 1, d["message"],
                                  d.get("rule", ""))
              for d in report["generalDiagnostics"] if d["severity"] == "error"]
    assert not errors, "\n".join(errors)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    # the check did look at the code: tools and tests, this repository's own CLIs among them
    assert report["summary"]["filesAnalyzed"] >= 20


def test_host_config_checks_tools_and_tests_with_cpython_typeshed():
    with open(os.path.join(ROOT, "pyright-host.json")) as f:
        cfg = json.load(f)
    assert set(cfg["include"]) == {"tools", "host_tests"}
    assert "typeshedPath" not in cfg and "stubPath" not in cfg  # CPython's typeshed, not MicroPython's
    assert cfg["typeCheckingMode"] in ("basic", "standard", "strict")
    # a file-wide exclusion only for code that runs under MicroPython
    assert set(cfg["exclude"]) <= {"**/__pycache__", "tools/bench_heap.py", "tools/bench_crypto.py", "host_tests/run_mp.py"}
    lowered = {env["root"] for env in cfg.get("executionEnvironments", []) if env["root"] != "."}
    for mine in ("tools/flash.py", "tools/deploy.py", "tools/board_config.py", "host_tests/pty_board.py",
                 "host_tests/test_boards.py", "host_tests/test_deploy.py", "host_tests/test_static_host.py"):
        assert mine not in lowered
