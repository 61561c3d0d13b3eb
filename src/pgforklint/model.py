"""The deployment model: what runs where, which engines each process holds, and what the database allows.

Every number is a `Quantity` that remembers where it came from, so reports can say why.
Rules are pure functions of `DeploymentModel`.
"""

from __future__ import annotations

import enum
from dataclasses import field

from pgforklint.diagnostics import Diagnostic, Location
from pgforklint.records import record


class OriginKind(enum.Enum):
    FILE = "file"  # written in a file of the repository
    CONFIG = "config"  # [tool.pgforklint] or the command line of pgforklint
    ENV_DEFAULT = "env-default"  # `${VAR:-3}` / os.environ.get("VAR", 3): the default was used
    ENV_UNSET = "env-unset"  # an environment variable with no value anywhere in the repo
    PLATFORM = "platform"  # a value a platform sets (Heroku's WEB_CONCURRENCY)
    DEFAULT = "default"  # the documented default of a server or library
    DERIVED = "derived"  # computed from other quantities


@record(frozen=True)
class Origin:
    kind: OriginKind
    location: Location | None = None
    detail: str = ""

    def describe(self) -> str:
        where = f" ({self.location})" if self.location else ""
        text = self.detail or self.kind.value
        return f"{text}{where}"

    @property
    def is_assumption(self) -> bool:
        return self.kind in (OriginKind.ENV_DEFAULT, OriginKind.ENV_UNSET, OriginKind.PLATFORM, OriginKind.DEFAULT)


# Larger counts (processes, connections, instances) than this are not real: treated as unknown.
MAX_COUNT = 10 ** 12


@record(frozen=True)
class Quantity:
    """An integer (or None when unknown/unbounded) with its provenance.

    `symbolic` keeps expressions that cannot be evaluated statically, such as "2 * cpu_count() + 1".
    `env_var` names the environment variable the value depends on, if any.
    """

    value: int | None
    origin: Origin
    symbolic: str | None = None
    env_var: str | None = None

    def __post_init__(self) -> None:
        # Repository text can hold any number (`workers = 10 ** 5000`, a 5,000-digit YAML integer): past
        # any real count it is unknown, so that arithmetic and messages on it stay small (str() of an
        # integer over 4,300 digits raises).
        value = self.value
        if value is not None and not -MAX_COUNT <= value <= MAX_COUNT:
            object.__setattr__(self, "value", None)
            object.__setattr__(self, "symbolic", self.symbolic or "a number too large to be a real count")

    @classmethod
    def default(cls, value: int | None, detail: str) -> "Quantity":
        return cls(value, Origin(OriginKind.DEFAULT, None, detail))

    @classmethod
    def from_file(cls, value: int | None, location: Location, detail: str = "") -> "Quantity":
        return cls(value, Origin(OriginKind.FILE, location, detail))


@record(frozen=True)
class Flag:
    """A boolean setting with its provenance (e.g. preload_app)."""

    value: bool
    origin: Origin


# --- Python-side facts ----------------------------------------------------------------------


class EngineKind(enum.Enum):
    SQLALCHEMY = "sqlalchemy"
    FLASK_SQLALCHEMY = "flask-sqlalchemy"
    PSYCOPG2_POOL = "psycopg2-pool"
    PSYCOPG_POOL = "psycopg-pool"
    ASYNCPG_POOL = "asyncpg-pool"
    DJANGO = "django"
    RAW_CONNECTION = "connection"  # psycopg2.connect()/psycopg.connect(): one live connection


@record(eq=False)
class Engine:
    """An engine, pool or connection object created by the application.

    `eager` is True when creating it opens connections (psycopg2 pools, psycopg_pool with open=True,
    asyncpg.create_pool, raw connect()). Capacity quantities are per process.
    """

    kind: EngineKind
    symbol: str  # "app.db:engine" or "app.db:<create_engine@12>"
    location: Location
    eager: bool = False
    nullpool: bool = False
    pool_size: Quantity | None = None
    max_overflow: Quantity | None = None
    max_size: Quantity | None = None  # pools with a single maximum (psycopg pools, asyncpg)
    pid_guarded: bool = False  # SQLAlchemy's documented pid-check pool events are installed
    extra: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.symbol.split(":", 1)[-1]


class ResetKind(enum.Enum):
    DISPOSE_KEEP = "dispose(close=False)"  # the recommended child-side reset
    DISPOSE_CLOSE = "dispose()"  # closes the pooled sockets (wrong in a child)
    CLOSE = "close"  # connection.close() / pool.closeall() / pool.close()
    DJANGO_CLOSE_ALL = "connections.close_all()"


@record(frozen=True)
class Reset:
    kind: ResetKind
    engine: Engine | None  # None: resets every engine of its kind (Django close_all)
    location: Location


@record(frozen=True)
class ConnectionOpen:
    """An operation that opens a real connection, with the call chain that leads to it at import."""

    engine: Engine
    location: Location
    operation: str  # "engine.connect()", "metadata.create_all(engine)", ...
    chain: tuple[Location, ...] = ()  # from the entry (app module, factory call) to the operation
    # The connection is held after the import: bound to a module-level name, never closed, not in a
    # with-block. Matters for NullPool engines, whose other connections are closed when released.
    retained: bool = False


@record(frozen=True)
class EngineEscape:
    """A module-level engine handed at import time to code pgforklint cannot see (may connect)."""

    engine: Engine
    location: Location
    callee: str
    chain: tuple[Location, ...] = ()


@record
class ProcessEffects:
    """What a piece of code does, in order: engines created, connections opened, resets, escapes."""

    engines: list[Engine] = field(default_factory=list)
    opens: list[ConnectionOpen] = field(default_factory=list)
    resets: list[tuple[int, Reset]] = field(default_factory=list)  # (sequence number, reset)
    open_seq: list[int] = field(default_factory=list)  # sequence number of each open, parallel to `opens`
    escapes: list[EngineEscape] = field(default_factory=list)
    at_fork_child_hooks: list[tuple[Location, "ProcessEffects"]] = field(default_factory=list)
    pid_guards: list[tuple[Engine, Location]] = field(default_factory=list)


# --- Deployment side ----------------------------------------------------------------------


class ServerKind(enum.Enum):
    GUNICORN = "gunicorn"
    UWSGI = "uwsgi"
    CELERY = "celery"
    RQ = "rq"
    UVICORN = "uvicorn"
    MULTIPROCESSING = "multiprocessing"
    OTHER = "other"


@record
class AppRef:
    module: str
    attribute: str | None
    factory_call: bool
    location: Location


@record
class Hook:
    """A server hook: where it is defined and what it does when it runs."""

    name: str  # "post_fork", "worker_process_init", "postfork", ...
    location: Location
    runs_in_child: bool
    effects: ProcessEffects
    # False when the server never calls it (os.register_at_fork under uWSGI without py-call-osafterfork).
    effective: bool = True


@record
class Server:
    kind: ServerKind
    location: Location  # the launch command or config that defines it
    forks: bool
    loads_app_in_parent: Flag
    processes: Quantity
    threads: Quantity
    worker_class: str = "sync"
    app: AppRef | None = None
    config_path: str | None = None
    settings: dict[str, object] = field(default_factory=dict)  # name -> Quantity | Flag | str, for reports
    hooks: list[Hook] = field(default_factory=list)
    parent_effects: ProcessEffects = field(default_factory=ProcessEffects)
    # Where the setting that makes the parent load the app is written (for messages).
    notes: list[str] = field(default_factory=list)


@record
class ProcessType:
    name: str
    command: str
    location: Location
    instances: Quantity
    server: Server | None = None
    env: dict[str, str] = field(default_factory=dict)
    transient: bool = False  # release-phase, one-off


@record
class DatabaseLimits:
    max_connections: Quantity
    reserved: Quantity
    role_limit: Quantity | None = None
    pooler: dict | None = None


@record
class DeploymentModel:
    root: str
    process_types: list[ProcessType] = field(default_factory=list)
    servers: list[Server] = field(default_factory=list)  # every server, including ones with no process type
    database: DatabaseLimits | None = None
    # Problems found while reading and extracting (PGF100, PGF101).
    diagnostics: list[Diagnostic] = field(default_factory=list)
    facts: dict[str, object] = field(default_factory=dict)  # adapter-specific extras
