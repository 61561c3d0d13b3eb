"""One harness for every fixture project: the exact set of (code, path, line) must match the
`# expect: CODE[, CODE]` comments written on the lines where findings must appear.

Formats without comments (JSON) list their expectations in `<fixture>/.expect`, one
`path:line CODE` per line.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pgforklint.analyze import lint_project
from pgforklint.config import find_config

FIXTURES = Path(__file__).parent / "fixtures"
EXPECT = re.compile(r"#\s*expect:\s*((?:PGF\d{3}[\s,]*)+)")


def expectations(root: Path) -> set[tuple[str, str, int]]:
    found = set()
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        rel = path.relative_to(root).as_posix()
        if rel == ".expect":
            for raw in path.read_text(encoding="utf-8").splitlines():
                raw = raw.strip()
                if raw and not raw.startswith("#"):
                    where, code = raw.split()
                    file, line = where.rsplit(":", 1)
                    found.add((code, file, int(line)))
            continue
        try:
            text = path.read_bytes().decode("utf-8", errors="replace")
        except OSError:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            match = EXPECT.search(line)
            if match:
                for code in re.findall(r"PGF\d{3}", match.group(1)):
                    found.add((code, rel, number))
    return found


EXAMPLES = Path(__file__).parent.parent / "examples"


def fixture_dirs() -> list[Path]:
    """Every fixture, and the bundled examples (the README shows their findings)."""
    examples = sorted(p for p in EXAMPLES.iterdir() if p.is_dir()) if EXAMPLES.is_dir() else []
    return sorted(p for p in FIXTURES.iterdir() if p.is_dir()) + examples


@pytest.mark.parametrize("fixture", fixture_dirs(), ids=lambda p: p.name)
def test_fixture(fixture: Path) -> None:
    result = lint_project(fixture, find_config(fixture))
    actual = {(d.code, d.location.path, d.location.line) for d in result.diagnostics}
    expected = expectations(fixture)
    missing = sorted(expected - actual)
    extra = sorted(actual - expected)
    details = "\n".join(f"  {d.location.path}:{d.location.line} {d.code} {d.message}" for d in result.diagnostics)
    assert not missing and not extra, f"missing: {missing}\nextra: {extra}\nall findings:\n{details}"
