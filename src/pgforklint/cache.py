"""A cache of per-file prefilter facts, keyed by the file's content hash and the tool's version.

Where: `$PGFORKLINT_CACHE_DIR`, else `cache-dir` from the configuration (relative to the file that set
it), else the platform's cache folder (`$XDG_CACHE_HOME/pgforklint` or `~/.cache/pgforklint`,
`~/Library/Caches/pgforklint` on macOS, `%LOCALAPPDATA%\\pgforklint` on Windows). One JSON file per
project root (`facts-<hash of the root>.json`); each run rewrites it with the entries that run used, so
it never grows beyond the project, and files of projects not linted for `MAX_AGE_DAYS` are pruned. The
platform folder holds a `CACHEDIR.TAG` (backup tools skip it). JSON, never pickle.

The linted repository is untrusted, and so is what it can write or ship:

- `cache-dir` from its configuration is honoured only inside the project (the configuration file's
  folder or the linted root) or inside the user's cache folder, in a real folder the user owns and
  others cannot write; anything else (`../../..`, a symlink out, `/etc`) falls back to the default.
- A cache file is trusted only with a valid tag: a keyed BLAKE2 hash of its entries under a random key
  kept in the user's cache folder (`key`, mode 0600), which a repository cannot know. A committed or
  doctored facts file fails the check and is ignored, so it cannot change the findings.
- Files are written with `safeio.write_private`: random temporary names created with `O_EXCL`, never
  through a symlink, then renamed.

A missing, corrupt, foreign (other version or format), unverified or unwritable cache is ignored: the
run goes on and recomputes. `--no-cache` or `PGFORKLINT_NO_CACHE=1` turns it off.

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
from pgforklint.safeio import make_private_folder, owned_by_user, read_regular, write_private

FORMAT = 2
_disabled = False
# A facts file larger than this is not read (a planted huge file costs nothing).
MAX_CACHE_BYTES = 64 * 1024 * 1024
# Facts files of projects not linted for this long are removed; at most MAX_PROJECTS are kept.
MAX_AGE_DAYS = 30
MAX_PROJECTS = 200
KEY_BYTES = 32
CACHEDIR_TAG = (b"Signature: 8a477f597d28d172789f06886806bc55\n"
                b"# This file is a cache directory tag created by pgforklint.\n"
                b"# For information about cache directory tags, see https://bford.info/cachedir/\n")
_ENTRIES = b',"entries":'


def disable() -> None:
    """`--no-cache`: nothing read or written for the rest of the process."""
    global _disabled
    _disabled = True


def is_enabled() -> bool:
    return not _disabled and os.environ.get("PGFORKLINT_NO_CACHE", "") in ("", "0")


def user_cache_root() -> Path:
    """The platform's cache folder for pgforklint (the user's own, never the repository's)."""
    import sys

    if sys.platform == "win32":  # pragma: no cover - not run on CI
        local = os.environ.get("LOCALAPPDATA")
        return (Path(local) if local else Path.home() / "AppData" / "Local") / "pgforklint"
    if sys.platform == "darwin":  # pragma: no cover
        return Path.home() / "Library" / "Caches" / "pgforklint"
    xdg = os.environ.get("XDG_CACHE_HOME")
    # the XDG specification: a relative value is invalid and ignored
    return (Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache") / "pgforklint"


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def configured_dir(config, root: Path | None = None) -> Path | None:
    """`cache-dir` from the configuration when it may be used: inside the project (the configuration
    file's folder or `root`) or inside the user's cache folder, once every symlink is resolved."""
    configured = getattr(config, "cache_dir", None)
    if not configured:
        return None
    base = Path(getattr(config, "base_dir", None) or Path.cwd()).resolve()
    try:
        folder = (base / configured).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    allowed = [base, user_cache_root().resolve()]
    if root is not None:
        allowed.append(Path(root).resolve())
    return folder if any(_inside(folder, a) for a in allowed) else None


def cache_dir(config=None, root: Path | None = None) -> Path:
    env = os.environ.get("PGFORKLINT_CACHE_DIR")
    if env:
        return Path(env)
    return configured_dir(config, root) or user_cache_root()


def fingerprint() -> str:
    """The tool's version plus the prefilter's rules: facts computed under other rules are foreign."""
    from pgforklint import prefilter

    rules = repr((sorted(prefilter.SEED_PACKAGES), prefilter.TEXT_NEEDLES.pattern, prefilter.ENV_KEYS,
                  prefilter._ENV_WRITE.pattern, prefilter._IMPORT.pattern)).encode()
    return f"{__version__}+{blake2b(rules, digest_size=6).hexdigest()}"


def _digest(data: bytes) -> str:
    return blake2b(data, digest_size=16).hexdigest()


class FactsCache:
    def __init__(self, path: Path, key: bytes | None = None):
        self.path = path
        self.key = key  # the tag key; None: nothing is read or written (no trusted place for a key)
        self.entries: dict[str, list] = {}
        self.used: dict[str, list] = {}
        self.hits = 0
        self.misses = 0
        self._dirty = False
        self._load()

    def _tag(self, payload: bytes) -> str:
        return blake2b(payload, key=self.key, digest_size=16, person=b"pgforklint-fact").hexdigest()

    def _load(self) -> None:
        if self.key is None:
            return
        try:
            raw = read_regular(self.path, MAX_CACHE_BYTES + 1, follow_symlinks=False)
        except OSError:
            return  # missing, a FIFO, a symlink: start empty
        cut = raw.find(_ENTRIES)
        if len(raw) > MAX_CACHE_BYTES or cut < 0 or not raw.endswith(b"}"):
            return
        try:
            document = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError, MemoryError):
            return  # corrupt (even `[[[[...` too deep for json): start empty
        if not isinstance(document, dict) or document.get("format") != FORMAT \
                or document.get("version") != fingerprint() or not isinstance(document.get("entries"), dict):
            return  # another version's or another tool's file: ignored, overwritten on save
        tag = document.get("tag")
        if not isinstance(tag, str) or tag != self._tag(raw[cut + len(_ENTRIES):-1]):
            return  # not written by this user's pgforklint (shipped in a repository, edited): ignored
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
        if self.key is None or not (self._dirty or len(self.used) != len(self.entries)) or not is_enabled():
            return
        payload = json.dumps(self.used, separators=(",", ":")).encode("utf-8")
        header = json.dumps({"format": FORMAT, "version": fingerprint(), "tool": "pgforklint",
                             "tag": self._tag(payload)}, separators=(",", ":")).encode("utf-8")
        try:
            folder = self.path.parent
            if not make_private_folder(folder):
                return  # not a folder this user owns alone: never written into
            write_private(folder, self.path.name, header[:-1] + _ENTRIES + payload + b"}")
            if folder == user_cache_root():
                prune(folder, keep=self.path.name)
        except OSError:
            pass  # a read-only or full disk: the next run recomputes
        self._dirty = False


def _tag_cache_folder(folder: Path) -> None:
    """`CACHEDIR.TAG` (https://bford.info/cachedir/): backup and archiving tools skip the folder."""
    if not (folder / "CACHEDIR.TAG").exists():
        try:
            write_private(folder, "CACHEDIR.TAG", CACHEDIR_TAG)
        except OSError:
            pass


def prune(folder: Path, keep: str = "", now: float | None = None) -> list[str]:
    """Remove facts files not used for MAX_AGE_DAYS, and the oldest beyond MAX_PROJECTS; the names removed."""
    import time

    now = time.time() if now is None else now
    found = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith(("facts-", ".facts-")) and entry.name != keep:
                    try:
                        found.append((entry.stat(follow_symlinks=False).st_mtime, entry.name))
                    except OSError:
                        continue
    except OSError:
        return []
    found.sort(reverse=True)
    removed = []
    for number, (mtime, name) in enumerate(found):
        stale_temporary = name.startswith(".") and now - mtime > 3600
        if stale_temporary or now - mtime > MAX_AGE_DAYS * 86400 or number >= MAX_PROJECTS - 1:
            try:
                os.unlink(folder / name)
                removed.append(name)
            except OSError:
                pass
    return removed


def _key(folder: Path) -> bytes | None:
    """The user's random tag key, kept in a folder only this user can write (made on first use)."""
    if not make_private_folder(folder):
        return None
    _tag_cache_folder(folder)
    path = folder / "key"
    try:
        key = read_regular(path, KEY_BYTES + 1, follow_symlinks=False)
        if len(key) == KEY_BYTES and owned_by_user(os.stat(path, follow_symlinks=False)):
            return key
    except OSError:
        pass
    try:
        write_private(folder, "key", os.urandom(KEY_BYTES))
        key = read_regular(path, KEY_BYTES + 1, follow_symlinks=False)  # another run may have won the race
    except OSError:
        return None
    return key if len(key) == KEY_BYTES else None


def cache_for(project) -> FactsCache | None:
    """The facts cache of a project (None when caching is off or there is no trusted place for its key);
    saved when the process exits."""
    if not is_enabled():
        return None
    root = str(getattr(project, "root", ""))
    name = f"facts-{blake2b(root.encode('utf-8', 'surrogateescape'), digest_size=8).hexdigest()}.json"
    folder = cache_dir(getattr(project, "config", None), getattr(project, "root", None))
    # The key lives with the facts when the user chose the folder (`PGFORKLINT_CACHE_DIR`) or it is the
    # platform's; a folder the configuration chose may be inside the repository: its key stays outside.
    chosen_by_user = bool(os.environ.get("PGFORKLINT_CACHE_DIR"))
    key = _key(folder if chosen_by_user else user_cache_root())
    if key is None:
        return None
    store = FactsCache(folder / name, key)
    atexit.register(store.save)
    return store
