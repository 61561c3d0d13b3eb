"""Active Record pools from `config/database.yml` (ERB, anchors, `<<:` merges, multi-database configs).

One `Engine` (ACTIVE_RECORD) per database of the production environment. Pool size: `max_connections`
(Rails 8.1+) over `pool` over the `url:` query's `?pool=` over the default 5 [src: rails/rails
activerecord/lib/active_record/database_configurations/hash_config.rb; guides "Database Pooling"]. A section
that does not merge the anchor (`<<: *default`) does not inherit its `pool:`. On Heroku with Active Record
< 4.1 the Ruby buildpack writes its own database.yml from DATABASE_URL, so the repository's `pool:` does not
apply (heroku-buildpack-ruby lib/language_pack/ruby.rb). Children of a fork discard inherited connections
from 5.2 (`pid_guarded`: the same guarantee as SQLAlchemy's pid-check recipe). reference/ruby.md §2.5.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from pgforklint.diagnostics import Location
from pgforklint.model import Engine, EngineKind, Origin, OriginKind, Quantity

DATABASE_YML = "config/database.yml"
AR_DEFAULT_POOL = 5
ENVIRONMENT = "production"
POSTGRES_ADAPTERS = ("postgresql", "postgis", "postgres", "cockroachdb")
_CONFIG_KEYS = ("adapter", "database", "url", "pool", "max_connections", "host", "username", "encoding")


def _label(name: str) -> str:
    return "ActiveRecord::Base" if name == "primary" else f"ActiveRecord `{name}` database"


def database_engines(project, app) -> list[Engine]:
    from pgforklint.extract.platform import is_heroku

    heroku_replaces = (is_heroku(project) and app.ar_version is not None and app.ar_version < (4, 1))
    loaded = project.erb_yaml(DATABASE_YML) if project.exists(DATABASE_YML) else None
    fork_safe = app.ar_fork_safe is not False
    if loaded is None or not loaded.documents or not isinstance(loaded.documents[0], dict):
        where = app.gem_location("activerecord") or app.gem_location("rails") or Location(DATABASE_YML if project.exists(DATABASE_YML) else (app.lock_rel or "Gemfile.lock"), 1)
        engine = Engine(EngineKind.ACTIVE_RECORD, f"{where.path}:ActiveRecord::Base", where, pid_guarded=fork_safe)
        engine.max_size = Quantity(AR_DEFAULT_POOL, Origin(OriginKind.DEFAULT, None, "Active Record's default pool = 5"))
        engine.extra.update(language="ruby", database="primary", one_per_thread=True)
        return [engine]
    document = loaded.documents[0]
    section = document.get(ENVIRONMENT)
    section_line = document.line_of(ENVIRONMENT) if ENVIRONMENT in document else 1
    if not isinstance(section, dict):
        section, section_line = {}, 1
    if any(key in section for key in _CONFIG_KEYS) or not section:
        databases = [("primary", section, section_line)]
    else:
        databases = [(str(name), value, section.line_of(name)) for name, value in section.items() if isinstance(value, dict)]
        if not databases:
            databases = [("primary", section, section_line)]
    engines = []
    for name, config, line in databases:
        adapter = str(config.get("adapter", "")) if isinstance(config, dict) else ""
        url = str(config.get("url", "")) if isinstance(config, dict) else ""
        if adapter and adapter not in POSTGRES_ADAPTERS and not url.startswith(("postgres", "<%")):
            continue  # sqlite3 / mysql databases are not on the PostgreSQL server
        if isinstance(config, dict) and config.get("database_tasks") is False and config.get("replica") is True:
            pass
        location = Location(DATABASE_YML, line or 1)
        engine = Engine(EngineKind.ACTIVE_RECORD, f"{DATABASE_YML}:{_label(name)}", location, pid_guarded=fork_safe)
        engine.extra.update(language="ruby", database=name, one_per_thread=True)
        if isinstance(config, dict) and config.get("reaping_frequency") is not None:
            engine.extra["reaping_frequency"] = config.get("reaping_frequency")
        if isinstance(config, dict) and config.get("checkout_timeout") is not None:
            timeout = _seconds(config.get("checkout_timeout"))
            if timeout is not None:
                engine.extra["checkout_timeout"] = (timeout, Location(DATABASE_YML, config.line_of("checkout_timeout") or location.line))
        engine.max_size = _pool(config if isinstance(config, dict) else {}, loaded.values, heroku_replaces, location)
        engines.append(engine)
    return engines


def _pool(config: dict, values: dict, heroku_replaces: bool, section: Location) -> Quantity:
    if heroku_replaces:
        return Quantity(AR_DEFAULT_POOL, Origin(OriginKind.PLATFORM, section,
                                                "Heroku's Ruby buildpack replaces config/database.yml for Active Record < 4.1 "
                                                "(the pool comes from DATABASE_URL's ?pool=, else Active Record's default 5)"))
    for key in ("max_connections", "pool"):
        if key in config:
            line = config.line_of(key) or section.line
            return _value_quantity(config[key], values.get(line), Location(DATABASE_YML, line), f"`{key}:` in {DATABASE_YML}")
    url = config.get("url")
    if isinstance(url, str) and "pool=" in url:
        try:
            pool = parse_qs(urlparse(url).query).get("pool", [""])[0]
        except ValueError:
            pool = ""
        if pool.isdigit():
            line = config.line_of("url") or section.line
            return Quantity(int(pool), Origin(OriginKind.FILE, Location(DATABASE_YML, line), f"`?pool=` in the url of {DATABASE_YML}"))
    return Quantity(AR_DEFAULT_POOL, Origin(OriginKind.DEFAULT, section, "no `pool:` for this database: Active Record's default pool = 5"))


def _seconds(raw: object) -> float | None:
    """`checkout_timeout:` as a number of seconds (ERB already rendered); None when not a plain number."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        return float(raw)
    try:
        return float(str(raw).strip())
    except ValueError:
        return None


def _value_quantity(raw: object, erb, location: Location, detail: str) -> Quantity:
    if isinstance(raw, bool):
        raw = None
    if erb is not None and erb.env_var:
        if isinstance(raw, int) and erb.from_default:
            return Quantity(raw, Origin(OriginKind.ENV_DEFAULT, location, f"{detail}: ${erb.env_var} not set in the repo; its default {raw} is used"),
                            env_var=erb.env_var)
        if isinstance(raw, int):
            return Quantity(raw, Origin(OriginKind.FILE, location, detail), env_var=erb.env_var)
        return Quantity(None, Origin(OriginKind.ENV_UNSET, location, f"{detail}: ${erb.env_var} has no value in the repo"),
                        symbolic=erb.symbolic, env_var=erb.env_var)
    if isinstance(raw, int):
        return Quantity(raw, Origin(OriginKind.FILE, location, detail))
    if isinstance(raw, str) and raw.strip().isdigit():
        return Quantity(int(raw.strip()), Origin(OriginKind.FILE, location, detail))
    return Quantity(None, Origin(OriginKind.FILE, location, f"{detail}: cannot be evaluated statically"), symbolic=str(raw))
