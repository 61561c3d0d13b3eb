"""Unit tests of the fixers: exact edits, uWSGI (hand-built model), safety nets, and the CLI flags."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from pgforklint.cli import main
from pgforklint.diagnostics import Location
from pgforklint.extract.requirements import VersionRange
from pgforklint.fix import Applicability, apply_fixes, fix_project
from pgforklint.fix.base import Context, Edit, Fix, NoFix, engine_recipe
from pgforklint.fix.pyedit import EditError, dispose_keep, ensure_function
from pgforklint.fix.source import read_source, write_atomic
from pgforklint.fix.uwsgi import postfork_fix, set_lazy_apps
from pgforklint.model import (
    AppRef,
    DeploymentModel,
    Engine,
    EngineKind,
    Flag,
    Origin,
    OriginKind,
    Quantity,
    Server,
    ServerKind,
)

CASES = Path(__file__).parent / "fix_cases"


# --- dispose(close=False) ---------------------------------------------------------------------


@pytest.mark.parametrize("before, after", [
    ("engine.dispose()\n", "engine.dispose(close=False)\n"),
    ("engine.dispose(True)  # keep\n", "engine.dispose(False)  # keep\n"),
    ("engine.dispose(close=True)\n", "engine.dispose(close=False)\n"),
    ("engine.dispose(close=False)\n", "engine.dispose(close=False)\n"),
])
def test_dispose_keep(before: str, after: str) -> None:
    assert dispose_keep(before, 1, 0) == after


def test_dispose_keep_await_and_unknown_arguments() -> None:
    text = "async def f():\n    await db.engine.dispose()\n"
    assert dispose_keep(text, 2, 10) == "async def f():\n    await db.engine.dispose(close=False)\n"
    with pytest.raises(EditError):
        dispose_keep("engine.dispose(close=flag)\n", 1, 0)
    with pytest.raises(EditError):
        dispose_keep("engine.connect()\n", 1, 0)


def test_dispose_keep_non_ascii_column() -> None:
    text = "x = 'é'; engine.dispose()\n"
    column = len("x = 'é'; ")  # locations count characters, not UTF-8 bytes
    assert dispose_keep(text, 1, column) == "x = 'é'; engine.dispose(close=False)\n"


# --- hooks --------------------------------------------------------------------------------------


def test_extend_hook_keeps_parameter_names_and_is_idempotent() -> None:
    text = "def post_fork(_server, _worker):\n    pass\n"
    once = ensure_function(text, "post_fork", "server, worker", ["from app.db import engine", "engine.dispose(close=False)"])
    assert once == "def post_fork(_server, _worker):\n    from app.db import engine\n\n    engine.dispose(close=False)\n"
    assert ensure_function(once, "post_fork", "server, worker", ["from app.db import engine", "engine.dispose(close=False)"]) == once


def test_hook_with_early_return_gets_the_reset_first() -> None:
    text = 'def post_fork(server, worker):\n    """Doc."""\n    if worker.age > 1:\n        return\n    server.log.info("x")\n'
    out = ensure_function(text, "post_fork", "server, worker", ["engine.dispose(close=False)"])
    assert out.splitlines()[2] == "    engine.dispose(close=False)"


def test_hook_bound_otherwise_is_not_touched() -> None:
    with pytest.raises(EditError):
        ensure_function("from hooks import post_fork\n", "post_fork", "server, worker", ["engine.dispose(close=False)"])


def test_django_pre_fork_closes_in_the_master() -> None:
    engine = Engine(EngineKind.DJANGO, "django:default", Location("settings.py", 1))
    recipe = engine_recipe(Context(DeploymentModel(root="."), Path(".")), _server(ServerKind.GUNICORN), engine)
    assert recipe.parent_side
    out = ensure_function("", "pre_fork", "server, worker", recipe.body())
    assert out == ("def pre_fork(server, worker):\n    from django.db import connections\n\n"
                   "    connections.close_all()\n")


def test_psycopg_pools_have_no_fix() -> None:
    ctx = Context(DeploymentModel(root="."), Path("."))
    for kind in (EngineKind.PSYCOPG2_POOL, EngineKind.PSYCOPG_POOL, EngineKind.RAW_CONNECTION):
        with pytest.raises(NoFix, match="no automatic fix"):
            engine_recipe(ctx, _server(ServerKind.GUNICORN), Engine(kind, "app:pool", Location("app.py", 3)))


# --- uWSGI, against a hand-built model -------------------------------------------------------------


def _server(kind: ServerKind, app: AppRef | None = None, config: str | None = None) -> Server:
    return Server(kind, Location(config or "Procfile", 1), forks=True,
                  loads_app_in_parent=Flag(True, Origin(OriginKind.DEFAULT)), processes=Quantity.default(4, ""),
                  threads=Quantity.default(1, ""), app=app, config_path=config)


def test_uwsgi_postfork_guarded_import(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "db.py").write_text("from sqlalchemy import create_engine\n\nengine = create_engine('postgresql://')\n")
    wsgi = '"""WSGI entry."""\nfrom flask import Flask\n\nfrom app.db import engine\n\napplication = Flask(__name__)\n'
    (tmp_path / "app" / "wsgi.py").write_text(wsgi)
    engine = Engine(EngineKind.SQLALCHEMY, "app.db:engine", Location("app/db.py", 3))
    server = _server(ServerKind.UWSGI, AppRef("app.wsgi", "application", False, Location("uwsgi.ini", 2)), "uwsgi.ini")
    model = DeploymentModel(root=str(tmp_path))
    model.facts["sqlalchemy_versions"] = VersionRange("sqlalchemy", (2, 0), None, None, "SQLAlchemy>=2.0")
    ctx = Context(model, tmp_path)
    fix = postfork_fix(ctx, server, engine, engine_recipe(ctx, server, engine))
    assert fix.applicability is Applicability.SAFE
    _, changes, skipped = apply_fixes(tmp_path, [fix], write=True)
    assert not skipped
    assert (tmp_path / "app" / "wsgi.py").read_text() == (
        '"""WSGI entry."""\n'
        "from flask import Flask\n\n"
        "from app.db import engine\n\n"
        "try:\n"
        "    from uwsgidecorators import postfork\n"
        "except ImportError:  # not running under uWSGI: keep the module importable\n"
        "    def postfork(function):\n"
        "        return function\n\n"
        "application = Flask(__name__)\n\n\n"
        "@postfork\n"
        "def reset_database_pools():\n"
        "    # Drop the pool inherited from the master without closing its sockets (pgforklint --fix).\n"
        "    engine.dispose(close=False)\n"
    )
    _, again, _ = apply_fixes(tmp_path, [fix], write=True)
    assert again == []


def test_uwsgi_lazy_apps() -> None:
    text = "[uwsgi]\r\nmodule = app:app\r\nmaster = true\r\n"
    once = set_lazy_apps(text)
    assert once == "[uwsgi]\r\nlazy-apps = true\r\nmodule = app:app\r\nmaster = true\r\n"
    assert set_lazy_apps(once) == once
    # uWSGI matches option names exactly: `lazy_apps` is not an option, so it becomes `lazy-apps` whatever its value.
    assert set_lazy_apps("[uwsgi]\nlazy_apps = false\n") == "[uwsgi]\nlazy-apps = true\n"
    assert set_lazy_apps("[uwsgi]\n  lazy_apps=true  # typo\n") == "[uwsgi]\n  lazy-apps=true  # typo\n"
    assert set_lazy_apps("[uwsgi]\nlazy-apps = false\n") == "[uwsgi]\nlazy-apps = true\n"
    assert set_lazy_apps("[uwsgi]\nlazy-apps = 1\n") == "[uwsgi]\nlazy-apps = 1\n"
    assert set_lazy_apps("[other]\nlazy_apps = true\n[uwsgi]\nmaster = true\n") == \
        "[other]\nlazy_apps = true\n[uwsgi]\nlazy-apps = true\nmaster = true\n"


# --- safety nets ---------------------------------------------------------------------------------


def test_file_left_untouched_when_fixed_code_would_not_parse(tmp_path: Path) -> None:
    target = tmp_path / "conf.py"
    target.write_bytes(b"x = 1\r\n")
    fix = Fix(Applicability.SAFE, "broken", [Edit("conf.py", lambda text: text + "def (:\n")])
    applied, changes, skipped = apply_fixes(tmp_path, [fix], write=True)
    assert applied == [] and changes == []
    assert skipped and "would not parse" in skipped[0][1]
    assert target.read_bytes() == b"x = 1\r\n"


def test_atomic_write_keeps_mode_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "start.sh"
    target.write_text("old\n")
    target.chmod(0o755)
    write_atomic(target, b"new\n")
    assert target.read_bytes() == b"new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert [p.name for p in tmp_path.iterdir()] == ["start.sh"]


def test_read_source_keeps_cookie_encoding_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    path.write_bytes(b"\xef\xbb\xbfx = 1\r\n")
    source = read_source(path)
    assert (source.bom, source.newline, source.text) == (True, "\r\n", "x = 1\r\n")
    assert source.encode(source.text) == path.read_bytes()


def test_old_sqlalchemy_pin_has_no_fix(tmp_path: Path) -> None:
    shutil.copytree(CASES / "pgf003_dispose_in_post_fork" / "before", tmp_path / "p")
    (tmp_path / "p" / "requirements.txt").write_text("SQLAlchemy==1.3.24\n")
    report = fix_project(tmp_path / "p")
    assert not report.changes
    assert any("1.4.33" in (d.fix_hint or "") for d in report.remaining)


# --- the command line ------------------------------------------------------------------------------


def _project(tmp_path: Path, case: str) -> Path:
    root = tmp_path / case
    shutil.copytree(CASES / case / "before", root)
    return root


def test_cli_diff_writes_nothing_and_exits_1(tmp_path: Path, capsys, monkeypatch) -> None:
    root = _project(tmp_path, "pgf003_dispose_in_post_fork")
    monkeypatch.chdir(tmp_path)
    before = (root / "gunicorn.conf.py").read_bytes()
    assert main(["--diff", root.name]) == 1
    out = capsys.readouterr().out
    assert "-    engine.dispose()\n+    engine.dispose(close=False)\n" in out
    assert out.startswith(f"--- a/{root.name}/gunicorn.conf.py\n+++ b/{root.name}/gunicorn.conf.py\n")
    assert (root / "gunicorn.conf.py").read_bytes() == before


def test_cli_diff_and_fix_say_why_a_finding_has_no_fix(tmp_path: Path, capsys, monkeypatch) -> None:
    root = _project(tmp_path, "psycopg2_pool_no_fix")
    monkeypatch.chdir(tmp_path)
    assert main(["--diff", root.name]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"\n{root.name}/api.py:6: PGF001: no automatic fix for a psycopg/asyncpg pool" in captured.err
    main(["--fix", root.name])
    assert f"{root.name}/api.py:6: PGF001: no automatic fix for a psycopg/asyncpg pool" in capsys.readouterr().out


def test_cli_fix_reports_and_then_is_clean(tmp_path: Path, capsys, monkeypatch) -> None:
    root = _project(tmp_path, "pgf003_dispose_in_post_fork")
    monkeypatch.chdir(tmp_path)
    assert main(["--fix", root.name]) == 0
    out = capsys.readouterr().out
    assert "Fixed 1 problem (PGF003 x1)." in out
    assert main(["--diff", root.name]) == 0
    assert capsys.readouterr().out == ""


def test_cli_marks_fixable_findings(tmp_path: Path, capsys, monkeypatch) -> None:
    root = _project(tmp_path, "gunicorn_add_post_fork")
    monkeypatch.chdir(tmp_path)
    main([root.name])
    out = capsys.readouterr().out
    assert "\nhelp: [*] " in out and "[*] 1 fixable with `pgforklint --fix`." in out
    main(["--format", "concise", root.name])
    assert " PGF001 [*] " in capsys.readouterr().out
    main(["--format", "json", root.name])
    data = json.loads(capsys.readouterr().out)
    fixes = [d["fix"] for d in data["diagnostics"] if d["code"] == "PGF001"]
    assert fixes and fixes[0]["applicability"] == "safe" and "post_fork" in fixes[0]["message"]


def test_cli_unsafe_fix_needs_the_flag(tmp_path: Path, capsys, monkeypatch) -> None:
    root = _project(tmp_path, "unsafe_shell_launch")
    monkeypatch.chdir(tmp_path)
    assert main(["--fix", root.name]) == 1
    out = capsys.readouterr().out
    assert "1 more fix available with --unsafe-fixes." in out
    assert not (root / "gunicorn.conf.py").exists()
    main(["--format", "json", root.name])
    data = json.loads(capsys.readouterr().out)
    assert data["diagnostics"][0]["fix"]["applicability"] == "unsafe"
    assert main(["--fix", "--unsafe-fixes", root.name]) == 0
    assert (root / "gunicorn.conf.py").exists()
    assert "-c gunicorn.conf.py" in (root / "scripts" / "start.sh").read_text()
    assert os.listdir(root / "scripts") == ["start.sh"]
