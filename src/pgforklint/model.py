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
    RAW_CONNECTION = "connection"  # psycopg2.connect()/psycopg.connect()/Ruby PG.connect: one live connection
    ACTIVE_RECORD = "active-record"  # one pool per database of config/database.yml
    SEQUEL = "sequel"  # a Sequel::Database (`DB = Sequel.connect(...)`)


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
    REESTABLISH = "establish_connection"  # Active Record: a new pool in the child, the inherited one dropped


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
    # Under an `if` that depends on the environment (`if os.environ.get("LOAD_FIXTURES") == "true":`): how the
    # code says it, where, and whether the variables' defaults take that branch (True: certain, False: only
    # where the environment says so, None: cannot tell).
    condition: str | None = None
    condition_location: Location | None = None
    condition_default: bool | None = None
    condition_env: tuple[str, ...] = ()  # the environment variables the condition reads


@record(frozen=True)
class EngineEscape:
    """A module-level engine handed at import time to code pgforklint cannot see (may connect)."""

    engine: Engine
    location: Location
    callee: str
    chain: tuple[Location, ...] = ()
    # Why the engine reaches the fork, when it is not a call pgforklint cannot see (a preloaded Rails app on
    # Active Record < 5.2): said in the PGF002 message instead of the generic text.
    why: str = ""


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
    UNICORN = "unicorn"
    PUMA = "puma"
    RESQUE = "resque"
    SIDEKIQ = "sidekiq"
    SOLID_QUEUE = "solid_queue"
    GOOD_JOB = "good_job"
    OTHER = "other"


@record
class AppRef:
    module: str
    attribute: str | None
    factory_call: bool
    location: Location
    file: str | None = None  # the repository file the module resolved to, once the server loads it
    roots: tuple[str, ...] = ()  # the folders it was looked for in


@record
class Hook:
    """A server hook: where it is defined and what it does when it runs."""

    name: str  # "post_fork", "worker_process_init", "postfork", ...
    location: Location
    runs_in_child: bool
    effects: ProcessEffects
    # False when the server never calls it (os.register_at_fork under uWSGI without py-call-osafterfork).
    effective: bool = True
    # Why it never runs, when the server itself says so (Puma: cluster-only hooks with `workers 0`).
    never_runs_reason: str = ""


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
    failed: list[str] = field(default_factory=list)  # resolution steps that failed (the app file not found ...)


@record
class ProcessType:
    name: str
    command: str
    location: Location
    instances: Quantity
    server: Server | None = None
    env: dict[str, str] = field(default_factory=dict)
    transient: bool = False  # release-phase, one-off
    max_instances: Quantity | None = None  # an autoscaler's maximum: counts in the worst case only


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
    coverage: Coverage | None = None  # what the run linked, for reports and PGF102


# Fork points found in code (multiprocessing, an RQ worker script) rather than in a launch: they run in whatever
# process calls them, so no launch needs to name them.
IN_CODE_SERVERS = (ServerKind.MULTIPROCESSING, ServerKind.RQ)


def unused_configurations(model: DeploymentModel) -> list[Server]:
    """Server configurations that are samples or development files (`uwsgi-sample.ini`, `gunicorn.dev.py`) and that
    no launch uses, in a repository that does say how its processes start (decided by `extract/deployments.py`).
    The fork rules do not read them and the summary says they were not checked. A configuration with no launch
    that is named like a production one is still read: its launch may live outside the repository."""
    return list(model.facts.get("unused_configurations") or [])


def servers_in_use(model: DeploymentModel) -> list[Server]:
    unused = {id(s) for s in unused_configurations(model)}
    return [s for s in model.servers if id(s) not in unused]


@record
class ProcessCoverage:
    """One process type as understood: its server, the app it loads and the engines it reaches."""

    name: str
    location: Location
    server: str | None  # "gunicorn", "celery prefork", ...; None when no server was recognised
    forks: bool
    preload: bool | None
    app: str | None  # "app:app", the module the server loads
    app_file: str | None  # the repository file it resolved to
    engines: int
    failed: list[str] = field(default_factory=list)  # steps that could not be followed, in words
    dev_only: bool = False  # a development server (`flask run`, `runserver`, `--reload`)
    declared: bool = False

    @property
    def linked(self) -> bool:
        return self.app_file is not None or (self.server is not None and self.engines > 0)


@record
class Coverage:
    process_types: list[ProcessCoverage] = field(default_factory=list)
    servers: int = 0  # servers analysed, including fork points found in code (multiprocessing, RQ scripts)
    database_code: bool = False  # the repository has database code (an engine, a driver, Django DATABASES)
    database_location: Location | None = None
    unused_configurations: list[Location] = field(default_factory=list)  # samples no launch uses: not checked
