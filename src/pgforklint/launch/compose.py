"""Compose files as Compose reads them: a folder's `compose.yaml` (or `docker-compose.yml`) merged with its
`compose.override.yaml`, `include`, `extends`, the `!reset`/`!override` tags, and each service's command
combined with the image its `build` makes (`ENTRYPOINT` + `CMD`, `WORKDIR`, `ENV`).

Merging follows the Compose specification: mappings merge key by key, `command`/`entrypoint` and other
single values are replaced, sequences are appended, `!reset` removes a value and `!override` replaces a
mapping or sequence whole. [src: docs.docker.com/reference/compose-file/merge/]
"""

from __future__ import annotations

import posixpath
import shlex

from pgforklint.diagnostics import Location
from pgforklint.discover import FileKind
from pgforklint.launch.base import Launch, parse_launch_commands, shell_quote
from pgforklint.launch.dockerfile import Image, ImageCommand, image_names, read_image
from pgforklint.launch.paths import ContainerPaths, _norm_rel
from pgforklint.read.structured import ComposeReset, LineDict

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pgforklint.project import Project

BASE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
OVERRIDE_NAMES = ("compose.override.yaml", "compose.override.yml", "docker-compose.override.yaml",
                  "docker-compose.override.yml")
REPLACED = ("command", "entrypoint", "healthcheck", "image", "build", "working_dir", "user")


class Service(LineDict):
    """A merged service: `where[key]` is the file and line the key's value was written at."""

    where: dict[str, Location]
    name: str
    rel: str


def _service_of(values: dict, where: dict[str, Location], name: str, line: int, rel: str) -> Service:
    service = Service(values)
    service.where, service.name, service.line, service.rel = where, name, line, rel
    service.lines = {key: location.line for key, location in where.items()}
    return service


class MergedMapping(LineDict):
    """A nested mapping (`deploy`, `environment`) merged from several files: `where[key]` is the file and line its
    value was written at, as `Service.where` is for a service's own keys."""

    where: dict[str, Location]


def _merge_mapping(old: dict, new: dict, old_rel: str, rel: str) -> MergedMapping:
    merged = MergedMapping(old)
    merged.line = getattr(new, "line", None) or getattr(old, "line", 1)
    earlier = getattr(old, "where", {})
    merged.where = {k: earlier.get(k) or Location(old_rel, old.line_of(k) if isinstance(old, LineDict) else merged.line)
                    for k in old}
    for k, v in new.items():
        if isinstance(v, ComposeReset):
            merged.pop(k, None)
            merged.where.pop(k, None)
            continue
        merged[k] = v
        merged.where[k] = Location(rel, new.line_of(k) if isinstance(new, LineDict) else merged.line)
    merged.lines = {k: location.line for k, location in merged.where.items()}
    return merged


def _merge(base: dict, over: dict, where: dict[str, Location], rel: str) -> dict:
    out = dict(base)
    for key, value in over.items():
        line = over.line_of(key) if isinstance(over, LineDict) else None
        written = over.where.get(key) if isinstance(over, Service) else None
        if isinstance(value, ComposeReset):
            out[key] = value  # kept as a tombstone, so that a file merged later still removes the key
            where.pop(key, None)
            continue
        old = out.get(key)
        if getattr(value, "compose_override", False) or key in REPLACED or old is None:
            out[key] = value
        elif isinstance(old, dict) and isinstance(value, dict):
            earlier = where.get(key)
            out[key] = _merge_mapping(old, value, earlier.path if earlier is not None else rel, rel)
        elif isinstance(old, list) and isinstance(value, list):
            out[key] = [*old, *value]
        else:
            out[key] = value
        where[key] = written or Location(rel, line or 1)
    return out


def _documents(project: Project, rel: str) -> dict | None:
    documents = project.yaml_documents(rel)
    document = documents[0] if documents else None
    return document if isinstance(document, dict) else None


def _services(project: Project, rel: str, seen: tuple[str, ...] = ()) -> dict[str, Service]:
    """The services one file defines, with its `include`s and `extends` resolved."""
    if rel in seen or len(seen) > 8:
        return {}
    document = _documents(project, rel)
    if document is None:
        return {}
    folder = rel.rpartition("/")[0]
    services: dict[str, Service] = {}
    includes = document.get("include")
    if isinstance(includes, list):
        for item in includes:
            paths = item if isinstance(item, str) else item.get("path") if isinstance(item, dict) else None
            for path in ([paths] if isinstance(paths, str) else paths if isinstance(paths, list) else []):
                target = _norm_rel(posixpath.join(folder, str(path)))
                if project.exists(target):
                    services.update(_services(project, target, (*seen, rel)))
    raw = document.get("services")
    if not isinstance(raw, dict):
        return services
    for name, body in raw.items():
        if isinstance(body, dict):
            services[str(name)] = _service(project, rel, str(name), body, raw, (*seen, rel))
    return services


def _service(project: Project, rel: str, name: str, body: dict, siblings: dict, seen: tuple[str, ...]) -> Service:
    merged: dict = {}
    where: dict[str, Location] = {}
    extends = body.get("extends")
    if extends is not None:
        if isinstance(extends, str):
            extends = {"service": extends}
        if isinstance(extends, dict) and isinstance(extends.get("service"), str):
            parent_name = extends["service"]
            parent = None
            if isinstance(extends.get("file"), str):
                target = _norm_rel(posixpath.join(rel.rpartition("/")[0], extends["file"]))
                parent = _services(project, target, seen).get(parent_name) if project.exists(target) else None
            elif isinstance(siblings.get(parent_name), dict) and parent_name != name and len(seen) < 8:
                parent = _service(project, rel, parent_name, siblings[parent_name], siblings, (*seen, name))
            if parent is not None:
                merged = dict(parent)
                where = dict(parent.where)
                if _does_nothing(merged.get("entrypoint")) and "command" in body and "entrypoint" not in body:
                    # A build-only service (`entrypoint: /bin/true`) extended by one that gives a command of its
                    # own (`command: worker`): `/bin/true worker` runs nothing, so the command is meant for the
                    # image's ENTRYPOINT, the process the extending service describes.
                    merged.pop("entrypoint")
                    where.pop("entrypoint", None)
    merged = _merge(merged, body, where, rel)
    merged.pop("extends", None)
    return _service_of(merged, where, name, body.line if isinstance(body, LineDict) else 1, rel)


def _does_nothing(entrypoint) -> bool:
    words = entrypoint if isinstance(entrypoint, list) else str(entrypoint or "").split()
    return len(words) == 1 and str(words[0]) in ("/bin/true", "/usr/bin/true", "true", ":")


def _env(project: Project, service: Service, rel: str) -> tuple[dict[str, str], dict[str, Location]]:
    env: dict[str, str] = {}
    where: dict[str, Location] = {}
    folder = rel.rpartition("/")[0]
    env_files = service.get("env_file")
    for item in ([env_files] if isinstance(env_files, (str, dict)) else env_files if isinstance(env_files, list) else []):
        path = item.get("path") if isinstance(item, dict) else item
        if isinstance(path, str):
            target = _norm_rel(posixpath.join(folder, path))
            for key, (value, line) in read_env_file(project, target).items():
                env[key] = value
                where[key] = Location(target, line)
    raw = service.get("environment")
    env_location = service.where.get("environment", Location(rel, 1))
    if isinstance(raw, dict):
        for key, value in raw.items():
            if value is not None and not isinstance(value, ComposeReset):
                env[str(key)] = str(value).lower() if isinstance(value, bool) else str(value)
                line = raw.line_of(key) if isinstance(raw, LineDict) else None
                where[str(key)] = Location(env_location.path, line or env_location.line)
    elif isinstance(raw, list):
        lines = getattr(raw, "item_lines", [])
        for index, item in enumerate(raw):
            if isinstance(item, str) and "=" in item:
                key, value = item.split("=", 1)
                env[key] = value
                where[key] = Location(env_location.path, lines[index] if index < len(lines) else env_location.line)
    return env, where


def read_env_file(project: Project, rel: str) -> dict[str, tuple[str, int]]:
    """`KEY=value` lines of an env file (comments, `export ` and quotes handled)."""
    text = project.text(rel) if project.exists(rel) else None
    out: dict[str, tuple[str, int]] = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        out[key.strip()] = (value.strip().strip("'\""), number)
    return out


def _image(project: Project, service: Service, rel: str, built: dict[str, Image],
           bases: dict[str, Image] | None = None, by_service: dict[str, Image] | None = None) -> Image | None:
    """The image a service runs; `bases` are the images other services build, by image name, and `by_service`
    by service name, for a Dockerfile `FROM` one of them."""
    folder = rel.rpartition("/")[0]
    build = service.get("build")
    if build is None:
        image_name = service.get("image")
        return built.get(str(image_name)) if image_name is not None else None
    context, dockerfile, target = ".", "Dockerfile", None
    if isinstance(build, str):
        context = build
    elif isinstance(build, dict):
        context = str(build.get("context") or ".")
        dockerfile = str(build.get("dockerfile") or "Dockerfile")
        target = build.get("target") if isinstance(build.get("target"), str) else None
    if "://" in context:
        return None
    context_rel = _norm_rel(posixpath.join(folder, context))
    dockerfile_rel = _norm_rel(posixpath.join(context_rel, dockerfile))
    if not project.exists(dockerfile_rel):
        return None
    named = dict(bases or {})
    contexts = build.get("additional_contexts") if isinstance(build, dict) else None
    bake = build.get("x-bake") if isinstance(build, dict) else None
    if isinstance(bake, dict) and isinstance(bake.get("contexts"), dict):
        contexts = {**bake["contexts"], **(contexts if isinstance(contexts, dict) else {})}
    if isinstance(contexts, dict):
        # `shop-base: service:base` (Compose) or `target:base` (Bake): the image another service builds
        for name, value in contexts.items():
            kind, _, other = str(value).partition(":")
            if kind in ("service", "target") and other in (by_service or {}):
                named[str(name).lower()] = by_service[other]
    return read_image(project, dockerfile_rel, context_rel, target, named or None)


def _mounts(service: Service, rel: str, paths: ContainerPaths) -> None:
    volumes = service.get("volumes")
    folder = rel.rpartition("/")[0]
    for item in volumes if isinstance(volumes, list) else []:
        source = target = None
        if isinstance(item, str):
            parts = item.split(":")
            if len(parts) >= 2:
                source, target = parts[0], parts[1]
        elif isinstance(item, dict) and item.get("type") == "bind":
            source, target = item.get("source"), item.get("target")
        if isinstance(source, str) and isinstance(target, str) and source.startswith((".", "/")) and not source.startswith("/"):
            paths.add(target, _norm_rel(posixpath.join(folder, source)), True)


def compose_files(project: Project) -> list[tuple[str, str | None]]:
    """(base file, its override file) per folder, then every other Compose file on its own."""
    files = {source.rel for source in project.files(FileKind.COMPOSE)}
    out: list[tuple[str, str | None]] = []
    used: set[str] = set()
    for rel in sorted(files):
        folder, _, name = rel.rpartition("/")
        if name not in BASE_NAMES:
            continue
        prefix = f"{folder}/" if folder else ""
        if any(f"{prefix}{other}" in used for other in BASE_NAMES):
            continue  # Compose reads the first of these names it finds
        override = next((f"{prefix}{o}" for o in OVERRIDE_NAMES if f"{prefix}{o}" in files), None)
        out.append((rel, override))
        used.update({rel, override} - {None})
    for rel in sorted(files - used):
        if rel.rpartition("/")[2] not in OVERRIDE_NAMES:
            out.append((rel, None))
    return out


def compose_launches(project: Project, built_dockerfiles: set[str]) -> list[Launch]:
    launches: list[Launch] = []
    for rel, override in compose_files(project):
        services = _services(project, rel)
        if override is not None:
            for name, extra in _services(project, override).items():
                if name in services:
                    where = dict(services[name].where)
                    services[name] = _service_of(_merge(dict(services[name]), extra, where, override), where, name,
                                                 services[name].line, services[name].rel)
                else:
                    services[name] = extra
        images: dict[str, Image] = {}
        bases: dict[str, Image] = {}
        by_service: dict[str, Image] = {}
        for _ in range(2):  # the second pass builds images `FROM` an image the first pass found
            for name, service in services.items():
                image = _image(project, service, service.rel, {}, dict(bases), dict(by_service))
                if image is not None:
                    built_dockerfiles.add(image.dockerfile)
                    by_service[name] = image
                    if isinstance(service.get("image"), str):
                        images[service["image"]] = image
                        for alias in image_names(_without_default(service["image"])):
                            bases[alias] = image
        for name, service in services.items():
            profiles = service.get("profiles")
            if isinstance(profiles, list) and profiles:
                continue  # started only with `--profile`: not part of the default deployment
            launch = _launch(project, service, service.rel, images, bases, by_service)
            if launch is not None:
                if any(other.name == launch.name for other in launches):
                    launch.name = f"{launch.name} ({rel})"  # another Compose project's service of the same name
                launches.append(launch)
    return launches


def _launch(project: Project, service: Service, rel: str, images: dict[str, Image],
            bases: dict[str, Image] | None = None, by_service: dict[str, Image] | None = None) -> Launch | None:
    image = _image(project, service, rel, images, bases, by_service)
    overrides: dict[str, ImageCommand | None] = {}
    for key in ("entrypoint", "command"):
        value = service.get(key)
        if value is None or isinstance(value, ComposeReset):
            continue
        location = service.where.get(key, Location(rel, 1))
        if isinstance(value, list):
            overrides[key] = ImageCommand([str(v) for v in value], None, location)
        else:
            # Compose splits a string shell-like into words; it does not run a shell.
            try:
                overrides[key] = ImageCommand(shlex.split(str(value)), None, location)
            except ValueError:
                overrides[key] = ImageCommand(None, str(value), location)
    env, env_where = _env(project, service, rel)
    paths = None
    if image is not None:
        combined = image.command(overrides.get("entrypoint"), overrides.get("command"),
                                 override_entrypoint="entrypoint" in overrides, override_cmd="command" in overrides)
        paths = ContainerPaths(image.paths.origin, image.paths.context, image.paths.workdir, list(image.paths.copies),
                               dict(image.paths.env))
        env = {**image.paths.env, **env}
        env_where = {**image.env_locations, **env_where}
    else:
        combined = None
        entry, command = overrides.get("entrypoint"), overrides.get("command")
        if entry is not None or command is not None:
            words = []
            for part in (entry, command):
                if part is not None:
                    words.append(" ".join(shell_quote(w) for w in part.words) if part.words is not None else part.shell or "")
            combined = (" ".join(words), (entry or command).location)
    if combined is None:
        return None
    text, location = combined
    if "command" in overrides or "entrypoint" in overrides:
        location = (overrides.get("command") or overrides.get("entrypoint")).location
    working_dir = service.get("working_dir")
    if paths is None and (service.get("volumes") or isinstance(working_dir, str)):
        paths = ContainerPaths(rel, rel.rpartition("/")[0], str(working_dir or "/"))
    if paths is not None:
        _mounts(service, rel, paths)
    extra = {"service": service, "compose": rel, "document": None}
    if isinstance(working_dir, str) and paths is not None:
        extra["container_cwd"] = paths.container_path(working_dir)
    launch = Launch(service.name, "compose", text, location, [], env, env_where, extra, paths=paths)
    if paths is not None:
        launch.workdir = _workdir(paths, extra.get("container_cwd"))
    else:
        launch.workdir = rel.rpartition("/")[0]
    if isinstance(service.get("profiles"), list) and service["profiles"]:
        launch.extra["profiles"] = [str(p) for p in service["profiles"]]
    launch.commands = parse_launch_commands(project, location.path, location.line, text, env)
    return launch


def _without_default(name: str) -> str:
    """`shop/base:${TAG:-latest}` as the image name it most likely is: `shop/base:latest`."""
    import re

    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}", lambda m: m.group(1) or "", name)


def _workdir(paths: ContainerPaths, container_cwd: str | None = None) -> str:
    repo = paths.to_repo(container_cwd or paths.workdir)
    return repo if repo is not None else paths.context
