"""A cache of per-file prefilter facts, keyed by the file's content hash and the tool's version.

Where: `$PGFORKLINT_CACHE_DIR`, else `cache-dir` from the configuration (relative to the file that set
it), else `$XDG_CACHE_HOME/pgforklint`, else `~/.cache/pgforklint`. One JSON file per project root
(`facts-<hash of the root>.json`); each run rewrites it with the entries that run used, so it never
grows beyond the project. JSON, never pickle: a cache folder inside a repository is project data and
must not be able to run code. A missing, corrupt, foreign (other version or format) or unwritable cache
is ignored: the run goes on and recomputes. `--no-cache` or `PGFORKLINT_NO_CACHE=1` turns it off.

What is cached is what the prefilter derives from bytes (imports, needles): parsed syntax trees are not,
because loading a pickled `ast` tree costs as much as parsing the source again (benchmarks/README.md).
"""

from __future__ import annotations

import atexit
import json
import os
from pathlib import Path

try:  # hashlib's import loads OpenSSL's bindings (2 ms of a 0.1 s run); BLAKE2 is CPython's own module
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - other interpreters
    from hashlib import blake2b

from pgforklint import __version__

FORMAT = 1
_disabled = False


def disable() -> None:
    """`--no-cache`: nothing read or written for the rest of the process."""
    global _disabled
    _disabled = True


def is_enabled() -> bool:
    return not _disabled and os.environ.get("PGFORKLINT_NO_CACHE", "") in ("", "0")


def cache_dir(config=None) -> Path:
    env = os.environ.get("PGFORKLINT_CACHE_DIR")
    if env:
        return Path(env)
    configured = getattr(config, "cache_dir", None)
    if configured:
        base = getattr(config, "base_dir", None) or Path.cwd()
        return (Path(base) / configured).resolve()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "pgforklint"


def fingerprint() -> str:
    """The tool's version plus the prefilter's rules: facts computed under other rules are foreign."""
    from pgforklint import prefilter

    rules = repr((sorted(prefilter.SEED_PACKAGES), prefilter.TEXT_NEEDLES.pattern, prefilter.ENV_KEYS,
                  prefilter._ENV_WRITE.pattern, prefilter._IMPORT.pattern)).encode()
    return f"{__version__}+{blake2b(rules, digest_size=6).hexdigest()}"


def _digest(data: bytes) -> str:
    return blake2b(data, digest_size=16).hexdigest()


class FactsCache:
    def __init__(self, path: Path):
        self.path = path
        self.entries: dict[str, list] = {}
        self.used: dict[str, list] = {}
        self.hits = 0
        self.misses = 0
        self._dirty = False
        self._load()

    def _load(self) -> None:
        try:
            with open(self.path, "rb") as handle:
                document = json.loads(handle.read().decode("utf-8"))
        except (OSError, ValueError, UnicodeDecodeError, RecursionError, MemoryError):
            return  # missing or corrupt (even `[[[[...` too deep for json): start empty
        if not isinstance(document, dict) or document.get("format") != FORMAT \
                or document.get("version") != fingerprint() or not isinstance(document.get("entries"), dict):
            return  # another version's or another tool's file: ignored, overwritten on save
        self.entries = document["entries"]

    def facts(self, data: bytes):
        from pgforklint.prefilter import FileFacts, scan

        key = _digest(data)
        raw = self.entries.get(key)
        if raw is not None:
            try:
                imports, needle, parses = raw
                facts = FileFacts(tuple((int(level), str(module), tuple(str(n) for n in names))
                                        for level, module, names in imports), bool(needle), key,
                                  parses if isinstance(parses, bool) else None)
                self.hits += 1
                self.used[key] = raw
                return facts
            except (TypeError, ValueError):
                pass  # a damaged entry: recomputed below
        facts = scan(data)
        self.misses += 1
        self.used[key] = [[[level, module, list(names)] for level, module, names in facts.imports], facts.needle, None]
        self._dirty = True
        return FileFacts(facts.imports, facts.needle, key, None)

    def set_parses(self, key: str, ok: bool) -> None:
        entry = self.used.get(key)
        if entry is not None and entry[2] != ok:
            entry[2] = ok
            self._dirty = True

    def save(self) -> None:
        if not (self._dirty or len(self.used) != len(self.entries)) or not is_enabled():
            return
        document = {"format": FORMAT, "version": fingerprint(), "tool": "pgforklint", "entries": self.used}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            with open(temporary, "w", encoding="utf-8") as handle:
                json.dump(document, handle, separators=(",", ":"))
            os.replace(temporary, self.path)
        except OSError:
            pass  # a read-only or full disk: the next run recomputes
        self._dirty = False


def cache_for(project) -> FactsCache | None:
    """The facts cache of a project (None when caching is off); saved when the process exits."""
    if not is_enabled():
        return None
    root = str(getattr(project, "root", ""))
    name = f"facts-{blake2b(root.encode('utf-8', 'surrogateescape'), digest_size=8).hexdigest()}.json"
    store = FactsCache(cache_dir(getattr(project, "config", None)) / name)
    atexit.register(store.save)
    return store
