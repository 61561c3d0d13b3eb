"""The files of one project and their parsed forms, read once on demand.

Every file that cannot be read becomes a PGF100 diagnostic here, once, with the parser's reason.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pgforklint.config import Config
from pgforklint.diagnostics import Diagnostic, Location
from pgforklint.discover import MAX_FILE_BYTES, Discovery, FileKind, SourceFile
from pgforklint.errors import ReadError
from pgforklint.read import structured
from pgforklint.read.python import PythonSource, deepest_node, read_python, read_python_text
from pgforklint.read.text import read_head, read_text
from pgforklint.safeio import read_chunks

TYPE_CHECKING = False
if TYPE_CHECKING:  # `typing` costs 3 ms to import; annotations here are never evaluated
    from typing import Any

# Analysis bounds: reaching one is reported, never silent.
MAX_IMPORT_DEPTH = 64
MAX_CALL_DEPTH = 12
MAX_MODULES = 5000
# A file over the size cap is scanned for needles this far at most (never read in full: a sparse
# 3 GiB file costs nothing to make); not found by then counts as found, and the read reports the size.
MAX_SCAN_BYTES = 32 * MAX_FILE_BYTES  # 64 MiB: a 50 MB generated module that matters to nobody is still ruled out
# Every byte string an adapter prefilters files with (`Project.contains`), by the kind of file it is
# asked of: each file is scanned for all of its kind's needles at once, the first time any is asked
# for. A needle not listed for a file's kind still works (a scan of its own).
PYTHON_NEEDLES = (
    b"DATABASES", b"__main__", b"multiprocessing", b"ProcessPoolExecutor", b"os.fork", b"fork(",
    b"newrelic.agent.initialize", b"SQLALCHEMY_ENGINE_OPTIONS",
)
CONFIG_NEEDLES = (b"[pgbouncer]", b"[uwsgi]", b"uwsgi:", b"<uwsgi", b"kind:", b"containers")
# The set of PYTHON_NEEDLES for each bit mask (bit i: PYTHON_NEEDLES[i]), as the read-ahead helper answers.
_NEEDLE_SETS = [frozenset(n for bit, n in enumerate(PYTHON_NEEDLES) if mask >> bit & 1)
                for mask in range(1 << len(PYTHON_NEEDLES))]


def needle_mask(source: SourceFile, needles: tuple[bytes, ...]) -> int:
    """Bit i set when the file contains needles[i]; -1 when it is over the size cap or unreadable."""
    if source.size > MAX_FILE_BYTES:
        return -1
    try:
        data = read_head(source.path, MAX_FILE_BYTES)
    except OSError:
        return -1
    mask = 0
    for bit, needle in enumerate(needles):
        if needle in data:
            mask |= 1 << bit
    return mask


class Project:
    def __init__(self, root: Path, discovery: Discovery, config: Config):
        self.root = root
        self.discovery = discovery
        self.config = config
        self._cache: dict[tuple[str, str], Any] = {}
        self.unreadable: dict[str, Diagnostic] = {}
        self.notices: list[Diagnostic] = []
        self._needles: dict[str, frozenset[bytes] | None] = {}
        self._module_files: dict[tuple[str, ...], str | None] = {}  # (module, *roots) -> file
        self.readahead = None  # pgforklint.readahead.ReadAhead on large trees: Python files' needles, parse checks

    # -- reading ----------------------------------------------------------------------------

    def _read(self, rel: str, flavour: str, reader: Callable[[Path], Any], keep: bool = True) -> Any | None:
        key = (rel, flavour)
        if key in self._cache:
            return self._cache[key]
        source = self.discovery.get(rel)
        value = None
        if source is not None:
            try:
                value = reader(source.path)
            except ReadError as exc:
                self.report_unreadable(rel, exc.reason, exc.line, exc.column)
        if keep or value is None:
            self._cache[key] = value
        return value

    def report_unreadable(self, rel: str, reason: str, line: int = 1, column: int = 1) -> None:
        if rel not in self.unreadable:
            self.unreadable[rel] = Diagnostic(
                "PGF100", Location(rel, line, column), f"cannot analyse `{rel}`: {reason}", key=f"{rel}"
            )

    def report_too_deep(self, rel: str | None = None) -> None:
        """The analysis ran out of recursion depth (code nested deeper than the walk can follow).

        Blames `rel` when known, else the most deeply nested Python file read so far, at the line of
        its deepest expression. Findings made before that point are kept.
        """
        candidates = []
        for key, value in list(self._cache.items()):  # other keys (prefilter, caches) have other shapes
            if not (isinstance(value, PythonSource) and isinstance(key, tuple) and len(key) == 2 and key[1] == "python"):
                continue
            path = key[0]
            if rel is None or path == rel:
                depth, line = deepest_node(value.tree)
                candidates.append((depth, path, line))
        if not candidates:
            if rel is not None:
                self.report_unreadable(rel, "nested too deeply to analyse; findings in this file may be missing")
            return
        depth, path, line = max(candidates)
        if depth < 100:  # not this file's nesting: say what happened without inventing a cause
            self.report_unreadable(path, "the analysis reached Python's recursion limit while walking this file; "
                                         "findings in this file may be missing")
            return
        self.report_unreadable(
            path, f"nested too deeply to analyse (about {depth} levels at line {line}); findings in this file may be missing",
            line,
        )

    def python(self, rel: str, keep: bool = True) -> PythonSource | None:
        """The parsed module. `keep=False` for a one-off look (scanning candidates for settings or
        scripts): the tree is not cached, which matters on large trees (a syntax tree is about ten
        times the size of its source)."""
        return self._read(rel, "python", read_python, keep)

    def text(self, rel: str) -> str | None:
        """The file's text. Python sources honour their PEP 263 encoding cookie (and BOM)."""
        source = self.discovery.get(rel)
        if source is not None and source.kind is FileKind.PYTHON:
            return self._read(rel, "text", read_python_text)
        return self._read(rel, "text", read_text)

    def contains(self, rel: str, *needles: bytes) -> bool:
        """Byte-level prefilter: does the file contain one of `needles`? Never reports anything.

        Use it before reading files that matter only when they mention something (every Python file
        that might call `newrelic.agent.initialize`): a file the prefilter rules out is not read, so a
        broken file that does not matter is not reported. Files over the size cap are scanned too, in
        chunks, so that one which does matter is then reported by the read that follows.
        """
        source = self.discovery.get(rel)
        if source is None or not needles:
            return False
        known = PYTHON_NEEDLES if source.kind is FileKind.PYTHON else CONFIG_NEEDLES
        if source.size <= MAX_FILE_BYTES and all(n in known for n in needles):
            present = self._needles_in(rel, source, known)
            return True if present is None else not present.isdisjoint(needles)
        key = (rel, "contains", needles)
        if key not in self._cache:
            self._cache[key] = self._scan_chunks(source.path, needles)
        return self._cache[key]

    def _needles_in(self, rel: str, source: SourceFile, known: tuple[bytes, ...]) -> frozenset[bytes] | None:
        """Which of `known` needles a file contains: one read and one scan per file for every adapter's
        prefilter, keeping only the answer (None when the file cannot be read)."""
        if rel in self._needles:
            return self._needles[rel]
        mask = None
        if self.readahead is not None and known is PYTHON_NEEDLES:
            mask = self.readahead.needle_mask(rel)
        if mask is None:
            mask = needle_mask(source, known)
        if mask < 0:
            present = None
        elif known is PYTHON_NEEDLES:
            present = _NEEDLE_SETS[mask]
        else:
            present = frozenset(n for bit, n in enumerate(known) if mask >> bit & 1)
        self._needles[rel] = present
        return present

    @staticmethod
    def _scan_chunks(path: Path, needles: tuple[bytes, ...]) -> bool:
        overlap = max(len(n) for n in needles) - 1
        found = False
        try:
            tail = b""
            scanned = 0
            for chunk in read_chunks(path):  # a regular file only, one bounded chunk at a time
                window = tail + chunk
                found = any(n in window for n in needles)
                scanned += len(chunk)
                if found or scanned >= MAX_SCAN_BYTES:
                    found = True  # past MAX_SCAN_BYTES: cannot tell, the read reports the file as too large
                    break
                tail = window[-overlap:] if overlap else b""
        except OSError:
            found = True  # cannot tell: let the real read report why
        return found

    def yaml_documents(self, rel: str) -> list | None:
        return self._read(rel, "yaml", lambda p: structured.load_yaml_documents(read_text(p)))

    def ruby(self, rel: str):
        """A Ruby file's syntax tree (`pgforklint.read.ruby.RubySource`). Broken Ruby is reported (PGF100 at the
        line of the damage) and what the parser recovered before it is still returned."""
        from pgforklint.read.ruby import read_ruby

        source = self._read(rel, "ruby", read_ruby)
        if source is not None and source.error_line is not None:
            self.report_unreadable(rel, source.error_reason, source.error_line)
        return source

    def erb_yaml(self, rel: str):
        """A YAML file with ERB tags (`config/database.yml`): `pgforklint.read.erb_yaml.ErbYaml`."""
        from pgforklint.read.erb_yaml import read_erb_yaml

        return self._read(rel, "erb-yaml", read_erb_yaml)

    def gemfile_lock(self, rel: str):
        from pgforklint.read.gemfile_lock import read_gemfile_lock

        return self._read(rel, "gemfile-lock", read_gemfile_lock)

    def toml(self, rel: str) -> dict | None:
        return self._read(rel, "toml", lambda p: structured.load_toml(read_text(p)))

    def json(self, rel: str) -> Any | None:
        return self._read(rel, "json", lambda p: structured.load_json(read_text(p)))

    def ini(self, rel: str) -> structured.IniFile | None:
        return self._read(rel, "ini", lambda p: structured.load_ini(read_text(p)))

    # -- lookups -------------------------------------------------------------------------

    def files(self, *kinds: FileKind) -> list[SourceFile]:
        return self.discovery.by_kind(*kinds)

    def exists(self, rel: str) -> bool:
        return self.discovery.get(rel) is not None

    def module_file(self, module: str, roots: list[str]) -> str | None:
        """The project file for a dotted module name, searched under the given root-relative folders."""
        key = (module, *roots)
        if key in self._module_files:
            return self._module_files[key]
        found = None
        parts = module.split(".")
        if all(parts):
            for root in roots:
                base = "/".join(p for p in (root.strip("/"), *parts) if p and p != ".")
                for candidate in (base + ".py", base + "/__init__.py"):
                    if self.exists(candidate):
                        found = candidate
                        break
                if found:
                    break
        self._module_files[key] = found
        return found

    def is_package_dir(self, module: str, roots: list[str]) -> bool:
        """A folder for `module` exists (a namespace package or a package) under one of the roots."""
        prefix = "/".join(module.split("."))
        folders = self._cache.get(("folders",))
        if folders is None or folders[0] != len(self.discovery.files):  # every folder that holds a file, indexed once
            index: set[str] = set()
            for source in self.discovery.files:
                rel = source.rel
                while "/" in rel:
                    rel = rel.rsplit("/", 1)[0]
                    if rel in index:
                        break
                    index.add(rel)
            folders = (len(self.discovery.files), index)
            self._cache[("folders",)] = folders
        for root in roots:
            base = "/".join(p for p in (root.strip("/"), prefix) if p and p != ".")
            if base in folders[1]:
                return True
        return False

    def default_module_roots(self) -> list[str]:
        roots = [""]
        if any(f.rel.startswith("src/") for f in self.discovery.files):
            roots.append("src")
        return roots
