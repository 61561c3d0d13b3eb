"""Suppression comments on the reported line, and per-file-ignores.

`# pgforklint: ignore[PGF001,PGF002]` trailing on the reported line or alone on the line above it,
in every format with `#` comments; `# noqa: PGF001` in Python. A bare `# noqa` (no codes) does not
silence pgforklint: it is too easy to write for another tool.
"""

from __future__ import annotations

import re

import pathspec

from pgforklint.diagnostics import Diagnostic

_PGFORKLINT = re.compile(r"#\s*pgforklint:\s*ignore\[([A-Za-z0-9_,\s]+)\]", re.IGNORECASE)
_NOQA = re.compile(r"#\s*noqa:\s*([A-Za-z0-9_,\s]+)", re.IGNORECASE)


def _codes(text: str) -> set[str]:
    return {c.strip().upper() for c in re.split(r"[,\s]+", text) if c.strip()}


def line_suppresses(line: str, code: str, python: bool) -> bool:
    for match in _PGFORKLINT.finditer(line):
        if any(code.startswith(c) for c in _codes(match.group(1))):
            return True
    if python:
        for match in _NOQA.finditer(line):
            if any(code.startswith(c) for c in _codes(match.group(1))):
                return True
    return False


def is_suppressed(diagnostic: Diagnostic, lines: list[str] | None) -> bool:
    if not lines:
        return False
    index = diagnostic.location.line - 1
    python = diagnostic.location.path.endswith((".py", ".pyw"))
    if 0 <= index < len(lines) and line_suppresses(lines[index], diagnostic.code, python):
        return True
    if 1 <= index <= len(lines):
        above = lines[index - 1].strip()
        if above.startswith("#") and _PGFORKLINT.search(above) and line_suppresses(above, diagnostic.code, False):
            return True
    return False


class PerFileIgnores:
    def __init__(self, table: dict[str, list[str]], base_prefix: str = ""):
        self.entries = [(pathspec.GitIgnoreSpec.from_lines([pattern]), [c.upper() for c in codes])
                        for pattern, codes in table.items()]
        self.base_prefix = base_prefix

    def ignores(self, diagnostic: Diagnostic) -> bool:
        path = diagnostic.location.path
        if self.base_prefix:
            if not path.startswith(self.base_prefix + "/"):
                return False
            path = path[len(self.base_prefix) + 1:]
        for spec, codes in self.entries:
            if spec.match_file(path) and any(diagnostic.code.startswith(c) for c in codes):
                return True
        return False
