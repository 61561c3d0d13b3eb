"""Which launch files describe a development setup or another environment rather than the production deployment.

A repository often holds both: a Procfile and app.json for Heroku (or Kubernetes manifests, or a production
Compose file) beside a `docker-compose.yml` that runs `--reload` servers and its own `postgres` container on a
laptop. Development processes never share the production database, so the budget leaves them out. A launch
file is a development setup when

- its path is named like one (a `dev`, `development`, `local`, `test`, `ci`, `sample` or `example` word in a
  folder or file name: `docker-compose.dev.yml`, `Procfile.local`, `deploy/ci/compose.yaml`), or like another
  environment of the app with its own database (`stage`, `staging`, `feature`, `preview`, `review`, `qa`, `uat`,
  `sandbox`, `demo`: `manifest_api_stage.yml`), or
- one of its launches is a development server (`--reload`, `manage.py runserver`, `flask run`, `hupper`,
  `watchmedo auto-restart`), or
- it is a Compose file that runs its own `postgres` container while the repository also has a platform
  deployment (Heroku's app.json/heroku.yml, Kubernetes workloads, Kamal roles).

`[tool.pgforklint] development-files = [...]` (gitignore-style patterns) replaces the guess.
Facts go to `model.facts["development_files"]`: path -> (reason, location of the evidence).
"""

from __future__ import annotations

import re

from pgforklint.diagnostics import Location
from pgforklint.discover import FileKind
from pgforklint.launch import Launch
from pgforklint.launch.coverage import OTHER_ENVIRONMENT_WORDS, dev_server, development_name
from pgforklint.model import IN_CODE_SERVERS, DeploymentModel, Server
from pgforklint.project import Project

_POSTGRES_IMAGE = re.compile(r"^(?:[\w.-]+/)*(?:postgres|postgis|timescaledb[\w-]*)(?::|$)")


def _compose_postgres(project: Project, rel: str) -> Location | None:
    documents = project.yaml_documents(rel) or []
    document = documents[0] if documents else None
    services = document.get("services") if isinstance(document, dict) else None
    if not isinstance(services, dict):
        return None
    for name, service in services.items():
        image = service.get("image") if isinstance(service, dict) else None
        if isinstance(image, str) and _POSTGRES_IMAGE.match(image.strip()):
            line = service.line_of("image") if hasattr(service, "line_of") else None
            return Location(rel, line or 1)
    return None


def _platform_deployment(project: Project, launches: list[Launch]) -> str | None:
    from pgforklint.extract.platform import is_heroku

    if is_heroku(project):
        return "Heroku"
    if any(launch.source == "kubernetes" for launch in launches):
        return "Kubernetes"
    if any(launch.source == "kamal" and not launch.extra.get("kamal_template") for launch in launches):
        return "Kamal"
    return None


def guess(project: Project, launches: list[Launch]) -> dict[str, tuple[str, Location]]:
    out: dict[str, tuple[str, Location]] = {}
    for launch in launches:
        compose = launch.extra.get("compose") if launch.source == "compose" else None
        if isinstance(compose, str) and compose not in out and development_name(compose) is not None:
            out[compose] = (f"`{compose}` is named like a development or test setup (`{development_name(compose)}`)",
                            Location(compose, 1))
        path = launch.location.path
        if path in out:
            continue
        word = development_name(path)
        if word is not None:
            kind = "another environment (staging, preview)" if word in OTHER_ENVIRONMENT_WORDS else \
                "a development or test setup"
            out[path] = (f"`{path}` is named like {kind} (`{word}`)", Location(path, 1))
            continue
        server = dev_server(launch)
        if server is not None:
            out[path] = (f"it starts a development server: {server}", launch.location)
    platform = _platform_deployment(project, launches)
    if platform is not None:
        for source in project.files(FileKind.COMPOSE):
            if source.rel in out or not any(launch.location.path == source.rel for launch in launches):
                continue
            where = _compose_postgres(project, source.rel)
            if where is not None:
                out[source.rel] = (f"it runs its own `postgres` container beside the {platform} deployment", where)
    return out


def declared(project: Project, launches: list[Launch], patterns: list[str]) -> dict[str, tuple[str, Location]]:
    from pgforklint.ignore import PatternFile

    listed = PatternFile(patterns)
    out: dict[str, tuple[str, Location]] = {}
    for launch in launches:
        path = launch.location.path
        if path not in out and listed.excludes(path):
            out[path] = ("listed in `development-files`", Location(path, 1))
    return out


# Platforms that each run the whole app against their own database, in the order one is chosen as production when
# a repository describes several (its other deployments are separate budgets).
# Kamal comes before the PaaS files: its roles name the hosts they run on, so a repository that keeps a Kamal
# configuration beside an app.json or render.yaml has moved to (or added) servers of its own. Kamal still set up
# as `rails new` wrote it (`kamal-template`: only the placeholder host 192.168.0.1) deploys nowhere: it comes last.
PLATFORM_ORDER = ("kubernetes", "kamal", "heroku", "cloudfoundry", "render", "fly", "procfile", "compose",
                  "kamal-template")
PLATFORM_NAMES = {"kubernetes": "Kubernetes", "kamal": "Kamal", "heroku": "Heroku", "cloudfoundry": "Cloud Foundry",
                  "render": "Render", "fly": "Fly.io", "kamal-template": "Kamal", "procfile": "Procfile",
                  "compose": "Compose"}


def _platform_of(launch: Launch, heroku: bool) -> str | None:
    if launch.source == "procfile":
        return "heroku" if heroku else "procfile"
    if launch.source == "compose":
        # The Compose file, not the line's: a service that keeps its image's command is located at the Dockerfile.
        return f"compose:{launch.extra.get('compose') or launch.location.path}"
    if launch.source in ("kubernetes", "cloudfoundry", "render", "fly"):
        return launch.source
    if launch.source == "kamal":
        return "kamal-template" if launch.extra.get("kamal_template") else "kamal"
    return None  # an image, a script, a unit: part of whichever deployment runs it


def _running_places(model: DeploymentModel) -> set[tuple[str, Location]]:
    """(name, location) of every launch that runs a server, release phases aside."""
    return {(p.name, p.location) for p in model.process_types if p.server is not None and not p.transient}


def other_deployments(project: Project, launches: list[Launch], model: DeploymentModel,
                      left_out: dict[str, tuple[str, Location]]) -> dict[str, tuple[str, Location]]:
    """When the repository deploys the app on several platforms (a Cloud Foundry manifest and a production Compose
    file), each is its own budget: the first in PLATFORM_ORDER is counted, the others are listed, saying so."""
    from pgforklint.extract.platform import is_heroku

    heroku = is_heroku(project)
    places = _running_places(model)
    groups: dict[str, list[Launch]] = {}
    for launch in launches:
        if (launch.name, launch.location) not in places or launch.location.path in left_out \
                or (launch.source == "compose" and launch.extra.get("compose") in left_out):
            continue
        platform = _platform_of(launch, heroku)
        if platform is not None:
            groups.setdefault(platform, []).append(launch)
    if len(groups) < 2:
        return {}

    def rank(platform: str) -> tuple:
        kind, _, path = platform.partition(":")
        production = development_name(path) is None and any(w in path.lower() for w in ("prod", "production"))
        return (PLATFORM_ORDER.index(kind), not production, path)

    chosen = min(groups, key=rank)
    chosen_name = PLATFORM_NAMES[chosen.partition(":")[0]] + (f" ({chosen.partition(':')[2]})" if ":" in chosen else "")
    out = {}
    for platform, members in groups.items():
        if platform == chosen:
            continue
        name = PLATFORM_NAMES[platform.partition(":")[0]]
        for launch in members:
            out.setdefault(launch.location.path, (
                f"another deployment of the app ({name}), with its own database: the budget counts the {chosen_name} "
                f"deployment", launch.location))
    return out


def unused_samples(project: Project, model: DeploymentModel) -> list[Server]:
    """Servers defined only by a configuration file that no launch uses and that is named like a sample or a
    development file (or matches `development-files`), while the repository has launches of its own."""
    from pgforklint.ignore import PatternFile

    if not any(p.server is not None and not p.transient for p in model.process_types):
        return []
    attached = {id(p.server) for p in model.process_types if p.server is not None}
    patterns = project.config.development_files
    out = []
    for server in model.servers:
        if id(server) in attached or server.kind in IN_CODE_SERVERS:
            continue
        path = server.config_path or server.location.path
        if development_name(path) if patterns is None else PatternFile(patterns).excludes(path):
            out.append(server)
    return out


def same_image_builds(launches: list[Launch], model: DeploymentModel,
                      left_out: dict[str, tuple[str, Location]]) -> dict[str, tuple[str, Location]]:
    """Dockerfiles that no Compose file or manifest uses and that start the same command (`Dockerfile` and
    `app.Dockerfile`, one built with a wheelhouse): two builds of one image, so one process type, counted once."""
    places = _running_places(model)
    first: dict[str, Launch] = {}
    out: dict[str, tuple[str, Location]] = {}
    for launch in sorted(launches, key=lambda launch: (launch.location.path.count("/"), len(launch.location.path),
                                                       launch.location.path)):
        if launch.source != "dockerfile" or (launch.name, launch.location) not in places \
                or launch.location.path in left_out:
            continue
        text = " && ".join(" ".join(w.text for w in command.argv) for command in launch.commands)
        kept = first.setdefault(text, launch)
        if kept is not launch and launch.location.path != kept.location.path:
            out.setdefault(launch.location.path, (
                f"it starts the same command as `{kept.location.path}`: another build of the same image",
                launch.location))
    return out


def adapt(project: Project, launches: list[Launch], model: DeploymentModel) -> None:
    patterns = project.config.development_files
    found = guess(project, launches) if patterns is None else declared(project, launches, patterns)
    if patterns is None:
        found.update(other_deployments(project, launches, model, found))
        found.update(same_image_builds(launches, model, found))
    model.facts["development_files"] = found
    # A Compose service that keeps its image's command is located at the Dockerfile, which other (production)
    # services may share: it is left out by its Compose file, process by process.
    model.facts["development_processes"] = {
        (launch.name, launch.location): found[launch.extra["compose"]] for launch in launches
        if launch.source == "compose" and launch.extra.get("compose") in found and launch.location.path not in found}
    model.facts["unused_configurations"] = unused_samples(project, model)
