"""docs/properties.md is generated from the class declarations: it must be what
tools/gen_props_doc.py writes from them now, so it cannot drift from the firmware."""
import difflib

from tools import gen_props_doc


def test_properties_doc_is_current():
    want = gen_props_doc.generate()
    try:
        with open(gen_props_doc.OUT, encoding="utf-8") as f:
            have = f.read()
    except FileNotFoundError:
        have = ""
    if have != want:
        diff = "".join(
            list(difflib.unified_diff(have.splitlines(True), want.splitlines(True), "docs/properties.md", "generated"))[:40]
        )
        raise AssertionError(
            "docs/properties.md is out of date: run `.venv/bin/python tools/gen_props_doc.py`\n" + diff
        )


def test_every_class_is_documented():
    text = gen_props_doc.generate()
    for code, path, attr, _table, _mod in gen_props_doc.declarations():
        assert "## 0x%04X " % code in text, "%s %s missing from docs/properties.md" % (path, attr)
