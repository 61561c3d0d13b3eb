"""The launch stage: from every place a repository says how its processes start to `Launch`es that the
server adapters (`pgforklint.extract`) turn into servers.

discover -> read -> **launch** -> extract -> model -> rules -> report

Sources, one module each: `procfile` (and app.json's environment), `dockerfile` (the image: files,
WORKDIR, ENV, ENTRYPOINT + CMD), `compose` (merged as Compose merges), `kubernetes`, `managers`
(supervisord, systemd), `paas` (Render, Fly.io, Cloud Foundry), `kamal` (config/deploy.yml roles), `scripts` (start scripts followed with their arguments through the shell
reader), `declared` (`[tool.pgforklint.processes]`), `python_servers` (gunicorn or Celery started from the
project's own Python), `app_cli` (workers started through the project's own click/typer/Flask/Django
command line). `paths` maps container paths to repository paths
and gives every adapter the same module roots; `base` holds `Launch` and the process types handed to the
model; `coverage` says what was linked and what was not (PGF102).
"""

from __future__ import annotations

from pgforklint.discover import FileKind
from pgforklint.launch.base import Launch, attach_process_type, parse_launch_commands, shell_quote
from pgforklint.launch.procfile import app_json_env

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pgforklint.project import Project

_SERVER_WORDS = ("gunicorn", "uwsgi", "celery", "rq", "rqworker", "uvicorn", "hypercorn", "daphne", "puma", "unicorn",
                 "sidekiq", "good_job", "rackup", "resque", "rails", "bin/jobs", "python")


def all_launches(project: Project) -> list[Launch]:
    from pgforklint.launch.declared import declared_launches
    from pgforklint.launch.procfile import procfile_launches

    env, _ = app_json_env(project)
    launches = [*procfile_launches(project, env)]
    built: set[str] = set()
    if project.files(FileKind.COMPOSE):
        from pgforklint.launch.compose import compose_launches

        launches.extend(compose_launches(project, built))
    if project.exists("config/deploy.yml"):
        from pgforklint.launch.kamal import kamal_launches  # Kamal: roles in the image it builds

        launches.extend(kamal_launches(project, built))
    if project.files(FileKind.DOCKERFILE):
        launches.extend(_dockerfile_launches(project, built))
    if project.files(FileKind.YAML):
        from pgforklint.launch.kubernetes import kubernetes_launches

        launches.extend(kubernetes_launches(project))
    if project.files(FileKind.SYSTEMD, FileKind.CONF, FileKind.INI):
        from pgforklint.launch.managers import supervisord_launches, systemd_launches

        launches.extend(supervisord_launches(project))
        launches.extend(systemd_launches(project))
    if project.files(FileKind.YAML, FileKind.TOML):
        from pgforklint.launch.paas import paas_launches

        launches.extend(paas_launches(project))
    launches.extend(declared_launches(project))
    if project.files(FileKind.DOCKERFILE):
        from pgforklint.launch.base_images import resolve

        launches = resolve(project, launches)  # the base image's own scripts: before and after following the repo's
        launches = resolve(project, _follow_scripts(project, launches))
    else:
        launches = _follow_scripts(project, launches)
    if built:
        from pgforklint.launch.scripts import unselected_image_branches

        launches.extend(unselected_image_branches(project, launches, built))
    if any(c.program == "supervisord" for launch in launches for c in launch.commands):
        from pgforklint.launch.managers import expand_supervisord

        before = {id(launch) for launch in launches}
        launches = expand_supervisord(project, launches)
        if any(id(launch) not in before for launch in launches):
            # the programs of a supervisord config an image runs: their scripts are followed like any launch's
            from pgforklint.launch.scripts import follow

            launches = [followed for launch in launches
                        for followed in ([launch] if id(launch) in before else follow(project, launch))]
    if any(c.program.startswith("python") for launch in launches for c in launch.commands):
        from pgforklint.launch.python_servers import rewrite

        for launch in launches:
            rewrite(project, launch)
    if launches and project.files(FileKind.PYTHON):
        from pgforklint.launch.app_cli import rewrite as follow_app_cli

        for launch in launches:
            follow_app_cli(project, launch)
    return launches


def _dockerfile_launches(project: Project, built: set[str]) -> list[Launch]:
    """Images no Compose service builds: the container's command, run in WORKDIR."""
    from pgforklint.launch.dockerfile import read_image

    launches = []
    for source in project.files(FileKind.DOCKERFILE):
        if source.rel in built:
            continue
        image = read_image(project, source.rel)
        launch = image_launch(project, source.rel, image) if image is not None else None
        if launch is not None:
            launches.append(launch)
    return launches


def image_launch(project: Project, rel: str, image) -> Launch | None:
    """The container's command, run in WORKDIR, as the image `rel` says (ENTRYPOINT + CMD)."""
    combined = image.command()
    if combined is None:
        return None
    text, location = combined
    repo = image.paths.to_repo(image.paths.workdir)
    launch = Launch(rel, "dockerfile", text, location, [], dict(image.paths.env), dict(image.env_locations),
                    workdir=repo if repo is not None else image.paths.context, paths=image.paths)
    if image.entrypoint is not None and image.entrypoint.words and (image.cmd is None or image.cmd.words):
        # The arguments after an exec-form ENTRYPOINT: the CMD's, a default whoever runs the image replaces.
        launch.extra["default_args"] = len(image.cmd.words) if image.cmd is not None else 0
    launch.commands = parse_launch_commands(project, location.path, location.line, text, launch.env)
    return launch


def _follow_scripts(project: Project, launches: list[Launch]) -> list[Launch]:
    """Scripts run by a launch are followed; scripts no launch runs that start a server are launches too."""
    if not launches and not project.files(FileKind.SHELL):
        return launches
    from pgforklint.launch.scripts import follow

    out: list[Launch] = []
    followed: set[str] = set()
    for launch in launches:
        results = follow(project, launch)
        for result in results:
            followed.update(location.path for location in result.via)
        out.extend(results)
    for source in project.files(FileKind.SHELL):
        if source.rel in followed:
            continue
        text = project.text(source.rel)
        if text is None or not any(word in text for word in _SERVER_WORDS[:-1]):
            continue
        script = Launch(source.rel, "shell", f"sh {source.rel}", _first_server_line(text, source.rel),
                        parse_launch_commands(project, source.rel, 1, f"sh {shell_quote(source.rel)}", {}))
        copied = _image_copying(project, source.rel)
        if copied is not None:
            # An image copies the script and a base image's command runs it (`COPY start.sh /` under
            # tiangolo/*-gunicorn-flask): the script reads that image's ENV and runs in its WORKDIR.
            image, container = copied
            workdir = image.paths.to_repo(image.paths.workdir)
            script = Launch(source.rel, "shell", f"sh {container}", script.location,
                            parse_launch_commands(project, source.rel, 1, f"sh {shell_quote(container)}", {}),
                            dict(image.paths.env), dict(image.env_locations),
                            workdir=workdir if workdir is not None else image.paths.context, paths=image.paths)
        for result in follow(project, script):
            if result.commands and any(c.program != "sh" for c in result.commands):
                out.append(result)
    return out


def _image_copying(project: Project, rel: str):
    """(image, container path) of the first Dockerfile with no command of its own that copies the script `rel`."""
    from pgforklint.launch.dockerfile import read_image

    for dockerfile in project.files(FileKind.DOCKERFILE):
        image = read_image(project, dockerfile.rel)
        if image is None or image.entrypoint is not None or image.cmd is not None:
            continue
        for container, repo, folder in image.paths.copies:
            if not folder and repo == rel:
                return image, container
    return None


def _first_server_line(text: str, rel: str):
    import re

    from pgforklint.diagnostics import Location

    pattern = re.compile(r"\b(" + "|".join(_SERVER_WORDS[:-1]) + r")\b")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.search(line) and not line.lstrip().startswith("#"):
            return Location(rel, number)
    return Location(rel, 1)


__all__ = ["Launch", "all_launches", "app_json_env", "attach_process_type", "parse_launch_commands", "shell_quote"]
