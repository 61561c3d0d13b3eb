"""Procfiles (Heroku, honcho, foreman): `<process type>: <command>` lines, and app.json's environment.

A `Procfile` in a subfolder runs from that folder. Variants such as `Procfile.prod` or `Procfile.dev`
(honcho/foreman `-f`) are other process sets; a type that a variant repeats is named with the file
(`web (Procfile.dev)`) so it is not counted twice. `Procfile.sh` is a shell script, not a Procfile.
"""

from __future__ import annotations

import re

from pgforklint.diagnostics import Location
from pgforklint.discover import FileKind
from pgforklint.launch.base import Launch, parse_launch_commands

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pgforklint.project import Project


def procfile_launches(project: Project, env: dict[str, str]) -> list[Launch]:
    launches = []
    named: set[tuple[str, str]] = set()
    sources = sorted(project.files(FileKind.PROCFILE), key=lambda s: (s.rel.rpartition("/")[2] != "Procfile", s.rel))
    for source in sources:
        text = project.text(source.rel)
        if text is None:
            continue
        folder = source.rel.rpartition("/")[0]
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            match = re.match(r"^([A-Za-z0-9_-]+)\s*:\s*(.*)$", line)
            if not match:
                project.report_unreadable(source.rel, f"line {number}: expected `<process type>: <command>`", number)
                continue
            name, command = match.group(1), match.group(2)
            if (folder, name) in named:
                name = f"{name} ({source.rel})"
            named.add((folder, match.group(1)))
            location = Location(source.rel, number, 1, number, len(raw.rstrip()) + 1)
            launches.append(Launch(name, "procfile", command, location,
                                   parse_launch_commands(project, source.rel, number, command, env),
                                   dict(env), extra={"procfile": source.rel}, workdir=folder))
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
