"""Database adapter: what the PostgreSQL server allows, poolers in front of it, and pool options
that live outside the engine call (Flask-SQLAlchemy's SQLALCHEMY_ENGINE_OPTIONS).

Sources for the limit, in order:

1. `[tool.pgforklint]` `max-connections` / `reserved-connections` (CONFIG);
2. the repository: `postgresql.conf`, a Compose service running the `postgres` image with
   `-c max_connections=N` (also `superuser_reserved_connections`, `reserved_connections`), Bitnami's
   `POSTGRESQL_MAX_CONNECTIONS`, a Kamal `postgres` accessory's `cmd: postgres -c max_connections=N`;
3. a Heroku Postgres plan named in `app.json` `addons`: the plan's connection limit. Heroku enforces it
   per role ("FATAL: too many connections for role"; the Essential/hobby servers are multi-tenant with a
   per-user quota), so it is modelled as a role limit that reserved slots do not reduce;
4. PostgreSQL's defaults (max_connections = 100, superuser_reserved_connections = 3): DEFAULT origin. When
   no database configuration is in the repository at all, max_connections is an assumption (PGF101).

PgBouncer: `pgbouncer.ini` (`[pgbouncer]` pool_mode, max_client_conn, default_pool_size, reserve_pool_size,
max_db_connections; one pool per `[databases]` entry) or a Compose service running a PgBouncer image with
its settings in environment variables (`POOL_MODE`, `MAX_CLIENT_CONN`, `DEFAULT_POOL_SIZE`, optionally
prefixed `PGBOUNCER_`). Defaults from PgBouncer's config.md: session, 100, 20, 0.
"""

from __future__ import annotations

import ast
import re

from pgforklint.diagnostics import Location
from pgforklint.discover import MAX_FILE_BYTES, FileKind
from pgforklint.launch import Launch
from pgforklint.extract.positions import char_column
from pgforklint.model import DatabaseLimits, DeploymentModel, Engine, EngineKind, Origin, OriginKind, Quantity
from pgforklint.project import Project
from pgforklint.read.structured import LineDict
from pgforklint.safeio import parse_count, read_regular

PG_DEFAULT_MAX_CONNECTIONS = 100
PG_DEFAULT_SUPERUSER_RESERVED = 3

# Heroku Postgres plan -> connection limit. Sources in rules/PGF004.md: `heroku pg:info` outputs
# ("Connections: 0/20" on hobby-dev, ".../20" on essential-0/1), Heroku support quoted in ankane/pghero#22
# (hobby: "Each user has a 20 connection quota"), the production-tier table (standard/premium-0 120,
# -2 400, -4..7 500). Plans not listed here are not guessed.
HEROKU_PLAN_LIMITS = {
    "hobby-dev": 20, "hobby-basic": 20, "mini": 20, "basic": 20,
    "essential-0": 20, "essential-1": 20, "essential-2": 40,
    "standard-0": 120, "premium-0": 120,
    "standard-2": 400, "premium-2": 400,
    "standard-4": 500, "standard-5": 500, "standard-6": 500, "standard-7": 500,
    "premium-4": 500, "premium-5": 500, "premium-6": 500, "premium-7": 500,
}

PGBOUNCER_DEFAULTS = {"pool_mode": "session", "max_client_conn": 100, "default_pool_size": 20, "reserve_pool_size": 0}


# --- helpers -------------------------------------------------------------------------------------


def _config_line(project: Project, key: str) -> Location | None:
    path = project.config.path
    if path is None:
        return None
    try:
        rel = path.resolve().relative_to(project.root.resolve()).as_posix()
        text = read_regular(path, MAX_FILE_BYTES).decode("utf-8", errors="replace")  # never a FIFO, bounded
    except (ValueError, OSError):
        return None
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(rf"\s*{re.escape(key)}\s*=", line):
            return Location(rel, number)
    return None


_PG_SETTING = re.compile(
    r"(?:-c\s*|--)(max_connections|superuser_reserved_connections|reserved_connections)[=\s]\s*['\"]?(\d+)")


def _command_settings(value: object, rel: str, line: int) -> dict[str, tuple[int, Location]]:
    """`postgres -c max_connections=20 ...` as a string or a list of words."""
    out: dict[str, tuple[int, Location]] = {}
    if isinstance(value, list):
        lines = getattr(value, "item_lines", [])
        words = [str(v) for v in value]
        for index, word in enumerate(words):
            joined = word if word.startswith("--") else " ".join(words[max(0, index - 1): index + 1])
            for match in _PG_SETTING.finditer(joined):
                where = Location(rel, lines[index] if index < len(lines) else line)
                out[match.group(1)] = (parse_count(match.group(2)), where)
    elif isinstance(value, str):
        for match in _PG_SETTING.finditer(value):
            out[match.group(1)] = (parse_count(match.group(2)), Location(rel, line))
    return out


def _image(service: LineDict) -> str:
    image = service.get("image")
    return str(image).lower() if image is not None else ""


def _compose_services(project: Project):
    for source in project.files(FileKind.COMPOSE):
        documents = project.yaml_documents(source.rel)
        if not documents or not isinstance(documents[0], dict):
            continue
        services = documents[0].get("services")
        if not isinstance(services, dict):
            continue
        for name, service in services.items():
            if isinstance(service, LineDict):
                yield source.rel, str(name), service


def _env_of(service: LineDict, rel: str) -> dict[str, tuple[str, Location]]:
    out: dict[str, tuple[str, Location]] = {}
    raw = service.get("environment")
    if isinstance(raw, LineDict):
        for key, value in raw.items():
            if value is not None:
                out[str(key)] = (str(value), Location(rel, raw.line_of(key) or 1))
    elif isinstance(raw, list):
        lines = getattr(raw, "item_lines", [])
        for index, item in enumerate(raw):
            if isinstance(item, str) and "=" in item:
                key, value = item.split("=", 1)
                out[key] = (value, Location(rel, lines[index] if index < len(lines) else 1))
    return out


# --- the server's limits -------------------------------------------------------------------------


def _server_settings(project: Project) -> dict[str, Quantity]:
    found: dict[str, Quantity] = {}
    for source in project.files(FileKind.POSTGRESQL_CONF):
        text = project.text(source.rel) or ""
        for number, raw in enumerate(text.splitlines(), start=1):
            match = re.match(r"\s*(max_connections|superuser_reserved_connections|reserved_connections)\s*=?\s*'?(\d+)'?",
                             raw)
            if match:
                found[match.group(1)] = Quantity(parse_count(match.group(2)), Origin(OriginKind.FILE, Location(source.rel, number),
                                                                             f"{match.group(1)} in postgresql.conf"))
    for rel, name, service in _compose_services(project):
        image = _image(service)
        if "postgres" not in image or "pgbouncer" in image:
            continue
        for key in ("command", "entrypoint"):
            if key in service:
                settings = _command_settings(service.get(key), rel, service.line_of(key) or 1)
                for setting, (value, where) in settings.items():
                    found[setting] = Quantity(value, Origin(OriginKind.FILE, where, f"postgres -c {setting} (Compose service `{name}`)"))
        env = _env_of(service, rel)
        for var, setting in (("POSTGRESQL_MAX_CONNECTIONS", "max_connections"),):
            if var in env and parse_count(env[var][0]) is not None:
                found[setting] = Quantity(parse_count(env[var][0]), Origin(OriginKind.FILE, env[var][1], f"${var} (Compose service `{name}`)"))
        found.setdefault("__service__", Quantity(None, Origin(OriginKind.FILE, Location(rel, service.line), f"Compose service `{name}`")))
    if project.exists("config/deploy.yml"):
        from pgforklint.launch.kamal import accessory_postgres_settings  # a Kamal `postgres` accessory's `cmd`

        found.update(accessory_postgres_settings(project))
    return found


def _heroku_plan(project: Project) -> Quantity | None:
    from pgforklint.extract.platform import _json_line, app_json

    found = app_json(project)
    if found is None:
        return None
    rel, data, text = found
    addons = data.get("addons")
    if not isinstance(addons, list):
        return None
    for addon in addons:
        plan = addon if isinstance(addon, str) else addon.get("plan") if isinstance(addon, dict) else None
        if not isinstance(plan, str) or not plan.startswith("heroku-postgresql"):
            continue
        name = plan.split(":", 1)[1].strip().lower() if ":" in plan else ""
        match = re.search(re.escape(plan), text)
        line = text[: match.start()].count("\n") + 1 if match else _json_line(text, "addons")
        location = Location(rel, line)
        if name in HEROKU_PLAN_LIMITS:
            return Quantity(HEROKU_PLAN_LIMITS[name], Origin(OriginKind.FILE, location,
                                                             f"Heroku Postgres {name} plan: {HEROKU_PLAN_LIMITS[name]} connections per role"))
        return Quantity(None, Origin(OriginKind.FILE, location,
                                     f"Heroku Postgres plan `{name or 'default'}`: its connection limit is not known to pgforklint"))
    return None


def _limits(project: Project) -> tuple[DatabaseLimits, bool]:
    config = project.config
    settings = _server_settings(project)
    service = settings.pop("__service__", None)
    shown = service is not None or bool(settings)
    if config.max_connections is not None:
        max_connections = Quantity(config.max_connections, Origin(OriginKind.CONFIG, _config_line(project, "max-connections"),
                                                                  "max-connections in pgforklint settings"))
    elif "max_connections" in settings:
        max_connections = settings["max_connections"]
    else:
        detail = ("PostgreSQL's default max_connections = 100" if shown else
                  "PostgreSQL's default max_connections = 100 (no database configuration in the repository)")
        max_connections = Quantity(PG_DEFAULT_MAX_CONNECTIONS, Origin(OriginKind.DEFAULT, None, detail))
    if config.reserved_connections is not None:
        reserved = Quantity(config.reserved_connections, Origin(OriginKind.CONFIG, _config_line(project, "reserved-connections"),
                                                                "reserved-connections in pgforklint settings"))
    else:
        superuser = settings.get("superuser_reserved_connections") or Quantity(
            PG_DEFAULT_SUPERUSER_RESERVED, Origin(OriginKind.DEFAULT, None, "PostgreSQL's default superuser_reserved_connections = 3"))
        extra = settings.get("reserved_connections")
        if extra is None:
            reserved = superuser
        else:
            reserved = Quantity((superuser.value or 0) + (extra.value or 0),
                                Origin(OriginKind.DERIVED, extra.origin.location,
                                       f"superuser_reserved_connections {superuser.value} + reserved_connections {extra.value} (PostgreSQL 16+)"))
    role_limit = _heroku_plan(project)
    shown = shown or config.max_connections is not None or role_limit is not None
    return DatabaseLimits(max_connections=max_connections, reserved=reserved, role_limit=role_limit), shown


# --- PgBouncer ---------------------------------------------------------------------------------------


def _bouncer_quantity(values: dict[str, tuple[str, Location]], key: str, where: Location, what: str) -> Quantity:
    if key in values and parse_count(values[key][0]) is not None:
        return Quantity(parse_count(values[key][0]), Origin(OriginKind.FILE, values[key][1], f"PgBouncer {key} ({what})"))
    return Quantity(PGBOUNCER_DEFAULTS[key], Origin(OriginKind.DEFAULT, where, f"PgBouncer's default {key} = {PGBOUNCER_DEFAULTS[key]}"))


def _pooler(project: Project) -> dict | None:
    for source in project.files(FileKind.INI):
        if not source.name.lower().endswith(".ini"):
            continue
        if not project.contains(source.rel, b"[pgbouncer]"):
            continue
        text = project.text(source.rel) or ""
        ini = project.ini(source.rel)
        if ini is None or ini.section("pgbouncer") is None:
            continue
        values = {key: (value, Location(source.rel, line)) for key, value, line in ini.section("pgbouncer")}
        header = Location(source.rel, text[: text.index("[pgbouncer]")].count("\n") + 1)
        databases = [key for key, _, _ in (ini.section("databases") or []) if key != "*"]
        pools = Quantity(max(1, len(databases)), Origin(OriginKind.FILE if databases else OriginKind.DEFAULT, header,
                                                        f"{len(databases)} [databases] entries" if databases else "one database/user pool"))
        return _pooler_dict(values, header, source.rel, pools)
    for rel, name, service in _compose_services(project):
        if "pgbouncer" not in _image(service) and "pgbouncer" not in name.lower():
            continue
        env = _env_of(service, rel)
        values = {}
        for key, value in env.items():
            short = key[len("PGBOUNCER_"):] if key.upper().startswith("PGBOUNCER_") else key
            values[short.lower()] = value
        header = Location(rel, service.line)
        pools = Quantity(1, Origin(OriginKind.DEFAULT, header, "one database/user pool"))
        pooler = _pooler_dict(values, header, f"Compose service `{name}`", pools)
        pooler["service"] = name
        return pooler
    return None


def _pooler_dict(values: dict[str, tuple[str, Location]], header: Location, what: str, pools: Quantity) -> dict:
    mode = values.get("pool_mode")
    return {
        "kind": "pgbouncer",
        "location": header,
        "pool_mode": mode[0].strip().lower() if mode else PGBOUNCER_DEFAULTS["pool_mode"],
        "pool_mode_location": mode[1] if mode else header,
        "max_client_conn": _bouncer_quantity(values, "max_client_conn", header, what),
        "default_pool_size": _bouncer_quantity(values, "default_pool_size", header, what),
        "reserve_pool_size": _bouncer_quantity(values, "reserve_pool_size", header, what),
        "pools": pools,
    }


# --- Flask-SQLAlchemy engine options ---------------------------------------------------------------


def _options_dict(node: ast.AST, rel: str, text: str | None = None) -> dict[str, object] | None:
    if not isinstance(node, ast.Dict):
        return None
    out: dict[str, object] = {}
    for key, value in zip(node.keys, node.values):
        if not isinstance(key, ast.Constant) or not isinstance(key.value, str):
            continue
        where = Location(rel, value.lineno, char_column(text, value.lineno, value.col_offset) or 1)
        if isinstance(value, ast.Constant) and isinstance(value.value, int) and not isinstance(value.value, bool):
            out[key.value] = Quantity(value.value, Origin(OriginKind.FILE, where, f"SQLALCHEMY_ENGINE_OPTIONS {key.value}"))
        elif isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub) and isinstance(value.operand, ast.Constant):
            out[key.value] = Quantity(-int(value.operand.value), Origin(OriginKind.FILE, where, f"SQLALCHEMY_ENGINE_OPTIONS {key.value}"))
        elif key.value == "poolclass":
            name = value.attr if isinstance(value, ast.Attribute) else value.id if isinstance(value, ast.Name) else ""
            out["poolclass"] = name
    return out


def _flask_options(project: Project) -> dict[str, object] | None:
    for source in project.files(FileKind.PYTHON):
        if not project.contains(source.rel, b"SQLALCHEMY_ENGINE_OPTIONS"):
            continue  # byte prefilter: files that do not mention it do not matter (and are not reported)
        text = project.text(source.rel)
        if not text or "SQLALCHEMY_ENGINE_OPTIONS" not in text:
            continue
        parsed = project.python(source.rel)
        if parsed is None:
            continue
        for node in ast.walk(parsed.tree):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    named = (isinstance(target, ast.Name) and target.id == "SQLALCHEMY_ENGINE_OPTIONS") or (
                        isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant)
                        and target.slice.value == "SQLALCHEMY_ENGINE_OPTIONS")
                    if named:
                        options = _options_dict(node.value, source.rel, parsed.text)
                        if options is not None:
                            return options
            elif isinstance(node, ast.keyword) and node.arg == "SQLALCHEMY_ENGINE_OPTIONS":
                options = _options_dict(node.value, source.rel, parsed.text)
                if options is not None:
                    return options
            elif isinstance(node, ast.Dict):  # `app.config.update({"SQLALCHEMY_ENGINE_OPTIONS": {...}})`
                for key, value in zip(node.keys, node.values):
                    if isinstance(key, ast.Constant) and key.value == "SQLALCHEMY_ENGINE_OPTIONS":
                        options = _options_dict(value, source.rel, parsed.text)
                        if options is not None:
                            return options
    return None


def _engine_options_kwarg(project: Project, engine: Engine) -> dict[str, object] | None:
    parsed = project.python(engine.location.path)
    if parsed is None:
        return None
    for node in ast.walk(parsed.tree):
        if isinstance(node, ast.Call) and node.lineno == engine.location.line:
            for keyword in node.keywords:
                if keyword.arg == "engine_options":
                    return _options_dict(keyword.value, engine.location.path, parsed.text)
    return None


def _apply_flask_options(project: Project, model: DeploymentModel) -> None:
    engines: list[Engine] = []
    for server in model.servers:
        for effects in (server.parent_effects, *(hook.effects for hook in server.hooks)):
            engines.extend(e for e in effects.engines if e.kind is EngineKind.FLASK_SQLALCHEMY and e not in engines)
    if not engines:
        return
    shared = None
    for engine in engines:
        if engine.pool_size is not None or engine.max_overflow is not None or engine.nullpool:
            continue
        options = _engine_options_kwarg(project, engine)
        if options is None:
            if shared is None:
                shared = _flask_options(project) or {}
            options = shared
        if isinstance(options.get("pool_size"), Quantity):
            engine.pool_size = options["pool_size"]
        if isinstance(options.get("max_overflow"), Quantity):
            engine.max_overflow = options["max_overflow"]
        if options.get("poolclass") == "NullPool":
            engine.nullpool = True


def adapt(project: Project, launches: list[Launch], model: DeploymentModel) -> None:
    from pgforklint.extract.requirements import version_range

    # Which SQLAlchemy the project allows: `dispose(close=False)` exists from 1.4.33 (rules and --fix adapt).
    model.facts["sqlalchemy_versions"] = version_range(project, "SQLAlchemy")
    model.database, model.facts["database_shown"] = _limits(project)
    model.database.pooler = _pooler(project)
    _apply_flask_options(project, model)
