"""`Gemfile.lock`: the resolved version of each gem (rails, activerecord, puma, unicorn, sidekiq, ...).

A fixed indentation format written by Bundler: under `GEM` / `specs:`, four spaces and `name (version)` is a
resolved gem, six spaces a dependency of the gem above. Read by hand: no Ruby, no Bundler.
"""

from __future__ import annotations

from pgforklint.records import record
from pgforklint.read.text import read_text


@record(eq=False)
class GemVersions:
    versions: dict  # gem name -> (version tuple, line)
    path: str = ""

    def version(self, name: str) -> tuple | None:
        found = self.versions.get(name)
        return found[0] if found else None

    def line(self, name: str) -> int | None:
        found = self.versions.get(name)
        return found[1] if found else None

    def text(self, name: str) -> str:
        found = self.versions.get(name)
        return ".".join(str(p) for p in found[0]) if found else "?"


def parse_gemfile_lock(text: str) -> GemVersions:
    """`    rails (8.1.2)` lines of the `specs:` sections (four spaces: a resolved gem, six: a dependency)."""
    versions: dict = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.startswith("    ") or raw.startswith("     "):
            continue
        body = raw.strip()
        if " (" not in body or not body.endswith(")"):
            continue
        name, _, version = body.partition(" (")
        version = version[:-1].split("-", 1)[0]
        parts = []
        for piece in version.split("."):
            if piece.isdigit():
                parts.append(int(piece))
            else:
                break
        if parts and name not in versions:
            versions[name] = (tuple(parts), number)
    return GemVersions(versions)


def read_gemfile_lock(path) -> GemVersions:
    return parse_gemfile_lock(read_text(path))
