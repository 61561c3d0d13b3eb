"""Launch commands from every place a repository says how its processes start.

Procfile lines, Compose `command`/`entrypoint`, Dockerfile `CMD`/`ENTRYPOINT`, shell scripts and
systemd `ExecStart=`. Each becomes a `Launch`: the process type's name, its parsed commands, the
environment the repo gives it, and the place it is written.
"""

from __future__ import annotations

import json
import re
from dataclasses import field

from pgforklint.diagnostics import Location
from pgforklint.discover import FileKind
from pgforklint.errors import ReadError
from pgforklint.project import Project
from pgforklint.read.command import Command, parse_commands
from pgforklint.read.structured import LineDict
from pgforklint.records import record


@record
class Launch:
    name: str  # process type: Procfile name, Compose service, script path
    source: str  # "procfile", "compose", "dockerfile", "shell", "systemd"
    text: str
    location: Location
    commands: list[Command]
    env: dict[str, str] = field(default_factory=dict)
    env_locations: dict[str, Location] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # source-specific facts (compose replicas, ...)


def _commands(project: Project, rel: str, line: int, text: str, env: dict[str, str]) -> list[Command]:
    try:
        return parse_commands(text, env)
    except ReadError as exc:
        project.report_unreadable(rel, f"line {line}: {exc.reason}", line)
        return []


def procfile_launches(project: Project, env: dict[str, str]) -> list[Launch]:
    launches = []
    for source in project.files(FileKind.PROCFILE):
        text = project.text(source.rel)
        if text is None:
            continue
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            match = re.match(r"^([A-Za-z0-9_-]+)\s*:\s*(.*)$", line)
            if not match:
                project.report_unreadable(source.rel, f"line {number}: expected `<process type>: <command>`", number)
                continue
            name, command = match.group(1), match.group(2)
            location = Location(source.rel, number, 1, number, len(raw.rstrip()) + 1)
            launches.append(Launch(name, "procfile", command, location, _commands(project, source.rel, number, command, env),
                                   dict(env), extra={"procfile": source.rel}))
    return launches


def _compose_env(service: LineDict, rel: str) -> tuple[dict[str, str], dict[str, Location]]:
    env: dict[str, str] = {}
    where: dict[str, Location] = {}
    raw = service.get("environment")
    if isinstance(raw, dict):
        for key, value in raw.items():
            if value is not None:
                env[str(key)] = str(value).lower() if isinstance(value, bool) else str(value)
                where[str(key)] = Location(rel, raw.line_of(key) or 1)
    elif isinstance(raw, list):
        lines = getattr(raw, "item_lines", [])
        for index, item in enumerate(raw):
            if isinstance(item, str) and "=" in item:
                key, value = item.split("=", 1)
                env[key] = value
                where[key] = Location(rel, lines[index] if index < len(lines) else 1)
    return env, where


def compose_launches(project: Project) -> list[Launch]:
    launches = []
    for source in project.files(FileKind.COMPOSE):
        documents = project.yaml_documents(source.rel)
        if not documents:
            continue
        document = documents[0]
        services = document.get("services") if isinstance(document, dict) else None
        if not isinstance(services, dict):
            continue
        for name, service in services.items():
            if not isinstance(service, dict):
                continue
            env, env_where = _compose_env(service, source.rel)
            for key in ("entrypoint", "command"):
                value = service.get(key)
                if value is None:
                    continue
                line = service.line_of(key) or 1
                if isinstance(value, list):
                    text = " ".join(_shell_quote(str(v)) for v in value)
                else:
                    text = str(value)
                location = Location(source.rel, line)
                extra = {"service": service, "compose": source.rel, "document": document}
                launches.append(Launch(str(name), "compose", text, location,
                                       _commands(project, source.rel, line, text, env), env, env_where, extra))
    return launches


def _shell_quote(word: str) -> str:
    import shlex

    return shlex.quote(word)


def dockerfile_launches(project: Project) -> list[Launch]:
    launches = []
    for source in project.files(FileKind.DOCKERFILE):
        text = project.text(source.rel)
        if text is None:
            continue
        env: dict[str, str] = {}
        logical: list[tuple[int, str]] = []
        buffer, start = "", 0
        for number, raw in enumerate(text.splitlines(), start=1):
            if not buffer:
                start = number
            stripped = raw.rstrip()
            if stripped.endswith("\\"):
                buffer += stripped[:-1] + " "
                continue
            buffer += stripped
            logical.append((start, buffer.strip()))
            buffer = ""
        for number, line in logical:
            instruction, _, rest = line.partition(" ")
            instruction = instruction.upper()
            if instruction == "ENV":
                for key, value in re.findall(r'([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)', rest):
                    env[key] = value.strip('"')
                if "=" not in rest and rest.split():
                    parts = rest.split(None, 1)
                    if len(parts) == 2:
                        env[parts[0]] = parts[1]
            elif instruction in ("CMD", "ENTRYPOINT"):
                rest = rest.strip()
                if rest.startswith("["):
                    try:
                        words = json.loads(rest)
                        command = " ".join(_shell_quote(str(w)) for w in words)
                    except ValueError:
                        command = rest
                else:
                    command = rest
                location = Location(source.rel, number)
                launches.append(Launch(f"{source.rel}:{instruction}", "dockerfile", command, location,
                                       _commands(project, source.rel, number, command, env), dict(env)))
    return launches


_SERVER_WORDS = re.compile(r"\b(gunicorn|uwsgi|celery|rq|rqworker|uvicorn|hypercorn|daphne|puma|unicorn|unicorn_rails|sidekiq|good_job|rackup|resque|rails|jobs)\b")


def shell_launches(project: Project) -> list[Launch]:
    launches = []
    for source in project.files(FileKind.SHELL, FileKind.SYSTEMD):
        text = project.text(source.rel)
        if text is None or not _SERVER_WORDS.search(text):
            continue
        buffer, start = "", 0
        for number, raw in enumerate(text.splitlines(), start=1):
            if not buffer:
                start = number
            stripped = raw.rstrip()
            if stripped.endswith("\\"):
                buffer += stripped[:-1] + " "
                continue
            line = (buffer + stripped).strip()
            buffer = ""
            if source.kind is FileKind.SYSTEMD:
                if not line.startswith("ExecStart="):
                    continue
                line = line[len("ExecStart="):].lstrip("-@+!:")
            if not line or line.startswith("#") or not _SERVER_WORDS.search(line):
                continue
            try:
                commands = parse_commands(line, {})
            except ReadError:
                continue  # a shell construct beyond a simple command: not a launch line
            launches.append(Launch(source.rel, "systemd" if source.kind is FileKind.SYSTEMD else "shell", line,
                                   Location(source.rel, start), commands))
    return launches


def app_json_env(project: Project) -> tuple[dict[str, str], dict[str, Location]]:
    env: dict[str, str] = {}
    where: dict[str, Location] = {}
    for source in project.files(FileKind.APP_JSON):
        data = project.json(source.rel)
        if not isinstance(data, dict) or not isinstance(data.get("env"), dict):
            continue
        for key, value in data["env"].items():
            if isinstance(value, str):
                env[key] = value
            elif isinstance(value, dict) and isinstance(value.get("value"), (str, int)):
                env[key] = str(value["value"])
            else:
                continue
            where[key] = Location(source.rel, 1)
    return env, where


def all_launches(project: Project) -> list[Launch]:
    env, _ = app_json_env(project)
    from pgforklint.extract.platform import kubernetes_launches  # late: platform imports this module

    return [*procfile_launches(project, env), *compose_launches(project), *dockerfile_launches(project),
            *shell_launches(project), *kubernetes_launches(project)]
