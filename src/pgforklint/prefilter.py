"""Read as little as possible: a byte-level prefilter that lets the import-time walk defer whole modules.

A project module is *inert* when nothing in it, nor in any project module it imports (transitively),
can produce a fact on its own: no import of a library the walk or an adapter understands
(`SEED_PACKAGES`, unless the name resolves to a project file, as Django's own modules do when an app is
planted in Django's source tree), and no text needle for the `os` calls the walk models (fork, at-fork
hooks, environment writes). Imports are found with a byte regex that over-approximates (an `import`
line inside a string is an extra edge, never a missing one), so the set of inert modules is a safe
under-approximation.

An inert module is not parsed when imported: its namespace is a `LazyNamespace` that hands out
`OpaqueVal` placeholders for the names taken from it. A placeholder is resolved (the module parsed and
walked then, exactly as an import would have, and the attribute or call replayed) as soon as anything
that could produce a fact reaches it: a call with an argument that is not a constant or another
placeholder (an engine, a project function, a class ...), use as a class base, an assignment into the
module, an argument to any other call, or an adapter reading the namespace (`.get`, `.items`). Until
then, the walk of an inert module cannot record anything, so deferring it loses no finding.
A deferred module is still checked to parse, so that a syntax error in it is reported (PGF100) as if
it had been walked: at once, or on large trees by the read-ahead helper (`pgforklint.readahead`) while
the walk goes on, collected by `finish` before the rules run.
`PGFORKLINT_NO_PREFILTER=1` turns the prefilter off (every imported module is walked eagerly).
"""

from __future__ import annotations

import os
import re
from dataclasses import field

from pgforklint.records import record

# Top-level packages whose names the walk or an adapter reacts to (see extract/*: qualified names).
SEED_PACKAGES = frozenset({
    "sqlalchemy", "sqlmodel", "flask_sqlalchemy", "psycopg", "psycopg2", "psycopg_pool", "asyncpg", "pg8000",
    "pandas", "django", "dj_database_url", "django_rq", "celery", "rq", "multiprocessing", "concurrent",
    "uwsgi", "uwsgidecorators", "newrelic", "gunicorn", "environ", "flask_migrate", "alembic", "flask_rq2",
})
# (`asyncio` is not a seed: `asyncio.run(x)` only hands back its argument, which is resolved when it matters.)
# `os` calls the walk models without a seed import: os.fork/forkpty/register_at_fork, environment writes,
# cpu counts (worker numbers).
TEXT_NEEDLES = re.compile(rb"fork|cpu_count|getpid")
_TEXT_NEEDLE_WORDS = (b"fork", b"cpu_count", b"getpid")  # the same, searched without the regex engine (faster)
# Environment writes the walk records (`os.environ[K] = v`, `os.environ.setdefault(K, v)`, `os.putenv(K, v)`)
# matter only for the keys adapters read back from `Interpreter.env` (tests/test_prefilter.py checks the list):
# a write whose key is a string literal outside ENV_KEYS is not a needle; any other key expression is.
ENV_KEYS = (b"DJANGO_SETTINGS_MODULE",)
# Linear on any input: the subscript's text cannot start with the whitespace `\s*` takes (no two ways to
# split a run of spaces) and stops at the next `[` (a line of `environ[environ[...` is not rescanned to
# its end from every occurrence).
_ENV_WRITE = re.compile(rb"environ\s*\[\s*((?:[^\]\[\s][^\]\[\n]*)?)\]\s*=(?!=)[ \t]*([^\n]*)|environ\s*\.\s*setdefault\s*\(\s*([^,)\n]*)"
                        rb"|putenv\s*\(\s*([^,)\n]*)")
_CONSTANT_VALUE = re.compile(rb"""(?:[rRbBuUfF]*['"].*|[A-Za-z_]\w*)\s*(?:#.*)?\r?""")
_LITERAL = re.compile(rb"""[rRbBuUfF]*(['"])(.*)\1""")
# `env = os.environ; env.setdefault(KEY, ...)`: an alias of environ, a setdefault and a key literal also count.
_ENVIRON_ALIAS, _SETDEFAULT = re.compile(rb"=[ \t]*(?:os[ \t]*\.[ \t]*)?environ[ \t]*(?:#.*)?\r?$", re.MULTILINE), b"setdefault"


def _env_needle(data: bytes) -> bool:
    if b"environ" not in data and b"putenv" not in data:  # every write below names one of them
        return False
    for match in _ENV_WRITE.finditer(data):
        subscript, first, setdefault, putenv = match.groups()
        if subscript is not None and not _CONSTANT_VALUE.fullmatch(first or b""):
            continue  # `os.environ[K] = obj.attr / f(...)`: not a constant the walk could record
        key = next(group for group in (subscript, setdefault, putenv) if group is not None).strip()
        literal = _LITERAL.fullmatch(key)
        if literal is None or literal.group(2) in ENV_KEYS:
            return True
    return _SETDEFAULT in data and _ENVIRON_ALIAS.search(data) is not None and any(key in data for key in ENV_KEYS)

# `import a.b as c, d` and `from .x import (a, b)`, at the start of a logical line or after `;`/`:`. The
# parenthesised list ends at the first `(` or `)` outside a comment, so an unclosed `from x import (`
# costs one scan to the next parenthesis, not one to the end of the file per statement.
_IMPORT = re.compile(
    rb"(?:^|[;:])[ \t]*(?:from[ \t]+(\.*)[ \t]*([\w.]*)[ \t]+import[ \t]*(\((?:[^()#]|#[^\n]*(?=\n))*\)|(?:[^\n#;\\]|\\\r?\n)*)"
    rb"|import[ \t]+((?:[^\n#;\\]|\\\r?\n)*))",
    re.MULTILINE,
)
_NAME = re.compile(rb"[A-Za-z_][\w.]*")


@record(frozen=True)
class FileFacts:
    """What the prefilter knows about one Python file, from its bytes alone (cacheable by content hash)."""

    imports: tuple[tuple[int, str, tuple[str, ...]], ...]  # (level, module, names) ; `import x` -> (0, x, ())
    needle: bool  # a TEXT_NEEDLES hit
    digest: str = ""  # content hash (set by the cache)
    parses: bool | None = None  # known to parse (from the cache), None when not checked yet


def _import_statements(data: bytes):
    """The matches `_IMPORT.finditer(data)` would give, found faster.

    Every match contains the literal `import` on the line it starts on, and starts at that line's
    start or at a `;`/`:` before it. So: find each `import` with a plain byte search, and try the
    regex only at those starting points, in order, resuming after each match as finditer does. (A
    regex that begins with an alternation is tried at every byte of the file: 3x slower on Django.)"""
    position = 0
    while True:
        keyword = data.find(b"import", position)
        if keyword < 0:
            return
        # the line's start, looked for back to `position` only (a search back to the file's start per
        # keyword is quadratic on one long line of `import;import;...`)
        newline = data.rfind(b"\n", position, keyword)
        start = newline + 1 if newline >= 0 else position
        at_line_start = newline >= 0 or position == 0 or data[position - 1] == 10
        candidates = [start] if at_line_start else []
        segment = data[start:keyword]
        if b";" in segment or b":" in segment:
            candidates.extend(start + offset for offset, byte in enumerate(segment)
                              if byte in b";:" and not (offset == 0 and at_line_start))
        for candidate in candidates:
            match = _IMPORT.match(data, candidate)
            if match is not None:
                yield match
                position = match.end()
                break
        else:
            position = keyword + len(b"import")


def scan(data: bytes) -> FileFacts:
    imports: list[tuple[int, str, tuple[str, ...]]] = []
    if b"\r" in data:  # CR-only (old Mac) line endings are Python newlines too; `^` only knows `\n`
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    for match in _import_statements(data):
        dots, module, names, plain = match.groups()
        if plain is not None:
            for part in plain.replace(b"\\\n", b" ").split(b","):
                words = part.split()
                if words and _NAME.fullmatch(words[0]):
                    imports.append((0, words[0].decode("ascii", "replace"), ()))
        else:
            found = []
            for part in (names or b"").strip(b"()").replace(b"\\\n", b" ").split(b","):
                words = part.split()
                if words and _NAME.fullmatch(words[0]):
                    found.append(words[0].decode("ascii", "replace"))
            imports.append((len(dots or b""), (module or b"").decode("ascii", "replace"), tuple(found)))
    needle = any(word in data for word in _TEXT_NEEDLE_WORDS) or _env_needle(data)
    return FileFacts(tuple(imports), needle)


def enabled() -> bool:
    return os.environ.get("PGFORKLINT_NO_PREFILTER", "") in ("", "0")


@record
class Prefilter:
    """Per-project: facts per file (from the cache when it has them) and the inert verdict per module."""

    project: object
    cache: object | None = None  # pgforklint.cache.FactsCache
    facts: dict[str, FileFacts | None] = field(default_factory=dict)
    verdicts: dict[tuple[str, tuple[str, ...]], bool] = field(default_factory=dict)
    checked_later: list[str] = field(default_factory=list)  # deferred modules the helper is checking

    def file_facts(self, rel: str) -> FileFacts | None:
        if rel in self.facts:
            return self.facts[rel]
        facts = None
        source = self.project.discovery.get(rel)
        if source is not None:
            from pgforklint.discover import MAX_FILE_BYTES
            from pgforklint.read.text import read_head

            try:
                data = read_head(source.path, MAX_FILE_BYTES + 1)
            except OSError:
                data = None
            if data is not None and len(data) > MAX_FILE_BYTES:
                data = None  # over the size cap: no facts, so the walk reads it and reports PGF100
            if data is not None:
                facts = self.cache.facts(data) if self.cache is not None else scan(data)
        self.facts[rel] = facts
        return facts

    def check_later(self, rel: str) -> bool:
        """A deferred module whose parse is not known yet: True when the read-ahead helper checks it
        while the walk goes on (the answer is collected by `finish`); False when it must be checked now."""
        facts = self.file_facts(rel)
        if facts is None or facts.parses is not None:
            return False
        helper = getattr(self.project, "readahead", None)
        if helper is None or not helper.ask_parses(rel):
            return False
        self.checked_later.append(rel)
        return True

    def finish(self) -> None:
        """Collect the helper's parse checks; a deferred module that does not parse is reported (PGF100)
        exactly as walking it would have reported it."""
        if not self.checked_later:
            return
        answers = self.project.readahead.parse_answers()
        for rel in self.checked_later:
            ok = answers.get(rel)
            if ok is None:  # the helper did not answer: check here
                ok = self.parses(rel)
            else:
                self._remember_parses(rel, ok)
            if not ok:
                self.project.python(rel, keep=False)
        self.checked_later.clear()

    def _remember_parses(self, rel: str, ok: bool) -> None:
        facts = self.facts.get(rel)
        if facts is None:
            return
        if self.cache is not None and facts.digest:
            self.cache.set_parses(facts.digest, ok)
        self.facts[rel] = FileFacts(facts.imports, facts.needle, facts.digest, ok)

    def parses(self, rel: str) -> bool:
        """The file decodes and parses (a deferred module must still report PGF100 when it does not).

        Checked once per content (the verdict is cached); the tree is not kept."""
        facts = self.file_facts(rel)
        if facts is None:
            return False
        if facts.parses is not None:
            return facts.parses
        from pgforklint.read.python import parses

        ok = parses(self.project.discovery.get(rel).path, rel)
        self._remember_parses(rel, ok)
        return ok

    def _edges(self, name: str, rel: str, roots: list[str]) -> tuple[bool, list[tuple[str, str]]]:
        """(seed?, project modules imported) for one module."""
        facts = self.file_facts(rel)
        if facts is None:
            return True, []  # unreadable: let the walk report it
        if facts.needle:
            return True, []
        project = self.project
        package = package_of(name, rel.endswith("__init__.py"))
        edges: list[tuple[str, str]] = []
        for level, module, names in facts.imports:
            absolute = absolute_import(package, module, level)
            if not absolute:
                continue
            candidates = [absolute, *(f"{absolute}.{n}" for n in names if n != "*")]
            pieces = absolute.split(".")
            candidates.extend(".".join(pieces[:i]) for i in range(1, len(pieces)))
            resolved_any = False
            for candidate in candidates:
                target = project.module_file(candidate, roots)
                if target is not None:
                    edges.append((candidate, target))
                    resolved_any = True
            if not resolved_any and not level and pieces[0] in SEED_PACKAGES \
                    and not project.is_package_dir(absolute, roots):
                return True, []
        return False, edges

    def inert(self, name: str, rel: str, roots: list[str]) -> bool:
        key = (name, tuple(roots))
        if key in self.verdicts:
            return self.verdicts[key]
        # Iterative DFS over the import graph; any seed reachable makes every module on the way live.
        seen = {name}
        stack = [(name, rel)]
        live = False
        while stack and not live:
            current, current_rel = stack.pop()
            known = self.verdicts.get((current, tuple(roots)))
            if known is not None:
                if not known:
                    live = True
                continue
            seed, edges = self._edges(current, current_rel, roots)
            if seed:
                live = True
                break
            for module, target in edges:
                if module not in seen:
                    seen.add(module)
                    stack.append((module, target))
        if live:
            self.verdicts[key] = False
        else:
            for module in seen:  # the whole closure is inert
                self.verdicts[(module, tuple(roots))] = True
        return not live


def finish(project) -> None:
    """End of the walks: the parse checks left to the read-ahead helper are collected and reported."""
    prefilter = project._cache.get(("prefilter",))
    if prefilter is not None:
        prefilter.finish()


def for_project(project) -> Prefilter | None:
    if not enabled():
        return None
    cache_key = ("prefilter",)
    prefilter = project._cache.get(cache_key)
    if prefilter is None:
        from pgforklint.cache import cache_for

        prefilter = Prefilter(project, cache_for(project))
        project._cache[cache_key] = prefilter
    return prefilter


# --- lazy modules in the walk -----------------------------------------------------------------

from pgforklint.read.python import absolute_import, package_of  # noqa: E402
from pgforklint.extract.importtime import (  # noqa: E402  (after the pure-bytes part on purpose)
    UNKNOWN,
    AdapterVal,
    ConstVal,
    ContainerVal,
    ExternalVal,
    Frame,
    ModuleVal,
    Unknown,
)


class LazyNamespace(dict):
    """The namespace of a deferred module: any name may exist; reading it for real walks the module."""

    def __init__(self, interp, module: ModuleVal, initial: dict):
        super().__init__(initial)
        self.interp = interp
        self.module = module

    def __contains__(self, key) -> bool:
        return True

    def __missing__(self, key):
        # `from pkg import db` on an inert package: `pkg.db` is a submodule that may be live; importing it
        # is what Python does, and a placeholder would never be resolved by a call without arguments.
        if isinstance(key, str) and self.module.path and self.module.path.endswith("__init__.py"):
            name = f"{self.module.name}.{key}"
            roots = self.interp.module_roots
            rel = self.interp.project.module_file(name, roots)
            prefilter = for_project(self.interp.project)
            if rel is not None and prefilter is not None and not prefilter.inert(name, rel, roots):
                submodule = self.interp.import_module(name)
                if submodule is not None:
                    dict.__setitem__(self, key, submodule)
                    return submodule
        return OpaqueVal(self.interp, self.module, (("attr", key, None, None),))

    def _real(self) -> dict:
        return materialise(self.interp, self.module)

    def get(self, key, default=None):
        return self._real().get(key, default)

    def items(self):
        return self._real().items()

    def keys(self):
        return self._real().keys()

    def values(self):
        return self._real().values()

    def __iter__(self):
        return iter(self._real())

    def __len__(self) -> int:
        return len(self._real())

    def __setitem__(self, key, value) -> None:
        self._real()[key] = value

    def pop(self, key, *default):
        return self._real().pop(key, *default)

    def update(self, *args, **kwargs) -> None:
        self._real().update(*args, **kwargs)


def defer(interp, module: ModuleVal) -> bool:
    """Called by Interpreter.import_module before walking `module`: True when the walk may skip it."""
    prefilter = for_project(interp.project)
    if prefilter is None or module.path is None:
        return False
    if not prefilter.inert(module.name, module.path, interp.module_roots):
        return False
    if not prefilter.check_later(module.path) and not prefilter.parses(module.path):
        return False  # walked now, so that the syntax error is reported where the walk meets it
    module.namespace = LazyNamespace(interp, module, module.namespace)
    return True


def materialise(interp, module: ModuleVal) -> dict:
    namespace = module.namespace
    if not isinstance(namespace, LazyNamespace):
        return namespace
    module.namespace = dict(dict.items(namespace))
    source = interp.project.python(module.path)
    if source is not None:
        interp._import_depth += 1
        try:
            interp.walk_body(source.tree.body, Frame(module, None))
        except RecursionError:
            interp.project.report_too_deep(module.path)
        finally:
            interp._import_depth -= 1
    return module.namespace


def _inert_value(value) -> bool:
    if isinstance(value, (Unknown, ConstVal, OpaqueVal)):
        return True
    if isinstance(value, ModuleVal):
        return isinstance(value.namespace, LazyNamespace)
    if isinstance(value, ExternalVal):
        head = value.qualname.split(".", 1)[0]
        return head not in SEED_PACKAGES and head != "os"
    if isinstance(value, ContainerVal):
        return all(_inert_value(item) for item in value.items)
    return False


def resolve(interp, value):
    """The real value behind a placeholder (walking what it needs); anything else unchanged."""
    if isinstance(value, OpaqueVal):
        return value.resolve(interp)
    if isinstance(value, ContainerVal) and any(isinstance(item, OpaqueVal) for item in value.items):
        return ContainerVal([resolve(interp, item) for item in value.items], value.node)
    return value


def resolve_arguments(interp, args: list, kwargs: dict) -> tuple[list, dict]:
    if any(isinstance(a, (OpaqueVal, ContainerVal)) for a in args) or \
            any(isinstance(v, (OpaqueVal, ContainerVal)) for v in kwargs.values()):
        return [resolve(interp, a) for a in args], {k: resolve(interp, v) for k, v in kwargs.items()}
    return args, kwargs


class OpaqueVal(AdapterVal):
    """`module.a.b(...)` on a deferred module: replayed on the real module when something needs it."""

    def __init__(self, interp, module: ModuleVal, ops: tuple):
        self.interp = interp
        self.module = module
        self.ops = ops  # ("attr", name, node, frame) | ("call", (args, kwargs), node, frame, loc)
        self._resolved = None

    def attribute(self, interp, attr, node, frame):
        return OpaqueVal(interp, self.module, (*self.ops, ("attr", attr, node, frame)))

    def call(self, interp, node, args, kwargs, frame, loc):
        if all(_inert_value(a) for a in args) and all(_inert_value(v) for v in kwargs.values()):
            return OpaqueVal(interp, self.module, (*self.ops, ("call", (args, kwargs), node, frame, loc)))
        func = self.resolve(interp)
        args, kwargs = resolve_arguments(interp, args, kwargs)
        return interp.call_value(func, node, args, kwargs, frame)

    def set_attribute(self, interp, attr, value, location):
        target = self.resolve(interp)
        if isinstance(target, ModuleVal):
            target.namespace[attr] = value
        elif isinstance(target, AdapterVal):
            target.set_attribute(interp, attr, value, location)
        elif hasattr(target, "cls") and hasattr(target.cls, "namespace"):  # InstanceVal
            target.cls.namespace.setdefault(attr, value)

    def resolve(self, interp=None):
        if self._resolved is not None:
            return self._resolved
        interp = interp or self.interp
        value = self.module
        materialise(interp, self.module)
        for op in self.ops:
            if isinstance(value, OpaqueVal):
                value = value.resolve(interp)
            if op[0] == "attr":
                _, attr, node, frame = op
                value = interp.get_attribute(value, attr, node, frame or Frame(self.module, None))
            else:
                _, (args, kwargs), node, frame, loc = op
                args, kwargs = resolve_arguments(interp, args, kwargs)
                value = interp.call_value(value, node, args, kwargs, frame)
        if isinstance(value, OpaqueVal):
            value = value.resolve(interp)
        self._resolved = value if value is not None else UNKNOWN
        return self._resolved
