"""Suppression comments on the reported line, and per-file-ignores.

- `# pgforklint: ignore[PGF001,PGF002]` trailing on the reported line, or on a comment-only line in the
  block of comment lines directly above it, in every format with `#` comments (Python, YAML, TOML, INI,
  Procfile, Dockerfile, shell, .env ...). Not in JSON, which has no comments.
- `# noqa: PGF001` trailing on the reported line, in Python only (flake8/Ruff convention).
- A suppression that silences nothing, or names a code pgforklint does not have, is reported as PGF103
  (ruff's RUF100), with a fix that removes it; `noqa` codes of other tools (`E501`) are left alone.
- Lines are numbered as the parsers number them (`\n`, `\r\n`, `\r` only).

Codes must be written in full (`PGF001`); a bare `# noqa` or `# pgforklint: ignore` without codes does
not silence pgforklint (too easy to write for another tool, and it would hide future findings).
`per-file-ignores` takes codes or prefixes.
"""

from __future__ import annotations

import re

from pgforklint.diagnostics import Diagnostic
from pgforklint.ignore import PatternFile
from pgforklint.records import record

_CODE_LIST = r"[A-Za-z]+[0-9]+(?:\s*,\s*[A-Za-z]+[0-9]+|\s+[A-Za-z]+[0-9]+)*"
_PGFORKLINT = re.compile(r"#\s*pgforklint\s*:\s*ignore\s*\[\s*(" + _CODE_LIST + r")\s*,?\s*\]", re.IGNORECASE)
_NOQA = re.compile(r"#\s*noqa\s*:\s*(" + _CODE_LIST + r")", re.IGNORECASE)
_NO_COMMENTS = (".json",)
_PYTHON = (".py", ".pyw", ".pyi")
# Only `\n`, `\r\n` and `\r` end a line, as for the parsers (ast, the YAML and INI readers): a form feed,
# vertical tab or U+2028 earlier in the file must not shift which line a comment applies to.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_MAYBE = re.compile(rb"noqa|pgforklint", re.IGNORECASE)


def codes_in(text: str) -> set[str]:
    return {c.upper() for c in re.split(r"[,\s]+", text) if c}


def split_lines(text: str) -> list[str]:
    """The lines of `text` numbered as the parsers number them."""
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def comments_allowed(path: str) -> bool:
    return not path.lower().endswith(_NO_COMMENTS)


def is_python(path: str) -> bool:
    return path.lower().endswith(_PYTHON)


@record(frozen=True)
class Suppression:
    """One suppression comment: `# pgforklint: ignore[...]` (kind "ignore") or `# noqa: ...` (kind "noqa")."""

    line: int  # 1-based
    column: int  # 1-based, the `#`
    end_column: int  # exclusive
    kind: str
    codes: tuple[str, ...]  # upper-case, in the order written
    own_line: bool  # the comment is the whole line

    def names(self, code: str) -> bool:
        return code.upper() in self.codes


def suppressions_on(line_text: str, number: int, python: bool) -> list[Suppression]:
    if "#" not in line_text:
        return []
    found = []
    own_line = line_text.lstrip().startswith("#")
    patterns = [("ignore", _PGFORKLINT)] + ([("noqa", _NOQA)] if python else [])
    for kind, pattern in patterns:
        for match in pattern.finditer(line_text):
            codes = tuple(dict.fromkeys(c.upper() for c in re.split(r"[,\s]+", match.group(1)) if c))
            found.append(Suppression(number, match.start() + 1, match.end() + 1, kind, codes, own_line))
    return found


def line_suppresses(line: str, code: str, python: bool) -> bool:
    """Whether a suppression comment on `line` names `code`."""
    return any(s.names(code) for s in suppressions_on(line, 1, python))


def suppression_for(diagnostic: Diagnostic, lines: list[str] | None) -> Suppression | None:
    """The comment that silences `diagnostic`: on its line, or in the block of comment lines directly above."""
    if not lines:
        return None
    path = diagnostic.location.path
    if not comments_allowed(path):
        return None
    python = is_python(path)
    index = diagnostic.location.line - 1
    if not 0 <= index < len(lines):
        return None
    for found in suppressions_on(lines[index], index + 1, python):
        if found.names(diagnostic.code):
            return found
    above = index - 1
    while above >= 0:
        stripped = lines[above].strip()
        if not stripped.startswith("#"):
            break
        for found in suppressions_on(lines[above], above + 1, python=False):
            if found.names(diagnostic.code):
                return found
        above -= 1
    return None


def is_suppressed(diagnostic: Diagnostic, lines: list[str] | None) -> bool:
    return suppression_for(diagnostic, lines) is not None


def file_suppressions(path: str, data: bytes) -> list[Suppression]:
    """Every suppression comment of a file (`data`: its bytes, at most the size cap)."""
    if not comments_allowed(path) or not _MAYBE.search(data):
        return []
    python = is_python(path)
    out = []
    for number, line in enumerate(split_lines(data.decode("utf-8", errors="replace")), start=1):
        if "#" in line:
            out.extend(suppressions_on(line, number, python))
    return out


def is_ours(kind: str, code: str) -> bool:
    """`# pgforklint: ignore[...]` codes are all pgforklint's; in `# noqa: ...` only PGF codes are."""
    return kind == "ignore" or code.upper().startswith("PGF")


class EditError(Exception):
    """The comment to edit is not where the finding says (the fixer skips the file with this reason)."""


def remove_codes(text: str, line: int, column: int, kind: str, codes: set[str]) -> str:
    """`text` with `codes` taken out of the suppression comment at `line`/`column` (the `#`): the comment
    goes when no code is left, and the line when it held nothing else."""
    parts = re.split(r"(\r\n|\r|\n)", text)  # even indexes: lines, odd: their line breaks
    index = (line - 1) * 2
    if index >= len(parts):
        raise EditError("the suppression comment is no longer there")
    current = parts[index]
    pattern = _PGFORKLINT if kind == "ignore" else _NOQA
    match = pattern.match(current, column - 1)
    if match is None:
        raise EditError("the suppression comment is no longer there")
    written = [c for c in re.split(r"[,\s]+", match.group(1)) if c]
    kept = [c for c in written if c.upper() not in codes]
    if kept:
        replacement = f"# pgforklint: ignore[{', '.join(kept)}]" if kind == "ignore" else f"# noqa: {', '.join(kept)}"
        parts[index] = current[: match.start()] + replacement + current[match.end():]
        return "".join(parts)
    rest = current[: match.start()].rstrip() + current[match.end():]
    if rest.strip():
        parts[index] = rest.rstrip() if not current[match.end():].strip() else rest
        return "".join(parts)
    del parts[index: index + 2]  # the line held only the comment: drop it with its line break
    return "".join(parts)


def removal_fix(diagnostic: Diagnostic):
    """PGF103's fix: take the unused or unknown codes out of the comment (safe: it silences nothing)."""
    from pgforklint.fix.base import Applicability, Edit, Fix

    loc = diagnostic.location
    codes = set(diagnostic.key.rsplit(":", 1)[-1].split(","))
    kind = diagnostic.key.split(":", 1)[0]
    edit = Edit(loc.path, lambda text: remove_codes(text, loc.line, loc.column, kind, codes),
                order=(0, -loc.line, -loc.column), python=is_python(loc.path),
                description=f"remove {', '.join(sorted(codes))}")
    return Fix(Applicability.SAFE, f"remove {', '.join(sorted(codes))} from the suppression comment", [edit])


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
