"""Walk the project tree and classify the files that matter.

Respects `.gitignore` (git's semantics, see `pgforklint.ignore`: nested files, negation, the ancestors up
to the repository top, `.git/info/exclude`) and `exclude`/`extend-exclude`, always skips VCS folders and
virtualenvs, never leaves the tree through a symlink and never loops (symlinked folders are not
descended into: their target is either outside the tree or walked at its real path; symlinked files
inside the tree are listed under their own name, e.g. `gunicorn.conf.py -> deploy/gunicorn.py`).

What cannot be listed or read at this stage is recorded in `Discovery.problems` (it becomes PGF100),
except things that are normal in a checkout and not evidence of a broken analysis (symlinks that leave
the tree, for files that are not deployment entry points); those go to `Discovery.skipped`.
"""

from __future__ import annotations

import enum
import operator
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from pgforklint.ignore import MAX_WILDCARD_PATTERNS, PatternFile
from pgforklint.safeio import kind_of_special, owned_by_user, owner_of, read_regular, trusted_file

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
    CONF = "conf"  # `*.conf`: supervisord programs (decided by content)
    SCRIPT = "script"  # a file without an extension: a start script when a launch runs it (bin/serve)
    PYTHON_VERSION = "python-version"  # `.python-version` (pyenv, uv), `runtime.txt` (Heroku)
    RUBY = "ruby"  # .rb, .rake, config.ru
    GEMFILE_LOCK = "gemfile.lock"


@dataclass(frozen=True)
class SourceFile:
    path: Path  # absolute
    rel: str  # relative to the project root, '/'-separated
    kind: FileKind
    size: int

    @classmethod
    def _listed(cls, path: str, rel: str, kind: FileKind, size: int) -> SourceFile:
        """A file met by the walk, whose `path` is made from the string on first use: a Path per file
        was a good part of the walk's time, and files that are never opened never need one."""
        source = cls.__new__(cls)
        vars(source).update(_os_path=path, rel=rel, kind=kind, size=size)
        return source

    def __getattr__(self, attribute: str):
        # Only reached while `path` is not set yet (see `_listed`).
        if attribute == "path" and "_os_path" in vars(self):
            path = Path(vars(self)["_os_path"])
            object.__setattr__(self, "path", path)
            return path
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {attribute!r}")

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
    if lower.endswith((".py", ".pyw", ".wsgi")):
        return FileKind.PYTHON
    if lower.endswith((".sh", ".bash")):
        return FileKind.SHELL
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
    if lower.startswith(("requirements", "constraints")) and lower.endswith((".txt", ".in")):
        return FileKind.REQUIREMENTS
    if lower in (".python-version", "runtime.txt"):
        return FileKind.PYTHON_VERSION
    if lower in ("poetry.lock", "uv.lock", "pipfile.lock", "pdm.lock", "pipfile"):
        return FileKind.LOCKFILE
    if lower == ".env" or lower.startswith(".env.") or lower.endswith(".env"):
        return FileKind.ENV
    if lower.endswith(".service"):
        return FileKind.SYSTEMD
    if lower.endswith((".rb", ".rake", ".ru")) or name == "Rakefile":  # Resque hooks are often set in the Rakefile
        return FileKind.RUBY
    if name == "Gemfile.lock" or name == "gems.locked":
        return FileKind.GEMFILE_LOCK
    if lower.endswith(".conf"):
        return FileKind.CONF
    if "." not in name and name not in _NOT_SCRIPTS:
        return FileKind.SCRIPT
    if lower.rpartition(".")[2] in _SCRIPT_ENVIRONMENT_SUFFIXES:
        return FileKind.SCRIPT  # `bin/setup.docker.prod`, `entrypoint.production`: an image's ENTRYPOINT script
    return None


# Last suffixes that name an environment, not a format: such a file is a start script when a launch runs it.
_SCRIPT_ENVIRONMENT_SUFFIXES = frozenset({"prod", "production", "docker", "staging"})


# Names without an extension that are never start scripts (not listed, so never read).
_NOT_SCRIPTS = frozenset({"LICENSE", "LICENCE", "COPYING", "AUTHORS", "CONTRIBUTORS", "NOTICE", "README", "CHANGELOG",
                          "CHANGES", "HISTORY", "Makefile", "MANIFEST", "Gemfile", "Rakefile", "Pipfile", "Brewfile",
                          "Vagrantfile", "Jenkinsfile", "CODEOWNERS", "VERSION", "TODO", "INSTALL", "PKG-INFO"})


def is_entry_point(name: str, kind: FileKind) -> bool:
    """A file that always matters when present (a launch command or server/database configuration).

    Discovery reports these as PGF100 when they exist but cannot be followed (a dangling symlink, a link
    out of the tree, a FIFO); other files are only read when the analysis reaches them.
    """
    lower = name.lower()
    if kind in (FileKind.PROCFILE, FileKind.APP_JSON, FileKind.COMPOSE, FileKind.POSTGRESQL_CONF):
        return True
    if lower in ("gunicorn.conf.py", "gunicorn_config.py", "gunicorn.py", "pyproject.toml", "newrelic.ini",
                 "pgbouncer.ini", "celeryconfig.py", "settings.py", "wsgi.py", "asgi.py",
                 "puma.rb", "unicorn.rb", "database.yml", "gemfile.lock", "config.ru"):
        return True
    return "uwsgi" in lower and kind in (FileKind.INI, FileKind.YAML, FileKind.XML, FileKind.JSON)


def git_top(start: Path) -> Path | None:
    """The working-tree top of the git repository containing `start` (a resolved directory), if any.

    Trusted the way git trusts a repository: a `.git` owned by another user (one planted in `/tmp`,
    say) is not a repository top (git refuses it as "dubious ownership"), and the search goes on."""
    project_owner = owner_of(start)
    for folder in (start, *start.parents):
        try:
            status = os.lstat(folder / ".git")
        except OSError:
            continue
        if owned_by_user(status, project_owner):
            return folder
    return None


# A `.git` file ("gitdir: <path>") is one short line.
_GITFILE_BYTES = 64 * 1024


def _git_dir(top: Path) -> Path | None:
    dot_git = top / ".git"
    try:
        mode = os.lstat(dot_git).st_mode
    except OSError:
        return None
    if stat.S_ISDIR(mode):
        return dot_git
    try:  # a worktree or submodule: `.git` is a file "gitdir: <path>" (never a FIFO or device: not read)
        text = read_regular(dot_git, _GITFILE_BYTES).decode("utf-8", errors="replace").strip()
    except OSError:
        return None
    if text.startswith("gitdir:"):
        target = Path(text[len("gitdir:"):].strip().split("\n", 1)[0])
        return target if target.is_absolute() else (top / target)
    return None


class _Spec:
    """One gitignore-style pattern file. Paths are root-relative; `strip` is the in-tree folder the file
    lives in (its patterns only apply below it), `prepend` the path from an ancestor folder to the root."""

    __slots__ = ("strip", "prepend", "patterns")

    def __init__(self, patterns: PatternFile, strip: str = "", prepend: str = ""):
        self.patterns = patterns
        self.strip, self.prepend = strip, prepend

    def check(self, rel: str, is_dir: bool) -> bool | None:
        if self.strip:
            if not rel.startswith(self.strip + "/"):
                return None
            rel = rel[len(self.strip) + 1:]
        return self.patterns.match_path(self.prepend + rel, is_dir)


def _read_patterns(file: Path) -> list[str] | None:
    try:
        data = read_regular(file, MAX_FILE_BYTES)  # a FIFO or device is refused, never waited on
    except OSError:
        return None
    # git splits on newlines only (a carriage return before one is dropped by the pattern compiler) and
    # skips a UTF-8 byte order mark
    return data.decode("utf-8", errors="replace").removeprefix("\ufeff").split("\n")


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


class _FolderRules:
    """The pattern files that apply to the entries of one folder during the walk, each with that folder's
    path relative to the pattern file's folder (as `PatternFile.match` takes it), split by entry kind.
    `.gitignore` files are deepest first, so the first one with a verdict decides. `uses_folder`: some
    pattern is anchored, so a subfolder needs its own copy with longer folder paths."""

    __slots__ = ("excluded_folders", "excluded_files", "ignored_folders", "ignored_files", "uses_folder")

    def __init__(self, excluded_folders: tuple, excluded_files: tuple, ignored_folders: tuple, ignored_files: tuple):
        self.excluded_folders, self.excluded_files = excluded_folders, excluded_files
        self.ignored_folders, self.ignored_files = ignored_folders, ignored_files
        self.uses_folder = any(matcher.uses_folder for rules in (excluded_folders, excluded_files, ignored_folders,
                                                                 ignored_files) for matcher, _ in rules)

    def ignores(self, name: str, is_dir: bool) -> bool:
        if is_dir:
            excludes, gitignores = self.excluded_folders, self.ignored_folders
        else:
            excludes, gitignores = self.excluded_files, self.ignored_files
        for matcher, folder in excludes:
            if matcher.match(folder, name):
                return True
        for matcher, folder in gitignores:
            verdict = matcher.match(folder, name)
            if verdict is not None:
                return verdict
        return False


class IgnoreRules:
    """`exclude` patterns (any match excludes) and .gitignore files (git's precedence: the deepest file
    and the last matching line win, `!pattern` re-includes)."""

    def __init__(self, root: Path, excludes: list[tuple[Path, list[str]]], respect_gitignore: bool):
        self.root = root
        self.respect_gitignore = respect_gitignore
        self.excludes: list[_Spec] = []
        for base, patterns in excludes:
            compiled = PatternFile(list(patterns)) if patterns else None
            if not compiled:
                continue
            # A config file outside the tree (`--config /elsewhere/x.toml`): its patterns apply from the root.
            placement = _placement(Path(base).resolve(), root) or ("", "")
            self.excludes.append(_Spec(compiled, *placement))
        self.gitignores: list[_Spec] = []  # shallow first
        self.notes: list[tuple[str, str]] = []  # (file, reason): pattern files only partly applied
        if respect_gitignore:
            self._load_ancestors()

    def _add(self, file: Path, strip: str = "", prepend: str = "", above: bool = False) -> _Spec | None:
        if above and not trusted_file(file, owner_of(self.root)):  # outside the project: only files this user (or root) owns
            return None
        lines = _read_patterns(file)
        compiled = PatternFile(lines) if lines else None
        if compiled is not None and compiled.dropped:
            shown = f"{strip}/.gitignore" if strip else (".gitignore" if not above else str(file))
            self.notes.append((shown, f"more than {MAX_WILDCARD_PATTERNS} wildcard patterns; the last "
                                      f"{compiled.dropped} are not applied, so files they ignore may be linted"))
        if not compiled:  # missing, unreadable, or only comments (a fresh repository's info/exclude)
            return None
        spec = _Spec(compiled, strip, prepend)
        self.gitignores.append(spec)
        return spec

    def _load_ancestors(self) -> None:
        top = git_top(self.root)
        if top is None:
            return
        git_dir = _git_dir(top)
        if git_dir is not None:
            placement = _placement(top, self.root)
            if placement is not None:
                self._add(git_dir / "info" / "exclude", *placement, above=True)
        # .gitignore files of the folders between the repository top and the root (the root's own
        # file is read when the walk enters it).
        if top != self.root:
            for folder in reversed(self.root.parents):
                if folder == top or top in folder.parents:
                    placement = _placement(folder, self.root)
                    if placement is not None:
                        self._add(folder / ".gitignore", *placement, above=True)

    def enter_directory(self, prefix: str, directory: Path) -> _Spec | None:
        if self.respect_gitignore:
            return self._add(directory / ".gitignore", prefix)
        return None

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

    def for_folder(self, prefix: str, parent: _FolderRules | None, gitignore: _Spec | None) -> _FolderRules:
        """The rules for the entries of the folder `prefix` ("" for the root), from its parent folder's
        rules and the folder's own `.gitignore` (already added by `enter_directory`)."""
        if parent is None:
            new_excludes = [spec for spec in self.excludes if not spec.strip]
            # every file loaded so far applies here: info/exclude, the ancestors', the root's own
            new_gitignores = self.gitignores[::-1]
            inherited: tuple[tuple, ...] = ((), (), (), ())
        else:
            new_excludes = [spec for spec in self.excludes if spec.strip == prefix] if self.excludes else []
            if not new_excludes and gitignore is None and not parent.uses_folder:
                return parent  # the common case: same pattern files, and they only look at names
            new_gitignores = [gitignore] if gitignore is not None else []
            name = prefix.rpartition("/")[2] + "/"
            inherited = tuple(tuple((matcher, folder + name) for matcher, folder in rules) for rules in (
                parent.excluded_folders, parent.excluded_files, parent.ignored_folders, parent.ignored_files))

        def placed(specs: list[_Spec], for_files: bool) -> tuple:
            kept = []
            for spec in specs:
                matcher = spec.patterns.for_files if for_files else spec.patterns.for_folders
                if matcher:
                    # the folder relative to the pattern file's: `prepend` above the root, "" at its own folder
                    kept.append((matcher, spec.prepend))
            return tuple(kept)

        return _FolderRules(
            inherited[0] + placed(new_excludes, False),
            inherited[1] + placed(new_excludes, True),
            placed(new_gitignores, False) + inherited[2],
            placed(new_gitignores, True) + inherited[3],
        )


_by_name = operator.attrgetter("name")
_by_rel = operator.attrgetter("rel")


_kind_of_special = kind_of_special


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
    files, problems, skipped = result.files, result.problems, result.skipped
    kinds: dict[str, FileKind | None] = {}

    def problem_or_skip(rel: str, name: str, reason: str) -> None:
        kind = classify(name)
        if kind is None:
            return
        if is_entry_point(name, kind):
            problems.append((rel, reason))
        else:
            skipped.append((rel, reason))

    # Folder links are never descended into (see below), so the walk follows the real tree and cannot
    # loop; MAX_DEPTH still guarantees it ends (a bind mount of an ancestor, say). Folders are plain
    # strings here: a Path per folder was a good part of the walk's time.
    def walk(directory: str, prefix: str, depth: int, parent_rules: _FolderRules | None) -> None:
        if depth > MAX_DEPTH:
            problems.append((prefix, f"folders nested deeper than {MAX_DEPTH}; not walked further"))
            return
        try:
            with os.scandir(directory) as iterator:
                entries = sorted(iterator, key=_by_name)
        except OSError as exc:
            problems.append((prefix or ".", f"cannot list directory: {exc.strerror or exc}"))
            return
        names = {entry.name for entry in entries}
        if prefix and ("pyvenv.cfg" in names or "conda-meta" in names):
            skipped.append((prefix, "virtualenv"))
            return
        gitignore = rules.enter_directory(prefix, Path(directory)) if ".gitignore" in names else None
        here = rules.for_folder(prefix, parent_rules, gitignore)
        ignores, files_ruled = here.ignores, here.excluded_files or here.ignored_files
        for entry in entries:
            name = entry.name
            shown = name if name.isascii() else _printable(name)
            # d_type from the directory listing: no stat() per entry, only for the files that are kept.
            try:
                is_link = entry.is_symlink()
                if is_link:
                    rel = f"{prefix}/{shown}" if prefix else shown
                    try:
                        target = Path(entry.path).resolve(strict=True)
                    except (OSError, RuntimeError):
                        problem_or_skip(rel, name, "dangling or looping symbolic link; not followed")
                        continue
                    if target != root and root not in target.parents:
                        if name not in ALWAYS_SKIP_DIRS:
                            problem_or_skip(rel, name,
                                            f"symbolic link to `{target}`, outside the project; not followed")
                        continue
                    is_dir = stat.S_ISDIR(target.stat().st_mode)
                else:
                    is_dir = entry.is_dir(follow_symlinks=False)
            except OSError as exc:
                problem_or_skip(f"{prefix}/{shown}" if prefix else shown, name, f"cannot stat: {exc.strerror or exc}")
                continue
            if is_dir:
                if name in ALWAYS_SKIP_DIRS or ignores(shown, True):
                    continue
                rel = f"{prefix}/{shown}" if prefix else shown
                if is_link:
                    # Its target is inside the tree and is walked under its real path; walking the alias
                    # too would list every file twice (and a link to an ancestor would loop).
                    skipped.append((rel, "symbolic link to a folder inside the project; walked at its real path"))
                    continue
                walk(entry.path, rel, depth + 1, here)
                continue
            try:
                kind = kinds[name]
            except KeyError:  # many names repeat (`__init__.py`, `django.po`): classify each once
                kind = kinds[name] = classify(name)
            if kind is None and name.endswith((".txt", ".in")) and \
                    prefix.rsplit("/", 1)[-1].lower().startswith(("requirements", "constraints")):
                kind = FileKind.REQUIREMENTS  # `requirements/base.txt`, included with `-r requirements/base.txt`
            if kind is None or (files_ruled and ignores(shown, False)):
                continue
            rel = f"{prefix}/{shown}" if prefix else shown
            try:
                st_entry = entry.stat(follow_symlinks=True)
            except OSError as exc:
                problem_or_skip(rel, name, f"cannot stat: {exc.strerror or exc}")
                continue
            if stat.S_ISREG(st_entry.st_mode):
                files.append(SourceFile._listed(entry.path, rel, kind, st_entry.st_size))
            else:
                # Never opened: reading a FIFO would block forever.
                problems.append((rel, f"{_kind_of_special(st_entry.st_mode)}, not a regular file; not read"))

    walk(str(root), "", 0, None)
    problems.extend(rules.notes)
    files.sort(key=_by_rel)
    problems.sort()
    skipped.sort()
    return result
