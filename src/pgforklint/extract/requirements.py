"""Which distributions a project declares: requirements files, pyproject.toml, lock files.

Names are normalised (PEP 503: lower case, runs of `-_.` as `-`). Versions are kept when pinned, and every
specifier clause is kept (`==1.3.24`, `<1.4`, `~=1.3.0`, `1.3.*`, Poetry's `^1.3`/`~1.3`) so that
`version_range` can tell whether every version a project allows is at least some cut-off (for example
SQLAlchemy 1.4.33, which added `Engine.dispose(close=False)`). Sources: `requirements*.txt` and
`constraints*.txt` (with their `-r`/`-c` includes), `pyproject.toml` (PEP 621 and Poetry), `setup.cfg`
(`install_requires`), `Pipfile`/`Pipfile.lock`, `poetry.lock`, `uv.lock`, `pdm.lock`.
"""

from __future__ import annotations

import re
from dataclasses import field

from pgforklint.diagnostics import Location
from pgforklint.discover import FileKind
from pgforklint.project import Project
from pgforklint.records import record

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(?:(==|===|>=|~=|<=|>|<|!=)\s*([A-Za-z0-9.*+!_-]+))?")
_CLAUSE = re.compile(r"(===|==|>=|~=|<=|!=|>|<|\^|~)\s*([0-9][A-Za-z0-9.*+!_-]*)")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@record
class Requirement:
    name: str  # normalised
    version: str | None
    extras: tuple[str, ...]
    location: Location
    clauses: tuple[tuple[str, str], ...] = ()  # (operator, version): ("<", "1.4"), ("==", "1.3.*"), ("^", "1.3")


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
    version = match.group(4) if match.group(3) in ("==", "===") and "*" not in (match.group(4) or "") else None
    clauses = tuple(_CLAUSE.findall(text[match.end(2) if match.group(2) else match.end(1):]))
    return Requirement(normalise(match.group(1)), version, extras, location, clauses)


def _requirement_files(project: Project) -> list[str]:
    """Requirement files, each followed by the files its `-r`/`-c` lines include (relative to it)."""
    import posixpath

    known = {source.rel for source in project.files(FileKind.REQUIREMENTS)}
    ordered: list[str] = []
    pending = sorted(known)
    while pending:
        rel = pending.pop(0)
        if rel in ordered:
            continue
        ordered.append(rel)
        for line in (project.text(rel) or "").splitlines():
            match = re.match(r"\s*(?:-r|-c|--requirement|--constraint)[\s=]+(\S+)", line)
            if match:
                target = posixpath.normpath(posixpath.join(posixpath.dirname(rel), match.group(1)))
                if target not in ordered and project.text(target) is not None:
                    pending.insert(0, target)
    return ordered


def read_requirements(project: Project) -> Requirements:
    cache_key = ("requirements", "")
    cached = project._cache.get(cache_key)
    if cached is not None:
        return cached
    result = Requirements()
    for rel in _requirement_files(project):
        text = project.text(rel)
        for number, line in enumerate((text or "").splitlines(), start=1):
            requirement = _parse_line(line, Location(rel, number))
            if requirement:
                result.add(requirement)
    for source in project.files(FileKind.INI):
        if source.name != "setup.cfg":
            continue
        text = project.text(source.rel) or ""
        block = re.search(r"^install_requires\s*=\s*\n((?:[ \t]+\S.*\n?)+)", text, re.MULTILINE)
        if block:
            first = text[: block.start(1)].count("\n") + 1
            for offset, line in enumerate(block.group(1).splitlines()):
                requirement = _parse_line(line, Location(source.rel, first + offset))
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
                for name, spec in table.items():
                    spec = spec.get("version") if isinstance(spec, dict) else spec
                    text = str(spec).strip() if isinstance(spec, str) else ""
                    if text and text[0].isdigit():
                        text = "==" + text  # Poetry: a bare version is exact
                    lines.append(f"{name} {text}" if text and text != "*" else str(name))
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
                result.add(Requirement(normalise(match.group(1)), match.group(2), (), Location(source.rel, line),
                                       (("==", match.group(2)),)))
        elif source.name.lower() == "pipfile.lock":
            for match in re.finditer(r'^\s{8}"([A-Za-z0-9._-]+)":\s*\{', text, re.MULTILINE):
                line = text[: match.start()].count("\n") + 1
                pinned = re.match(r'[^}]*?"version":\s*"==([^"]+)"', text[match.end():match.end() + 2000], re.DOTALL)
                version = pinned.group(1) if pinned else None
                result.add(Requirement(normalise(match.group(1)), version, (), Location(source.rel, line),
                                       (("==", version),) if version else ()))
        elif source.name.lower() == "pipfile":
            for number, line in enumerate(text.splitlines(), start=1):
                match = re.match(r'\s*"?([A-Za-z0-9][A-Za-z0-9._-]*)"?\s*=\s*"([^"]*)"', line)
                if match and match.group(2) != "*":
                    requirement = _parse_line(f"{match.group(1)} {match.group(2)}", Location(source.rel, number))
                    if requirement:
                        result.add(requirement)
    project._cache[cache_key] = result
    return result


# --- version ranges ------------------------------------------------------------------------------


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version.split("+", 1)[0])[:4])


def _bounds(operator: str, version: str) -> tuple[tuple[int, ...] | None, tuple[int, ...] | None]:
    """(lowest allowed, first excluded above) for one clause; None for an open side."""
    wildcard = version.endswith(".*")
    numbers = _numbers(version)
    if not numbers:
        return None, None
    if operator in ("==", "===") and wildcard:
        return numbers, (*numbers[:-1], numbers[-1] + 1)
    if operator in ("==", "==="):
        return numbers, (*numbers, 0, 0, 1)[:max(len(numbers) + 1, 4)]
    if operator == ">=":
        return numbers, None
    if operator == ">":
        return (*numbers, 0, 0, 1)[:max(len(numbers) + 1, 4)], None
    if operator == "<":
        return None, numbers
    if operator == "<=":
        return None, (*numbers, 0, 0, 1)[:max(len(numbers) + 1, 4)]
    if operator == "~=" and len(numbers) >= 2:  # ~=1.3.0: >=1.3.0, ==1.3.*
        return numbers, (*numbers[:-2], numbers[-2] + 1)
    if operator == "^":  # Poetry: the leftmost non-zero component is kept
        index = next((i for i, n in enumerate(numbers) if n), len(numbers) - 1)
        return numbers, (*numbers[:index], numbers[index] + 1)
    if operator == "~":  # Poetry: ~1.3 -> >=1.3,<1.4; ~1 -> >=1,<2
        index = 1 if len(numbers) >= 2 else 0
        return numbers, (*numbers[:index], numbers[index] + 1)
    return None, None


def _pad(version: tuple[int, ...]) -> tuple[int, ...]:
    return (*version, 0, 0, 0, 0)[:4]


@record
class VersionRange:
    """What a project allows of one distribution: `lowest` and `below` (first excluded) over all clauses."""

    name: str
    lowest: tuple[int, ...] | None
    below: tuple[int, ...] | None
    where: Location | None
    text: str  # how the project says it: `SQLAlchemy==1.3.24 (requirements.txt)`

    @property
    def known(self) -> bool:
        return self.lowest is not None or self.below is not None

    def at_least(self, cutoff: tuple[int, ...]) -> bool | None:
        """True: every allowed version is >= cutoff; False: every one is below; None: cannot tell."""
        if self.lowest is not None and _pad(self.lowest) >= _pad(cutoff):
            return True
        if self.below is not None and _pad(self.below) <= _pad(cutoff):
            return False
        return None


def version_range(project: Project, name: str) -> VersionRange:
    """The versions of `name` the project allows, from every declaration (a lock file's exact pin wins)."""
    requirements = read_requirements(project).items.get(normalise(name), [])
    lowest: tuple[int, ...] | None = None
    below: tuple[int, ...] | None = None
    said: list[str] = []
    where: Location | None = None
    locked = [r for r in requirements if r.location.path.rsplit("/", 1)[-1].lower().endswith(".lock") and r.version]
    for requirement in locked[:1] or requirements:
        for operator, version in requirement.clauses:
            low, high = _bounds(operator, version)
            if low is not None and (lowest is None or _pad(low) > _pad(lowest)):
                lowest = low
            if high is not None and (below is None or _pad(high) < _pad(below)):
                below = high
            said.append(f"{operator}{version}")
            where = where or requirement.location
    text = f"{name}{','.join(dict.fromkeys(said))}" + (f" ({where.path})" if where else "")
    return VersionRange(normalise(name), lowest, below, where, text)
