"""The facts cache: keyed by content and tool fingerprint; corrupt or foreign caches are ignored, never fatal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgforklint import cache, prefilter
from pgforklint.analyze import lint_project
from pgforklint.config import Config

FIXTURES = Path(__file__).parent / "fixtures"


def _run(root: Path):
    result = lint_project(root, Config())
    return sorted((d.code, d.location.path, d.location.line) for d in result.diagnostics)


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("PGFORKLINT_CACHE_DIR", str(folder))
    monkeypatch.delenv("PGFORKLINT_NO_CACHE", raising=False)
    monkeypatch.setattr(cache, "_disabled", False)
    return folder


def _store(root: Path) -> cache.FactsCache:
    from pgforklint.discover import discover
    from pgforklint.project import Project

    project = Project(root.resolve(), discover(root.resolve()), Config())
    store = cache.cache_for(project)
    assert store is not None
    return store


def test_second_run_hits_and_findings_are_unchanged(cache_dir: Path) -> None:
    root = FIXTURES / "gunicorn_warmup_query"
    store = _store(root)
    facts = store.facts(b"import sqlalchemy\n")
    store.save()
    again = cache.FactsCache(store.path, store.key)
    assert again.facts(b"import sqlalchemy\n") == facts
    assert again.hits == 1 and again.misses == 0
    assert _run(root) == _run(root)


@pytest.mark.parametrize("content", [b"\x00\xff not json", b"[]", b'{"format": 999, "entries": {}}',
                                     b'{"format": 1, "version": "0.0.0-other", "entries": {"x": [1, 2, 3]}}',
                                     b'{"format": 1, "version": "%s", "entries": {"k": "garbage"}}'])
def test_corrupt_or_foreign_cache_is_ignored(cache_dir: Path, content: bytes) -> None:
    root = FIXTURES / "gunicorn_warmup_query"
    store = _store(root)
    store.path.parent.mkdir(parents=True, exist_ok=True)
    store.path.write_bytes(content.replace(b"%s", cache.fingerprint().encode()))
    reloaded = cache.FactsCache(store.path, store.key)
    assert reloaded.facts(b"import os\n") == prefilter.FileFacts(((0, "os", ()),), False, reloaded.facts(b"import os\n").digest, None)
    reloaded.save()
    document = json.loads(store.path.read_text())
    assert document["version"] == cache.fingerprint()
    assert _run(root)  # the hazard is still found


def test_damaged_entry_is_recomputed(cache_dir: Path) -> None:
    store = _store(FIXTURES / "gunicorn_warmup_query")
    key = cache._digest(b"import os\n")
    store.path.parent.mkdir(parents=True, exist_ok=True)
    store.path.write_text(json.dumps({"format": cache.FORMAT, "version": cache.fingerprint(), "entries": {key: [5]}}))
    reloaded = cache.FactsCache(store.path, store.key)
    assert reloaded.facts(b"import os\n").imports == ((0, "os", ()),)
    assert reloaded.misses == 1


def test_unwritable_cache_dir_is_not_fatal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("PGFORKLINT_CACHE_DIR", str(blocker / "sub"))
    monkeypatch.setattr(cache, "_disabled", False)
    from pgforklint.discover import discover
    from pgforklint.project import Project

    root = (FIXTURES / "gunicorn_warmup_query").resolve()
    assert cache.cache_for(Project(root, discover(root), Config())) is None  # no place for the key: no cache
    store = cache.FactsCache(blocker / "sub" / "facts.json", b"k" * 32)
    store.facts(b"import os\n")
    store.save()  # must not raise
    assert _run(FIXTURES / "gunicorn_warmup_query")


def test_no_cache_reads_and_writes_nothing(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGFORKLINT_NO_CACHE", "1")
    from pgforklint.discover import discover
    from pgforklint.project import Project

    root = (FIXTURES / "gunicorn_warmup_query").resolve()
    assert cache.cache_for(Project(root, discover(root), Config())) is None
    assert not cache_dir.exists()


def test_cache_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGFORKLINT_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "pgforklint"
    config = Config(path=tmp_path / "pyproject.toml", cache_dir=".pgforklint_cache")
    assert cache.cache_dir(config) == (tmp_path / ".pgforklint_cache").resolve()
    monkeypatch.setenv("PGFORKLINT_CACHE_DIR", str(tmp_path / "env"))
    assert cache.cache_dir(config) == tmp_path / "env"


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.iterdir() if p.is_dir()))
def test_prefilter_never_changes_findings(fixture: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGFORKLINT_NO_CACHE", "1")
    with_prefilter = _run(FIXTURES / fixture)
    monkeypatch.setenv("PGFORKLINT_NO_PREFILTER", "1")
    assert _run(FIXTURES / fixture) == with_prefilter


def test_env_keys_cover_what_adapters_read() -> None:
    import re

    extract = Path(prefilter.__file__).parent / "extract"
    read = set()
    for source in extract.glob("*.py"):
        read.update(re.findall(r'interp\.env\.get\("([A-Z_]+)"', source.read_text()))
    assert {k.encode() for k in read} <= set(prefilter.ENV_KEYS)


def test_scan_over_approximates_imports() -> None:
    facts = prefilter.scan(b"import a.b as c, d\nfrom .x import (e,\n  f)\nif x: import g\r"
                           b"from h import i \\\n , j\n")
    assert (0, "a.b", ()) in facts.imports and (0, "d", ()) in facts.imports
    assert (1, "x", ("e", "f")) in facts.imports and (0, "g", ()) in facts.imports
    assert (0, "h", ("i", "j")) in facts.imports


# The statement finder must give exactly the matches of a plain `finditer` of the import regex (it only
# skips the bytes where no match can start).
_TRICKY_IMPORTS = [
    b"import os\n", b"from important import x\n", b"x = 'import'; import os\n", b"import_module(x); import y\n",
    b"if a: import b\nelse: from c import (d,\n e)\n", b"from a import (b,\n import_c)\nimport d\n",
    b"from a \\\n import b\n", b"x: int = 1; from . import y\n", b";import a\n", b":from b import c\n",
    b"importx import y\nimport\nimport  \n", b"# import a\n'''\nimport b\n'''\n", b"from a import b; import c; import d\n",
    b"class C: import e\n", b"\n\nimport", b"from", b"x = {'k': 1}; import z\n", b"a; b: import c\n",
]


def _finditer_imports(data: bytes) -> list[tuple[int, tuple]]:
    return [(m.start(), m.groups()) for m in prefilter._IMPORT.finditer(data)]


def _found_imports(data: bytes) -> list[tuple[int, tuple]]:
    return [(m.start(), m.groups()) for m in prefilter._import_statements(data)]


@pytest.mark.parametrize("data", _TRICKY_IMPORTS)
def test_import_statements_equal_finditer(data: bytes) -> None:
    assert _found_imports(data) == _finditer_imports(data)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"import", b"from", b" ", b"\t", b"\n", b";", b":", b"(", b")", b",", b"\\\n",
                                 b"#", b"a", b"b.c", b".", b"'", b"import_x", b"x import"]), max_size=40))
def test_import_statements_equal_finditer_on_random_input(parts: list[bytes]) -> None:
    data = b"".join(parts)
    assert _found_imports(data) == _finditer_imports(data)


def test_import_statements_equal_finditer_on_this_package() -> None:
    for source in Path(prefilter.__file__).parent.rglob("*.py"):
        data = source.read_bytes()
        assert _found_imports(data) == _finditer_imports(data), source


def test_platform_cache_folder_is_tagged_private_and_pruned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import stat
    import time

    monkeypatch.delenv("PGFORKLINT_CACHE_DIR", raising=False)
    monkeypatch.delenv("PGFORKLINT_NO_CACHE", raising=False)
    monkeypatch.setattr(cache, "_disabled", False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    folder = tmp_path / "xdg" / "pgforklint"
    folder.mkdir(parents=True)
    stale = folder / "facts-0123456789abcdef.json"
    stale.write_text("{}")
    old = time.time() - (cache.MAX_AGE_DAYS + 1) * 86400
    os.utime(stale, (old, old))
    fresh = folder / "facts-fedcba9876543210.json"
    fresh.write_text("{}")
    store = _store(FIXTURES / "gunicorn_warmup_query")
    assert store.path.parent == folder
    store.facts(b"import os\n")
    store.save()
    assert (folder / "CACHEDIR.TAG").read_bytes().startswith(b"Signature: 8a477f597d28d172789f06886806bc55")
    assert stat.S_IMODE((folder / "key").stat().st_mode) == 0o600
    assert store.path.exists() and fresh.exists() and not stale.exists()


def test_entries_without_this_users_tag_are_ignored(cache_dir: Path) -> None:
    store = _store(FIXTURES / "gunicorn_warmup_query")
    store.facts(b"import os\n")
    store.save()
    document = json.loads(store.path.read_text())
    assert cache.FactsCache(store.path, store.key).entries  # its own file: trusted
    assert not cache.FactsCache(store.path, b"x" * cache.KEY_BYTES).entries  # another key: ignored
    document["entries"][next(iter(document["entries"]))] = [[], False, True]  # doctored
    store.path.write_text(json.dumps(document, separators=(",", ":")))
    assert not cache.FactsCache(store.path, store.key).entries


def test_cache_dir_from_configuration_is_confined(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGFORKLINT_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    project_root = tmp_path / "repo"
    (project_root / "inside").mkdir(parents=True)
    (project_root / "out").symlink_to(tmp_path)
    for configured, allowed in ((".cache", True), ("inside/../.c", True), ("../elsewhere", False), ("/etc", False),
                                ("out/x", False), (str(tmp_path / "xdg" / "pgforklint" / "sub"), True)):
        config = Config(path=project_root / "pyproject.toml", cache_dir=configured)
        chosen = cache.cache_dir(config, project_root)
        assert (chosen != cache.user_cache_root()) == allowed or chosen == tmp_path / "xdg" / "pgforklint" / "sub", configured
