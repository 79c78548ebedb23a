"""docs/security.md maps every JC-STAR ★1 criterion and every ETSI EN 303 645 provision
group, and every file it cites exists: a renamed module or test shows up here, not in a
reader's dead end. SECURITY.md keeps its placeholders marked and names no made-up contact."""
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DOC = os.path.join(ROOT, "docs", "security.md")
POLICY = os.path.join(ROOT, "SECURITY.md")
# what a cited path starts with: the repository's own top-level directories and files
TOP = ("firmware/", "tools/", "host_tests/", "boards/", "docs/")
TOP_FILES = ("README.md", "SECURITY.md", "Makefile", "pyproject.toml")


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def _rows(text):
    """The first cell of every table row."""
    return [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("|") and line.count("|") > 2]


def test_every_jc_star_criterion_has_a_row():
    firsts = _rows(_read(DOC))
    for n in range(1, 17):
        ident = "S1.1-%02d" % n
        assert ident in firsts, "docs/security.md has no table row for JC-STAR %s" % ident


def test_every_en_303_645_provision_group_is_mapped():
    text = _read(DOC)
    firsts = _rows(text)
    for n in range(1, 14):
        group = "5.%d" % n
        assert any(re.match(r"\*\*%s\s" % re.escape(group), c) for c in firsts), "no heading row for provision %s" % group
        assert any(re.match(r"%s-\d+" % re.escape(group), c) for c in firsts), "no sub-provision row for %s" % group
    assert any(c.startswith("**6 ") for c in firsts) and any(c.startswith("6-") for c in firsts)


def test_every_cited_path_exists():
    text = _read(DOC) + _read(POLICY)
    cited = set()
    for span in re.findall(r"`([^`\n]+)`", text) + re.findall(r"\]\(([^)]+)\)", text):
        for word in re.split(r"[\s,()]+", span):
            word = word.rstrip(".:;")
            if word.startswith("../") and not word.startswith("../shared"):
                word = os.path.normpath(os.path.join("docs", word))  # a link relative to docs/
            if word.startswith(TOP) or word in TOP_FILES:
                cited.add(word.split("::")[0].rstrip("/"))
    assert len(cited) > 40, "the citation scan found too little: %s" % sorted(cited)
    missing = []
    for path in sorted(cited):
        if "*" in path:  # boards/*/mpconfigboard.cmake: one per board
            boards = os.listdir(os.path.join(ROOT, "boards"))
            if not any(os.path.exists(os.path.join(ROOT, path.replace("*", b))) for b in boards):
                missing.append(path)
        elif not os.path.exists(os.path.join(ROOT, path)):
            missing.append(path)
    assert not missing, "docs/security.md or SECURITY.md cite paths that do not exist: %s" % missing


def test_cited_tests_exist():
    """Test names the documents give as evidence are real test functions."""
    text = _read(DOC)
    names = set(re.findall(r"`(?:[\w/]+\.py::)?(test_\w+)`", text))
    assert len(names) > 10
    defined = set()
    for d, _dirs, files in os.walk(HERE):
        for f in files:
            if f.endswith(".py"):
                defined |= set(re.findall(r"^\s*(?:async\s+)?def (test_\w+)", _read(os.path.join(d, f)), re.M))
    assert not names - defined, "docs/security.md names tests that do not exist: %s" % sorted(names - defined)


def test_security_policy_has_marked_placeholders_and_no_invented_contact():
    text = _read(POLICY)
    for heading in ("## Reporting a vulnerability", "## Coordinated disclosure", "## Support period",
                    "## Supported versions", "## Software bill of materials", "## security.txt"):
        assert heading in text, "SECURITY.md lacks %r" % heading
    assert "<MANUFACTURER: security contact" in text
    # no e-mail address at all: the contact is the manufacturer's to fill in
    assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", text), "SECURITY.md must not name a contact address"
    for version in ("MicroPython", "ESP-IDF", "mbedTLS", "3.6"):
        assert version in text


def test_cited_names_exist_in_their_files():
    """`path.py name` (a function, class, method or constant in that file) names something
    the file defines."""
    text = _read(DOC)
    pairs = re.findall(r"`((?:firmware|tools)/[\w/]+\.py) ([A-Za-z_][\w.]*)`", text)
    assert len(pairs) > 10
    missing = []
    for path, name in pairs:
        leaf = name.split(".")[-1]
        code = _read(os.path.join(ROOT, path))
        if not re.search(r"^\s*(?:async\s+def|def|class)\s+%s\b|^\s*%s\s*=" % (leaf, leaf), code, re.M):
            missing.append("%s %s" % (path, name))
    assert not missing, "docs/security.md names what these files do not define: %s" % missing
