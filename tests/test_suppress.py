"""Suppression comments and per-file-ignores."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pgforklint.analyze import lint_project
from pgforklint.config import Config
from pgforklint.diagnostics import Diagnostic, Location
from pgforklint.suppress import PerFileIgnores, is_suppressed, line_suppresses

FIXTURES = Path(__file__).parent / "fixtures"


def diag(path: str, line: int, code: str = "PGF001") -> Diagnostic:
    return Diagnostic(code, Location(path, line, 1), "message")


@pytest.mark.parametrize("line, python, expected", [
    ("x = 1  # pgforklint: ignore[PGF001]", False, True),
    ("x = 1  # pgforklint: ignore[PGF002, PGF001]", False, True),
    ("x = 1  #pgforklint:ignore[pgf001]", False, True),
    ("x = 1  # PGFORKLINT: IGNORE[PGF001,]", False, True),
    ("x = 1  # pgforklint: ignore[PGF002]", False, False),
    ("x = 1  # pgforklint: ignore[PGF00]", False, False),  # codes in full, no prefixes
    ("x = 1  # pgforklint: ignore", False, False),  # no blanket form
    ("x = 1  # pgforklint: ignore[]", False, False),
    ("x = 1  # noqa: PGF001", True, True),
    ("x = 1  # noqa:PGF001,E501", True, True),
    ("x = 1  # noqa: E501 PGF001", True, True),
    ("x = 1  # NOQA: pgf001", True, True),
    ("x = 1  # noqa: PGF001", False, False),  # noqa is Python-only
    ("x = 1  # noqa", True, False),  # a bare noqa is for other tools
    ("x = 1  # noqa: E501", True, False),
    ("x = 1  # noqa: F401 because PGF001 is fine", True, False),  # codes end at the first non-code word
    ("x = 1", True, False),
])
def test_line_suppresses(line, python, expected):
    assert line_suppresses(line, "PGF001", python) is expected


def test_reported_line_or_comment_block_above():
    lines = [
        "import x",
        "# pgforklint: ignore[PGF001]",
        "# the warm-up query is harmless here: the pool is disposed below",
        "engine.connect()",
        "engine.connect()",
        "",
        "# pgforklint: ignore[PGF001]",
        "",
        "engine.connect()",
    ]
    assert is_suppressed(diag("app.py", 4), lines)
    assert not is_suppressed(diag("app.py", 5), lines)  # the comment covers the next code line only
    assert not is_suppressed(diag("app.py", 9), lines)  # a blank line breaks the block
    assert not is_suppressed(diag("app.py", 4, "PGF002"), lines)
    assert not is_suppressed(diag("app.py", 99), lines)
    assert not is_suppressed(diag("app.py", 1), [])


def test_noqa_on_the_line_above_does_not_count():
    lines = ["# noqa: PGF001", "engine.connect()"]
    assert not is_suppressed(diag("app.py", 2), lines)


@pytest.mark.parametrize("path, lines, line", [
    ("Procfile", ["web: gunicorn --preload app:app  # pgforklint: ignore[PGF001]"], 1),
    ("docker-compose.yml", ["services:", "  web:", "    # pgforklint: ignore[PGF001]", "    command: gunicorn"], 4),
    ("uwsgi.ini", ["[uwsgi]", "master = true  # pgforklint: ignore[PGF001]"], 2),
    ("pyproject.toml", ["# pgforklint: ignore[PGF001]", "x = 1"], 2),
    (".env", ["WEB_CONCURRENCY=8 # pgforklint: ignore[PGF001]"], 1),
    ("Dockerfile", ["# pgforklint: ignore[PGF001]", "CMD gunicorn --preload app:app"], 2),
])
def test_every_hash_comment_format(path, lines, line):
    assert is_suppressed(diag(path, line), lines)


def test_json_has_no_comments():
    assert not is_suppressed(diag("app.json", 1), ['{"formation": "# pgforklint: ignore[PGF001]"}'])


def test_per_file_ignores():
    ignores = PerFileIgnores({"tests/**": ["PGF0"], "Procfile.dev": ["PGF004"], "legacy/*.py": ["ALL"]})
    assert ignores.ignores(diag("tests/unit/test_x.py", 1, "PGF001"))
    assert not ignores.ignores(diag("tests/unit/test_x.py", 1, "PGF100"))
    assert ignores.ignores(diag("Procfile.dev", 1, "PGF004"))
    assert not ignores.ignores(diag("Procfile", 1, "PGF004"))
    assert ignores.ignores(diag("legacy/old.py", 1, "PGF100"))
    nested = PerFileIgnores({"app/*.py": ["PGF001"]}, base_prefix="svc")
    assert nested.ignores(diag("svc/app/db.py", 1))
    assert not nested.ignores(diag("app/db.py", 1))


def test_end_to_end_with_a_fixture(tmp_path):
    root = tmp_path / "proj"
    shutil.copytree(FIXTURES / "gunicorn_warmup_query", root)
    before = lint_project(root, Config())
    [finding] = [d for d in before.diagnostics if d.code == "PGF001"]
    source = root / finding.location.path
    lines = source.read_text(encoding="utf-8").splitlines()
    lines[finding.location.line - 1] += "  # noqa: PGF001"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    after = lint_project(root, Config())
    assert not [d for d in after.diagnostics if d.code == "PGF001"]
    assert after.suppressed == before.suppressed + 1
    lines[finding.location.line - 1] = lines[finding.location.line - 1].replace("# noqa: PGF001", "# noqa: PGF002")
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert [d for d in lint_project(root, Config()).diagnostics if d.code == "PGF001"]


def test_per_file_ignores_from_a_config_above_the_linted_folder(tmp_path):
    """The config's patterns are relative to its own folder, also when the linted folder is below it."""
    import shutil

    from pgforklint.analyze import lint_project
    from pgforklint.config import find_config

    fixture = Path(__file__).parent / "fixtures" / "gunicorn_warmup_query"
    shutil.copytree(fixture, tmp_path / "services" / "shop")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pgforklint.per-file-ignores]\n"services/shop/app/db.py" = ["PGF001"]\n', encoding="utf-8"
    )
    (tmp_path / ".git").mkdir()
    linted = tmp_path / "services" / "shop"
    result = lint_project(linted, find_config(linted))
    assert not [d for d in result.diagnostics if d.code == "PGF001"]


# -- PGF103's fix and the parsers' line numbering ----------------------------------------------------------------

@pytest.mark.parametrize("text, line, column, kind, codes, expected", [
    ("x = 1  # noqa: PGF001\ny = 2\n", 1, 8, "noqa", {"PGF001"}, "x = 1\ny = 2\n"),
    ("x = 1  # noqa: PGF001, E501\n", 1, 8, "noqa", {"PGF001"}, "x = 1  # noqa: E501\n"),
    ("x = 1  # noqa: E501 PGF001  # why\n", 1, 8, "noqa", {"PGF001"}, "x = 1  # noqa: E501  # why\n"),
    ("a\n# pgforklint: ignore[PGF002]\nb\n", 2, 1, "ignore", {"PGF002"}, "a\nb\n"),
    ("a\r\n  # pgforklint: ignore[PGF002, PGF999]\r\nb\r\n", 2, 3, "ignore", {"PGF999"},
     "a\r\n  # pgforklint: ignore[PGF002]\r\nb\r\n"),
    ("web: gunicorn app:app  # pgforklint: ignore[PGF004]", 1, 24, "ignore", {"PGF004"}, "web: gunicorn app:app"),
])
def test_remove_codes(text, line, column, kind, codes, expected):
    from pgforklint.suppress import remove_codes

    assert remove_codes(text, line, column, kind, codes) == expected


def test_remove_codes_refuses_a_moved_comment():
    from pgforklint.suppress import EditError, remove_codes

    with pytest.raises(EditError):
        remove_codes("x = 1\n", 1, 8, "noqa", {"PGF001"})


def test_lines_are_numbered_as_the_parsers_number_them():
    import ast

    from pgforklint.suppress import split_lines

    source = "a = 1\x0c\nb = 2  # \u2028 \x0b \x1c \x85\rc = 3\r\nd = 4\n"
    tree = ast.parse(source)
    numbers = {node.targets[0].id: node.lineno for node in tree.body}
    lines = split_lines(source)
    assert {name: lines[number - 1].lstrip("\x0c")[0] for name, number in numbers.items()} == {
        "a": "a", "b": "b", "c": "c", "d": "d"}
    assert len(lines) == 4
