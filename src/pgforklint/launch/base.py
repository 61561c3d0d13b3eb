"""What the launch stage hands on: `Launch` (one way a process type starts) and the process types.

A `Launch` carries where its process runs (`workdir`, a repository folder, and `paths`, the image's
container paths mapped to repository paths) so every server adapter resolves modules and files the
same way (`pgforklint.launch.paths`). Steps that could not be followed are kept in `failed`, for the
coverage summary and PGF102.
"""

from __future__ import annotations

import shlex
from dataclasses import field

from pgforklint.diagnostics import Location
from pgforklint.errors import ReadError
from pgforklint.model import DeploymentModel, ProcessType, Quantity
from pgforklint.read.command import Command, parse_commands
from pgforklint.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pgforklint.launch.paths import ContainerPaths
    from pgforklint.project import Project


@record
class Launch:
    name: str  # process type: Procfile name, Compose service, script path, declared name
    source: str  # "procfile", "compose", "dockerfile", "kubernetes", "shell", "systemd", "supervisord", "declared"
    text: str
    location: Location
    commands: list[Command]
    env: dict[str, str] = field(default_factory=dict)
    env_locations: dict[str, Location] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # source-specific facts (compose replicas, ...)
    workdir: str = ""  # the repository folder the process starts in ("" is the root)
    paths: ContainerPaths | None = None  # the image's filesystem, when a Dockerfile builds it
    condition: str | None = None  # the script branch this variant runs in (`case "$1" in web`)
    failed: list[str] = field(default_factory=list)  # steps that could not be followed, in words
    via: list[Location] = field(default_factory=list)  # scripts followed from the launch line to the command
    instances: int | None = None  # declared processes: `instances = 3`


def copy_launch(launch: Launch, **changes) -> Launch:
    """The same launch with some fields changed (its dicts and lists copied, never shared)."""
    import dataclasses

    values = {f.name: getattr(launch, f.name) for f in dataclasses.fields(launch)}
    values.update(changes)
    for name in ("env_locations", "extra"):
        values[name] = dict(values[name])
    for name in ("failed", "via"):
        values[name] = list(values[name])
    return Launch(**values)


def shell_quote(word: str) -> str:
    return shlex.quote(word)


def parse_launch_commands(project: Project, rel: str, line: int, text: str, env: dict[str, str]) -> list[Command]:
    try:
        commands = parse_commands(text, env)
        return commands + script_runs(text, env, commands)
    except ReadError as exc:
        project.report_unreadable(rel, f"line {line}: {exc.reason}", line)
        return []


def script_runs(text: str, env: dict[str, str], commands: list[Command]) -> list[Command]:
    """`bash start.sh web`, `sh -e ./entrypoint`: a shell running a script file is a command too (the
    command reader keeps only `sh -c '...'`); `pgforklint.launch.scripts` follows it."""
    from pgforklint.read.command import expand_word, split_shell

    if not any(shell in text for shell in ("sh ", "bash ", "zsh ")):
        return []
    out = []
    for tokens in split_shell(text):
        while tokens and "=" in tokens[0] and tokens[0].split("=", 1)[0].isidentifier():
            tokens = tokens[1:]
        if tokens and tokens[0] == "exec":
            tokens = tokens[1:]
        if not tokens or tokens[0].rsplit("/", 1)[-1] not in ("sh", "bash", "dash", "zsh", "ash"):
            continue
        if any(t.startswith("-") and not t.startswith("--") and "c" in t[1:] for t in tokens[1:2]):
            continue
        if any(c.argv and c.argv[0].text == tokens[0] for c in commands):
            continue
        out.append(Command([expand_word(t, env) for t in tokens]))
    return out


def attach_process_type(model: DeploymentModel, launch: Launch, server) -> None:
    """The process type a server runs in; one per launch (a Procfile line, a Compose service ...)."""
    for existing in model.process_types:
        if existing.name == launch.name and existing.location == launch.location:
            existing.server = existing.server or server
            return
    instances = Quantity.default(1, "instance count unknown; counted as 1")
    if launch.instances is not None:
        from pgforklint.model import Origin, OriginKind

        if launch.source == "declared":
            origin = Origin(OriginKind.CONFIG, None, f"[tool.pgforklint.processes] {launch.name} instances")
        elif "instances_detail" in launch.extra:
            origin = Origin(OriginKind.ENV_DEFAULT, launch.location, launch.extra["instances_detail"])
        else:
            origin = Origin(OriginKind.FILE, launch.location, f"{launch.source} process count")
        instances = Quantity(launch.instances, origin)
    model.process_types.append(ProcessType(
        name=launch.name, command=launch.text, location=launch.location, instances=instances,
        server=server, env=dict(launch.env), transient=launch.name == "release",
    ))
