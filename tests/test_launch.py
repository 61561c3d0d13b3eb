"""The launch stage: container paths, images, Compose merging, declared processes, the coverage record and
what each report format says about it. End-to-end shapes are fixtures (`tests/fixtures/launch_*`)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from projects import project, tree

from pgforklint.analyze import build_model, lint_project
from pgforklint.config import find_config
from pgforklint.errors import ConfigError
from pgforklint.launch import all_launches
from pgforklint.launch.paths import ContainerPaths

DB = """\
from sqlalchemy import create_engine, text

engine = create_engine("postgresql+psycopg2://localhost/shop", pool_size=1, max_overflow=0)
with engine.connect() as conn:
    conn.execute(text("SELECT 1"))
"""
APP = "from flask import Flask\n\nimport db\n\napp = Flask(__name__)\n"


def test_container_paths_map_copies_and_respect_the_last_copy() -> None:
    paths = ContainerPaths("Dockerfile", "", "/app")
    paths.add("/app", "service", True)
    paths.add("/app/settings.py", "deploy/settings.py", False)
    assert paths.to_repo("wsgi.py") == "service/wsgi.py"
    assert paths.to_repo("/app/pkg/mod.py") == "service/pkg/mod.py"
    assert paths.to_repo("./settings.py") == "deploy/settings.py"
    assert paths.to_repo("/etc/passwd") is None
    assert paths.to_repo("../etc/x", "/app") is None


def test_image_entrypoint_and_cmd_combine_and_copy_from_is_not_the_repo(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "Dockerfile": """\
            FROM python:3.12 AS deps
            COPY requirements.txt /deps/
            FROM python:3.12-slim
            COPY --from=deps /deps /app
            COPY --from=ghcr.io/astral-sh/uv:latest /uv /bin/
            WORKDIR /app
            COPY web/ ./
            ENV WEB_CONCURRENCY=3
            ENTRYPOINT ["/app/run.sh"]
            CMD ["web", "--fast"]
            """,
        "requirements.txt": "flask\n",
        "web/run.sh": "#!/bin/sh\nexec gunicorn -w \"$WEB_CONCURRENCY\" app:app\n",
        "web/app.py": APP, "web/db.py": DB,
    })
    launches = all_launches(project(root))
    assert len(launches) == 1
    launch = launches[0]
    assert launch.workdir == "web"
    assert launch.paths.to_repo("/app/app.py") == "web/app.py"
    # `COPY --from=deps` brings what that stage copied from the repository; `COPY --from=<image>` nothing
    assert launch.paths.copies == [("/app/requirements.txt", "requirements.txt", False), ("/app", "web", True)]
    assert [c.args for c in launch.commands] == [["gunicorn", "-w", "3", "app:app"]]
    assert [str(v) for v in launch.via] == ["web/run.sh:2"]


def test_shell_form_entrypoint_ignores_cmd(tmp_path: Path) -> None:
    root = tree(tmp_path, {"Dockerfile": "FROM python\nENTRYPOINT gunicorn app:app\nCMD [\"ignored\"]\n"})
    assert [c.args for c in all_launches(project(root))[0].commands] == [["gunicorn", "app:app"]]


def test_compose_override_reset_extends_and_profiles(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "docker-compose.yml": """\
            services:
              base:
                image: shop
                profiles: [tools]
                entrypoint: ["/entry.sh"]
                command: gunicorn app:app
                working_dir: /srv
                volumes: ["./src:/srv"]
              web:
                extends: base
                profiles: !reset []
              admin:
                extends: {service: base}
            """,
        "docker-compose.override.yml": """\
            services:
              web:
                entrypoint: !reset null
                command: ["gunicorn", "--preload", "app:app"]
            """,
        "src/app.py": APP,
    })
    launches = {launch.name: launch for launch in all_launches(project(root))}
    assert set(launches) == {"web"}  # `base` and `admin` keep the profile: not started by default
    web = launches["web"]
    assert [c.args for c in web.commands] == [["gunicorn", "--preload", "app:app"]]
    assert web.location.path == "docker-compose.override.yml" and web.location.line == 4
    assert web.workdir == "src"


def test_declared_processes_are_validated(tmp_path: Path) -> None:
    def load(body: str):
        (tmp_path / ".pgforklint.toml").write_text(textwrap.dedent(body))
        return find_config(tmp_path)

    config = load('[processes]\nweb = "gunicorn app:app"\nworker = {command = "celery -A t worker", instances = 3, workdir = "./svc/"}\n')
    assert [(p.name, p.command, p.instances, p.workdir) for p in config.processes] == [
        ("web", "gunicorn app:app", None, ""), ("worker", "celery -A t worker", 3, "svc")]
    for body, key in (('[processes]\nweb = 3\n', "processes.web"),
                      ('[processes]\nweb = {command = "x", replicas = 2}\n', "processes.web.replicas"),
                      ('[processes]\nweb = {command = "x", instances = 0}\n', "processes.web.instances"),
                      ('[processes]\nweb = {instances = 2}\n', "processes.web.command"),
                      ('processes = "gunicorn"\n', "processes")):
        with pytest.raises(ConfigError, match=f"`{key}`"):
            load(body)


def test_declared_process_counts_instances_and_budget_agrees_with_coverage(tmp_path: Path) -> None:
    from pgforklint.budget import compute

    root = tree(tmp_path, {
        "pyproject.toml": '[tool.pgforklint.processes]\nweb = {command = "gunicorn -w 2 app:app", instances = 3, workdir = "api"}\n'
                          'worker = "celery -A api.tasks worker -c 2"\n',
        "api/app.py": APP, "api/db.py": DB, "api/__init__.py": "",
        "api/tasks.py": "from celery import Celery\n\napp = Celery('t')\n",
    })
    model = build_model(project(root))
    budget = compute(model)
    assert [row.name for row in budget.rows] == [row.name for row in model.coverage.process_types] == ["web", "worker"]
    web = model.process_types[0]
    assert web.instances.value == 3 and web.instances.origin.kind.value == "config"
    assert model.coverage.process_types[0].app_file == "api/app.py"
    assert model.coverage.process_types[0].declared


def test_json_and_sarif_carry_the_coverage(tmp_path: Path) -> None:
    root = tree(tmp_path, {"Procfile": "web: gunicorn --preload app:app\nworker: gunicorn --preload missing:app\n",
                           "app.py": APP, "db.py": DB})
    run = [sys.executable, "-m", "pgforklint", "--no-cache", "."]
    document = json.loads(subprocess.run([*run, "--format", "json"], cwd=root, capture_output=True, text=True).stdout)
    coverage = document["coverage"]
    assert coverage["version"] == 1 and coverage["forking"] == 2 and coverage["linked"] == 1
    web, worker = coverage["process_types"]
    assert web == {"name": "web", "path": "Procfile", "line": 1, "server": "gunicorn", "forks": True, "preload": True,
                   "app": "app:app", "app_file": "app.py", "engines": 1, "linked": True, "failed": [],
                   "dev_only": False, "declared": False}
    assert worker["app_file"] is None and not worker["linked"]
    assert worker["failed"] == ["gunicorn app `missing`: no module `missing` in the repository root"]
    assert [d["code"] for d in document["diagnostics"] if d["line"] == 2] == ["PGF102"]
    sarif = json.loads(subprocess.run([*run, "--format", "sarif"], cwd=root, capture_output=True, text=True).stdout)
    assert sarif["runs"][0]["properties"]["coverage"] == coverage


def test_a_configuration_no_launch_uses_is_not_checked_and_the_summary_says_so(tmp_path: Path) -> None:
    from pgforklint.budget import compute

    root = tree(tmp_path, {"Procfile": "web: gunicorn app:app\n", "app.py": APP, "db.py": DB,
                           "uwsgi-sample.ini": "[uwsgi]\nmodule = app:app\nmaster = true\nprocesses = 4\n"})
    model = build_model(project(root))
    assert [row.name for row in model.coverage.process_types] == [row.name for row in compute(model).rows] == ["web"]
    assert [(loc.path, loc.line) for loc in model.coverage.unused_configurations] == [("uwsgi-sample.ini", 1)]
    run = [sys.executable, "-m", "pgforklint", "--no-cache", "."]
    out = subprocess.run(run, cwd=root, capture_output=True, text=True).stdout
    assert "Not checked, as no launch uses it: `uwsgi-sample.ini`." in out and "PGF001" not in out
    document = json.loads(subprocess.run([*run, "--format", "json"], cwd=root, capture_output=True, text=True).stdout)
    assert document["coverage"]["unused_configurations"] == [{"path": "uwsgi-sample.ini", "line": 1}]
    assert document["diagnostics"] == []


def test_compose_override_replicas_are_read_from_the_file_that_wrote_them(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "compose.yaml": "services:\n  web:\n    build: .\n    command: gunicorn app:app\n    deploy:\n      replicas: 3\n"
                        "      resources: {limits: {memory: 512M}}\n",
        "compose.override.yaml": "services:\n  web:\n    deploy:\n      replicas: 5\n",
        "app.py": APP, "db.py": DB})
    (web,) = build_model(project(root)).process_types
    assert web.instances.value == 5
    assert (web.instances.origin.location.path, web.instances.origin.location.line) == ("compose.override.yaml", 4)


def test_quoted_copy_and_workdir_paths_are_the_paths_inside_the_quotes(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "Dockerfile": 'FROM python:3.12\nENV APP_DIR=/srv/app\nCOPY . "${APP_DIR}"\nWORKDIR "${APP_DIR}"\n'
                      'CMD ["/bin/bash", "-c", "exec ${APP_DIR}/docker/start.sh"]\n',
        "docker/start.sh": "#!/bin/bash\nexec gunicorn --preload app:app\n", "app.py": APP, "db.py": DB})
    (launch,) = [launch for launch in all_launches(project(root)) if launch.commands]
    assert launch.paths.copies == [("/srv/app", "", True)] and launch.paths.workdir == "/srv/app"
    assert [c.program for c in launch.commands] == ["gunicorn"]


def test_a_run_that_linked_nothing_says_so(tmp_path: Path) -> None:
    root = tree(tmp_path, {"db.py": DB})
    out = subprocess.run([sys.executable, "-m", "pgforklint", "--no-cache", "--ignore", "PGF102", "."], cwd=root,
                         capture_output=True, text=True).stdout
    assert out.startswith("Checked no process types: no launch of a forking server was found, so the code was not checked")
    result = lint_project(root, find_config(root))
    assert [(d.code, d.location.path, d.location.line) for d in result.diagnostics] == [("PGF102", "db.py", 3)]


def test_the_launch_stage_imports_nothing_from_later_stages() -> None:
    code = ("import sys, pgforklint.launch, pgforklint.launch.compose, pgforklint.launch.scripts, "
            "pgforklint.launch.kubernetes, pgforklint.launch.managers, pgforklint.launch.coverage, "
            "pgforklint.launch.python_servers\n"
            "bad = sorted(m for m in sys.modules if m.startswith(('pgforklint.extract', 'pgforklint.analyze', "
            "'pgforklint.rules', 'pgforklint.report')))\nprint(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_script_branches_that_start_servers_are_variants_and_other_branches_are_not(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "Procfile": "web: bin/start web\nworker: bin/start\n",
        "bin/start": """\
            #!/bin/bash
            if [ "$RUN_MIGRATIONS" = "1" ]; then
              python manage.py migrate --noinput
            fi
            case "$1" in
              web) exec gunicorn --preload app:app ;;
              *) exec celery -A tasks worker ;;
            esac
            """,
    })
    launches = {launch.name: launch for launch in all_launches(project(root))}
    assert launches["web"].commands[-1].program == "gunicorn"
    assert launches["web"].condition is None  # decided by the argument: not a variant
    assert [c.program for c in launches["worker"].commands][-1] == "celery"  # no argument: the `*)` branch
    assert set(launches) == {"web", "worker"}


def test_procfile_variants_are_named_by_their_file_and_procfile_sh_is_a_script(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "Procfile": "web: gunicorn app:app\n",
        "Procfile.dev": "web: flask run\nassets: npm run watch\n",
        "Procfile.sh": "#!/bin/sh\nexec gunicorn app:app\n",
    })
    launches = [(launch.name, launch.source, launch.location.path) for launch in all_launches(project(root))]
    assert launches == [("web", "procfile", "Procfile"), ("web (Procfile.dev)", "procfile", "Procfile.dev"),
                        ("assets", "procfile", "Procfile.dev"), ("Procfile.sh", "shell", "Procfile.sh")]


def test_supervisord_and_systemd_run_in_their_folders(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "etc/supervisor/conf.d/shop.conf": "[program:worker]\ncommand=celery -A tasks worker\n"
                                           "directory=/home/deploy/shop/current/backend\nnumprocs=2\n",
        "etc/shop.service": "[Service]\nWorkingDirectory=/srv/shop/backend\nExecStart=/venv/bin/gunicorn wsgi:app\n",
        "backend/tasks.py": "", "backend/wsgi.py": "",
    })
    launches = {launch.name: launch for launch in all_launches(project(root))}
    assert (launches["worker"].workdir, launches["worker"].instances) == ("backend", 2)
    assert (launches["shop"].workdir, launches["shop"].commands[0].program) == ("backend", "gunicorn")


def test_compose_override_tag_replaces_instead_of_merging(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "compose.yaml": "services:\n  web:\n    image: x\n    command: gunicorn app:app\n"
                        "    environment: {A: '1', GUNICORN_CMD_ARGS: --preload}\n",
        "compose.override.yaml": "services:\n  web:\n    environment: !override {B: '2'}\n",
    })
    (web,) = all_launches(project(root))
    assert web.env == {"B": "2"}


def test_cloud_foundry_manifest_variants_push_their_path_and_archives_are_not_the_repository(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "manifests/manifest_worker_stage.yml": """\
            applications:
              - name: worker
                command: celery -A jobs worker
                path: ../
            """,
        "manifests/manifest-migrate.yml": """\
            applications:
              - name: migrate
                command: /home/vcap/app/bin/run.sh
                path: build/migrate.zip
            """,
        "jobs.py": "from celery import Celery\napp = Celery('jobs')\n",
        "notes/manifesto.yml": "applications:\n  - name: nope\n    command: gunicorn a:b\n",
    })
    launches = {launch.name: launch for launch in all_launches(project(root))}
    assert set(launches) == {"worker"} and launches["worker"].workdir == ""


def test_celery_multi_start_counts_its_nodes_and_leaves_per_node_options_out(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "deploy/workers.service": "[Service]\nEnvironmentFile=-/etc/default/workers\nWorkingDirectory=/srv/shop\n"
                                  "ExecStart=/bin/sh -c '${CELERY_BIN} multi start ${NODES} \\\n"
                                  "  -A tasks -c:1 8 --concurrency=3'\n",
        "deploy/workers": 'CELERY_BIN="/venv/bin/celery"\nNODES="4"\n',
        "tasks.py": "from celery import Celery\n\napp = Celery('t')\n", "db.py": DB,
    })
    model = build_model(project(root))
    (celery,) = model.process_types
    assert celery.instances.value == 4 and "celery multi start 4" in celery.instances.origin.describe()
    assert celery.server.processes.value == 3


def test_celery_multi_stop_is_not_a_worker(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "shop.service": "[Service]\nExecStart=/venv/bin/celery multi stopwait w1 -A tasks\n",
        "tasks.py": "from celery import Celery\n\napp = Celery('t')\n",
    })
    assert build_model(project(root)).process_types == []


def test_uwsgi_emperor_no_launch_names_runs_each_vassal_of_its_glob(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "deploy/emperor.ini": "[uwsgi]\nemperor = glob:///opt/shop/deploy/vassals/*.ini\n",
        "deploy/vassals/web.ini": "[uwsgi]\nmodule = app:app\nmaster = true\nprocesses = 2\n",
        "deploy/vassals/web.xml": "<uwsgi><module>app:app</module></uwsgi>\n",
        "app.py": APP, "db.py": DB,
    })
    model = build_model(project(root))
    assert [p.name for p in model.process_types] == ["uwsgi/web"]
    assert model.process_types[0].server.app.file == "app.py"
    assert [row.failed for row in model.coverage.process_types] == [[]]


def test_uwsgi_emperor_with_an_unknown_vassal_folder_says_so(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "Procfile": "web: uwsgi --emperor /etc/uwsgi/vassals --master\n",
        "app.py": APP, "db.py": DB,
    })
    model = build_model(project(root))
    (row,) = model.coverage.process_types
    assert row.failed == ["uWSGI emperor = /etc/uwsgi/vassals: no such folder in the repository root"]


def test_a_script_given_a_server_name_that_it_does_not_visibly_start_says_so(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "Dockerfile": 'FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nENTRYPOINT ["/app/bin/entrypoint"]\nCMD ["uwsgi"]\n',
        "bin/entrypoint": '#!/bin/bash\nset -e\nsource "/container/commands/$1"\nshift\nrun "$@"\n',
        "app.py": APP, "db.py": DB,
    })
    (row,) = build_model(project(root)).coverage.process_types
    assert row.failed and "is given `uwsgi` but reaches no command that starts it" in row.failed[0]


FIXTURES = Path(__file__).parent / "fixtures"
DISPATCH_ENTRYPOINT = (FIXTURES / "launch_sourced_command_by_compose" / "docker/container/entrypoint").read_text()


def test_a_server_passing_on_its_arguments_with_no_app_names_the_step() -> None:
    root = FIXTURES / "unresolved_sourced_command_uwsgi_no_app"
    (row,) = build_model(project(root)).coverage.process_types
    (step,) = row.failed
    assert "uwsgi is started at docker/container/commands/uwsgi:5 with no app option" in step
    assert "no ini" in step and '`"$@"`' in step and "not from the repository" in step


def test_a_file_sourced_by_an_argument_the_image_does_not_give_lists_the_servers_of_its_folder(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "Dockerfile": "FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nCOPY docker/container /container\n"
                      'ENTRYPOINT ["/container/entrypoint"]\n',
        "docker/container/entrypoint": DISPATCH_ENTRYPOINT,
        "docker/container/commands/worker": '#!/bin/bash\nrun() {\n\texec celery -A tasks worker "$@"\n}\n',
        "docker/container/commands/web": '#!/bin/bash\nrun() {\n\texec gunicorn app:app "$@"\n}\n',
        "docker/container/commands/shell": '#!/bin/bash\nrun() {\n\texec /bin/bash\n}\n',
        "app.py": APP, "db.py": DB,
    })
    (launch,) = all_launches(project(root))
    (step,) = launch.failed
    assert "sources a file of `/container/commands/` (`docker/container/commands/` in the repository)" in step
    assert "the script's argument $1, which the launch does not give" in step
    assert "files there that start a server: `web` (gunicorn), `worker` (celery)" in step


def _dispatch_image(compose: str) -> dict[str, str]:
    return {
        "docker/Dockerfile": "FROM python:3.12-slim\nWORKDIR /srv\nCOPY . /srv\n"
                             'ENTRYPOINT ["/bin/sh", "/srv/docker/entrypoint.sh"]\n',
        "docker/entrypoint.sh": "#!/bin/sh\npython manage.py check\npython manage.py migrate\ncase \"$1\" in\ncelery)\n    exec celery -A tasks worker\n    ;;\n"
                                "web)\n    exec gunicorn app:app --workers 2\n    ;;\n"
                                "web-dev)\n    exec python manage.py runserver\n    ;;\nesac\n",
        "docker-compose.yml": compose, "app.py": APP, "db.py": DB, "manage.py": "import sys\n",
        "tasks.py": "from celery import Celery\n\napp = Celery('t')\n",
    }


def test_image_branches_a_production_compose_service_selects_are_not_a_second_process(tmp_path: Path) -> None:
    compose = "services:\n  worker:\n    build:\n      context: .\n      dockerfile: docker/Dockerfile\n    command: celery\n"
    names = [launch.name for launch in all_launches(project(tree(tmp_path, _dispatch_image(compose))))]
    assert names == ["worker", "docker/entrypoint.sh [web]"]


def test_image_branches_a_development_compose_file_selects_are_still_the_image_s(tmp_path: Path) -> None:
    compose = ("services:\n  worker:\n    build:\n      context: .\n      dockerfile: docker/Dockerfile\n    command: celery\n"
               "  web:\n    build:\n      context: .\n      dockerfile: docker/Dockerfile\n    command: web-dev\n")
    names = [launch.name for launch in all_launches(project(tree(tmp_path, _dispatch_image(compose))))]
    assert names == ["worker", "web", "docker/entrypoint.sh [celery]", "docker/entrypoint.sh [web]"]


def test_a_build_only_true_entrypoint_does_not_swallow_the_extending_service_s_command(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "Dockerfile": 'FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nENTRYPOINT ["/app/start.sh"]\n',
        "start.sh": '#!/bin/sh\ncase "$1" in\nworker) exec celery -A tasks worker ;;\nesac\n',
        "compose.base.yml": "services:\n  base:\n    build: .\n    entrypoint: [\"/bin/true\"]\n",
        "compose.yml": "services:\n  worker:\n    extends:\n      file: compose.base.yml\n      service: base\n"
                       "    command: worker\n",
        "tasks.py": "from celery import Celery\n\napp = Celery('t')\n",
    })
    worker = next(launch for launch in all_launches(project(root)) if launch.name == "worker")
    assert [c.args for c in worker.commands] == [["celery", "-A", "tasks", "worker"]]


def test_files_sourced_and_run_by_a_path_with_the_image_s_argument_are_read_through_its_copy_map(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "Dockerfile": 'FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nENTRYPOINT ["/app/bin/entry"]\nCMD ["web"]\n',
        "bin/entry": '#!/bin/sh\nDIR=/app/bin/roles\n. "$DIR/$1.sh"\nexec "/app/bin/run-$1"\n',
        "bin/roles/web.sh": "export WORKERS=3\n",
        "bin/run-web": '#!/bin/sh\nexec gunicorn -w "$WORKERS" --preload app:app\n',
        "app.py": APP, "db.py": DB,
    })
    (launch,) = all_launches(project(root))
    assert [c.args for c in launch.commands] == [["gunicorn", "-w", "3", "--preload", "app:app"]] and not launch.failed
