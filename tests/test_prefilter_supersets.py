"""Byte-level prefilters that let the analysis skip parsing a file must accept every file the parse would
have accepted (a superset): otherwise a finding is lost without a trace."""

from __future__ import annotations

import ast
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pgforklint.extract.django import _DATABASES_ASSIGNMENT, _assigns_databases

FIXTURES = Path(__file__).parent / "fixtures"

_TARGETS = ["DATABASES", "(DATABASES)", "X = DATABASES", "DATABASES: dict", "DATABASES: dict[str, dict]",
            "DATABASES \\\n", "(\n    DATABASES\n)"]
_VALUES = ["{}", "{'default': {'ENGINE': 'django.db.backends.postgresql'}}", "env.db()", "dict(default=x)"]
_WRAPPERS = ["{}", "if DEBUG:\n    {}\nelse:\n    pass", "try:\n    pass\nexcept Exception:\n    pass\nelse:\n    {}",
             "if a:\n    if b:\n        {}", "x = 1; {}"]


def _databases_verdicts(source: str) -> tuple[bool, bool]:
    tree = ast.parse(source)
    return (any(_assigns_databases(stmt) for stmt in tree.body),
            _DATABASES_ASSIGNMENT.search(source.encode()) is not None)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(_TARGETS), st.sampled_from(_VALUES), st.sampled_from(_WRAPPERS))
def test_databases_prefilter_accepts_every_assignment(target: str, value: str, wrapper: str) -> None:
    source = wrapper.format(f"{target} = {value}")
    try:
        assigns, may_assign = _databases_verdicts(source)
    except SyntaxError:
        return
    assert may_assign or not assigns, source


def test_databases_prefilter_on_every_fixture() -> None:
    checked = 0
    for path in FIXTURES.rglob("*.py"):
        try:
            assigns, may_assign = _databases_verdicts(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        assert may_assign or not assigns, path
        checked += assigns
    assert checked >= 10  # the fixtures do have settings modules


def test_databases_prefilter_skips_mere_mentions() -> None:
    for text in (b"settings.DATABASES['default']", b"if DATABASES == x: pass", b"{'DATABASES': 1}"):
        assert _DATABASES_ASSIGNMENT.search(text) is None
