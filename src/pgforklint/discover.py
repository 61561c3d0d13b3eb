"""Walk the project tree and classify the files that matter.

Respects `.gitignore` (git's semantics through pathspec: nested files, negation, the ancestors up to the
repository top, `.git/info/exclude`) and `exclude`/`extend-exclude`, always skips VCS folders and
virtualenvs, never leaves the tree through a symlink and never loops (symlinked folders are not
descended into: their target is either outside the tree or walked at its real path; symlinked files
inside the tree are listed under their own name, e.g. `gunicorn.conf.py -> deploy/gunicorn.py`).

What cannot be listed or read at this stage is recorded in `Discovery.problems` (it becomes PGF100),
except things that are normal in a checkout and not evidence of a broken analysis (symlinks that leave
the tree, for files that are not deployment entry points); those go to `Discovery.skipped`.
"""

from __future__ import annotations

import enum
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

# Never project code, whatever `exclude` says.
ALWAYS_SKIP_DIRS = {".git", ".hg", ".svn", ".bzr", "_darcs", ".jj"}

# The default `exclude` (gitignore patterns, matched at any depth). Setting `exclude` replaces it,
# `extend-exclude` adds to it (Ruff's semantics).
DEFAULT_EXCLUDE = [
    "node_modules/", "__pycache__/", ".tox/", ".nox/", ".venv/", "venv/", ".mypy_cache/", ".pytest_cache/",
    ".ruff_cache/", ".hypothesis/", ".eggs/", "*.egg-info/", "build/", "dist/", "site-packages/",
    ".pgforklint_cache/", ".idea/", ".vscode/", ".direnv/", "__pypackages__/",
]
# Kept for callers that used the old name: the folder names of DEFAULT_EXCLUDE plus the VCS folders.
SKIP_DIRS = ALWAYS_SKIP_DIRS | {p.rstrip("/") for p in DEFAULT_EXCLUDE if "*" not in p}

# Files larger than this are not parsed; one that matters becomes PGF100.
MAX_FILE_BYTES = 2 * 1024 * 1024
# Folders nested deeper than this are not walked (reported): the walk always ends.
MAX_DEPTH = 200


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
    # (relative path, reason) for files that matter and could not be listed or read at this stage: PGF100
    problems: list[tuple[str, str]] = field(default_factory=list)
    # (relative path, reason) for entries deliberately not followed (shown with --debug, never an error)
    skipped: list[tuple[str, str]] = field(default_factory=list)

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


def _printable(name: str) -> str:
    """A file name that is not valid UTF-8 (surrogate-escaped by the OS layer), shown as `caf\\xe9`: reports must
    be printable; the file itself is opened through its real path."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return name


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


def is_entry_point(name: str, kind: FileKind) -> bool:
    """A file that always matters when present (a launch command or server/database configuration).

    Discovery reports these as PGF100 when they exist but cannot be followed (a dangling symlink, a link
    out of the tree, a FIFO); other files are only read when the analysis reaches them.
    """
    lower = name.lower()
    if kind in (FileKind.PROCFILE, FileKind.APP_JSON, FileKind.COMPOSE, FileKind.POSTGRESQL_CONF):
        return True
    if lower in ("gunicorn.conf.py", "gunicorn_config.py", "gunicorn.py", "pyproject.toml", "newrelic.ini",
                 "pgbouncer.ini", "celeryconfig.py", "settings.py", "wsgi.py", "asgi.py"):
        return True
    return "uwsgi" in lower and kind in (FileKind.INI, FileKind.YAML, FileKind.XML, FileKind.JSON)


def git_top(start: Path) -> Path | None:
    """The working-tree top of the git repository containing `start` (a resolved directory), if any."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def _git_dir(top: Path) -> Path | None:
    dot_git = top / ".git"
    if dot_git.is_dir():
        return dot_git
    try:  # a worktree or submodule: `.git` is a file "gitdir: <path>"
        text = dot_git.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
    if text.startswith("gitdir:"):
        target = Path(text[len("gitdir:"):].strip())
        return target if target.is_absolute() else (top / target)
    return None


class _Spec:
    """One gitignore-style pattern file. Paths are root-relative; `strip` is the in-tree folder the file
    lives in (its patterns only apply below it), `prepend` the path from an ancestor folder to the root.

    Folder-only patterns (`build/`) are left out of the spec used for files: the walk never enters an
    ignored folder, so they cannot decide anything about a file it meets (and checking every file
    against twenty of them was most of the discovery time on large trees)."""

    __slots__ = ("strip", "prepend", "spec", "file_spec")

    def __init__(self, lines: list[str], strip: str = "", prepend: str = ""):
        self.spec = pathspec.GitIgnoreSpec.from_lines(lines)
        file_lines = [line for line in lines if not line.rstrip().endswith("/")]
        self.file_spec = pathspec.GitIgnoreSpec.from_lines(file_lines) if any(
            line.strip() and not line.lstrip().startswith("#") for line in file_lines) else None
        self.strip, self.prepend = strip, prepend

    def check(self, rel: str, is_dir: bool) -> bool | None:
        spec = self.spec if is_dir else self.file_spec
        if spec is None:
            return None
        if self.strip:
            if not rel.startswith(self.strip + "/"):
                return None
            rel = rel[len(self.strip) + 1:]
        return spec.check_file(self.prepend + rel + ("/" if is_dir else "")).include


def _read_patterns(file: Path) -> list[str] | None:
    try:
        with open(file, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES)
    except OSError:
        return None
    return data.decode("utf-8", errors="replace").splitlines()


def _placement(base: Path, root: Path) -> tuple[str, str] | None:
    """(strip, prepend) for patterns anchored at `base`, evaluated on `root`-relative paths; None when the
    two folders are unrelated."""
    try:
        inside = base.relative_to(root).as_posix()
        return ("" if inside == "." else inside, "")
    except ValueError:
        pass
    try:
        above = root.relative_to(base).as_posix()
        return ("", "" if above == "." else above + "/")
    except ValueError:
        return None  # unrelated folders: the patterns cannot apply to this tree


class IgnoreRules:
    """`exclude` patterns (any match excludes) and .gitignore files (git's precedence: the deepest file
    and the last matching line win, `!pattern` re-includes)."""

    def __init__(self, root: Path, excludes: list[tuple[Path, list[str]]], respect_gitignore: bool):
        self.root = root
        self.respect_gitignore = respect_gitignore
        self.excludes: list[_Spec] = []
        for base, patterns in excludes:
            if not patterns:
                continue
            # A config file outside the tree (`--config /elsewhere/x.toml`): its patterns apply from the root.
            placement = _placement(Path(base).resolve(), root) or ("", "")
            self.excludes.append(_Spec(list(patterns), *placement))
        self.gitignores: list[_Spec] = []  # shallow first
        if respect_gitignore:
            self._load_ancestors()

    def _add(self, file: Path, strip: str = "", prepend: str = "") -> None:
        lines = _read_patterns(file)
        if lines:
            self.gitignores.append(_Spec(lines, strip, prepend))

    def _load_ancestors(self) -> None:
        top = git_top(self.root)
        if top is None:
            return
        git_dir = _git_dir(top)
        if git_dir is not None:
            placement = _placement(top, self.root)
            if placement is not None:
                self._add(git_dir / "info" / "exclude", *placement)
        # .gitignore files of the folders between the repository top and the root (the root's own
        # file is read when the walk enters it).
        if top != self.root:
            for folder in reversed(self.root.parents):
                if folder == top or top in folder.parents:
                    placement = _placement(folder, self.root)
                    if placement is not None:
                        self._add(folder / ".gitignore", *placement)

    def enter_directory(self, prefix: str, directory: Path) -> None:
        if self.respect_gitignore:
            gitignore = directory / ".gitignore"
            if gitignore.is_file():
                self._add(gitignore, prefix)

    def ignored(self, rel: str, is_dir: bool) -> bool:
        for spec in self.excludes:
            if spec.check(rel, is_dir):
                return True
        verdict = None
        for spec in self.gitignores:
            include = spec.check(rel, is_dir)
            if include is not None:
                verdict = include
        return bool(verdict)


def _kind_of_special(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device file"
    return "not a regular file"


def discover(root: Path, exclude: list[tuple[Path, list[str]]] | None = None, respect_gitignore: bool = True) -> Discovery:
    """List and classify the files under `root` (a directory), deterministically sorted.

    `exclude` is a list of (base folder, gitignore-style patterns); None means the default excludes
    anchored at the root.
    """
    root = root.resolve()
    if exclude is None:
        exclude = [(root, DEFAULT_EXCLUDE)]
    result = Discovery(root=root)
    rules = IgnoreRules(root, list(exclude), respect_gitignore)

    def problem_or_skip(rel: str, name: str, reason: str) -> None:
        kind = classify(name)
        if kind is None:
            return
        if is_entry_point(name, kind):
            result.problems.append((rel, reason))
        else:
            result.skipped.append((rel, reason))

    # Folder links are never descended into (see below), so the walk follows the real tree and cannot
    # loop; MAX_DEPTH still guarantees it ends (a bind mount of an ancestor, say).
    def walk(directory: Path, prefix: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            result.problems.append((prefix, f"folders nested deeper than {MAX_DEPTH}; not walked further"))
            return
        try:
            with os.scandir(directory) as iterator:
                entries = sorted(iterator, key=lambda e: e.name)
        except OSError as exc:
            result.problems.append((prefix or ".", f"cannot list directory: {exc.strerror or exc}"))
            return
        names = {entry.name for entry in entries}
        if prefix and ("pyvenv.cfg" in names or "conda-meta" in names):
            result.skipped.append((prefix, "virtualenv"))
            return
        if ".gitignore" in names:
            rules.enter_directory(prefix, directory)
        for entry in entries:
            rel = f"{prefix}/{_printable(entry.name)}" if prefix else _printable(entry.name)
            # d_type from the directory listing: no stat() per entry, only for the files that are kept.
            try:
                is_link = entry.is_symlink()
                if is_link:
                    try:
                        target = Path(entry.path).resolve(strict=True)
                    except (OSError, RuntimeError):
                        problem_or_skip(rel, entry.name, "dangling or looping symbolic link; not followed")
                        continue
                    if target != root and root not in target.parents:
                        if entry.name not in ALWAYS_SKIP_DIRS:
                            problem_or_skip(rel, entry.name,
                                            f"symbolic link to `{target}`, outside the project; not followed")
                        continue
                    mode = target.stat().st_mode
                    is_dir, is_file = stat.S_ISDIR(mode), stat.S_ISREG(mode)
                else:
                    is_dir = entry.is_dir(follow_symlinks=False)
                    is_file = not is_dir and entry.is_file(follow_symlinks=False)
            except OSError as exc:
                problem_or_skip(rel, entry.name, f"cannot stat: {exc.strerror or exc}")
                continue
            if is_dir:
                if entry.name in ALWAYS_SKIP_DIRS or rules.ignored(rel, True):
                    continue
                if is_link:
                    # Its target is inside the tree and is walked under its real path; walking the alias
                    # too would list every file twice (and a link to an ancestor would loop).
                    result.skipped.append((rel, "symbolic link to a folder inside the project; walked at its real path"))
                    continue
                walk(Path(entry.path), rel, depth + 1)
                continue
            kind = classify(entry.name)
            if kind is None or rules.ignored(rel, False):
                continue
            try:
                st_entry = entry.stat(follow_symlinks=True)
            except OSError as exc:
                problem_or_skip(rel, entry.name, f"cannot stat: {exc.strerror or exc}")
                continue
            if is_file:
                result.files.append(SourceFile(Path(entry.path), rel, kind, st_entry.st_size))
            else:
                # Never opened: reading a FIFO would block forever.
                result.problems.append((rel, f"{_kind_of_special(st_entry.st_mode)}, not a regular file; not read"))

    walk(root, "", 0)
    result.files.sort(key=lambda f: f.rel)
    result.problems.sort()
    result.skipped.sort()
    return result
