"""Which distributions a project declares: requirements files, pyproject.toml, lock files.

Names are normalised (PEP 503: lower case, runs of `-_.` as `-`). Versions are kept when pinned.
"""

from __future__ import annotations

import re
from dataclasses import field

from pgforklint.diagnostics import Location
from pgforklint.discover import FileKind
from pgforklint.project import Project
from pgforklint.records import record

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(?:(==|===|>=|~=|<=|>|<|!=)\s*([A-Za-z0-9.*+!_-]+))?")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@record
class Requirement:
    name: str  # normalised
    version: str | None
    extras: tuple[str, ...]
    location: Location


@record
class Requirements:
    items: dict[str, list[Requirement]] = field(default_factory=dict)

    def add(self, requirement: Requirement) -> None:
        self.items.setdefault(requirement.name, []).append(requirement)

    def has(self, name: str) -> bool:
        return normalise(name) in self.items

    def get(self, name: str) -> Requirement | None:
        found = self.items.get(normalise(name))
        return found[0] if found else None

    def has_extra(self, name: str, extra: str) -> bool:
        return any(extra in r.extras for r in self.items.get(normalise(name), []))

    @property
    def known(self) -> bool:
        return bool(self.items)


def _parse_line(text: str, location: Location) -> Requirement | None:
    text = text.split("#", 1)[0].split(";", 1)[0].strip()
    if not text or text.startswith(("-", "git+", "http:", "https:", "file:")):
        return None
    match = _NAME.match(text)
    if not match:
        return None
    extras = tuple(e.strip().lower() for e in (match.group(2) or "").strip("[]").split(",") if e.strip())
    version = match.group(4) if match.group(3) in ("==", "===") else None
    return Requirement(normalise(match.group(1)), version, extras, location)


def read_requirements(project: Project) -> Requirements:
    cache_key = ("requirements", "")
    cached = project._cache.get(cache_key)
    if cached is not None:
        return cached
    result = Requirements()
    for source in project.files(FileKind.REQUIREMENTS):
        text = project.text(source.rel)
        for number, line in enumerate((text or "").splitlines(), start=1):
            requirement = _parse_line(line, Location(source.rel, number))
            if requirement:
                result.add(requirement)
    for source in project.files(FileKind.TOML):
        if source.name != "pyproject.toml":
            continue
        data = project.toml(source.rel) or {}
        project_table = data.get("project") if isinstance(data.get("project"), dict) else {}
        lines = list(project_table.get("dependencies") or [])
        for group in (project_table.get("optional-dependencies") or {}).values():
            lines.extend(group if isinstance(group, list) else [])
        poetry = ((data.get("tool") or {}).get("poetry") or {}) if isinstance(data.get("tool"), dict) else {}
        for table in (poetry.get("dependencies") or {}, (poetry.get("group") or {}).get("main", {}).get("dependencies") or {}):
            if isinstance(table, dict):
                lines.extend(str(name) for name in table)
        for line in lines:
            if isinstance(line, str):
                requirement = _parse_line(line, Location(source.rel, 1))
                if requirement:
                    result.add(requirement)
    for source in project.files(FileKind.LOCKFILE):
        text = project.text(source.rel) or ""
        if source.name in ("poetry.lock", "uv.lock", "pdm.lock"):
            for match in re.finditer(r'^name\s*=\s*"([^"]+)"\s*\nversion\s*=\s*"([^"]+)"', text, re.MULTILINE):
                line = text[: match.start()].count("\n") + 1
                result.add(Requirement(normalise(match.group(1)), match.group(2), (), Location(source.rel, line)))
        elif source.name.lower() == "pipfile.lock":
            for match in re.finditer(r'^\s{8}"([A-Za-z0-9._-]+)":\s*\{', text, re.MULTILINE):
                line = text[: match.start()].count("\n") + 1
                result.add(Requirement(normalise(match.group(1)), None, (), Location(source.rel, line)))
    project._cache[cache_key] = result
    return result
