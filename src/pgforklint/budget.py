"""The connection budget: one row per process type, every number a Quantity with its Origin.

    per process expected = sum over engines of min(pool capacity, concurrency)  (at least what the pool keeps open)
                           + agents' extra connections
    per process worst    = sum over engines of the full pool capacity + agents' worst case
    row total            = instances x (processes x per process + connections the parent holds)
    available            = max_connections - reserved      (or the role's connection limit, whichever is lower;
                                                            a Heroku plan limit is a role limit)

Concurrency in one process: sync workers 1, gthread/uWSGI `threads`, Celery prefork children 1,
gevent/eventlet `worker_connections` greenlets, asyncio workers unbounded (the pool's capacity is the bound).
A parent that holds a connection at fork (rules.fork.live_at_fork) adds what it holds, once per instance.
Behind PgBouncer in transaction/statement mode the app side is checked against `max_client_conn` and the
server side (default_pool_size + reserve_pool_size per pool) against the database.
"""

from __future__ import annotations

from dataclasses import field

from pgforklint.diagnostics import Location
from pgforklint.model import (
    IN_CODE_SERVERS,
    DeploymentModel,
    Engine,
    EngineKind,
    Origin,
    OriginKind,
    ProcessType,
    Quantity,
    Server,
    ServerKind,
)
from pgforklint.records import record

SQLALCHEMY_POOL_SIZE = 5
SQLALCHEMY_MAX_OVERFLOW = 10
PSYCOPG_POOL_MIN_SIZE = 4
ASYNCPG_MIN_SIZE = 10
ASYNCPG_MAX_SIZE = 10
GUNICORN_WORKER_CONNECTIONS = 1000
AR_DEFAULT_POOL = 5
SEQUEL_MAX_CONNECTIONS = 4

ASYNC_WORKERS = ("uvicorn", "asgi", "tornado", "aiohttp", "uvloop", "hypercorn", "daphne")
GREEN_WORKERS = ("gevent", "eventlet")
SINGLE_TASK_POOLS = ("prefork", "processes", "solo", "sync", "fork")


# Servers discovered in code rather than from a launch line or a server configuration file.


def _default(value: int | None, detail: str) -> Quantity:
    return Quantity(value, Origin(OriginKind.DEFAULT, None, detail))


@record
class EngineUse:
    engine: Engine
    capacity: Quantity | None  # None: no maximum (max_overflow=-1, NullPool under unbounded concurrency)
    minimum: int  # connections the pool keeps open whatever the load
    expected: int | None
    worst: int | None
    note: str = ""


@record
class Row:
    name: str
    location: Location
    process_type: ProcessType | None
    server: Server
    instances: Quantity
    processes: Quantity
    threads: Quantity
    concurrency: int | None  # requests one process serves at once; None = unbounded (asyncio)
    concurrency_note: str
    engines: list[EngineUse] = field(default_factory=list)
    agents: list[dict] = field(default_factory=list)  # {name, expected, worst, location}
    parent_held: int = 0
    parent_locations: list[Location] = field(default_factory=list)
    max_instances: Quantity | None = None  # an autoscaler's maximum (worst case only)

    @property
    def per_process_expected(self) -> int:
        return sum(u.expected or 0 for u in self.engines) + sum(a["expected"] for a in self.agents)

    @property
    def per_process_worst(self) -> int | None:
        if any(u.worst is None for u in self.engines):
            return None
        return sum(u.worst or 0 for u in self.engines) + sum(a["worst"] for a in self.agents)

    @property
    def host(self) -> str | None:
        """The process type this one runs inside (Puma's Solid Queue plugin runs in each `web` instance)."""
        return _host_name(self.process_type) if self.process_type is not None else None

    @property
    def n_instances(self) -> int:
        return self.instances.value if self.instances.value is not None else 1

    @property
    def n_processes(self) -> int:
        return self.processes.value if self.processes.value is not None else 1

    @property
    def total_expected(self) -> int:
        return self.n_instances * (self.n_processes * self.per_process_expected + self.parent_held)

    @property
    def n_max_instances(self) -> int:
        if self.max_instances is not None and self.max_instances.value is not None:
            return max(self.max_instances.value, self.n_instances)
        return self.n_instances

    @property
    def total_worst(self) -> int | None:
        worst = self.per_process_worst
        if worst is None:
            return None
        return self.n_max_instances * (self.n_processes * worst + self.parent_held)

    def sources(self) -> dict[str, str]:
        out = {
            "instances": self.instances.origin.describe(),
            **({"max_instances": self.max_instances.origin.describe()} if self.max_instances is not None else {}),
            "processes": self.processes.origin.describe(),
            "threads": self.threads.origin.describe(),
            "concurrency": self.concurrency_note,
        }
        for use in self.engines:
            out[f"engine {use.engine.label}"] = f"{use.note} ({use.engine.location})"
        for agent in self.agents:
            out[f"agent {agent['name']}"] = f"{agent['detail']} ({agent['location']})"
        if self.parent_held:
            out["parent"] = (f"the parent process holds {self.parent_held} connection(s) opened before the fork ("
                             + ", ".join(str(loc) for loc in self.parent_locations) + ")")
        return out


@record
class Budget:
    rows: list[Row]
    max_connections: Quantity
    reserved: Quantity
    role_limit: Quantity | None
    database_shown: bool
    pooler: dict | None
    not_counted: list[Left] = field(default_factory=list)

    @property
    def server_available(self) -> int | None:
        """Connections the application's role can open on the PostgreSQL server."""
        limits = []
        if self.role_limit is not None and self.role_limit.value is not None:
            limits.append(self.role_limit.value)
        if not (self.role_limit is not None and self.max_connections.origin.kind is OriginKind.DEFAULT):
            if self.max_connections.value is not None:
                limits.append(self.max_connections.value - (self.reserved.value or 0))
        return min(limits) if limits else None

    @property
    def multiplexed(self) -> bool:
        return self.pooler is not None and self.pooler.get("pool_mode") in ("transaction", "statement")

    @property
    def session_pooled(self) -> bool:
        """PgBouncer in session mode: each client holds one server connection for as long as it stays connected,
        so the application's connections are direct connections that also queue at the pooler's limits."""
        return self.pooler is not None and self.pooler.get("pool_mode") == "session"

    @property
    def available(self) -> int | None:
        """What the application's connections are checked against (PgBouncer's max_client_conn behind a pooler)."""
        if self.multiplexed:
            return self.pooler["max_client_conn"].value
        if self.session_pooled:
            limits = [self.pooler["max_client_conn"].value, self.pooler_server_connections, self.server_available]
            known = [limit for limit in limits if limit is not None]
            return min(known) if known else None
        return self.server_available

    @property
    def pooler_server_connections(self) -> int | None:
        if self.pooler is None:
            return None
        size = self.pooler["default_pool_size"].value or 0
        reserve = self.pooler["reserve_pool_size"].value or 0
        return (size + reserve) * (self.pooler["pools"].value or 1)

    @property
    def expected_peak(self) -> int:
        return sum(row.total_expected for row in self.rows)

    @property
    def worst_case(self) -> int | None:
        totals = [row.total_worst for row in self.rows]
        return None if any(t is None for t in totals) else sum(t or 0 for t in totals)

    def limit_origins(self) -> list[Quantity]:
        if self.multiplexed:
            return [self.pooler["max_client_conn"]]
        if self.session_pooled:
            return [self.pooler["max_client_conn"], self.pooler["default_pool_size"], self.max_connections]
        out = []
        if self.role_limit is not None:
            out.append(self.role_limit)
        if not (self.role_limit is not None and self.max_connections.origin.kind is OriginKind.DEFAULT):
            out.extend([self.max_connections, self.reserved])
        return out

    def available_text(self) -> str:
        if self.multiplexed:
            return f"PgBouncer max_client_conn = {self.available} ({self.pooler['pool_mode']} pooling)"
        if self.session_pooled:
            server = self.server_available
            return (f"PgBouncer in session mode gives each client its own server connection: at most "
                    f"{self.pooler_server_connections} server connections in its pools, max_client_conn "
                    f"{self.pooler['max_client_conn'].value}"
                    + (f", {server} on the server" if server is not None else ""))
        role = self.role_limit.value if self.role_limit is not None else None
        server = None
        if not (self.role_limit is not None and self.max_connections.origin.kind is OriginKind.DEFAULT):
            server = (self.max_connections.value or 0) - (self.reserved.value or 0)
        parts = []
        if server is not None:
            parts.append(f"max_connections {self.max_connections.value} - {self.reserved.value} reserved = {server}")
        if role is not None:
            parts.append(f"the role's connection limit {role} ({self.role_limit.origin.detail})")
        return " and ".join(parts) if parts else "unknown"


# --- concurrency ---------------------------------------------------------------------------------


def concurrency(server: Server) -> tuple[int | None, str]:
    """Requests or tasks one worker process handles at the same time, and why."""
    worker_class = (server.worker_class or "sync").lower()
    threads = server.threads.value
    if any(word in worker_class for word in ASYNC_WORKERS) or server.kind is ServerKind.UVICORN:
        return None, f"asyncio worker ({server.worker_class}): concurrency bounded only by the pools"
    if any(word in worker_class for word in GREEN_WORKERS):
        connections = server.settings.get("worker_connections_quantity")
        if isinstance(connections, Quantity) and connections.value:
            return connections.value, f"{worker_class} greenlets: worker_connections = {connections.value}"
        if server.kind is ServerKind.GUNICORN:
            return GUNICORN_WORKER_CONNECTIONS, f"{worker_class} greenlets: gunicorn's default worker_connections = 1000"
        if threads and threads > 1:
            return threads, f"{worker_class} greenlets: {threads}"
        return server.processes.value, f"{worker_class} greenlets: concurrency {server.processes.value}"
    if server.kind in (ServerKind.CELERY, ServerKind.RQ, ServerKind.MULTIPROCESSING) and worker_class in SINGLE_TASK_POOLS:
        return 1, "one task at a time per child process"
    if threads is None:
        return None, (f"threads cannot be read ({unreadable_text(server.threads)}): counted as unbounded, so each "
                      f"process may fill its pools")
    if threads <= 1:
        return 1, f"{worker_class} worker: one request at a time"
    return threads, f"{threads} threads per process"


def unreadable_text(quantity: Quantity) -> str:
    if quantity.symbolic:
        return f"`{quantity.symbolic}`"
    if quantity.env_var:
        return f"${quantity.env_var}"
    return quantity.origin.detail or "an expression evaluated at run time"


def unreadable_worker_class(server: Server) -> object | None:
    """The worker_class setting when it is written but cannot be evaluated (a gevent worker runs hundreds of
    requests at once where a sync worker runs one)."""
    setting = server.settings.get("worker_class")
    if setting is not None and not isinstance(getattr(setting, "value", None), str):
        return setting
    return None


def is_green(server: Server) -> bool:
    return any(word in (server.worker_class or "").lower() for word in GREEN_WORKERS)


def is_threaded(server: Server, conc: int | None) -> bool:
    """Concurrency comes from OS threads (gthread, uWSGI threads, Celery threads), not greenlets or asyncio."""
    return conc is not None and conc > 1 and not is_green(server)


# --- engines -------------------------------------------------------------------------------------


def _value(quantity: Quantity | None, default: int | None) -> int | None:
    if quantity is None or quantity.value is None:
        return default
    return quantity.value


def engine_use(engine: Engine, conc: int | None, green: bool = False) -> EngineUse:
    use = _engine_use(engine, conc, green)
    if engine.extra.get("conditional"):
        # Defined only under a condition the analysis cannot decide (a replica when an env var is set): it may
        # not exist in production, so it counts in the worst case, not in the expected peak.
        use.expected = 0
        use.minimum = 0
        use.note += "; defined under a condition: counted in the worst case only"
    return use


def _engine_use(engine: Engine, conc: int | None, green: bool = False) -> EngineUse:
    kind = engine.kind
    if kind is EngineKind.RAW_CONNECTION:
        return EngineUse(engine, Quantity(1, Origin(OriginKind.DEFAULT, engine.location, "one connection")), 1, 1, 1,
                         "one connection per process")
    if kind in (EngineKind.SQLALCHEMY, EngineKind.FLASK_SQLALCHEMY):
        if engine.nullpool:
            note = "NullPool: one connection per concurrent request, closed after use"
            return EngineUse(engine, None if conc is None else _default(conc, note), 0, conc, conc, note)
        pool_size = _value(engine.pool_size, SQLALCHEMY_POOL_SIZE)
        overflow = _value(engine.max_overflow, SQLALCHEMY_MAX_OVERFLOW)
        sources = []
        for label, quantity, value in (("pool_size", engine.pool_size, pool_size), ("max_overflow", engine.max_overflow, overflow)):
            if quantity is None:
                sources.append(f"{label}={value} (default)")
            elif quantity.value is None:
                sources.append(f"{label}={value} (default assumed: {unreadable_text(quantity)} cannot be read)")
            else:
                sources.append(f"{label}={value}")
        if overflow is not None and overflow < 0:
            note = f"{', '.join(sources)}: max_overflow=-1 removes the maximum"
            return EngineUse(engine, None, 0, pool_size if conc is None else conc, None, note)
        capacity = (pool_size or 0) + (overflow or 0)
        where = engine.pool_size.origin.location if engine.pool_size is not None and engine.pool_size.origin.location else engine.location
        cap = Quantity(capacity, Origin(OriginKind.DERIVED if engine.pool_size or engine.max_overflow else OriginKind.DEFAULT,
                                        where, " + ".join(sources)))
        expected = capacity if conc is None else min(capacity, conc)
        return EngineUse(engine, cap, 0, expected, capacity, f"{' + '.join(sources)} = {capacity}")
    if kind in (EngineKind.ACTIVE_RECORD, EngineKind.SEQUEL):
        # Lazy pools that hand one connection per thread: empty at start, at most `pool` (Active Record) or
        # `max_connections` (Sequel).
        default = AR_DEFAULT_POOL if kind is EngineKind.ACTIVE_RECORD else SEQUEL_MAX_CONNECTIONS
        what = "pool" if kind is EngineKind.ACTIVE_RECORD else "max_connections"
        maximum = _value(engine.max_size, default)
        cap = engine.max_size if engine.max_size is not None and engine.max_size.value is not None else _default(default, f"{what} {default} (default)")
        expected = maximum if conc is None else min(maximum, conc)
        note = f"{what} {maximum}"
        if engine.extra.get("reaping_frequency") is not None and conc is not None and maximum > conc:
            # The seed's advice: a pool above the threads, with the reaper on, leaves room to replace connections
            # a dead thread never returned. Deliberate, and counted in full in the worst case.
            note += (f", above the {conc} thread(s) on purpose: `reaping_frequency` is set, so the reaper can hand "
                     f"out connections dead threads never returned; the worst case counts all {maximum}")
        return EngineUse(engine, cap, 0, expected, maximum, note)
    if kind in (EngineKind.PSYCOPG_POOL, EngineKind.PSYCOPG2_POOL, EngineKind.ASYNCPG_POOL, EngineKind.DJANGO):
        if kind is EngineKind.DJANGO and not engine.extra.get("pool"):
            return _django_use(engine, conc, green)
        min_default = {EngineKind.PSYCOPG_POOL: PSYCOPG_POOL_MIN_SIZE, EngineKind.DJANGO: PSYCOPG_POOL_MIN_SIZE,
                       EngineKind.ASYNCPG_POOL: ASYNCPG_MIN_SIZE, EngineKind.PSYCOPG2_POOL: 1}[kind]
        minimum = _value(engine.extra.get("min_size"), min_default) or 0
        if kind is EngineKind.ASYNCPG_POOL:
            maximum = _value(engine.max_size, ASYNCPG_MAX_SIZE)
        else:
            maximum = _value(engine.max_size, None)
            if maximum is None:
                maximum = minimum  # psycopg_pool: max_size=None means a fixed pool of min_size
        maximum = max(maximum or 0, minimum)
        expected = maximum if conc is None else max(minimum, min(maximum, conc))
        where = engine.max_size.origin.location if engine.max_size is not None and engine.max_size.origin.location else engine.location
        note = f"min {minimum}, max {maximum}"
        cap = Quantity(maximum, Origin(OriginKind.FILE if engine.max_size is not None else OriginKind.DEFAULT, where, note))
        return EngineUse(engine, cap, minimum, expected, maximum, note)
    return EngineUse(engine, None, 0, conc, conc, "unknown pool")


def django_persistent(engine: Engine) -> bool:
    conn_max_age = engine.extra.get("conn_max_age")
    age = conn_max_age.value if isinstance(conn_max_age, Quantity) else conn_max_age
    return (age is None and "conn_max_age" in engine.extra) or (isinstance(age, int) and not isinstance(age, bool) and age != 0)


def _django_use(engine: Engine, conc: int | None, green: bool = False) -> EngineUse:
    persistent = django_persistent(engine)
    note = "Django: one connection per thread" + (" (persistent)" if persistent else "")
    if conc is None:
        return EngineUse(engine, None, 0, 1, None, note + "; asyncio concurrency")
    if green and persistent:
        return EngineUse(engine, None, 0, conc, None, note + "; each greenlet keeps its own persistent connection")
    return EngineUse(engine, _default(conc, note), 0, conc, conc, note)


def process_engines(server: Server) -> list[Engine]:
    """Engines a worker process of this server uses: created in the parent (inherited) or in the child."""
    out: list[Engine] = []
    effects = [server.parent_effects]
    for hook in server.hooks:
        if hook.runs_in_child and hook.effective:
            effects.append(hook.effects)
            effects.extend(child for _, child in hook.effects.at_fork_child_hooks)
    sites: set[tuple] = set()
    for effect in effects:
        for engine in effect.engines:
            # One engine however many walks reach its definition (the parent's import and a hook that calls
            # the same factory each build an Engine for one `create_engine` call).
            site = definition_site(engine)
            if site not in sites:
                sites.add(site)
                out.append(engine)
    return out


def definition_site(engine: Engine) -> tuple:
    where = engine.location
    return engine.kind, where.path, where.line, where.column


def parent_holds(server: Server) -> tuple[int, list[Location]]:
    from pgforklint.rules.fork import live_at_fork

    if not server.forks:
        return 0, []
    held: dict[tuple, int] = {}
    where: list[Location] = []
    for open_ in live_at_fork(server):
        engine = open_.engine
        if definition_site(engine) in held:
            continue
        count = 1
        if engine.kind in (EngineKind.PSYCOPG_POOL, EngineKind.PSYCOPG2_POOL, EngineKind.ASYNCPG_POOL):
            default = {EngineKind.PSYCOPG_POOL: PSYCOPG_POOL_MIN_SIZE, EngineKind.ASYNCPG_POOL: ASYNCPG_MIN_SIZE}.get(engine.kind, 1)
            count = max(1, _value(engine.extra.get("min_size"), default) or 0)
        held[definition_site(engine)] = count
        where.append(open_.location)
    return sum(held.values()), where


# --- the budget ---------------------------------------------------------------------------------


@record
class Left:
    """A process type or server configuration that the budget does not count, and why."""

    name: str
    location: Location
    reason: str


def _rows(model: DeploymentModel) -> tuple[list[Row], list[Left]]:
    rows: list[Row] = []
    left: list[Left] = []
    attached: set[int] = set()
    agents = model.facts.get("agents", [])
    development: dict = model.facts.get("development_files") or {}
    development_processes: dict = model.facts.get("development_processes") or {}

    def left_out(process_type):
        return development.get(process_type.location.path) or development_processes.get(
            (process_type.name, process_type.location))

    running = [p for p in model.process_types if p.server is not None and not p.transient]
    production = [p for p in running if left_out(p) is None]
    for process_type in running:
        attached.add(id(process_type.server))
        if production and left_out(process_type) is not None:
            reason, _ = left_out(process_type)
            left.append(Left(process_type.name, process_type.location, reason if reason.startswith(("another deployment", "it starts the same command")) else f"not production: {reason}"))
            continue
        rows.append(_row(process_type.name, process_type.location, process_type, process_type.server,
                         _inside(process_type)[0], agents))
    for process_type in model.process_types:
        if process_type.server is not None and process_type.transient:
            attached.add(id(process_type.server))
    for server in model.servers:
        if id(server) in attached or server.kind in IN_CODE_SERVERS:
            # A fork point found in code (multiprocessing, an RQ worker script) that no launch line starts is
            # not a process type of the deployment: its connections belong to whatever process runs it.
            continue
        if running:
            # The repository says how its processes start, and none of its launches uses this configuration: a
            # sample, a developer's file, or a server started outside the repository. The fork rules still read it
            # unless it is named like a sample (`unused_configurations`); its instances are not in the repository.
            left.append(Left(server.kind.value, server.location, "no launch in the repository uses this configuration"))
            continue
        instances = Quantity(1, Origin(OriginKind.DEFAULT, server.location, "instance count not in the repository; counted as 1"))
        rows.append(_row(server.kind.value, server.location, None, server, instances, agents))
    return rows, left


def _host_name(process_type: ProcessType) -> str | None:
    host = process_type.server.settings.get("runs_inside") if process_type.server is not None else None
    return host.name if host is not None else None


def _inside(process_type: ProcessType) -> tuple[Quantity, Quantity | None]:
    """Instances (expected, worst-case maximum) of a process type. What runs inside each instance of another one
    (Puma's `plugin :solid_queue`) has that one's instances, read after the platform adapter set them; under a
    condition the repository does not decide (`if ENV["SOLID_QUEUE_IN_PUMA"]`), it counts in the worst case only."""
    server = process_type.server
    host = server.settings.get("runs_inside") if server is not None else None
    if host is None:
        return process_type.instances, process_type.max_instances
    instances, maximum = host.instances, host.max_instances
    condition = server.settings.get("runs_inside_condition")
    if condition is None:
        return instances, maximum
    origin = Origin(OriginKind.ENV_UNSET, process_type.location,
                    f"runs inside each `{host.name}` instance only `{condition}`, which the repository does not decide: "
                    f"counted in the worst case only")
    worst = maximum if maximum is not None else instances
    return Quantity(0, origin), Quantity(worst.value, Origin(worst.origin.kind, worst.origin.location,
                                                             f"`{host.name}` instances ({worst.origin.detail}), `{condition}`"))


def _in_environment(engine: Engine, env: dict[str, str], name: str) -> Engine:
    """The engine as this process type sees it: a pool read from a variable the engine's file leaves to the
    environment (database.yml `pool: <%= ENV.fetch("RAILS_MAX_THREADS") { 5 } %>`) takes the value the process's
    launch gives it (Compose `environment`, Kamal `env.clear`), as the process's threads do."""
    size = engine.max_size
    if size is None or size.env_var is None or size.origin.kind not in (OriginKind.ENV_DEFAULT, OriginKind.ENV_UNSET):
        return engine
    value = env.get(size.env_var, "").strip()
    if not value.isdigit():
        return engine
    import dataclasses

    return dataclasses.replace(engine, max_size=Quantity(int(value), Origin(
        OriginKind.FILE, size.origin.location, f"${size.env_var} = {value} where `{name}` starts"), env_var=size.env_var))


def _row(name: str, location: Location, process_type: ProcessType | None, server: Server, instances: Quantity,
         agents: list[dict]) -> Row:
    conc, note = concurrency(server)
    row = Row(name, location, process_type, server, instances, server.processes, server.threads, conc, note)
    green = is_green(server)
    env = process_type.env if process_type is not None else {}
    row.engines = [engine_use(_in_environment(engine, env, name), conc, green) for engine in process_engines(server)]
    for agent in agents:
        if agent["process_types"] is None or name in agent["process_types"]:
            wrapped = agent.get("launches")
            if wrapped and process_type is not None and (process_type.location.path, process_type.location.line) not in wrapped:
                continue  # another launch of the same name (another branch of a script) that the agent does not wrap
            if any(existing["name"] == agent["name"] for existing in row.agents):
                continue  # one agent per process, however many launch lines of this type it wraps
            distinct = max(1, len(row.engines))
            row.agents.append({**agent, "worst": min(agent["worst"], distinct)})
    if not row.engines:
        row.agents = []  # no database use seen in this process: an agent has nothing to EXPLAIN
    row.parent_held, row.parent_locations = parent_holds(server)
    return row


def compute(model: DeploymentModel, scale: dict[str, int] | None = None) -> Budget:
    from pgforklint.extract.database import PG_DEFAULT_MAX_CONNECTIONS, PG_DEFAULT_SUPERUSER_RESERVED
    from pgforklint.model import DatabaseLimits

    rows, left = _rows(model)
    for row in rows:
        if scale and row.name in scale:
            row.instances = Quantity(scale[row.name], Origin(OriginKind.CONFIG, None, f"--scale {row.name}={scale[row.name]}"))
            row.max_instances = None
        elif row.process_type is not None and scale and _host_name(row.process_type) in scale:
            # What runs inside another process type's instances (Puma's Solid Queue plugin) scales with it.
            name = _host_name(row.process_type)
            row.instances = Quantity(scale[name], Origin(OriginKind.CONFIG, None, f"--scale {name}={scale[name]}"))
            row.max_instances = None
        elif row.process_type is not None:
            row.max_instances = _inside(row.process_type)[1]
    limits = model.database or DatabaseLimits(
        _default(PG_DEFAULT_MAX_CONNECTIONS, "PostgreSQL's default max_connections = 100"),
        _default(PG_DEFAULT_SUPERUSER_RESERVED, "PostgreSQL's default superuser_reserved_connections = 3"))
    return Budget(rows, limits.max_connections, limits.reserved, limits.role_limit,
                  bool(model.facts.get("database_shown")), limits.pooler, left)


def of_model(model: DeploymentModel) -> Budget:
    """The model's budget, computed once per model (the rules and the reporters read the same one)."""
    cached = model.facts.get("budget")
    if isinstance(cached, Budget):
        return cached
    budget = model.facts["budget"] = compute(model)
    return budget


def process_names(model: DeploymentModel) -> list[str]:
    """The names `[tool.pgforklint.scale]` and `--scale` may use: process types, and servers no launch names."""
    names = [p.name for p in model.process_types]
    attached = {id(p.server) for p in model.process_types if p.server is not None}
    names += [s.kind.value for s in model.servers if id(s) not in attached and s.kind not in IN_CODE_SERVERS]
    return sorted(set(names))


def unknown_scale_error(model: DeploymentModel, scale: dict[str, int], where: str) -> str | None:
    """The error for scale names that are no process type (a typo would silently count 1 instance)."""
    known = process_names(model)
    unknown = sorted(name for name in scale if name not in known)
    if not unknown:
        return None
    listed = ", ".join(f"`{name}`" for name in known) if known else "none: no launch of a server was found"
    return (f"{where}: {', '.join(repr(n) for n in unknown)} {'is not a process type' if len(unknown) == 1 else 'are not process types'}"
            f" of this project; known process types: {listed}")


def codes_for(budget: Budget) -> list[str]:
    """The budget rules the verdict stands for: PGF004 (expected peak), PGF011 (worst case)."""
    result = verdict(budget)
    if result in ("exceeded", "pooler-exceeds-server"):
        return ["PGF004"]
    if result == "fits-expected-only":
        return ["PGF011"]
    return []


def assumptions(budget: Budget) -> list[tuple[Location | None, str, str]]:
    """(where, what, message) for every value the budget had to assume (PGF101)."""
    out: list[tuple[Location | None, str, str]] = []
    for row in budget.rows:
        instances = row.instances
        if row.host is not None:
            pass  # the host's row says how its instance count was assumed
        elif instances.origin.kind is OriginKind.DEFAULT:
            out.append((instances.origin.location or row.location, f"instances:{row.name}",
                        f"the number of `{row.name}` instances is not in the repository; "
                        f"counted as {row.n_instances}: pin it with `[tool.pgforklint.scale] {row.name} = N` in pyproject.toml "
                        f"or `pgforklint budget --scale {row.name}=N`"))
        elif instances.origin.is_assumption:
            out.append((instances.origin.location or row.location, f"instances:{row.name}",
                        f"the number of `{row.name}` instances comes from {instances.origin.detail}; counted as "
                        f"{row.n_instances}: pin it with `[tool.pgforklint.scale] {row.name} = N`"))
        for label, quantity in (("processes", row.processes), ("threads", row.threads)):
            origin = quantity.origin
            if origin.kind in (OriginKind.ENV_UNSET, OriginKind.ENV_DEFAULT, OriginKind.PLATFORM) or quantity.value is None:
                counted = quantity.value if quantity.value is not None else 1
                what = origin.detail or (f"${quantity.env_var}" if quantity.env_var else quantity.symbolic or "an expression")
                out.append((origin.location or row.location, f"{label}:{row.name}",
                            f"`{row.name}` {label}: {what}; counted as {counted}"
                            + (f": set `{quantity.env_var}` in the repository (app.json, Compose `environment`, Kamal `env.clear`) or pin the "
                               f"{label} in the server's configuration" if quantity.env_var else
                               f" (`{quantity.symbolic}` cannot be evaluated statically)" if quantity.symbolic else "")))
    if not budget.database_shown and not budget.multiplexed:
        out.append((None, "max_connections",
                    f"no database configuration in the repository: the budget assumes PostgreSQL's defaults "
                    f"(max_connections = {budget.max_connections.value}, {budget.reserved.value} reserved); set "
                    f"`max-connections` (and `reserved-connections`) in [tool.pgforklint]"))
    if budget.role_limit is not None and budget.role_limit.value is None:
        out.append((budget.role_limit.origin.location, "role_limit",
                    f"{budget.role_limit.origin.detail}; set `max-connections` in [tool.pgforklint]"))
    return out


def unreadable_values(budget: Budget) -> list[tuple[Location | None, str, str]]:
    """(where, what, message) for values written in the repository that pgforklint cannot evaluate: said even when
    the rest of the budget is a guess, because the code, not the deployment, hides them (PGF101)."""
    out: list[tuple[Location | None, str, str]] = []
    for row in budget.rows:
        setting = unreadable_worker_class(row.server)
        if setting is not None:
            text = f"`{setting.symbolic}`" if getattr(setting, "symbolic", None) else "its value"
            out.append((setting.location, f"worker_class:{row.name}",
                        f"`{row.name}` worker_class cannot be read ({text} is computed at run time): counted as "
                        f"gunicorn's sync worker, one request at a time per process; a gevent or eventlet worker "
                        f"would run up to worker_connections (1000) at once. Write the worker class literally, "
                        f"or pass `-k CLASS` on the command line"))
        if row.threads.value is None and row.threads.origin.location is not None and row.concurrency is None:
            out.append((row.threads.origin.location, f"threads:{row.name}",
                        f"`{row.name}` threads cannot be read ({unreadable_text(row.threads)}): counted as "
                        f"unbounded, so each process may fill its pools; write the number literally or pass "
                        f"`--threads N`"))
        for use in row.engines:
            engine = use.engine
            for label, quantity in (("pool_size", engine.pool_size), ("max_overflow", engine.max_overflow),
                                    ("max_size", engine.max_size)):
                if quantity is None or quantity.value is not None:
                    continue
                out.append((quantity.origin.location or engine.location, f"{label}:{engine.symbol}",
                            f"`{engine.label}` {label} cannot be read ({unreadable_text(quantity)}): the library's "
                            f"default is counted in the budget; write the number literally so the budget uses the "
                            f"real one"))
    return out


def hand_calculation(budget: Budget, worst: bool) -> str:
    """`3 instances x (3 processes x 2) = 18` per row, joined with ` + `."""
    parts = []
    for row in budget.rows:
        per = row.per_process_worst if worst else row.per_process_expected
        total = row.total_worst if worst else row.total_expected
        if per is None or total is None:
            continue
        inner = f"{row.n_processes} x {per}" + (f" + {row.parent_held} parent" if row.parent_held else "")
        parts.append(f"`{row.name}` {row.n_max_instances if worst else row.n_instances} x ({inner}) = {total}")
    return " + ".join(parts) if parts else "0"


def to_json(budget: Budget, live: dict | None = None) -> dict:
    def q(quantity: Quantity | None) -> dict | None:
        if quantity is None:
            return None
        return {"value": quantity.value, "source": quantity.origin.describe(), "kind": quantity.origin.kind.value}

    data = {
        "max_connections": budget.max_connections.value,
        "reserved": budget.reserved.value,
        "role_limit": budget.role_limit.value if budget.role_limit is not None else None,
        "available": budget.available,
        "server_available": budget.server_available,
        "expected_peak": budget.expected_peak,
        "worst_case": budget.worst_case,
        "verdict": verdict(budget),
        "sources": {"max_connections": q(budget.max_connections), "reserved": q(budget.reserved),
                    "role_limit": q(budget.role_limit)},
        "pooler": None,
        "process_types": [],
    }
    if budget.pooler is not None:
        data["pooler"] = {
            "kind": budget.pooler["kind"], "pool_mode": budget.pooler["pool_mode"],
            "max_client_conn": budget.pooler["max_client_conn"].value,
            "default_pool_size": budget.pooler["default_pool_size"].value,
            "reserve_pool_size": budget.pooler["reserve_pool_size"].value,
            "pools": budget.pooler["pools"].value,
            "server_connections": budget.pooler_server_connections,
        }
    for row in budget.rows:
        data["process_types"].append({
            "name": row.name,
            "server": row.server.kind.value,
            "worker_class": row.server.worker_class,
            "instances": row.n_instances,
            "max_instances": row.n_max_instances,
            "processes": row.n_processes,
            "threads": row.threads.value,
            "concurrency": row.concurrency,
            "per_process_expected": row.per_process_expected,
            "per_process_worst": row.per_process_worst,
            "parent": row.parent_held,
            "total_expected": row.total_expected,
            "total_worst": row.total_worst,
            "engines": [{"name": u.engine.label, "kind": u.engine.kind.value, "expected": u.expected, "worst": u.worst,
                         "location": str(u.engine.location)} for u in row.engines],
            "sources": row.sources(),
        })
    data["not_counted"] = [{"name": left.name, "location": str(left.location), "reason": left.reason}
                           for left in budget.not_counted]
    if live is not None:
        data["live"] = live
    return data


def verdict(budget: Budget) -> str:
    available = budget.available
    if available is None:
        return "unknown"
    if budget.expected_peak > available:
        return "exceeded"
    worst = budget.worst_case
    server_side = budget.pooler_server_connections if budget.multiplexed or budget.session_pooled else None
    if server_side is not None and budget.server_available is not None and server_side > budget.server_available:
        return "pooler-exceeds-server"
    if worst is None:
        return "unbounded"
    if worst > available:
        return "fits-expected-only"
    return "fits"
