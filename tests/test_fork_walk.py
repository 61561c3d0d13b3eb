"""The import-time walk and the fork rules: library subclasses, held connections, labels, columns, messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgforklint.analyze import lint_project
from pgforklint.config import find_config
from pgforklint.diagnostics import Location
from pgforklint.model import (
    ConnectionOpen,
    Engine,
    EngineKind,
    Flag,
    Origin,
    OriginKind,
    ProcessEffects,
    Quantity,
    Reset,
    ResetKind,
    Server,
    ServerKind,
)
from pgforklint.rules.fork import live_at_fork

PRELOAD = "web: gunicorn app:app --preload --workers 4\n"


def _lint(root: Path, files: dict[str, str]):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return lint_project(root, find_config(root))


def _codes(result, code: str = "PGF001"):
    return [d for d in result.diagnostics if d.code == code]


# --- 1. subclasses of library classes -------------------------------------------------------------


def test_flask_sqlalchemy_subclass_is_an_extension(tmp_path: Path) -> None:
    result = _lint(tmp_path, {"Procfile": PRELOAD, "app.py": (
        "from flask import Flask\nfrom flask_sqlalchemy import SQLAlchemy\n\n"
        "class Base(SQLAlchemy):\n    pass\n\nclass SQLA(Base):\n    def __init__(self, **kwargs):\n"
        "        super().__init__(**kwargs)\n\n"
        "db = SQLA()\napp = Flask(__name__)\nwith app.app_context():\n    with db.engine.connect() as conn:\n"
        "        pass\n")})
    (finding,) = _codes(result)
    assert finding.location.line == 14
    assert finding.message.startswith("`db.engine.connect()` opens")  # 5: named after the module-level name
    assert "db.engine.dispose(close=False)" in finding.message
    assert finding.key == "app:db"


def test_psycopg_pool_subclass_opens_at_construction(tmp_path: Path) -> None:
    result = _lint(tmp_path, {"Procfile": PRELOAD, "app.py": (
        "from psycopg_pool import ConnectionPool\n\nclass Pool(ConnectionPool):\n    pass\n\n"
        "pool = Pool('dbname=app', min_size=2)\napp = None\n")})
    assert [d.location.line for d in _codes(result)] == [6]


def test_pool_subclass_with_own_init_is_not_guessed(tmp_path: Path) -> None:
    # The project's __init__ may pass open=False to the library: the arguments that reach it are not known.
    result = _lint(tmp_path, {"Procfile": PRELOAD, "app.py": (
        "from psycopg_pool import ConnectionPool\n\nclass Pool(ConnectionPool):\n"
        "    def __init__(self, conninfo):\n        super().__init__(conninfo, open=False)\n\n"
        "pool = Pool('dbname=app')\napp = None\n")})
    assert _codes(result) == []


def test_unrelated_project_class_is_not_an_engine(tmp_path: Path) -> None:
    result = _lint(tmp_path, {"Procfile": PRELOAD, "app.py": (
        "class SQLAlchemy:\n    def connect(self):\n        return 1\n\n"
        "class Mine(SQLAlchemy):\n    pass\n\ndb = Mine()\ndb.connect()\napp = None\n")})
    assert result.diagnostics == []


def test_config_default_class_is_instantiated(tmp_path: Path) -> None:
    # Superset: `app.config.get("APP_INITIALIZER", SupersetAppInitializer)(app).init_app()`.
    result = _lint(tmp_path, {"Procfile": "web: gunicorn 'app:create_app()' --preload\n", "app.py": (
        "from flask import Flask\nfrom sqlalchemy import create_engine\n\nengine = create_engine('postgresql://x/y')\n\n"
        "class Init:\n    def __init__(self, app):\n        self.app = app\n\n    def init_app(self):\n"
        "        engine.connect()\n\n"
        "def create_app():\n    app = Flask(__name__)\n    app.config.get('APP_INITIALIZER', Init)(app).init_app()\n"
        "    return app\n")})
    assert [d.location.line for d in _codes(result)] == [11]


def test_guarded_library_import_keeps_the_library_binding(tmp_path: Path) -> None:
    result = _lint(tmp_path, {"uwsgi.ini": "[uwsgi]\nmodule = app:app\nmaster = true\nprocesses = 2\n", "app.py": (
        "from sqlalchemy import create_engine\n"
        "try:\n    from uwsgidecorators import postfork\nexcept ImportError:\n"
        "    def postfork(function):\n        return function\n\n"
        "engine = create_engine('postgresql://x/y')\nengine.connect().close()\napp = None\n\n"
        "@postfork\ndef reset():\n    engine.dispose(close=False)\n")})
    assert _codes(result) == []


def test_import_fallback_code_is_still_walked(tmp_path: Path) -> None:
    # Only the library's *bindings* are kept; what the except-block does is still recorded.
    result = _lint(tmp_path, {"Procfile": PRELOAD, "app.py": (
        "from sqlalchemy import create_engine\nengine = create_engine('postgresql://x/y')\n"
        "try:\n    import ujson as json\nexcept ImportError:\n    import json\n    engine.connect()\napp = None\n")})
    assert [d.location.line for d in _codes(result)] == [7]


# --- 2. gunicorn -c file:PATH --------------------------------------------------------------------------


def test_gunicorn_config_equals_file_prefix(tmp_path: Path) -> None:
    result = _lint(tmp_path, {"Procfile": "web: gunicorn --config=file:conf/g.py app:app\n",
                              "conf/g.py": "preload_app = True\nworkers = 2\n",
                              "app.py": "import psycopg2\nconn = psycopg2.connect('')\napp = None\n"})
    server = next(s for s in result.model.servers if s.kind is ServerKind.GUNICORN)
    assert server.config_path == "conf/g.py"
    assert server.loads_app_in_parent.value is True and server.processes.value == 2
    assert [d.location.line for d in _codes(result)] == [2]


def test_gunicorn_config_file_prefix_missing_file(tmp_path: Path) -> None:
    result = _lint(tmp_path, {"Procfile": "web: gunicorn -c file:nowhere.py app:app\n",
                              "app.py": "import psycopg2\nconn = psycopg2.connect('')\napp = None\n"})
    server = next(s for s in result.model.servers if s.kind is ServerKind.GUNICORN)
    assert server.config_path is None and _codes(result) == []


# --- 3. held connections -----------------------------------------------------------------------------


def test_held_connection_is_retained_and_not_fixed_by_a_pool_reset(tmp_path: Path) -> None:
    result = _lint(tmp_path, {
        "Procfile": "web: gunicorn app:app -c gunicorn.conf.py\n",
        "gunicorn.conf.py": "preload_app = True\n\ndef post_fork(server, worker):\n"
                            "    from app import engine\n    engine.dispose(close=False)\n",
        "app.py": "from sqlalchemy import create_engine\nengine = create_engine('postgresql://x/y')\n"
                  "CONN = engine.connect()\napp = None\n"})
    (finding,) = _codes(result)
    assert finding.location.line == 3 and "no pool reset reaches it" in finding.message
    server = result.model.servers[0]
    assert [o.retained for o in server.parent_effects.opens] == [True]


# --- 4/11. messages: no paths in the text; the first chain step ------------------------------------------


def test_messages_carry_no_paths(tmp_path: Path) -> None:
    result = _lint(tmp_path / "proj", {
        "Procfile": "web: gunicorn shop.wsgi:app --preload -c conf/gunicorn.py\n",
        "conf/gunicorn.py": "def post_fork(server, worker):\n    from shop.db import engine\n    engine.dispose()\n",
        "shop/__init__.py": "", "shop/db.py": "from sqlalchemy import create_engine\nengine = create_engine('postgresql://x/y')\n",
        "shop/wsgi.py": "from shop.db import engine\nwith engine.connect():\n    pass\napp = None\n"})
    (finding,) = _codes(result, "PGF003")
    assert "shop/" not in finding.message and "conf/" not in finding.message
    assert "(opened by `engine.connect()`; see the related location)" in finding.message
    assert any(r.location.path == "shop/wsgi.py" for r in finding.related)
    for diagnostic in result.diagnostics:
        assert ".py:" not in diagnostic.message, diagnostic.message
        for related in diagnostic.related:
            assert ".py:" not in related.message, related.message


def test_first_chain_step_is_where_the_server_loads_the_app(tmp_path: Path) -> None:
    result = _lint(tmp_path, {"Procfile": PRELOAD, "app.py": "import db\napp = None\n",
                              "db.py": "import psycopg2\nconn = psycopg2.connect('')\n"})
    (finding,) = _codes(result)
    related = {(r.location.path, r.location.line): r.message for r in finding.related}
    # Facts on the same line are one related location with their messages joined.
    assert "the server loads the app here" in related[("Procfile", 1)].split("; ")
    assert related[("app.py", 1)] == "reached from here at import"


# --- 6. Celery: the app reference ------------------------------------------------------------------------


def test_celery_server_app_is_where_the_app_is_created(tmp_path: Path) -> None:
    result = _lint(tmp_path, {"Procfile": "worker: celery -A proj.worker worker\n", "proj/__init__.py": "",
                              "proj/extensions.py": "from celery import Celery\n\ncelery_app = Celery('proj')\n",
                              "proj/worker.py": "from proj.extensions import celery_app\napp = celery_app\n"})
    server = next(s for s in result.model.servers if s.kind is ServerKind.CELERY)
    assert server.app is not None and server.app.module == "proj.extensions"
    assert (server.app.location.path, server.app.location.line) == ("proj/extensions.py", 3)
    assert "app_location" not in server.settings


# --- 7. Django: close_all() without a known engine ------------------------------------------------------


def _server(effects: ProcessEffects) -> Server:
    return Server(ServerKind.GUNICORN, Location("Procfile"), True, Flag(True, Origin(OriginKind.FILE)),
                  Quantity.default(2, ""), Quantity.default(1, ""), parent_effects=effects)


def test_close_all_without_engine_resets_django_engines_in_the_parent() -> None:
    django = Engine(EngineKind.DJANGO, "settings:default", Location("settings.py", 3))
    other = Engine(EngineKind.SQLALCHEMY, "db:engine", Location("db.py", 2))
    effects = ProcessEffects()
    for engine, seq in ((django, 1), (other, 2)):
        effects.opens.append(ConnectionOpen(engine, Location("apps.py", 9), "query"))
        effects.open_seq.append(seq)
    effects.resets.append((3, Reset(ResetKind.DJANGO_CLOSE_ALL, None, Location("gunicorn.conf.py", 4))))
    assert [o.engine for o in live_at_fork(_server(effects))] == [other]
    effects.resets = [(0, Reset(ResetKind.DJANGO_CLOSE_ALL, None, Location("gunicorn.conf.py", 4)))]  # before the open
    assert [o.engine for o in live_at_fork(_server(effects))] == [django, other]


# --- 10. columns count characters ----------------------------------------------------------------------


def test_columns_count_characters_not_bytes(tmp_path: Path) -> None:
    line = "NOTE = 'crème brûlée — ünïcødé'; conn = psycopg2.connect('')\n"
    result = _lint(tmp_path, {"Procfile": PRELOAD, "app.py": "import psycopg2\n" + line + "app = None\n"})
    (finding,) = _codes(result)
    start = line.index("psycopg2.connect")
    assert finding.location.line == 2
    assert finding.location.column == start + 1
    assert finding.location.end_column == line.index("\n") + 1
    ascii_result = _lint(tmp_path / "ascii", {"Procfile": PRELOAD,
                                              "app.py": "import psycopg2\nconn = psycopg2.connect('')\napp = None\n"})
    assert _codes(ascii_result)[0].location.column == len("conn = ") + 1


def test_config_value_columns_count_characters(tmp_path: Path) -> None:
    import ast

    from pgforklint.extract.pyvalues import module_assignments

    text = "é = 1; workers = 4\n"
    values, _ = module_assignments(ast.parse(text), "g.py", None, text)
    assert values["workers"].location.column == text.index("4") + 1


def test_pgf003_names_the_first_open_that_left_the_connection(tmp_path: Path) -> None:
    result = _lint(tmp_path, {
        "Procfile": "web: gunicorn app:app --preload\n",
        "gunicorn.conf.py": "def post_fork(server, worker):\n    from app import engine\n    engine.dispose()\n",
        "app.py": "from sqlalchemy import create_engine\nengine = create_engine('postgresql://x/y')\n"
                  "with engine.connect():\n    pass\nengine.begin()\napp = None\n"})
    (finding,) = _codes(result, "PGF003")
    assert "(opened by `engine.connect()`;" in finding.message
    assert finding.related[0].location.line == 3


@pytest.mark.parametrize(("package", "module", "level", "expected"), [
    ("shop.web", "db", 0, "db"),
    ("shop.web", "db", 1, "shop.web.db"),
    ("shop.web", "db", 2, "shop.db"),
    ("shop.web", None, 2, "shop"),
    ("", "db", 1, "db"),
    ("shop", "db", 3, None),  # above the top-level package: an ImportError in Python
])
def test_relative_imports_are_made_absolute_one_way_everywhere(package, module, level, expected) -> None:
    from pgforklint.read.python import absolute_import

    assert absolute_import(package, module, level) == expected
