"""Kamal (`config/deploy.yml`, Rails 8's default deployment tool): each role of `servers:` is a process type.

What Kamal does with the file [src: basecamp/kamal lib/kamal/configuration.rb, configuration/role.rb,
configuration/env.rb, commands/app.rb; docs: https://kamal-deploy.org/docs/configuration/servers/,
.../roles/, .../environment-variables/, .../builders/, .../accessories/ (generated from
lib/kamal/configuration/docs/*.yml)]:

- The file is ERB, then YAML (`ERB.new(File.read(file)).result`): read here with `read/erb_yaml.py`, so
  `<%= ENV["X"] %>` stays unknown and both branches of an `<% if %>` are kept.
- `kamal deploy -d NAME` deep-merges `config/deploy.NAME.yml` over `config/deploy.yml` (`deep_merge!`: mappings
  merge key by key, anything else is replaced). Without `-d` only `config/deploy.yml` is read. The production
  configuration is `config/deploy.yml` with `config/deploy.production.yml` (or `deploy.prod.yml`) merged over it;
  other destinations (`deploy.staging.yml`) are other environments with their own database and are not read.
- `servers:` is a list of hosts (all in the `web` role) or a mapping of roles; a role is a list of hosts or a
  mapping with `hosts:` (a list, or one host), `cmd:`, `env:` and more. Hosts are keyed by name (a host listed
  twice in a role runs one container); a host may carry tags (`- 10.0.0.2: experiments`).
- Each host of a role runs one container: `docker run ... <image> <cmd>` (commands/app.rb), so `cmd` replaces the
  image's `CMD` and keeps its `ENTRYPOINT`; without `cmd` the image's `CMD` runs (Rails 8's Dockerfile:
  `ENTRYPOINT ["/rails/bin/docker-entrypoint"]`, `CMD ["./bin/thrust", "./bin/rails", "server"]`). The command
  line goes through the remote shell, so `cmd` is split into words like a shell does.
- The image is built from `builder.dockerfile` (default `Dockerfile`) with `builder.context` (default: a clone of
  the repository) and `builder.target`.
- `env:` is `KEY: value` pairs, or `clear:` pairs plus `secret:` names (`NAME` or `NAME:SECRET_NAME`) whose
  values come from `.kamal/secrets` at deploy time (never in the repository: they stay unknown here). A role's
  `env` merges over the top-level one (`[config.env, specialized_env, *tags].reduce(:merge)`, role wins). Values
  set only for tagged hosts (`env.tags`) are not applied: they differ host by host.
- `accessories:` (a database, Redis) are not app processes; a `postgres` accessory's `cmd: postgres -c
  max_connections=N` is the database limit (`accessory_postgres_settings`, read by `extract/database.py`).

Each launch carries `extra["instances"]` = (number of hosts, location, detail), read by `extract/platform.py`.
"""

from __future__ import annotations

import re
import shlex

from pgforklint.diagnostics import Location
from pgforklint.launch.base import Launch, parse_launch_commands
from pgforklint.read.erb_yaml import UNKNOWN_PLACEHOLDER

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pgforklint.launch.dockerfile import Image
    from pgforklint.model import Quantity
    from pgforklint.project import Project

DEPLOY_YML = "config/deploy.yml"
PRODUCTION_DESTINATIONS = ("config/deploy.production.yml", "config/deploy.prod.yml")
# `rails new` (Rails 8+) writes config/deploy.yml with this placeholder host: a repository that still has it
# most likely deploys elsewhere [src: rails/rails railties/.../templates/config/deploy.yml.tt].
RAILS_TEMPLATE_HOSTS = frozenset({"192.168.0.1"})


class Merged(dict):
    """A mapping of the merged configuration: `where[key]` is the file and line its value was written at."""

    where: dict[str, Location]
    location: Location


def _wrap(value: object, rel: str, line: int) -> object:
    if isinstance(value, dict):
        out = Merged()
        out.where = {}
        out.location = Location(rel, getattr(value, "line", None) or line)
        for key, item in value.items():
            key_line = value.line_of(key) if hasattr(value, "line_of") else None
            out[str(key)] = _wrap(item, rel, key_line or line)
            out.where[str(key)] = Location(rel, key_line or line)
        return out
    return value


def _deep_merge(base: Merged, over: Merged) -> None:
    """ActiveSupport's `deep_merge!`: mappings merge key by key; lists and scalars are replaced."""
    for key, value in over.items():
        if isinstance(base.get(key), Merged) and isinstance(value, Merged):
            _deep_merge(base[key], value)
        else:
            base[key] = value
            base.where[key] = over.where[key]


def _document(project: Project, rel: str) -> Merged | None:
    loaded = project.erb_yaml(rel)
    documents = loaded.documents if loaded is not None else []
    document = documents[0] if documents else None
    wrapped = _wrap(document, rel, 1) if isinstance(document, dict) else None
    return wrapped if isinstance(wrapped, Merged) else None


def production_config(project: Project) -> tuple[Merged, list[str]] | None:
    """`config/deploy.yml` with a production destination merged over it, and the files read."""
    if not project.exists(DEPLOY_YML):
        return None
    key = ("kamal-config",)
    if key in project._cache:
        return project._cache[key]
    config = _document(project, DEPLOY_YML)
    files = [DEPLOY_YML]
    if config is not None:
        for rel in PRODUCTION_DESTINATIONS:
            overlay = _document(project, rel) if project.exists(rel) else None
            if overlay is not None:
                _deep_merge(config, overlay)
                files.append(rel)
                break
    result = (config, files) if config is not None else None
    project._cache[key] = result
    return result


def _unknown(value: object) -> bool:
    return isinstance(value, str) and UNKNOWN_PLACEHOLDER in value


def _env_value(value: object) -> str | None:
    """The string Docker sets (`--env KEY=value`, Ruby's `to_s`), None when it is not in the repository."""
    if value is None or _unknown(value) or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _apply_env(block: object, env: dict[str, str], where: dict[str, Location], secrets: dict[str, Location]) -> None:
    """One `env:` block over what is set so far: `clear` pairs set values, `secret` names make them unknown."""
    if not isinstance(block, Merged):
        return
    structured = "clear" in block or "secret" in block or "tags" in block
    clear = block.get("clear") if structured else block
    if isinstance(clear, Merged):
        for name, value in clear.items():
            text = _env_value(value)
            secrets.pop(name, None)
            if text is None:
                env.pop(name, None)
                where.pop(name, None)
                if _unknown(value):
                    secrets[name] = clear.where[name]
                continue
            env[name] = text
            where[name] = clear.where[name]
    names = block.get("secret") if structured else None
    for item in names if isinstance(names, list) else []:
        if not isinstance(item, str) or not item.strip():
            continue
        name = item.split(":", 1)[0].strip()
        env.pop(name, None)
        where.pop(name, None)
        secrets[name] = block.where.get("secret", block.location)


def _hosts(value: object) -> list[str] | None:
    """The hosts of a role, one per container (a name listed twice is one host; each unknown ERB value counts).
    None: the whole list is written with ERB (`hosts: <%= ENV["HOSTS"].split(",") %>`), so their number is unknown."""
    if _unknown(value):
        return None
    items = value if isinstance(value, list) else [value] if isinstance(value, str) else []
    out: list[str] = []
    for index, item in enumerate(items):
        host = next(iter(item), None) if isinstance(item, dict) else item
        if not isinstance(host, str) or not host.strip():
            continue
        host = f"{host}#{index}" if _unknown(host) else host.strip()
        if host not in out:
            out.append(host)
    return out


def roles(config: Merged) -> list[tuple[str, Merged | None, list[str] | None, Location, Location]]:
    """(name, role mapping or None, hosts, where the role is written, where its hosts are)."""
    servers = config.get("servers")
    where = config.where.get("servers", config.location)
    if isinstance(servers, list):
        return [("web", None, _hosts(servers), where, where)]
    if not isinstance(servers, Merged):
        return []
    out = []
    for name, body in servers.items():
        role_where = servers.where[name]
        if isinstance(body, Merged):
            out.append((name, body, _hosts(body.get("hosts")), role_where, body.where.get("hosts", role_where)))
        elif isinstance(body, (list, str)):
            out.append((name, None, _hosts(body), role_where, role_where))
    return out


def _image(project: Project, config: Merged) -> Image | None:
    from pgforklint.launch.dockerfile import read_image
    from pgforklint.launch.paths import _norm_rel

    builder = config.get("builder")
    builder = builder if isinstance(builder, Merged) else Merged()
    context = builder.get("context")
    context = _norm_rel(context) if isinstance(context, str) and context.strip() and "://" not in context else ""
    dockerfile = builder.get("dockerfile")
    dockerfile = _norm_rel(dockerfile) if isinstance(dockerfile, str) and dockerfile.strip() else "Dockerfile"
    target = builder.get("target") if isinstance(builder.get("target"), str) else None
    if not project.exists(dockerfile):
        return None
    return read_image(project, dockerfile, context, target)


def is_rails_template(config: Merged) -> bool:
    """Every host is the placeholder `rails new` writes: the file was generated and never pointed at a server."""
    hosts = [host for _, _, role_hosts, _, _ in roles(config) for host in role_hosts or ["?"]]
    return bool(hosts) and all(host in RAILS_TEMPLATE_HOSTS for host in hosts)


def kamal_launches(project: Project, built_dockerfiles: set[str]) -> list[Launch]:
    """One launch per role of the production configuration; the Dockerfile Kamal builds is added to
    `built_dockerfiles` (its own CMD is a role's command, not another process)."""
    from pgforklint.launch.dockerfile import ImageCommand

    found = production_config(project)
    if found is None:
        return []
    config, files = found
    image = _image(project, config)
    if image is not None:
        built_dockerfiles.add(image.dockerfile)
    template = is_rails_template(config)
    launches = []
    for name, role, hosts, role_where, hosts_where in roles(config):
        if hosts is not None and not hosts:
            continue  # a role with no hosts runs nowhere (`allow_empty_roles`)
        env = dict(image.paths.env) if image is not None else {}
        env_where = dict(image.env_locations) if image is not None else {}
        secrets: dict[str, Location] = {}
        _apply_env(config.get("env"), env, env_where, secrets)
        if role is not None:
            _apply_env(role.get("env"), env, env_where, secrets)
        cmd = role.get("cmd") if role is not None else None
        override = None
        if isinstance(cmd, str) and cmd.strip():
            if _unknown(cmd):
                continue  # written with ERB (`<%= ENV["JOBS_COMMAND"] %>`): what the role runs is not in the repository
            cmd_where = role.where["cmd"]
            try:
                override = ImageCommand(shlex.split(cmd), None, cmd_where)
            except ValueError:
                override = ImageCommand(None, cmd, cmd_where)
        if image is not None:
            combined = image.command(None, override, override_cmd=override is not None)
        elif override is not None:
            combined = (override.argv_text(), override.location)
        else:
            combined = None
        if combined is None:
            continue  # no command in the repository: the image is built elsewhere
        text, _ = combined
        location = override.location if override is not None else role_where
        if hosts is None:
            instances = (None, hosts_where, f"the ERB-written hosts of Kamal role `{name}`")
        else:
            instances = (len(hosts), hosts_where, f"Kamal role `{name}`: {len(hosts)} host{'s' if len(hosts) != 1 else ''}")
        extra: dict = {"kamal_role": name, "kamal_files": list(files), "kamal_secrets": secrets, "instances": instances}
        if template:
            extra["kamal_template"] = True
        launch = Launch(name, "kamal", text, location, [], env, env_where, extra)
        if image is not None:
            from pgforklint.launch.paths import ContainerPaths

            paths = ContainerPaths(image.paths.origin, image.paths.context, image.paths.workdir,
                                   list(image.paths.copies), dict(image.paths.env))
            launch.paths = paths
            repo = paths.to_repo(paths.workdir)
            launch.workdir = repo if repo is not None else paths.context
            if image.entrypoint is not None and image.entrypoint.words and override is None and (
                    image.cmd is None or image.cmd.words):
                launch.extra["default_args"] = len(image.cmd.words) if image.cmd is not None else 0
        launch.commands = parse_launch_commands(project, location.path, location.line, text, env)
        launches.append(launch)
    return launches


_PG_SETTING = re.compile(r"-c\s*(max_connections|superuser_reserved_connections|reserved_connections)=(\d+)")


def accessory_postgres_settings(project: Project) -> dict[str, Quantity]:
    """`max_connections` (and reserved connections) of a `postgres` accessory's `cmd: postgres -c ...`."""
    from pgforklint.model import Origin, OriginKind, Quantity
    from pgforklint.safeio import parse_count

    found = production_config(project)
    accessories = found[0].get("accessories") if found is not None else None
    out: dict[str, Quantity] = {}
    if not isinstance(accessories, Merged):
        return out
    for name, accessory in accessories.items():
        if not isinstance(accessory, Merged):
            continue
        image = accessory.get("image")
        cmd = accessory.get("cmd")
        if not isinstance(image, str) or not re.match(r"^(?:[\w.-]+/)*(?:postgres|postgis|postgresql)(?::|$)",
                                                      image.strip()):
            continue
        for match in _PG_SETTING.finditer(cmd if isinstance(cmd, str) else ""):
            out[match.group(1)] = Quantity(parse_count(match.group(2)), Origin(
                OriginKind.FILE, accessory.where["cmd"], f"postgres -c {match.group(1)} (Kamal accessory `{name}`)"))
        # Bitnami's image reads its limit from the environment (as for a Compose service).
        env: dict[str, str] = {}
        where: dict[str, Location] = {}
        _apply_env(accessory.get("env"), env, where, {})
        if parse_count(env.get("POSTGRESQL_MAX_CONNECTIONS", "")) is not None and "max_connections" not in out:
            out["max_connections"] = Quantity(parse_count(env["POSTGRESQL_MAX_CONNECTIONS"]), Origin(
                OriginKind.FILE, where["POSTGRESQL_MAX_CONNECTIONS"],
                f"$POSTGRESQL_MAX_CONNECTIONS (Kamal accessory `{name}`)"))
    return out


__all__ = ["accessory_postgres_settings", "is_rails_template", "kamal_launches", "production_config"]
