"""Syntax newer than the interpreter (PEP 695, 701, 750, 758) is read with its lines kept; broken syntax
stays a PGF100 at the line of the real error."""

from __future__ import annotations

import ast

import pytest

from pgforklint.errors import ReadError
from pgforklint.read.newer_syntax import downlevel
from pgforklint.read.python import parse_python

NEWER = '''\
import os

type Row = tuple[int, str]
type Pair[T] = tuple[T, T]


class Repo[T]:
    def get[K: str](self, key: K) -> T:
        return os.environ.get(key)


def first[T](xs: list[T]) -> T:
    return xs[0]


name = "x"
msg = f"{"a":>5} {name!r} {os.environ.get("HOME")}"
multi = f"{
    os.getpid()
}"
nested = f"{f"{name}"}"
spec = f"{3.14:{"10"}.{2}}"
joined = f"{"a"}" "tail"
esc = f"{'\\n'.join(['a'])}"
templ = t"{name}"
try:
    pass
except* ValueError:
    pass
try:
    pass
except ValueError, TypeError:
    pass
after = engine_factory()
'''


def test_newer_syntax_parses_with_lines_kept() -> None:
    tree = parse_python(NEWER)
    rewritten = downlevel(NEWER)
    assert rewritten is not None and rewritten.count("\n") == NEWER.count("\n")
    by_name = {n.name: n.lineno for n in ast.walk(tree) if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    assert by_name == {"Repo": 7, "get": 8, "first": 12}
    targets = {t.id: n.lineno for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    assert targets["Row"] == 3 and targets["Pair"] == 4 and targets["after"] == 34
    calls = {(n.func.attr, n.lineno, n.col_offset) for n in ast.walk(tree)
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    # calls inside PEP 701 fields are kept, at their own positions
    assert ("get", 17, 27) in calls and ("getpid", 19, 4) in calls and ("join", 24, 9) in calls


def test_type_parameters_over_several_lines_keep_the_lines() -> None:
    source = "def pick[\n    T: int, **P\n](xs: list[T]) -> T:\n    return xs[0]\n\n\nafter = 1\n"
    tree = parse_python(source)
    assert [(n.name, n.lineno) for n in tree.body if isinstance(n, ast.FunctionDef)] == [("pick", 1)]
    assert tree.body[-1].lineno == 7


def test_plain_files_are_not_rewritten() -> None:
    assert downlevel("x = f'{a}' 'b'\ndef f(x):\n    return type(x)\n") is None


@pytest.mark.parametrize(("source", "line"), [
    (NEWER + "x = (\n", 35),                                  # a real error after newer syntax: its own line
    (NEWER.replace('name = "x"', 'name = = "x"'), 16),
    ('ok = f"{"a"}"\ny = f"{"a" b}"\n', 2),                     # a broken field inside a PEP 701 f-string
    ("x = 1\ndef f(:\n", 2),
    ("type X[T = int\n", 1),
])
def test_broken_syntax_stays_an_error_at_its_line(source: str, line: int) -> None:
    with pytest.raises(ReadError) as error:
        parse_python(source)
    assert error.value.line == line


def test_fix_accepts_newer_syntax() -> None:
    from pgforklint.fix.source import python_parses

    assert python_parses(NEWER) is None
    assert python_parses("def f(:\n") is not None


def test_read_ahead_parse_check_accepts_newer_syntax(tmp_path) -> None:
    # The read-ahead helper (large trees) and the prefilter check deferred modules with `read.python.parses`.
    from pgforklint.read.python import parses

    (tmp_path / "new.py").write_text(NEWER)
    (tmp_path / "broken.py").write_text(NEWER + "x = (\n")
    assert parses(tmp_path / "new.py", "new.py")
    assert not parses(tmp_path / "broken.py", "broken.py")
