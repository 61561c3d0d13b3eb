"""Well-known base images whose own scripts start the server (`pgforklint.launch.base_images`, docs/base-images.md).
End-to-end shapes are fixtures (`tests/fixtures/*tiangolo*`, `unresolved_unknown_base_image_uwsgi`)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from pgforklint.analyze import build_model
from pgforklint.config import find_config
from pgforklint.discover import discover
from pgforklint.launch import all_launches
from pgforklint.launch.base_images import known
from pgforklint.project import Project
from pgforklint.read.command import Command


def project(root: Path, files: dict[str, str]) -> Project:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return Project(root.resolve(), discover(root.resolve()), find_config(root))


def argv(command: Command) -> list[str]:
    return [word.text for word in command.argv]


def test_names_with_tags_registries_and_digests() -> None:
    assert known("tiangolo/uwsgi-nginx-flask:python3.6").name == "tiangolo/uwsgi-nginx-flask"
    assert known("docker.io/tiangolo/uvicorn-gunicorn-fastapi:python3.11-slim").name == "tiangolo/uvicorn-gunicorn-fastapi"
    assert known("TIANGOLO/meinheld-gunicorn@sha256:abc").name == "tiangolo/meinheld-gunicorn"
    assert known("tiangolo/uwsgi-nginx-flask-extra") is None
    assert known("python:3.12") is None


def test_uwsgi_nginx_runs_the_image_wsgi_file_when_the_repository_puts_no_ini_in_app(tmp_path: Path) -> None:
    root = project(tmp_path, {"Dockerfile": "FROM tiangolo/uwsgi-nginx:python3.12\nCOPY ./app /app\n",
                              "app/main.py": "def application(env, start_response):\n    return []\n"})
    [launch] = all_launches(root)
    [command] = launch.commands
    assert argv(command) == ["uwsgi"]
    assert launch.env["UWSGI_WSGI_FILE"] == "/app/main.py" and "UWSGI_INI" not in launch.env
    assert launch.env["UWSGI_PROCESSES"] == "16"
    assert "tiangolo/uwsgi-nginx default" in launch.extra["image_defaults"]["UWSGI_PROCESSES"]


def test_a_repository_cmd_and_env_replace_the_image_ones(tmp_path: Path) -> None:
    root = project(tmp_path, {"Dockerfile": "FROM tiangolo/uwsgi-nginx-flask:python3.11\nCOPY ./app /app\n"
                                            "ENV UWSGI_PROCESSES 4\nCMD [\"gunicorn\", \"-w\", \"2\", \"main:app\"]\n",
                              "app/main.py": "app = object()\n"})
    [launch] = all_launches(root)
    # the image's /entrypoint.sh (`exec "$@"`) runs the repository's CMD
    assert [argv(c) for c in launch.commands] == [["gunicorn", "-w", "2", "main:app"]]
    assert "UWSGI_PROCESSES" not in launch.extra["image_defaults"]


def test_meinheld_entrypoint_exports_the_app_module_for_the_repository_start_script(tmp_path: Path) -> None:
    root = project(tmp_path, {
        "Dockerfile": "FROM tiangolo/meinheld-gunicorn-flask:python3.9\nCOPY ./app /app\nCOPY ./start.sh /\n",
        "start.sh": "#!/bin/sh\nexec gunicorn -k gthread -w 3 -c \"$GUNICORN_CONF\" \"$APP_MODULE\"\n",
        "app/app/main.py": "app = object()\n",
        "app/gunicorn_conf.py": "bind = '0.0.0.0:80'\n",
    })
    [launch] = all_launches(root)
    [command] = launch.commands
    assert argv(command) == ["gunicorn", "-k", "gthread", "-w", "3", "-c", "/app/gunicorn_conf.py", "app.main:app"]


def test_uvicorn_gunicorn_workers_come_from_the_image_conf_and_are_not_preloaded(tmp_path: Path) -> None:
    root = project(tmp_path, {"Dockerfile": "FROM tiangolo/uvicorn-gunicorn-fastapi:python3.11\nCOPY ./app /app\n",
                              "app/main.py": "app = object()\n"})
    model = build_model(root)
    [server] = model.servers
    assert server.processes.value is None and "tiangolo/uvicorn-gunicorn-fastapi default" in server.processes.origin.detail
    assert server.loads_app_in_parent.value is False
    assert server.worker_class == "uvicorn.workers.UvicornWorker"


def test_start_reload_is_a_development_server(tmp_path: Path) -> None:
    root = project(tmp_path, {"Dockerfile": "FROM tiangolo/uvicorn-gunicorn:python3.11\nCOPY ./app /app\n"
                                            "CMD [\"/start-reload.sh\"]\n",
                              "app/main.py": "app = object()\n"})
    [launch] = all_launches(root)
    assert [argv(c) for c in launch.commands] == [["uvicorn", "--reload", "main:app"]]


def test_the_repository_entrypoint_and_the_image_supervisord_link_the_app() -> None:
    """The encompass shape: its own /entrypoint.sh (`exec "$@"`), CMD supervisord (the image's config), /app/uwsgi.ini
    and /app/main.py copied as single files. The uWSGI master forks the image's 16 processes after loading main."""
    from pgforklint.analyze import lint_project

    root = Path(__file__).parent / "fixtures" / "ok_tiangolo_uwsgi_flask_engine_not_connected"
    result = lint_project(root, find_config(root))
    [row] = result.model.coverage.process_types
    assert (row.name, row.server, row.forks, row.preload, row.app) == ("backend", "uwsgi", True, True, "main:app")
    assert row.app_file == "backend/app/main.py" and row.engines == 1 and not row.failed
    [server] = result.model.servers
    assert server.processes.value == 16
    assert server.processes.origin.detail == "tiangolo/uwsgi-nginx-flask default (ENV UWSGI_PROCESSES=16)"
