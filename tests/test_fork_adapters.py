"""Model-level checks for the fork adapters (uWSGI, Celery, RQ, Django, asyncpg, multiprocessing)."""

from __future__ import annotations

from pathlib import Path

from pgforklint.analyze import lint_project
from pgforklint.config import find_config
from pgforklint.model import ServerKind

FIXTURES = Path(__file__).parent / "fixtures"


def _model(tmp_or_name):
    root = tmp_or_name if isinstance(tmp_or_name, Path) else FIXTURES / tmp_or_name
    return lint_project(root, find_config(root))


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_celery_django_fixup_resets_django_in_children() -> None:
    result = _model("ok_celery_django_orm")
    celery = next(s for s in result.model.servers if s.kind is ServerKind.CELERY)
    assert celery.forks and celery.worker_class == "prefork"
    assert any("apps.py" in o.location.path for o in celery.parent_effects.opens)  # ready() runs in the parent
    assert any(h.name == "Celery's Django fixup" for h in celery.hooks)
    assert result.diagnostics == []


def test_celery_pool_and_concurrency_from_config_module() -> None:
    result = _model("ok_celery_threads_pool_config")
    celery = next(s for s in result.model.servers if s.kind is ServerKind.CELERY)
    assert not celery.forks and celery.worker_class == "threads"
    assert celery.processes.value == 1 and celery.threads.value == 8


def test_django_rqworker_closes_connections_before_fork() -> None:
    result = _model("ok_django_rqworker")
    rq = next(s for s in result.model.servers if s.kind is ServerKind.RQ)
    assert rq.parent_effects.opens, "the ready() query runs in the worker parent"
    assert rq.parent_effects.resets, "django-rq closes Django's connections before work()"


def test_uwsgi_env_options_and_exact_names(tmp_path: Path) -> None:
    _write(tmp_path, {
        "docker-compose.yml": "services:\n  web:\n    command: uwsgi --ini uwsgi.ini\n    environment:\n"
                              "      UWSGI_LAZY_APPS: '1'\n      UWSGI_PROCESSES: '3'\n    deploy:\n      replicas: 1\n",
        "uwsgi.ini": "[uwsgi]\nmodule = app:app\nmaster = true\n",
        "app.py": "import os\nimport psycopg2\nconn = psycopg2.connect(os.environ['DATABASE_URL'])\napp = None\n",
    })
    result = _model(tmp_path)
    server = next(s for s in result.model.servers if s.kind is ServerKind.UWSGI)
    assert server.loads_app_in_parent.value is False  # UWSGI_LAZY_APPS -> lazy-apps
    assert not [d for d in result.diagnostics if d.code == "PGF001"]


def test_uwsgi_ini_with_no_launch_line_is_analysed(tmp_path: Path) -> None:
    _write(tmp_path, {
        "deploy/site.ini": "[uwsgi]\nchdir = /srv/site\nwsgi-file = site_app.py\nprocesses = 2\n",
        "site_app.py": "import os\nimport psycopg2\nconn = psycopg2.connect(os.environ['DATABASE_URL'])\n"
                       "def application(environ, start_response):\n    return []\n",
    })
    result = _model(tmp_path)
    assert [(d.code, d.location.path, d.location.line) for d in result.diagnostics if d.code == "PGF001"] == [
        ("PGF001", "site_app.py", 3)]


def test_asyncpg_pool_not_awaited_opens_nothing(tmp_path: Path) -> None:
    _write(tmp_path, {
        "Procfile": "web: gunicorn main:app -k uvicorn_worker.UvicornWorker --preload -w 2\n",
        "main.py": "import asyncpg\npool = asyncpg.create_pool('postgresql://db/app')\napp = None\n",
    })
    result = _model(tmp_path)
    gunicorn = next(s for s in result.model.servers if s.kind is ServerKind.GUNICORN)
    assert gunicorn.parent_effects.engines and not gunicorn.parent_effects.opens


def test_multiprocessing_get_context_spawn_is_safe(tmp_path: Path) -> None:
    _write(tmp_path, {
        "job.py": "import multiprocessing, os\nfrom sqlalchemy import create_engine, text\n"
                  "engine = create_engine(os.environ['DATABASE_URL'], pool_size=1, max_overflow=0)\n"
                  "def work(i):\n    return i\n"
                  "if __name__ == '__main__':\n    with engine.connect() as c:\n        c.execute(text('SELECT 1'))\n"
                  "    with multiprocessing.get_context('spawn').Pool(2) as pool:\n        pool.map(work, range(3))\n",
    })
    result = _model(tmp_path)
    assert not any(s.kind is ServerKind.MULTIPROCESSING for s in result.model.servers)


def test_django_engine_extra_for_budget() -> None:
    result = _model("django_pool_conn_max_age")
    engines = [e for s in result.model.servers for h in s.hooks for e in h.effects.engines if e.kind.value == "django"]
    assert engines
    engine = engines[0]
    assert engine.extra["pool"] is True and engine.max_size.value == 4
    assert engine.extra["conn_max_age"].value == 600 and engine.extra["conn_health_checks"] is True
