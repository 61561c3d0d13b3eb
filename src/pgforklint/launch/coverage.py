"""What the run understood: each process type, its server, the app it loads (and which file that is), the
engines it reaches, and the steps that could not be followed. Reports show it; PGF102 reads it.

The process types are the budget's (`pgforklint budget`): every process type with a server, then servers
no launch names (a lone `gunicorn.conf.py`), except fork points found in code. Launches that start a
development server or a server that spawns its workers are listed as not checked, and launches whose
command could not be followed are listed with the failed step.
"""

from __future__ import annotations

import re

from pgforklint.diagnostics import Location
from pgforklint.discover import FileKind
from pgforklint.model import (
    IN_CODE_SERVERS,
    Coverage,
    DeploymentModel,
    ProcessCoverage,
    Server,
    ServerKind,
    unused_configurations,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pgforklint.launch.base import Launch
    from pgforklint.project import Project

# Python needles that mean "this repository talks to PostgreSQL" when no engine was reached.
DATABASE_NEEDLES = (b"create_engine", b"psycopg2", b"psycopg", b"asyncpg", b"DATABASES", b"SQLAlchemy(")
SERVER_PROGRAMS = ("gunicorn", "uwsgi", "celery", "rq", "rqworker", "pyuwsgi")
SPAWNING_PROGRAMS = ("uvicorn", "hypercorn", "daphne", "granian", "waitress-serve", "fastapi")  # `fastapi run`: uvicorn


DEVELOPMENT_WORDS = frozenset({"dev", "devel", "develop", "development", "local", "test", "tests", "testing", "ci",
                               "sample", "example", "examples", "vagrant", "smoke"})
# Folders of development tools: dev containers, CI workflows, coding agents' skills (`.agents/skills/run-x/smoke.sh`).
DEVELOPMENT_FOLDERS = frozenset({".devcontainer", ".github", ".gitlab", ".circleci", ".agents", ".claude", ".cursor",
                                 ".codex", ".windsurf", ".gemini"})
# Other environments of the same app (their own database): not added to production's budget either.
OTHER_ENVIRONMENT_WORDS = frozenset({"stage", "staging", "feature", "preview", "review", "qa", "uat", "sandbox", "demo"})


def development_name(path: str) -> str | None:
    """The word or folder that names a launch file as a development setup or another environment
    (`docker-compose.dev.yml`, `.devcontainer/`)."""
    folder = next((part for part in path.lower().split("/")[:-1] if part in DEVELOPMENT_FOLDERS), None)
    if folder is not None:
        return folder
    words = [word for word in re.split(r"[/._\-]+", path.lower()) if word]
    for word in words:
        if word in DEVELOPMENT_WORDS or word in OTHER_ENVIRONMENT_WORDS:
            return word
    return None


def dev_server(launch: Launch) -> str | None:
    """`flask run`, `manage.py runserver`, `--reload`: a development server, not a deployment."""
    for command in launch.commands:
        args = command.args
        texts = " ".join(args)
        if command.program == "flask" and "run" in args[1:] or re.search(r"-m flask\b.* run\b", texts):
            return "`flask run` (development server)"
        if command.program == "fastapi" and "dev" in args[1:2]:
            return "`fastapi dev` (development server)"
        if "runserver" in args or "runserver_plus" in args:
            return "`manage.py runserver` (development server)"
        if "--reload" in args or "--reload-dir" in texts:
            return f"`{command.program} --reload` (development auto-reload)"
        for wrapper in getattr(command, "wrappers", ()):
            if wrapper.split(" ", 1)[0] in ("hupper", "watchmedo"):
                return f"`{wrapper}` (development auto-restart)"
    return None


def _server_program(launch: Launch) -> str | None:
    from pgforklint.read.command import python_module_invocation

    for command in launch.commands:
        program = command.program
        module = python_module_invocation(command)
        if module is not None:
            program = module[0].split(".")[0]
        if program in ("celery", "rq") and not any(w in ("worker", "worker-pool") for w in command.args[1:]):
            continue  # `celery beat`, `celery flower`, `rq info`: no forking worker
        if program in SERVER_PROGRAMS or program in SPAWNING_PROGRAMS:
            return program
    return None


def _engines(server: Server) -> int:
    from pgforklint.budget import process_engines

    return len(process_engines(server))


def server_label(server: Server) -> str:
    if server.kind is ServerKind.CELERY:
        return f"celery {server.worker_class}"
    if server.kind is ServerKind.GUNICORN and server.worker_class not in ("sync", ""):
        return f"gunicorn {server.worker_class}"
    if server.settings.get("may_fork"):
        return f"{server.kind.value}, {server.settings['may_fork']} so it may fork"
    if server.settings.get("no_app"):
        return f"{server.kind.value} (no app option)"
    return server.kind.value


def _failed_steps(project: Project, server: Server, launch: Launch | None) -> list[str]:
    from pgforklint.launch.paths import describe_place, describe_roots

    steps = list(server.failed) if server.failed else []
    if launch is not None:
        steps = [*launch.failed, *steps]
    if steps or not server.forks:
        return steps
    app = server.app
    if app is None and server.settings.get("no_app"):
        return steps  # a uWSGI vassal with no app option: it loads no Python app
    if app is None:
        passes_on = launch.extra.get("forwards_arguments") if launch is not None else None
        if server.kind in (ServerKind.GUNICORN, ServerKind.UWSGI) and passes_on is not None:
            options = "app option (`--module`, `--wsgi-file`) and no ini" if server.kind is ServerKind.UWSGI \
                else "app module and no configuration file"
            steps.append(f"{server.kind.value} is started at {passes_on.path}:{passes_on.line} with no {options}, and "
                         "with the arguments the script is given (`\"$@\"`): the app comes from whoever runs it, "
                         "not from the repository")
        elif server.kind in (ServerKind.GUNICORN, ServerKind.UWSGI):
            steps.append(f"{server.kind.value}: the command names no app module (nor does its configuration)")
        elif server.kind is ServerKind.CELERY and not server.parent_effects.engines:
            steps.append("celery: no `-A`/`--app` module to follow")
    elif app.file is None and _engines(server) == 0:
        roots = list(app.roots)
        where = describe_place(launch)
        steps.append(f"{server.kind.value} app `{app.module}`: no module `{app.module}` in {describe_roots(roots)}"
                     + (f" (the process runs in {where})" if launch is not None and (launch.paths or launch.workdir) else ""))
    return steps


def build_coverage(project: Project, launches: list[Launch], model: DeploymentModel) -> Coverage:
    coverage = Coverage()
    derived = list(model.facts.get("derived_launches") or [])  # uWSGI Emperor vassals
    parents = {(launch.name.rpartition("/")[0], launch.via[-1]) for launch in derived if launch.via}
    launches = [launch for launch in launches if (launch.name, launch.location) not in parents] + derived
    by_place = {(launch.name, launch.location): launch for launch in launches}
    attached: set[int] = set()
    seen_launches: set[tuple[str, Location]] = set()
    for process_type in model.process_types:
        server = process_type.server
        if server is None or process_type.transient:
            continue
        attached.add(id(server))
        launch = by_place.get((process_type.name, process_type.location))
        seen_launches.add((process_type.name, process_type.location))
        coverage.process_types.append(_row(project, process_type.name, process_type.location, server, launch))
    unused = unused_configurations(model)
    coverage.unused_configurations = [server.location for server in unused]
    attached.update(id(server) for server in unused)
    for server in model.servers:
        if id(server) in attached or server.kind in IN_CODE_SERVERS:
            continue
        row = _row(project, server.kind.value, server.location, server, None)
        if project.files(FileKind.DOCKERFILE):
            from pgforklint.launch.base_images import unknown_base_step

            # only when what the configuration alone says was not followed to forking app code
            step = unknown_base_step(project, server.config_path, launches) if not (row.forks and row.app_file) else None
            if step is not None:
                row.failed.append(step)
        coverage.process_types.append(row)
    for launch in launches:
        if (launch.name, launch.location) in seen_launches or launch.name == "release":
            continue
        dev = dev_server(launch)
        program = _server_program(launch)
        if dev is None and program is None and not launch.failed:
            continue
        if any(row.name == launch.name and row.location == launch.location for row in coverage.process_types):
            continue
        row = ProcessCoverage(launch.name, launch.location, program, False, None, None, None, 0,
                              failed=list(launch.failed), dev_only=dev is not None, declared=launch.source == "declared")
        if dev is not None:
            row.server = dev
        elif program in SPAWNING_PROGRAMS:
            row.server = f"{program} (spawns its workers)"
        elif program is not None and not launch.failed:
            row.failed.append(f"`{launch.text}`: the {program} command could not be read as a server launch")
        coverage.process_types.append(row)
    coverage.servers = len(model.servers) - len(unused) + len(model.facts.get("entry_scripts") or [])
    coverage.database_code, coverage.database_location = _database_code(project, model, coverage)
    return coverage


def _row(project: Project, name: str, location: Location, server: Server, launch: Launch | None) -> ProcessCoverage:
    app = server.app
    app_text = None
    if app is not None:
        app_text = f"{app.module}:{app.attribute}" if app.attribute else app.module
    preload = server.loads_app_in_parent.value if server.forks else None
    dev = dev_server(launch) if launch is not None else None
    return ProcessCoverage(name, location, server_label(server), server.forks, preload, app_text,
                           app.file if app is not None else None, _engines(server),
                           failed=_failed_steps(project, server, launch) if dev is None else [],
                           dev_only=dev is not None, declared=launch is not None and launch.source == "declared")


def _database_code(project: Project, model: DeploymentModel, coverage: Coverage) -> tuple[bool, Location | None]:
    for server in model.servers:
        engines = [server.parent_effects.engines, *(hook.effects.engines for hook in server.hooks)]
        for group in engines:
            if group:
                return True, group[0].location
    if model.servers or coverage.process_types:
        return False, None  # only asked when nothing at all was launched: the scan below reads every file
    from pgforklint.discover import FileKind

    for source in project.files(FileKind.PYTHON):
        if project.contains(source.rel, *DATABASE_NEEDLES):
            text = project.text(source.rel) or ""
            words = tuple(needle.decode() for needle in DATABASE_NEEDLES)
            line = next((n for n, line in enumerate(text.splitlines(), start=1)
                         if any(word in line for word in words)
                         and not line.lstrip().startswith(("#", "import ", "from "))), 1)
            return True, Location(source.rel, line)
    return False, None
