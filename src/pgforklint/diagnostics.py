"""The one diagnostic model every rule produces and every reporter renders."""

from __future__ import annotations

import enum
from dataclasses import field

from pgforklint.records import record


class Severity(enum.IntEnum):
    INFO = 0
    WARNING = 1
    ERROR = 2

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> "Severity":
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r} (expected info, warning or error)") from None


@record(frozen=True, order=True)
class Location:
    """A place in a file. `path` is relative to the project root, '/'-separated; lines and columns are 1-based."""

    path: str
    line: int = 1
    column: int = 1
    end_line: int | None = None
    end_column: int | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@record(frozen=True)
class Related:
    location: Location
    message: str


@record(frozen=True)
class FixInfo:
    """A fix `pgforklint --fix` can apply: `applicability` is "safe" or "unsafe" (needs --unsafe-fixes)."""

    applicability: str
    message: str


@record(frozen=True)
class Diagnostic:
    """`message` is the full explanation (JSON, SARIF, `--format concise`); `title` the headline of at most
    about 100 characters (what is wrong, for the text format's first line) and `help` the one-line fix."""

    code: str
    location: Location
    message: str
    related: tuple[Related, ...] = ()
    # Why `--fix` has no automatic fix for this finding (set by `pgforklint.fix.annotate`).
    fix_hint: str | None = None
    # A semantic key (process type, engine, setting) for fingerprints that survive line shifts.
    key: str = ""
    severity_override: Severity | None = field(default=None, compare=False)
    # Set by `pgforklint.fix.annotate` when a fix exists for this finding.
    fix: FixInfo | None = field(default=None, compare=False)
    title: str = field(default="", compare=False)
    help: str = field(default="", compare=False)

    @property
    def name(self) -> str:
        from pgforklint.registry import RULES

        return RULES[self.code].name

    @property
    def severity(self) -> Severity:
        if self.severity_override is not None:
            return self.severity_override
        from pgforklint.registry import RULES

        return RULES[self.code].severity

    @property
    def headline(self) -> str:
        """The title, else the message up to its first clause (for diagnostics that have no title)."""
        if self.title:
            return self.title
        if len(self.message) <= 100:
            return self.message
        first = self.message.split("; ", 1)[0]
        return first if len(first) <= 100 else first[:99].rstrip() + "\u2026"

    def sort_key(self) -> tuple:
        loc = self.location
        return (loc.path, loc.line, loc.column, self.code, self.message)
