"""The design document lives in the repository (docs/design.md) and every citation of it resolves.

Code, tests and docs cite it as "docs/design.md sN" (or "sN-M"); N must be a "## N." section of
the document. No file cites a "DESIGN.md" outside the repository. Reads files only (no JAX).
"""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "design.md")
# Where the document is cited (the trees are walked for text files).
CITING = ("flowrl_mjx", "envs", "launch", "tests", "README.md", "WORKSPACE.md", "pyproject.toml")
TEXT = (".py", ".md", ".toml", ".txt", ".cfg", ".ipynb", ".sh")
CITATION = re.compile(r"docs/design\.md,? s(?:ection )?(\d+)(?:\s*-\s*(\d+))?")
ANY_DESIGN = re.compile(r"design\.md", re.IGNORECASE)


def _files():
    this = os.path.abspath(__file__)
    for name in CITING:
        path = os.path.join(ROOT, name)
        if os.path.isfile(path):
            yield path
            continue
        for folder, dirs, files in os.walk(path):
            dirs[:] = [d for d in dirs if not d.startswith((".", "__pycache__"))]
            for f in files:
                full = os.path.join(folder, f)
                if f.endswith(TEXT) and os.path.abspath(full) != this:
                    yield full


def _read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def _sections():
    return {int(m) for m in re.findall(r"^## (\d+)\.", _read(DOC), re.MULTILINE)}


def test_design_doc_exists_with_numbered_sections():
    assert os.path.isfile(DOC)
    assert _sections() >= set(range(1, 7)), sorted(_sections())


def test_no_citation_of_a_design_file_outside_the_repo():
    bad = []
    for path in _files():
        for lineno, line in enumerate(_read(path).splitlines(), start=1):
            for m in ANY_DESIGN.finditer(line):
                start = m.start()
                if line[max(0, start - 5) : m.end()] != "docs/design.md":
                    bad.append(f"{os.path.relpath(path, ROOT)}:{lineno}: {line.strip()}")
    assert not bad, "cite docs/design.md, not another design file:\n" + "\n".join(bad)


def test_every_cited_section_exists():
    sections, bad, cited = _sections(), [], 0
    for path in _files():
        for lineno, line in enumerate(_read(path).splitlines(), start=1):
            for m in CITATION.finditer(line):
                first = int(m.group(1))
                last = int(m.group(2)) if m.group(2) else first
                cited += 1
                missing = [n for n in range(first, last + 1) if n not in sections]
                if missing or last < first:
                    bad.append(f"{os.path.relpath(path, ROOT)}:{lineno}: {m.group(0)}")
    assert cited, "no citation of docs/design.md found: is the pattern still right?"
    assert not bad, "cited sections missing from docs/design.md:\n" + "\n".join(bad)
