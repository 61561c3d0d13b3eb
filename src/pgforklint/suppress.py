"""Suppression comments on the reported line, and per-file-ignores.

- `# pgforklint: ignore[PGF001,PGF002]` trailing on the reported line, or on a comment-only line in the
  block of comment lines directly above it, in every format with `#` comments (Python, YAML, TOML, INI,
  Procfile, Dockerfile, shell, .env ...). Not in JSON, which has no comments.
- `# noqa: PGF001` trailing on the reported line, in Python only (flake8/Ruff convention).

Codes must be written in full (`PGF001`); a bare `# noqa` or `# pgforklint: ignore` without codes does
not silence pgforklint (too easy to write for another tool, and it would hide future findings).
`per-file-ignores` takes codes or prefixes.
"""

from __future__ import annotations

import re

from pgforklint.diagnostics import Diagnostic
from pgforklint.ignore import PatternFile

_CODE_LIST = r"[A-Za-z]+[0-9]+(?:\s*,\s*[A-Za-z]+[0-9]+|\s+[A-Za-z]+[0-9]+)*"
_PGFORKLINT = re.compile(r"#\s*pgforklint\s*:\s*ignore\s*\[\s*(" + _CODE_LIST + r")\s*,?\s*\]", re.IGNORECASE)
_NOQA = re.compile(r"#\s*noqa\s*:\s*(" + _CODE_LIST + r")", re.IGNORECASE)
_NO_COMMENTS = (".json",)


def codes_in(text: str) -> set[str]:
    return {c.upper() for c in re.split(r"[,\s]+", text) if c}


def line_suppresses(line: str, code: str, python: bool) -> bool:
    """Whether a suppression comment on `line` names `code`."""
    if "#" not in line:
        return False
    code = code.upper()
    for match in _PGFORKLINT.finditer(line):
        if code in codes_in(match.group(1)):
            return True
    if python:
        for match in _NOQA.finditer(line):
            if code in codes_in(match.group(1)):
                return True
    return False


def is_suppressed(diagnostic: Diagnostic, lines: list[str] | None) -> bool:
    if not lines:
        return False
    path = diagnostic.location.path.lower()
    if path.endswith(_NO_COMMENTS):
        return False
    python = path.endswith((".py", ".pyw", ".pyi"))
    index = diagnostic.location.line - 1
    if not 0 <= index < len(lines):
        return False
    if line_suppresses(lines[index], diagnostic.code, python):
        return True
    above = index - 1
    while above >= 0:
        stripped = lines[above].strip()
        if not stripped.startswith("#"):
            break
        if line_suppresses(stripped, diagnostic.code, python=False):
            return True
        above -= 1
    return False


class PerFileIgnores:
    """`per-file-ignores`: gitignore-style globs relative to the config file's folder -> codes or prefixes."""

    def __init__(self, table: dict[str, list[str]], base_prefix: str = "", root_prefix: str = ""):
        """`base_prefix`: the config folder relative to the linted root (config inside the tree);
        `root_prefix`: the linted root relative to the config folder (config above the tree)."""
        self.entries = [(PatternFile([pattern]), [c.strip().upper() for c in codes])
                        for pattern, codes in sorted(table.items())]
        self.base_prefix = base_prefix
        self.root_prefix = root_prefix

    def ignores(self, diagnostic: Diagnostic) -> bool:
        path = diagnostic.location.path
        if self.base_prefix:
            if not path.startswith(self.base_prefix + "/"):
                return False
            path = path[len(self.base_prefix) + 1:]
        elif self.root_prefix:
            path = f"{self.root_prefix}/{path}"
        for spec, codes in self.entries:
            if spec.excludes(path) and any(c == "ALL" or diagnostic.code.startswith(c) for c in codes):
                return True
        return False
