"""The files of one project and their parsed forms, read once on demand.

Every file that cannot be read becomes a PGF100 diagnostic here, once, with the parser's reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from pgforklint.config import Config
from pgforklint.diagnostics import Diagnostic, Location
from pgforklint.discover import Discovery, FileKind, SourceFile
from pgforklint.errors import ReadError
from pgforklint.read import structured
from pgforklint.read.python import PythonSource, read_python
from pgforklint.read.text import read_text

# Analysis bounds: reaching one is reported, never silent.
MAX_IMPORT_DEPTH = 64
MAX_CALL_DEPTH = 12
MAX_MODULES = 5000


class Project:
    def __init__(self, root: Path, discovery: Discovery, config: Config):
        self.root = root
        self.discovery = discovery
        self.config = config
        self._cache: dict[tuple[str, str], Any] = {}
        self.unreadable: dict[str, Diagnostic] = {}
        self.notices: list[Diagnostic] = []

    # -- reading ----------------------------------------------------------------------------

    def _read(self, rel: str, flavour: str, reader: Callable[[Path], Any]) -> Any | None:
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
        self._cache[key] = value
        return value

    def report_unreadable(self, rel: str, reason: str, line: int = 1, column: int = 1) -> None:
        if rel not in self.unreadable:
            self.unreadable[rel] = Diagnostic(
                "PGF100", Location(rel, line, column), f"cannot analyse `{rel}`: {reason}", key=f"{rel}"
            )

    def python(self, rel: str) -> PythonSource | None:
        return self._read(rel, "python", read_python)

    def text(self, rel: str) -> str | None:
        return self._read(rel, "text", read_text)

    def yaml_documents(self, rel: str) -> list | None:
        return self._read(rel, "yaml", lambda p: structured.load_yaml_documents(read_text(p)))

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
        parts = module.split(".")
        if not all(parts):
            return None
        for root in roots:
            base = "/".join(p for p in (root.strip("/"), *parts) if p and p != ".")
            for candidate in (base + ".py", base + "/__init__.py"):
                if self.exists(candidate):
                    return candidate
        return None

    def is_package_dir(self, module: str, roots: list[str]) -> bool:
        """A folder for `module` exists (a namespace package or a package) under one of the roots."""
        prefix = "/".join(module.split("."))
        for root in roots:
            base = "/".join(p for p in (root.strip("/"), prefix) if p and p != ".")
            for source in self.discovery.files:
                if source.rel.startswith(base + "/"):
                    return True
        return False

    def default_module_roots(self) -> list[str]:
        roots = [""]
        if any(f.rel.startswith("src/") for f in self.discovery.files):
            roots.append("src")
        return roots
