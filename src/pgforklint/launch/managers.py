"""Process managers: supervisord `[program:x]` sections and systemd units.

supervisord: `command=` runs in `directory=` with `environment=KEY="v",...`; `numprocs` copies
[src: supervisord.org/configuration.html#program-x-section-settings]. systemd: `ExecStart=` runs in
`WorkingDirectory=` with `Environment=`/`EnvironmentFile=` [src: systemd.exec(5), systemd.service(5)].
Folders are host paths: one that ends in a repository folder is taken as that folder.
"""

from __future__ import annotations

import re
import shlex

from pgforklint.diagnostics import Location
from pgforklint.discover import FileKind
from pgforklint.errors import ReadError
from pgforklint.launch.base import Launch, copy_launch, parse_launch_commands
from pgforklint.launch.compose import read_env_file
from pgforklint.launch.paths import folder_exists
from pgforklint.read.command import parse_commands

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pgforklint.project import Project


def host_folder(project: Project, path: str, default: str) -> str:
    """The repository folder a host path (`/srv/app/current/service`) most likely is."""
    path = path.strip().strip("'\"")
    if not path.startswith("/"):
        return path.strip("./") if folder_exists(project, path.strip("./")) else default
    parts = [p for p in path.split("/") if p]
    for start in range(len(parts)):
        tail = "/".join(parts[start:])
        if tail and folder_exists(project, tail):
            return tail
    return default


def _ini_sections(text: str) -> list[tuple[str, int, dict[str, tuple[str, int]]]]:
    sections: list[tuple[str, int, dict[str, tuple[str, int]]]] = []
    current: dict[str, tuple[str, int]] | None = None
    key = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        stripped = line.strip()
        if not stripped or stripped.startswith((";", "#")):
            continue
        header = re.match(r"^\[([^\]]+)\]", stripped)
        if header:
            current = {}
            sections.append((header.group(1).strip(), number, current))
            key = None
            continue
        if current is None:
            continue
        if raw[:1] in (" ", "\t") and key is not None:  # a continuation line
            value, line_number = current[key]
            # systemd joins a line that ends in a backslash with the next one
            current[key] = (f"{value.removesuffix(chr(92)).rstrip()} {stripped}", line_number)
            continue
        match = re.match(r"^([A-Za-z0-9_.-]+)\s*[=:]\s*(.*)$", stripped)
        if match:
            key = match.group(1).lower()
            value = re.sub(r"\s+;.*$", "", match.group(2))
            current[key] = (value, number)
    return sections


def supervisord_launches(project: Project) -> list[Launch]:
    launches = []
    for source in project.files(FileKind.CONF, FileKind.INI):
        if project.contains(source.rel, b"[program:"):
            launches.extend(supervisord_programs(project, source.rel))
    return launches


def supervisord_programs(project: Project, rel: str, parent: Launch | None = None) -> list[Launch]:
    """The `[program:x]` sections of one file; with `parent`, the launch that runs `supervisord -c rel`
    (its environment and image apply, and a single program keeps the parent's name and place)."""
    from pgforklint.launch.paths import repo_dir

    text = project.text(rel)
    folder = rel.rpartition("/")[0]
    sections = [(header.split(":", 1)[1].strip(), options) for header, _, options in _ini_sections(text or "")
                if header.startswith("program:") and "command" in options]
    launches = []
    for name, options in sections:
        command, line = options["command"]
        env: dict[str, str] = dict(parent.env) if parent is not None else {}
        environment = options.get("environment", ("", 0))[0]
        for key, value in re.findall(r'([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|[^,]*)', environment):
            env[key] = value.strip().strip('"')
        command = re.sub(r"%\(ENV_([A-Za-z_][A-Za-z0-9_]*)\)s", r"${\1}", command)
        location = Location(rel, line)
        directory = options["directory"][0].strip() if "directory" in options else None
        if parent is None:
            workdir = host_folder(project, directory, "") if directory else ""
            launch = Launch(name, "supervisord", command, location, [], env,
                            {k: Location(rel, options["environment"][1]) for k in env if "environment" in options},
                            workdir=workdir)
        else:
            launch = copy_launch(parent, name=parent.name if len(sections) == 1 else f"{parent.name}/{name}", text=command,
                           env=env, via=[*parent.via, location])
            if directory:
                found = repo_dir(project, parent, directory)
                if found is not None:
                    launch.workdir = found
                    if parent.paths is not None:
                        launch.extra["container_cwd"] = parent.paths.container_path(directory)
        numprocs = options.get("numprocs", ("", 0))[0].strip()
        from_env = re.fullmatch(r"%\(ENV_([A-Za-z_][A-Za-z0-9_]*)\)s", numprocs)
        if numprocs.isdigit():
            launch.instances = int(numprocs)
        elif from_env and (env.get(from_env.group(1)) or "").strip().isdigit():
            # `numprocs=%(ENV_WORKERS_COUNT)s`: supervisord expands it from the environment it is started with
            launch.instances = int(env[from_env.group(1)].strip())
            launch.extra["instances_detail"] = f"supervisord numprocs = ${from_env.group(1)}"
        launch.extra["supervisord"] = folder
        launch.commands = parse_launch_commands(project, rel, line, command, env)
        launches.append(launch)
    return launches


def expand_supervisord(project: Project, launches: list[Launch]) -> list[Launch]:
    """A launch that runs `supervisord -c FILE` runs FILE's programs; FILE is then not a launch of its own."""
    from pgforklint.launch.paths import repo_file

    out: list[Launch] = []
    used: set[str] = set()
    for launch in launches:
        config = None
        for command in launch.commands:
            if command.program in ("supervisord", "supervisor"):
                words = [w.text for w in command.argv[1:]]
                for index, word in enumerate(words):
                    if word in ("-c", "--configuration") and index + 1 < len(words):
                        config = repo_file(project, launch, words[index + 1])
                    elif word.startswith("--configuration="):
                        config = repo_file(project, launch, word.split("=", 1)[1])
        programs = supervisord_programs(project, config, launch) if config is not None else []
        if programs:
            used.add(config)
            out.extend(programs)
        else:
            out.append(launch)
    return [launch for launch in out if not (launch.source == "supervisord" and launch.location.path in used)]


def _environment_file(project: Project, path: str, unit: str) -> str | None:
    """The repository file a unit's `EnvironmentFile=/etc/shop/celery.conf` most likely is: a tail of the host
    path in the repository, or a file of that name beside the unit (provisioning scripts copy both)."""
    parts = [p for p in path.split("/") if p]
    folder = unit.rpartition("/")[0]
    for start in range(len(parts)):
        tail = "/".join(parts[start:])
        for candidate in (tail, f"{folder}/{tail}" if folder else tail):
            if project.exists(candidate):
                return candidate
    return None


def systemd_launches(project: Project) -> list[Launch]:
    launches = []
    for source in project.files(FileKind.SYSTEMD):
        text = project.text(source.rel)
        if text is None:
            continue
        options: dict[str, tuple[str, int]] = {}
        env: dict[str, str] = {}
        for header, _, values in _ini_sections(text):
            if header.lower() != "service":
                continue
            options = values
        if "execstart" not in options:
            continue
        if "environment" in options:
            try:
                words = shlex.split(options["environment"][0])
            except ValueError:
                words = options["environment"][0].split()
            env.update(dict(w.split("=", 1) for w in words if "=" in w))
        if "environmentfile" in options:
            # Its settings override Environment= [src: systemd.exec(5)]; `-` means "ignore if missing".
            env_file = _environment_file(project, options["environmentfile"][0].strip().lstrip("-"), source.rel)
            if env_file is not None:
                env.update({key: value for key, (value, _) in read_env_file(project, env_file).items()})
        command, line = options["execstart"]
        command = command.lstrip("-@+!:")
        workdir = host_folder(project, options["workingdirectory"][0], "") if "workingdirectory" in options else ""
        name = source.rel.rpartition("/")[2].removesuffix(".service")
        launch = Launch(name, "systemd", command, Location(source.rel, line), [], env, workdir=workdir)
        try:
            launch.commands = parse_commands(command, env)
        except ReadError:
            continue  # a unit line beyond a simple command is not a launch
        launches.append(launch)
    return launches
