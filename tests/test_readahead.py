"""The read-ahead helper (a forked process on large trees) never changes what is found: same findings with
it, without it, and when it fails; a deferred module with a syntax error is still reported; it leaves no
process or file descriptor behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pgforklint import readahead
from pgforklint.analyze import lint_project
from pgforklint.config import Config

FIXTURES = Path(__file__).parent / "fixtures"
ALL_FIXTURES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


def _findings(root: Path) -> list[tuple]:
    result = lint_project(root, Config())
    return sorted((d.code, d.location.path, d.location.line, d.location.column, d.message) for d in result.diagnostics)


@pytest.fixture
def no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    # Parse verdicts from a warm cache would leave the helper nothing to check.
    monkeypatch.setenv("PGFORKLINT_NO_CACHE", "1")


@pytest.fixture
def helper_always(monkeypatch: pytest.MonkeyPatch, no_cache: None) -> list[int]:
    """Start the helper on every tree, however small; the list collects the helpers started."""
    monkeypatch.setattr(readahead, "MIN_PYTHON_FILES", 0)
    started: list[int] = []
    original = readahead.ReadAhead.start.__func__

    def start(cls, discovery, needles):
        helper = original(cls, discovery, needles)
        if helper is not None:
            started.append(helper.pid)
        return helper

    monkeypatch.setattr(readahead.ReadAhead, "start", classmethod(start))
    return started


def _without_helper(root: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    with monkeypatch.context() as patch:
        patch.setenv("PGFORKLINT_NO_READAHEAD", "1")
        return _findings(root)


@pytest.mark.parametrize("fixture", ALL_FIXTURES)
def test_same_findings_with_and_without_the_helper(fixture: str, helper_always: list[int],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    with_helper = _findings(FIXTURES / fixture)
    assert helper_always, "the helper did not start"
    assert with_helper == _without_helper(FIXTURES / fixture, monkeypatch)


def _project_with_broken_inert_module(root: Path) -> Path:
    (root / "shop").mkdir()
    (root / "Procfile").write_text("web: gunicorn --preload -w 2 shop.wsgi:app\n")
    (root / "shop" / "__init__.py").write_text("")
    (root / "shop" / "money.py").write_text("def cents(x):\n    return round(x * 100\n")  # never closed
    (root / "shop" / "wsgi.py").write_text(
        "from sqlalchemy import create_engine\n\nfrom shop.money import cents\n\n"
        "engine = create_engine('postgresql://localhost/shop')\nengine.connect()\n\n"
        "def app(environ, start_response):\n    return [str(cents(1)).encode()]\n"
    )
    return root


def test_deferred_module_with_a_syntax_error_is_reported_through_the_helper(
        tmp_path: Path, helper_always: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    from pgforklint import prefilter

    root = _project_with_broken_inert_module(tmp_path)
    expected = _without_helper(root, monkeypatch)

    def checked_here(self, rel):
        raise AssertionError(f"{rel} was checked in the parent, not by the helper")

    monkeypatch.setattr(prefilter.Prefilter, "parses", checked_here)
    found = _findings(root)
    assert helper_always
    codes = {(code, path) for code, path, *_ in found}
    assert ("PGF100", "shop/money.py") in codes and ("PGF001", "shop/wsgi.py") in codes
    assert found == expected


def test_a_helper_that_fails_changes_nothing(tmp_path: Path, helper_always: list[int],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project_with_broken_inert_module(tmp_path)
    expected = _without_helper(root, monkeypatch)

    def crash(*args, **kwargs):
        raise RuntimeError("helper failure")

    monkeypatch.setattr(readahead, "_serve", crash)  # the forked helper runs this and ends without answering
    assert _findings(root) == expected
    assert helper_always


def test_a_helper_that_answers_nonsense_changes_nothing(tmp_path: Path, helper_always: list[int],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project_with_broken_inert_module(tmp_path)
    expected = _without_helper(root, monkeypatch)

    def nonsense(files, python, needles, requests, answers):
        readahead._send(answers, {"needles": [1, 2]})  # wrong length
        while os.read(requests, 1 << 16):
            pass
        readahead._send(answers, ["not", "a", "dict"])

    monkeypatch.setattr(readahead, "_serve", nonsense)
    assert _findings(root) == expected


def _open_descriptors() -> set[str]:
    return set(os.listdir("/proc/self/fd")) if Path("/proc/self/fd").is_dir() else set()


def test_no_process_or_descriptor_is_left_behind(helper_always: list[int]) -> None:
    before = _open_descriptors()
    _findings(FIXTURES / "gunicorn_warmup_query")
    assert helper_always
    for pid in helper_always:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # already reaped
    assert _open_descriptors() == before


def test_small_trees_do_not_start_the_helper(no_cache: None) -> None:
    from pgforklint.discover import discover
    from pgforklint.project import PYTHON_NEEDLES

    discovery = discover((FIXTURES / "gunicorn_warmup_query").resolve())
    assert readahead.ReadAhead.start(discovery, PYTHON_NEEDLES) is None


def test_needle_masks_from_both_ends_match_a_direct_scan(tmp_path: Path, no_cache: None) -> None:
    from pgforklint.discover import discover
    from pgforklint.project import PYTHON_NEEDLES, needle_mask

    words = [b"x = 1\n", b"import multiprocessing\n", b"if __name__ == '__main__':\n    pass\n", b"DATABASES = {}\n",
             b"os.fork()\n", b"# newrelic.agent.initialize\n"]
    for number in range(readahead.MIN_PYTHON_FILES + 300):
        (tmp_path / f"m{number:04d}.py").write_bytes(b"".join(w for bit, w in enumerate(words) if number >> bit & 1))
    discovery = discover(tmp_path.resolve())
    helper = readahead.ReadAhead.start(discovery, PYTHON_NEEDLES)
    assert helper is not None
    try:
        for source in discovery.files:
            assert helper.needle_mask(source.rel) == needle_mask(source, PYTHON_NEEDLES), source.rel
    finally:
        helper.close()


def test_a_full_request_pipe_never_blocks(tmp_path: Path, helper_always: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """A helper that reads no request: the checks it cannot take are done here, and the run ends."""
    root = _project_with_broken_inert_module(tmp_path)
    expected = _without_helper(root, monkeypatch)

    def deaf(files, python, needles, requests, answers):
        import time

        time.sleep(2)  # neither reads requests nor answers for a while

    monkeypatch.setattr(readahead, "_serve", deaf)
    real_write = os.write

    def full(fd, data):
        if data.endswith(b"\n") and data[:-1].isdigit():
            raise BlockingIOError(11, "Resource temporarily unavailable")
        return real_write(fd, data)

    monkeypatch.setattr(readahead.os, "write", full)
    assert _findings(root) == expected
