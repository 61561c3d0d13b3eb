"""The import-time walk on shapes real code has: conditions on the environment, and one finding per cause."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgforklint.analyze import lint_project
from pgforklint.config import find_config

DB = """import os

from sqlalchemy import create_engine, text

engine = create_engine("postgresql://localhost/shop")

if {test}:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
"""


def _lint(tmp_path: Path, files: dict[str, str]):
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return lint_project(tmp_path, find_config(tmp_path))


def _opens(result):
    return [o for server in result.model.servers for o in server.parent_effects.opens]


@pytest.mark.parametrize(("test", "default"), [
    ('os.environ.get("LOAD_FIXTURES") == "true"', False),
    ('os.environ.get("LOAD_FIXTURES", "false").lower() == "true"', False),
    ('os.getenv("WARM_UP", "1") == "1"', True),
    ('"PYTEST_CURRENT_TEST" in os.environ', False),
    ('"CI" not in os.environ', True),
    ('not os.environ.get("SKIP_CHECK")', True),
    ('os.environ["MODE"] == "dev"', None),
    ('DEV', True),
])
def test_condition_on_the_environment(tmp_path: Path, test: str, default) -> None:
    source = DB.format(test=test)
    if test == "DEV":
        source = source.replace('engine = create_engine', 'DEV = os.environ.get("APP_ENV", "dev") == "dev"\nengine = create_engine')
    result = _lint(tmp_path, {"Procfile": "web: gunicorn --preload app.db:app\n", "app/__init__.py": "",
                              "app/db.py": source})
    [open_] = _opens(result)
    assert open_.condition == test and open_.condition_default is default
    [finding] = [d for d in result.diagnostics if d.code == "PGF001"]
    said = {True: "(certain:", False: "(conditional: only where", None: "(conditional: under"}[default]
    assert said in finding.message


def test_no_condition_for_plain_ifs(tmp_path: Path) -> None:
    result = _lint(tmp_path, {"Procfile": "web: gunicorn --preload app.db:app\n", "app/__init__.py": "",
                              "app/db.py": DB.format(test="engine is not None")})
    [open_] = _opens(result)
    assert open_.condition is None


def test_one_finding_per_engine_and_parent(tmp_path: Path) -> None:
    source = DB.format(test="True") + "\nwith engine.begin() as conn:\n    conn.execute(text('SELECT 2'))\n"
    result = _lint(tmp_path, {"Procfile": "web: gunicorn --preload app.db:app\nworker: gunicorn --preload -w 2 app.db:app\n",
                              "app/__init__.py": "", "app/db.py": source})
    findings = [d for d in result.diagnostics if d.code == "PGF001"]
    assert len(findings) == 1 and findings[0].location.line == 8
    related = {(r.location.path, r.location.line): r.message for r in findings[0].related}
    assert "also uses this engine" in related[("app/db.py", 11)]
    assert "also loads it" in related[("Procfile", 2)]
