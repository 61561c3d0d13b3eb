"""Declared processes: `[tool.pgforklint.processes]`, for what the repository cannot show (a base image's
CMD, a platform's UI, Helm values). Each is a launch like a Procfile line, run from its `workdir`."""

from __future__ import annotations

import re

from pgforklint.diagnostics import Location
from pgforklint.launch.base import Launch, parse_launch_commands

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pgforklint.project import Project


def declared_launches(project: Project) -> list[Launch]:
    config = project.config
    if not config.processes or config.path is None:
        return []
    try:
        rel = config.path.resolve().relative_to(project.root).as_posix()
    except ValueError:
        rel = config.path.name
    try:
        text = config.path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""
    launches = []
    for process in config.processes:
        line = _line_of(text, process.name)
        location = Location(rel, line)
        launch = Launch(process.name, "declared", process.command, location, [], {}, workdir=process.workdir,
                        instances=process.instances)
        launch.commands = parse_launch_commands(project, rel, line, process.command, {})
        launches.append(launch)
    return launches


def _line_of(text: str, name: str) -> int:
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(r"\s*\[(tool\.pgforklint\.)?processes[.\]]", line)), 0)
    pattern = re.compile(r'\s*"?' + re.escape(name) + r'"?\s*=|\s*\[(tool\.pgforklint\.)?processes\.' + re.escape(name) + r"\]")
    for index in range(start, len(lines)):
        if pattern.match(lines[index]):
            return index + 1
    return start + 1
