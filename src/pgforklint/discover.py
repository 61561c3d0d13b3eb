"""Walk the project tree and classify the files that matter.

Respects `.gitignore` (pathspec's git semantics) and `exclude`, skips VCS folders, virtualenvs,
`node_modules` and build output, never leaves the tree through a symlink and never loops.
"""

from __future__ import annotations

import enum
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

SKIP_DIRS = {
    ".git", ".hg", ".svn", ".bzr", "node_modules", "__pycache__", ".tox", ".nox", ".venv", "venv",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", ".hypothesis", ".eggs", "build", "dist", "site-packages",
    ".pgforklint_cache", ".idea", ".vscode",
}

# Files larger than this are not parsed; one that matters becomes PGF100.
MAX_FILE_BYTES = 2 * 1024 * 1024


class FileKind(enum.Enum):
    PYTHON = "python"
    PROCFILE = "procfile"
    APP_JSON = "app.json"
    COMPOSE = "compose"
    YAML = "yaml"  # Kubernetes manifests, uWSGI yaml: decided by content
    INI = "ini"  # uWSGI, newrelic.ini, pgbouncer.ini, setup.cfg: decided by section
    TOML = "toml"
    JSON = "json"
    XML = "xml"
    DOCKERFILE = "dockerfile"
    SHELL = "shell"
    REQUIREMENTS = "requirements"
    LOCKFILE = "lockfile"
    ENV = "env"
    POSTGRESQL_CONF = "postgresql.conf"
    SYSTEMD = "systemd"


@dataclass(frozen=True)
class SourceFile:
    path: Path  # absolute
    rel: str  # relative to the project root, '/'-separated
    kind: FileKind
    size: int

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class Discovery:
    root: Path
    files: list[SourceFile] = field(default_factory=list)
    # (relative path, reason) for files that could not be listed or read at this stage
    problems: list[tuple[str, str]] = field(default_factory=list)

    def by_kind(self, *kinds: FileKind) -> list[SourceFile]:
        return [f for f in self.files if f.kind in kinds]

    def get(self, rel: str) -> SourceFile | None:
        return self._index().get(rel)

    def _index(self) -> dict[str, SourceFile]:
        index = getattr(self, "_rel_index", None)
        if index is None or len(index) != len(self.files):
            index = {f.rel: f for f in self.files}
            self._rel_index = index
        return index


def classify(name: str) -> FileKind | None:
    lower = name.lower()
    if lower.endswith((".py", ".pyw")):
        return FileKind.PYTHON
    if name == "Procfile" or name.startswith("Procfile."):
        return FileKind.PROCFILE
    if lower == "app.json":
        return FileKind.APP_JSON
    if lower.endswith((".yml", ".yaml")):
        if lower.startswith(("docker-compose", "compose")):
            return FileKind.COMPOSE
        return FileKind.YAML
    if lower == "postgresql.conf" or lower.endswith(".postgresql.conf"):
        return FileKind.POSTGRESQL_CONF
    if lower.endswith((".ini", ".cfg")):
        return FileKind.INI
    if lower.endswith(".toml"):
        return FileKind.TOML
    if lower.endswith(".json"):
        return FileKind.JSON
    if lower.endswith(".xml"):
        return FileKind.XML if "uwsgi" in lower else None
    if name == "Dockerfile" or name.startswith("Dockerfile.") or lower.endswith(".dockerfile") or lower == "containerfile":
        return FileKind.DOCKERFILE
    if lower.endswith((".sh", ".bash")):
        return FileKind.SHELL
    if lower.startswith("requirements") and lower.endswith((".txt", ".in")):
        return FileKind.REQUIREMENTS
    if lower in ("poetry.lock", "uv.lock", "pipfile.lock", "pdm.lock", "pipfile"):
        return FileKind.LOCKFILE
    if lower == ".env" or lower.startswith(".env.") or lower.endswith(".env"):
        return FileKind.ENV
    if lower.endswith(".service"):
        return FileKind.SYSTEMD
    return None


def _is_virtualenv(directory: Path) -> bool:
    return (directory / "pyvenv.cfg").is_file() or (directory / "conda-meta").is_dir()


class _IgnoreRules:
    """Stacked .gitignore files plus `exclude` patterns, evaluated on root-relative paths."""

    def __init__(self, root: Path, excludes: list[tuple[Path, list[str]]], respect_gitignore: bool):
        self.root = root
        self.respect_gitignore = respect_gitignore
        self.specs: list[tuple[str, pathspec.PathSpec]] = []  # (directory prefix relative to root, spec)
        for base, patterns in excludes:
            if patterns:
                try:
                    prefix = base.resolve().relative_to(root).as_posix()
                except ValueError:
                    prefix = ""
                self.specs.append(("" if prefix == "." else prefix, pathspec.GitIgnoreSpec.from_lines(patterns)))
        if respect_gitignore:
            info_exclude = root / ".git" / "info" / "exclude"
            if info_exclude.is_file():
                self._add_file("", info_exclude)

    def _add_file(self, prefix: str, file: Path) -> None:
        try:
            lines = file.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return
        self.specs.append((prefix, pathspec.GitIgnoreSpec.from_lines(lines)))

    def enter_directory(self, prefix: str, directory: Path) -> None:
        if self.respect_gitignore:
            gitignore = directory / ".gitignore"
            if gitignore.is_file():
                self._add_file(prefix, gitignore)

    def ignored(self, rel: str, is_dir: bool) -> bool:
        for prefix, spec in self.specs:
            if prefix:
                if not rel.startswith(prefix + "/"):
                    continue
                sub = rel[len(prefix) + 1 :]
            else:
                sub = rel
            if spec.match_file(sub + "/" if is_dir else sub):
                return True
        return False


def discover(root: Path, exclude: list[tuple[Path, list[str]]] = (), respect_gitignore: bool = True) -> Discovery:
    """List and classify the files under `root` (a directory), deterministically sorted."""
    root = root.resolve()
    result = Discovery(root=root)
    rules = _IgnoreRules(root, list(exclude), respect_gitignore)
    seen_dirs: set[tuple[int, int]] = set()

    def walk(directory: Path, prefix: str) -> None:
        try:
            st = directory.stat()
        except OSError as exc:
            result.problems.append((prefix or ".", f"cannot list directory: {exc.strerror}"))
            return
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            return
        seen_dirs.add(key)
        rules.enter_directory(prefix, directory)
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            result.problems.append((prefix or ".", f"cannot list directory: {exc.strerror or exc}"))
            return
        for entry in entries:
            rel = f"{prefix}/{entry.name}" if prefix else entry.name
            try:
                is_link = entry.is_symlink()
                if is_link:
                    target = Path(entry.path).resolve()
                    if target != root and root not in target.parents:
                        continue  # never leave the tree
                    st_entry = target.stat()
                else:
                    st_entry = entry.stat(follow_symlinks=False)
            except (OSError, RuntimeError):
                continue  # dangling link or a loop: nothing to read
            if stat.S_ISDIR(st_entry.st_mode):
                if entry.name in SKIP_DIRS or entry.name.endswith(".egg-info"):
                    continue
                if rules.ignored(rel, True):
                    continue
                child = Path(entry.path)
                if _is_virtualenv(child):
                    continue
                walk(child, rel)
            elif stat.S_ISREG(st_entry.st_mode):
                kind = classify(entry.name)
                if kind is None or rules.ignored(rel, False):
                    continue
                result.files.append(SourceFile(Path(entry.path), rel, kind, st_entry.st_size))

    walk(root, "")
    result.files.sort(key=lambda f: f.rel)
    return result
