"""Which SQLAlchemy a project allows, from every place it can say so, and what the messages and fixes make of it:
`Engine.dispose(close=False)` exists from SQLAlchemy 1.4.33."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pgforklint.analyze import lint_project
from pgforklint.config import find_config
from pgforklint.extract.requirements import version_range
from pgforklint.fix import fix_project

CASES = Path(__file__).parent / "fix_cases"
CUTOFF = (1, 4, 33)


def _range(tmp_path: Path, files: dict[str, str]):
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    result = lint_project(tmp_path, find_config(tmp_path))
    return version_range(result.project, "sqlalchemy")


@pytest.mark.parametrize(("files", "at_least"), [
    ({"requirements.txt": "SQLAlchemy==1.3.24\n"}, False),
    ({"requirements.txt": "sqlalchemy<1.4\n"}, False),
    ({"requirements.txt": "sqlalchemy~=1.3.0\n"}, False),
    ({"requirements.txt": "sqlalchemy==1.3.*\n"}, False),
    ({"requirements.txt": "sqlalchemy==1.4.33\n"}, True),
    ({"requirements.txt": "sqlalchemy>=1.4,<2\n"}, None),
    ({"requirements.txt": "sqlalchemy[asyncio]>=2.0 ; python_version >= '3.8'\n"}, True),
    ({"requirements.txt": "sqlalchemy\n"}, None),
    ({"requirements.txt": "-r requirements/base.txt\n", "requirements/base.txt": "SQLAlchemy==1.3.24\n"}, False),
    ({"requirements.txt": "sqlalchemy\n-c constraints.txt\n", "constraints.txt": "sqlalchemy<1.4\n"}, False),
    ({"setup.cfg": "[options]\ninstall_requires =\n    flask\n    SQLAlchemy>=1.4.40\n"}, True),
    ({"pyproject.toml": '[project]\nname = "x"\nversion = "1"\ndependencies = ["sqlalchemy~=1.3.0"]\n'}, False),
    ({"pyproject.toml": '[tool.poetry]\nname = "x"\nversion = "1"\n[tool.poetry.dependencies]\nsqlalchemy = "^1.3"\n'}, None),
    ({"pyproject.toml": '[tool.poetry]\nname = "x"\nversion = "1"\n[tool.poetry.dependencies]\nsqlalchemy = "~1.3"\n'}, False),
    ({"requirements.txt": "sqlalchemy>=1.3\n", "poetry.lock": '[[package]]\nname = "sqlalchemy"\nversion = "1.3.24"\n'}, False),
    ({"uv.lock": '[[package]]\nname = "sqlalchemy"\nversion = "2.0.36"\n'}, True),
    ({"Pipfile.lock": '{\n    "default": {\n        "sqlalchemy": {\n            "hashes": [],\n'
                      '            "version": "==1.3.24"\n        }\n    }\n}\n'}, False),
])
def test_version_range(tmp_path: Path, files: dict[str, str], at_least) -> None:
    assert _range(tmp_path, files).at_least(CUTOFF) is at_least


def test_old_pin_message_names_the_documented_alternative(tmp_path: Path) -> None:
    project = tmp_path / "p"
    shutil.copytree(CASES / "gunicorn_old_sqlalchemy_pre_fork" / "before", project)
    result = lint_project(project, find_config(project))
    [finding] = [d for d in result.diagnostics if d.code == "PGF001"]
    assert "`def pre_fork(server, worker): engine.dispose()`" in finding.message
    assert "SQLAlchemy==1.3.24 (requirements/base.txt) has no `dispose(close=False)`" in finding.message
    assert "close=False)`" not in finding.message.split("has no")[0]


def test_unpinned_message_says_both(tmp_path: Path) -> None:
    project = tmp_path / "p"
    shutil.copytree(CASES / "gunicorn_unpinned_sqlalchemy_pre_fork" / "before", project)
    [finding] = [d for d in lint_project(project, find_config(project)).diagnostics if d.code == "PGF001"]
    assert "dispose(close=False)" in finding.message and "before that version" in finding.message


def test_pgf003_on_an_old_pin_is_not_fixed_to_close_false(tmp_path: Path) -> None:
    project = tmp_path / "p"
    shutil.copytree(CASES / "pgf003_dispose_in_post_fork" / "before", project)
    (project / "requirements.txt").write_text("SQLAlchemy~=1.3.0\n")
    report = fix_project(project)
    assert not report.changes
    [finding] = [d for d in report.remaining if d.code == "PGF003"]
    assert "pre_fork" in finding.message and "1.4.33" in (finding.fix_hint or "")


def test_pgf003_unpinned_fix_is_unsafe(tmp_path: Path) -> None:
    project = tmp_path / "p"
    shutil.copytree(CASES / "pgf003_dispose_in_post_fork" / "before", project)
    (project / "requirements.txt").write_text("sqlalchemy\n")
    report = fix_project(project)
    assert not report.changes and report.unsafe_available == 1
    assert fix_project(project, unsafe=True).changes
