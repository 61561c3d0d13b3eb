"""Reporters: one per output format, all rendering the same `Diagnostic` list.

Paths in the diagnostics a reporter gets are relative to the repository root (`Paths.base`, the git
top-level of the first linted path), so that fingerprints, GitHub annotations and SARIF URIs do not
depend on the folder pgforklint was started from; each reporter turns them into what its reader
resolves (`Paths.shown`: relative to the current folder for people, `Paths.github` for the Actions
runner, `Paths.uri` for SARIF).

Every string that comes from the repository (file names, service names, quoted values) is untrusted:
`printable` escapes control characters and lone surrogates (non-UTF-8 file names, `"\\ud800"` JSON
escapes) for the text formats, `unicode_safe` makes it encodable for JSON and SARIF.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pgforklint.diagnostics import Diagnostic, Location
from pgforklint.records import record

FORMATS = ("text", "concise", "json", "github", "sarif")

# Control characters (C0 but tab, DEL, C1), line and paragraph separators, bidi controls, and lone
# surrogates: none may reach a terminal or a log unescaped.
_UNPRINTABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
                          "\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_char(match: re.Match) -> str:
    char = match.group(0)
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8, as os.fsdecode's surrogateescape keeps it
        return f"\\x{code - 0xDC00:02x}"
    if char == "\n":
        return "\\n"
    if char == "\r":
        return "\\r"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with every control character, separator and lone surrogate written as an escape (`\\n`,
    `\\x1b`, `\\xe9` for a non-UTF-8 byte of a file name): one line, safe for a terminal and a log."""
    return _UNPRINTABLE.sub(_escape_char, text) if _UNPRINTABLE.search(text) else text


def unicode_safe(text: str) -> str:
    """`text` without lone surrogates (written as escapes), so that it encodes as UTF-8 for JSON/SARIF."""
    return _SURROGATE.sub(_escape_char, text) if _SURROGATE.search(text) else text


def repository_root(path: Path) -> Path:
    """Where repository-relative paths start: the git top-level of `path`; outside git, the
    `GITHUB_WORKSPACE` that contains it, else the current folder when it contains it, else `path`."""
    return _root_and_anchor(path)[0]


def _root_and_anchor(path: Path) -> tuple[Path, bool]:
    """(the root, whether the GitHub runner resolves paths from it: a git top-level or the workspace)."""
    from pgforklint.discover import git_top

    start = path.resolve()
    folder = start if start.is_dir() else start.parent
    top = git_top(folder)
    if top is not None:
        return top, True
    for candidate, anchored in ((os.environ.get("GITHUB_WORKSPACE", ""), True), (os.getcwd(), False)):
        if candidate:
            base = Path(candidate).resolve()
            if base == folder or base in folder.parents:
                return base, anchored
    return folder, False


def _relative(absolute: Path, start: Path) -> str:
    try:
        shown = os.path.relpath(absolute, start)
    except ValueError:  # another drive on Windows
        shown = str(absolute)
    return shown.replace(os.sep, "/")


def display_path(root: Path, rel: str, cwd: Path | None = None) -> str:
    """A project-relative path as seen from the current directory, '/'-separated."""
    return _relative(root / rel, cwd or Path.cwd())


def relocate(diagnostic: Diagnostic, root: Path, cwd: Path | None = None) -> Diagnostic:
    """The same diagnostic with every path relative to `cwd` (default: the current directory)."""
    from dataclasses import replace

    def move(location: Location) -> Location:
        return replace(location, path=display_path(root, location.path, cwd))

    related = tuple(replace(r, location=move(r.location)) for r in diagnostic.related)
    return replace(diagnostic, location=move(diagnostic.location), related=related)


@record(frozen=True)
class Paths:
    """How a repository-relative path is written for each reader."""

    base: Path  # the repository root, absolute
    cwd: Path  # the folder pgforklint was started from, absolute
    anchored: bool = True  # the runner resolves paths from `base` (a git top-level, the workspace)

    @classmethod
    def here(cls, base: Path | None = None) -> "Paths":
        cwd = Path.cwd()
        return cls(base=(base or cwd).resolve(), cwd=cwd.resolve())

    @classmethod
    def for_target(cls, target: Path) -> "Paths":
        """The paths of a run on `target` (the first linted path)."""
        base, anchored = _root_and_anchor(target)
        return cls(base=base, cwd=Path.cwd().resolve(), anchored=anchored)

    def absolute(self, rel: str) -> Path:
        return Path(os.path.normpath(self.base / rel))

    def shown(self, rel: str) -> str:
        """For people: relative to the current folder."""
        return rel if self.base == self.cwd else _relative(self.absolute(rel), self.cwd)

    def github(self, rel: str) -> str:
        """For the Actions runner, which resolves `file=` from the workspace root and only turns absolute
        paths into workspace-relative ones: repository-relative, or absolute when outside the repository."""
        if not self.anchored or rel == ".." or rel.startswith("../") or os.path.isabs(rel):
            return self.absolute(rel).as_posix()
        return rel

    def source_line(self, rel: str, line: int) -> str | None:
        """The line's text, for the excerpt under a finding; never read through a link that leaves the tree the
        paths are relative to (a repository's `gunicorn.conf.py -> /home/me/.secrets` is not printed)."""
        path = self.absolute(rel)
        try:
            Path(os.path.realpath(path)).relative_to(os.path.realpath(self.base))
        except ValueError:
            return None
        return source_lines(path).get(line)


_SOURCE_CACHE: dict[tuple, dict[int, str]] = {}
_MAX_SOURCE_BYTES = 4 * 1024 * 1024


def source_lines(path: Path) -> dict[int, str]:
    """Line number -> text of a regular file, at most 4 MiB of it (for source excerpts and fingerprints);
    read once per version of the file."""
    import stat

    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return {}
    if not stat.S_ISREG(info.st_mode):
        return {}
    key = (path, info.st_mtime_ns, info.st_size)
    cached = _SOURCE_CACHE.get(key)
    if cached is not None:
        return cached
    try:
        from pgforklint.safeio import read_regular

        data = read_regular(path, _MAX_SOURCE_BYTES)  # non-blocking, regular files only: never a FIFO swapped in
    except (OSError, ValueError):
        data = b""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    from pgforklint.suppress import split_lines

    text = data.decode("utf-8", errors="replace")
    lines = dict(enumerate(split_lines(text), start=1))
    if len(_SOURCE_CACHE) > 256:
        _SOURCE_CACHE.clear()
    _SOURCE_CACHE[key] = lines
    return lines


def ordered(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """By importance: errors first, then warnings, then infos; by path and line within each."""
    return sorted(diagnostics, key=lambda d: (-d.severity, d.sort_key()))
