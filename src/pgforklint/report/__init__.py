"""Reporters: one per output format, all rendering the same `Diagnostic` list."""

from __future__ import annotations

import os
from pathlib import Path

from pgforklint.diagnostics import Diagnostic, Location

FORMATS = ("text", "json", "github", "sarif")


def display_path(root: Path, rel: str, cwd: Path | None = None) -> str:
    """A project-relative path as seen from the current directory, '/'-separated."""
    cwd = cwd or Path.cwd()
    absolute = root / rel
    try:
        shown = os.path.relpath(absolute, cwd)
    except ValueError:  # another drive on Windows
        shown = str(absolute)
    return shown.replace(os.sep, "/")


def relocate(diagnostic: Diagnostic, root: Path, cwd: Path | None = None) -> Diagnostic:
    """The same diagnostic with every path shown relative to the current directory."""
    from dataclasses import replace

    def move(location: Location) -> Location:
        return replace(location, path=display_path(root, location.path, cwd))

    related = tuple(replace(r, location=move(r.location)) for r in diagnostic.related)
    return replace(diagnostic, location=move(diagnostic.location), related=related)
