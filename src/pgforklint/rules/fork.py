"""PGF001, PGF002, PGF003: connections that cross the fork, and resets in the child."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from pgforklint.diagnostics import Diagnostic, Location, Related
from pgforklint.model import (
    ConnectionOpen,
    DeploymentModel,
    Engine,
    EngineKind,
    Hook,
    Reset,
    ResetKind,
    Server,
    ServerKind,
    servers_in_use,
)

CHILD_RESET_KINDS_BAD = (ResetKind.DISPOSE_CLOSE, ResetKind.CLOSE)
HELD_ADVICE = ("the connection stays checked out in a module-level name, so no pool reset reaches it: close it before "
               "the fork (or use it in a `with` block), or open it in the child after the fork")


def expression(engine: Engine) -> str:
    """How the code names the engine: `engine`, or `db.engine` for a Flask-SQLAlchemy extension `db`."""
    if engine.kind is EngineKind.FLASK_SQLALCHEMY:
        return f"{engine.label}.engine" if engine.label.isidentifier() else "db.engine"
    return engine.label


def forking_servers(model: DeploymentModel) -> Iterator[Server]:
    for server in servers_in_use(model):
        if server.forks:
            yield server


def live_at_fork(server: Server) -> list[ConnectionOpen]:
    """Connections opened in the parent and not disposed or closed there before the fork."""
    parent = server.parent_effects
    live = []
    for open_, seq in zip(parent.opens, parent.open_seq):
        engine = open_.engine
        if engine.nullpool and not open_.retained:
            continue  # NullPool closes each connection when it is released; only one still held crosses the fork
        if any(later > seq and _resets(reset, engine) for later, reset in parent.resets):
            continue
        live.append(open_)
    return live


def _resets(reset: Reset, engine: Engine) -> bool:
    """`reset` applies to `engine`; `connections.close_all()` (engine None) closes every Django connection."""
    return reset.engine is engine or (reset.engine is None and engine.kind is EngineKind.DJANGO)


def child_resets(server: Server, engine: Engine) -> list[tuple[Hook, Reset]]:
    found = []
    for hook in server.hooks:
        if not hook.runs_in_child or not hook.effective:
            continue
        for _, reset in hook.effects.resets:
            if reset.engine is engine or (reset.engine is None and engine.kind is EngineKind.DJANGO):
                found.append((hook, reset))
    return found


def server_name(server: Server) -> str:
    return server.kind.value


def _children(server: Server) -> str:
    count = server.processes.value
    noun = {ServerKind.CELERY: "child processes", ServerKind.RQ: "work horses",
            ServerKind.RESQUE: "job children"}.get(server.kind, "workers")
    if count is None:
        symbolic = server.processes.symbolic
        if symbolic and (server.processes.env_var or symbolic.isidentifier()):
            return f"the {noun} (`{symbolic}` of them)"
        return f"its {noun}"
    return f"the {count} {noun}" if count != 1 else f"the {noun[:-1] if noun.endswith('s') else noun}"


def why_in_parent(server: Server, open_: ConnectionOpen) -> tuple[str, list[Related]]:
    related: list[Related] = []
    first = open_.chain[0] if open_.chain else None
    if server.kind is ServerKind.GUNICORN and server.config_path and first is not None and first.path == server.config_path:
        return (f"{server_name(server)}'s master imports it through its configuration file",
                [Related(first, "imported by the server's configuration in the master process")])
    flag = server.loads_app_in_parent
    if server.kind in (ServerKind.UNICORN, ServerKind.PUMA) and server.config_path \
            and open_.location.path == server.config_path:
        hooks = [h for h in server.hooks if not h.runs_in_child and h.location.path == open_.location.path
                 and h.location.line <= open_.location.line]
        hook = max(hooks, key=lambda h: h.location.line) if hooks else None
        name = server.kind.value.capitalize()
        where = f"its `{hook.name}` hook" if hook is not None else "its configuration file"
        related.append(Related(hook.location if hook is not None else Location(server.config_path, 1),
                               f"runs in the {name} master"))
        return f"{name}'s master runs {where} before forking the workers", related
    if flag.origin.location is not None:
        related.append(Related(flag.origin.location, f"{flag.origin.detail or 'this setting'} makes the parent load the app"))
    if server.kind is ServerKind.UWSGI:
        for name, where in server.settings.get("ignored_options", []) or []:
            related.append(Related(where, f"`{name}` is not a uWSGI option (names are matched exactly): "
                                          f"write `{name.replace('_', '-')}`"))
    reason = {
        ServerKind.GUNICORN: "gunicorn's master imports the app before forking (preload)",
        ServerKind.UWSGI: _uwsgi_reason(server),
        ServerKind.CELERY: "the Celery worker imports the app and tasks before forking its prefork pool",
        ServerKind.RQ: "the RQ worker imports this before forking a work horse per job",
        ServerKind.MULTIPROCESSING: "the process holds it when it forks multiprocessing children",
        ServerKind.UNICORN: ("Unicorn's master loads the app before forking (`preload_app true`)" if flag.value
                             else "Unicorn's master runs this before forking its workers"),
        ServerKind.PUMA: ("Puma's master loads the app before forking its workers (preload)" if flag.value
                          else "Puma's master runs this before forking its workers"),
        ServerKind.RESQUE: "the Resque worker loads the app and then forks a child for every job",
    }.get(server.kind, "the parent loads the app before forking")
    return reason, related


def _uwsgi_reason(server: Server) -> str:
    ignored = [name for name, _ in server.settings.get("ignored_options", []) or [] if name.replace("_", "-") == "lazy-apps"]
    if ignored:
        return (f"uWSGI's master loads the app before forking: `{ignored[0]}` is not a uWSGI option (option names are "
                "matched exactly), so `lazy-apps` is off")
    return "uWSGI's master loads the app before forking (no `lazy-apps`)"


def ineffective_resets(server: Server, engine: Engine) -> list[tuple[Hook, Reset]]:
    """Child-side resets in hooks the server never calls (os.register_at_fork under uWSGI)."""
    found = []
    for hook in server.hooks:
        if hook.runs_in_child and not hook.effective:
            for _, reset in hook.effects.resets:
                if reset.engine is engine or (reset.engine is None and engine.kind is EngineKind.DJANGO):
                    found.append((hook, reset))
    return found


# `Engine.dispose(close=False)` was added in SQLAlchemy 1.4.33 (docs: "versionadded:: 1.4.33",
# https://docs.sqlalchemy.org/en/14/core/connections.html#sqlalchemy.engine.Engine.dispose).
CLOSE_FALSE_SINCE = (1, 4, 33)


def dispose_keep_available(model: DeploymentModel) -> bool | None:
    """True: every SQLAlchemy the project allows has `dispose(close=False)`; False: none has; None: unknown."""
    versions = model.facts.get("sqlalchemy_versions")
    return versions.at_least(CLOSE_FALSE_SINCE) if versions is not None else None


def _old_sqlalchemy_advice(server: Server, engine: Engine, versions) -> str:
    """Before 1.4.33 the pooling docs ("Using Connection Pools with Multiprocessing or os.fork()") say: call
    `Engine.dispose()` directly before the new process is started; or, when the parent never uses the engine
    after forking, at the start of the child (which closes the parent's connections for most drivers)."""
    expr = f"{expression(engine)}.dispose()"
    config = "the gunicorn configuration file" if server.config_path else "gunicorn.conf.py"
    hook = {
        ServerKind.GUNICORN: f"`def pre_fork(server, worker): {expr}` in {config} (the master drops its connections "
                             "right before each fork, so no worker inherits one)",
        ServerKind.MULTIPROCESSING: f"`{expr}` in the parent directly before the children are started",
        ServerKind.CELERY: f"a `worker_init` handler that calls `{expr}` (it runs in the worker parent before the pool "
                           "forks its children)",
        ServerKind.UWSGI: f"a `@uwsgidecorators.postfork` function that calls `{expr}` (it closes the master's copy of "
                          "the connections: right only while the master never uses the engine), or `lazy-apps = true`",
        ServerKind.RQ: f"`{expr}` in the worker before it forks a work horse",
    }.get(server.kind, f"`{expr}` in the parent directly before the fork")
    return (f"reset it: {hook}; {versions.text} has no `dispose(close=False)` (added in SQLAlchemy 1.4.33), the reset "
            "recommended from that version on")


def reset_advice(server: Server, engine: Engine, model: DeploymentModel | None = None) -> str:
    name = engine.label
    if engine.kind is EngineKind.RAW_CONNECTION:
        return "open the connection in the child instead, or close it in the parent before the fork"
    if engine.kind is EngineKind.PSYCOPG2_POOL:
        return f"create the pool in the child (after the fork), or call `{name}.closeall()` in the parent before forking"
    if engine.kind is EngineKind.PSYCOPG_POOL:
        return f"create it with `open=False` and call `{name}.open()` in the child after the fork"
    if engine.kind is EngineKind.ASYNCPG_POOL:
        return "create the pool in the child (for example in the app's startup/lifespan handler)"
    if engine.kind is EngineKind.DJANGO:
        return "close Django's connections in the parent before the fork (`django.db.connections.close_all()`)"
    if engine.kind is EngineKind.SEQUEL:
        return (f"call `{engine.label}.disconnect` in the master before the fork ({_ruby_parent_hook(server)}), as Sequel's "
                f"fork-safety documentation says")
    if engine.kind is EngineKind.ACTIVE_RECORD:
        return (f"disconnect in the master before the fork (`ActiveRecord::Base.connection.disconnect!` in "
                f"{_ruby_parent_hook(server)}) and reconnect in each child (`ActiveRecord::Base.establish_connection` in "
                f"{_ruby_child_hook(server)}), or upgrade to Rails 5.2+, which discards inherited connections by itself")
    keep = dispose_keep_available(model) if model is not None else None
    if keep is False:
        return _old_sqlalchemy_advice(server, engine, model.facts["sqlalchemy_versions"])
    expr = f"{expression(engine)}.dispose(close=False)"
    hook = {
        ServerKind.GUNICORN: f"`def post_fork(server, worker): {expr}` in "
                             + ("the gunicorn configuration file" if server.config_path else "gunicorn.conf.py"),
        ServerKind.CELERY: f"a `worker_process_init` handler that calls `{expr}`",
        ServerKind.UWSGI: f"a `@uwsgidecorators.postfork` function that calls `{expr}`",
        ServerKind.MULTIPROCESSING: f"`initializer=` that calls `{expr}`",
        ServerKind.RQ: f"`{expr}` at the start of each job, or a worker class that resets after the fork",
    }.get(server.kind, f"`{expr}` in the child after the fork")
    if keep is None:
        return (f"reset it in the child: {hook} (SQLAlchemy >= 1.4.33; before that version, "
                f"`{expression(engine)}.dispose()` in the parent right before the fork)")
    return f"reset it in the child: {hook}"


def _ruby_parent_hook(server: Server) -> str:
    return {ServerKind.UNICORN: "`before_fork` in the Unicorn config", ServerKind.PUMA: "`before_fork` in the Puma config",
            ServerKind.RESQUE: "`Resque.before_fork`"}.get(server.kind, "the master before forking")


def _ruby_child_hook(server: Server) -> str:
    return {ServerKind.UNICORN: "`after_fork`", ServerKind.PUMA: "`before_worker_boot` (`on_worker_boot` before Puma 7)",
            ServerKind.RESQUE: "`Resque.after_fork`"}.get(server.kind, "the child after the fork")


def connection_before_fork(model: DeploymentModel) -> Iterator[Diagnostic]:
    """PGF001: a live connection in the parent, not reset before or after the fork.

    One finding per cause: the opens of one engine in one parent are one finding, anchored at the first open,
    with the other opens as related locations; the same cause reached through several launches is said once.
    """
    found: dict[tuple, tuple[Diagnostic, list[Related]]] = {}
    for server in forking_servers(model):
        groups: dict[tuple[Engine, bool], list[ConnectionOpen]] = {}
        for open_ in live_at_fork(server):
            engine = open_.engine
            if engine.pid_guarded:
                continue
            # A connection the code holds (`CONN = engine.connect()`) is not in the pool: resetting the pool
            # in the child leaves it in use there.
            if not open_.retained and child_resets(server, engine):
                continue  # a correct reset, or a wrong one reported by PGF003
            if not open_.retained and ineffective_resets(server, engine):
                continue  # reported once, by PGF009, at the hook that never runs
            groups.setdefault((engine, open_.retained), []).append(open_)
        for (engine, retained), opens in groups.items():
            # The first open that runs with the environment's defaults anchors the finding, else the first.
            open_ = next((o for o in opens if o.condition is None or o.condition_default is True), opens[0])
            opens = [open_, *(o for o in opens if o is not open_)]
            key = (open_.location.path, open_.location.line, engine.symbol, retained)
            if key in found:
                found[key][1].append(Related(server.location, f"{server_name(server)} started here also loads it "
                                                              "before forking"))
                continue
            reason, related = why_in_parent(server, open_)
            related = [*related, *_chain_related(server, open_)]
            for other in opens[1:]:
                if (other.location.path, other.location.line) != (open_.location.path, open_.location.line):
                    related.append(Related(other.location, f"`{other.operation}` also uses this engine in the parent"))
            related.append(Related(server.location, f"{server_name(server)} started here"))
            related.extend(_config_related(server))
            if server.processes.origin.location is not None:
                related.append(Related(server.processes.origin.location, "number of worker processes"))
            more = f" (and {len(opens) - 1} more use{'s' if len(opens) > 2 else ''} in the parent, see the related locations)" \
                if len(opens) > 1 else ""
            if open_.condition is not None and open_.condition_location is not None:
                related.append(Related(open_.condition_location, f"the connection is opened only when `{open_.condition}`"))
            if _is_ruby(engine) and engine.kind is EngineKind.RAW_CONNECTION:
                advice = _ruby_raw_advice(server, engine)
            else:
                advice = HELD_ADVICE if retained else reset_advice(server, engine, model)
            message = (
                f"`{open_.operation}` opens a PostgreSQL connection in the parent process{more}{_condition_clause(open_)}: "
                f"{reason}, "
                f"so {_children(server)} {'inherits' if server.processes.value == 1 else 'inherit'} the same socket "
                f"({_symptoms(engine)}); {advice}"
            )
            found[key] = (Diagnostic("PGF001", open_.location, message, (), key=f"{engine.symbol}",
                                     title=f"{_quoted(_short(open_.operation))} connects in the parent before {server_name(server)} forks",
                                     help=advice), related)
    for diagnostic, related in found.values():
        yield replace(diagnostic, related=tuple(_unique(related)))


def _is_ruby(engine: Engine) -> bool:
    return engine.extra.get("language") == "ruby"


def _symptoms(engine: Engine) -> str:
    """What the shared socket does in production, as measured for each language (rules/runtime/)."""
    if _is_ruby(engine):
        return ("requests get another request's rows with status 200, some requests hang for good, and libpq logs "
                "`message type 0x44 arrived from server while idle`")
    return "interleaved protocol, `SSL SYSCALL error: EOF detected`, wrong rows"


def _ruby_raw_advice(server: Server, engine: Engine) -> str:
    """A `PG::Connection` held in a name: no library reconnects it, so it is opened in each child."""
    name = engine.label
    return (f"`pg` never notices a shared socket, so nothing reconnects it: connect in each child instead "
            f"(`{name} = PG.connect(...)` in {_ruby_child_hook(server)}), or close it in the master "
            f"(`{name}.close` in {_ruby_parent_hook(server)}) and connect again in each child")


def _short(operation: str) -> str:
    """The call of an operation described in words (`ConnectionPool() opens its pool at construction`)."""
    return operation if len(operation) <= 40 or " " not in operation else operation.split(" ", 1)[0]


def _condition_clause(open_: ConnectionOpen) -> str:
    """How an environment-dependent `if` around the open is said: certain or conditional, and why."""
    if open_.condition is None:
        return ""
    reads = ", ".join(f"`{name}`" for name in open_.condition_env)
    if reads and not all(f'"{name}"' in open_.condition or f"'{name}'" in open_.condition
                         for name in open_.condition_env):
        reads = f"; it reads {reads}"
    else:
        reads = ""
    return _condition_kind(open_)[:-1] + reads + ")"


def _condition_kind(open_: ConnectionOpen) -> str:
    if open_.condition_default is True:
        return (f" (certain: under `if {open_.condition}:`, which is true with the defaults the code gives those "
                "environment variables)")
    if open_.condition_default is False:
        return (f" (conditional: only where the environment makes `{open_.condition}` true; with the defaults "
                "the code gives, it is false)")
    return f" (conditional: under `if {open_.condition}:`, whose value the repository does not decide)"


def _quoted(text: str) -> str:
    return text if "`" in text else f"`{text}`"


def no_post_fork_reset(model: DeploymentModel) -> Iterator[Diagnostic]:
    """PGF002: an engine handed at import time to code pgforklint cannot see, with no reset anywhere."""
    for server in forking_servers(model):
        live_engines = {o.engine for o in live_at_fork(server)}
        parent = server.parent_effects
        for escape in parent.escapes:
            engine = escape.engine
            if engine in live_engines or engine.nullpool or engine.pid_guarded:
                continue
            if child_resets(server, engine) or ineffective_resets(server, engine):
                continue
            if any(reset.engine is engine for _, reset in parent.resets):
                continue
            if escape.why:
                message = (f"{escape.why}: `{expression(engine)}`'s connections opened while the app loads are shared by "
                           f"{_children(server)} (`PG::ConnectionBad`, `PG::UnableToSend`, interleaved results), and "
                           f"nothing resets the pool around the fork: {reset_advice(server, engine, model)}")
            else:
                message = (
                    f"`{expression(engine)}` is handed to `{escape.callee}` while the parent process loads the app, before "
                    f"{server_name(server)} forks; pgforklint cannot see whether that opens a connection, and nothing resets "
                    f"the pool after the fork: {reset_advice(server, engine, model)}"
                )
            related = [Related(engine.location, "engine created here"), Related(server.location, f"{server_name(server)} started here"),
                       *_config_related(server)]
            yield Diagnostic("PGF002", escape.location, message, tuple(related), key=f"{engine.symbol}:{escape.callee}",
                             title=(f"{server_name(server)} forks with `{expression(engine)}` loaded and nothing resets it"
                                    if escape.why else
                                    f"`{expression(engine)}` is handed to `{escape.callee}` before the fork, with no reset after it"),
                             help=reset_advice(server, engine, model))


def child_closes_parent_connections(model: DeploymentModel) -> Iterator[Diagnostic]:
    """PGF003: a child-side reset that closes inherited sockets the parent or siblings still hold."""
    for server in forking_servers(model):
        live = _first_open_per_engine(server)
        for engine, open_ in live.items():
            for hook, reset in child_resets(server, engine):
                if reset.kind not in CHILD_RESET_KINDS_BAD:
                    continue
                if reset.kind is ResetKind.DISPOSE_CLOSE and dispose_keep_available(model) is False:
                    fix = (f"{model.facts['sqlalchemy_versions'].text} has no `dispose(close=False)` (added in SQLAlchemy "
                           f"1.4.33): call `{expression(engine)}.dispose()` in the parent directly before the fork instead "
                           "(gunicorn: `pre_fork`), or upgrade SQLAlchemy and pass `close=False`")
                    what = f"`{expression(engine)}.dispose()` in `{hook.name}`"
                elif reset.kind is ResetKind.DISPOSE_CLOSE:
                    fix = (f"call `{expression(engine)}.dispose(close=False)` instead (SQLAlchemy >= 1.4.33), or, to free "
                           "the parent's connection on purpose, dispose in the parent before the fork")
                    what = f"`{expression(engine)}.dispose()` in `{hook.name}`"
                else:
                    fix = "drop the inherited object in the child without closing it, and open a new one"
                    what = f"closing `{expression(engine)}` in `{hook.name}`"
                # Measured (tests/runtime/test_rt_pgf003.py): the first child's close sends Terminate on the
                # shared socket and the server ends the parent's session; the children are not affected.
                message = (
                    f"{what} closes the connection each child inherited, which is the parent's own connection "
                    f"(opened by `{open_.operation}`; see the related location): the first child to run it ends the "
                    f"parent's server session, and the parent's next query through this pool fails with "
                    f"`server closed the connection unexpectedly` (`SSL connection has been closed unexpectedly` over "
                    f"TLS); {_parent_use_note(server)}: {fix}"
                )
                related = (Related(open_.location, "connection opened in the parent"),
                           Related(hook.location, f"`{hook.name}` runs in each child after the fork"))
                yield Diagnostic("PGF003", reset.location, message, related, key=f"{engine.symbol}:{hook.name}",
                                 title=f"{what} closes the connection the parent still holds",
                                 help=fix)


def _parent_use_note(server: Server) -> str:
    if server.kind in (ServerKind.GUNICORN, ServerKind.UWSGI, ServerKind.CELERY):
        return (f"a {server.kind.value} master that never queries again only loses an idle connection, but any later "
                "use of the engine in the parent (a master hook such as `pre_fork` that queries) hits that error")
    return "the parent goes on using its engine after forking, so it hits that error"


def _first_open_per_engine(server: Server) -> dict[Engine, ConnectionOpen]:
    """The first open of each engine that is live at the fork (the one that left the connection open)."""
    first: dict[Engine, ConnectionOpen] = {}
    for open_ in live_at_fork(server):
        first.setdefault(open_.engine, open_)
    return first


def _config_related(server: Server) -> list[Related]:
    if server.kind is ServerKind.GUNICORN and server.config_path:
        return [Related(Location(server.config_path, 1), "the gunicorn configuration file this server reads")]
    return []


def _chain_related(server: Server, open_: ConnectionOpen) -> list[Related]:
    """The first steps of the import chain; the first is usually where the server loads the app."""
    out = []
    for index, loc in enumerate(open_.chain[:3]):
        loads_app = index == 0 and (loc == server.location or (server.app is not None and loc == server.app.location))
        out.append(Related(loc, "the server loads the app here" if loads_app else "reached from here at import"))
    return out


def _unique(items: list[Related]) -> list[Related]:
    """One related location per line; the messages of several facts on the same line are joined."""
    by_line: dict[tuple[str, int], list[Related]] = {}
    for item in items:
        by_line.setdefault((item.location.path, item.location.line), []).append(item)
    out = []
    for group in by_line.values():
        messages = list(dict.fromkeys(item.message for item in group))
        out.append(Related(group[0].location, "; ".join(messages)))
    return out


__all__ = ["connection_before_fork", "no_post_fork_reset", "child_closes_parent_connections", "live_at_fork",
           "child_resets", "Location"]


def fork_hook_never_runs(model: DeploymentModel) -> Iterator[Diagnostic]:
    """PGF009: a hook the server never calls: the only post-fork reset is an os.register_at_fork hook that uWSGI
    never calls, or a hook the server itself says never runs in its configuration (Puma's cluster-only hooks
    with `workers 0`)."""
    for server in servers_in_use(model):
        for hook in server.hooks:
            if hook.effective or not hook.never_runs_reason:
                continue
            message = (f"`{hook.name}` never runs: {hook.never_runs_reason}; whatever it does (a disconnect, a reconnect) "
                       f"does not happen. Remove the hook, or run Puma in cluster mode (`workers` 2 or more)")
            related = [Related(server.location, f"{server_name(server)} started here")]
            workers = server.settings.get("workers")
            if workers is not None and getattr(workers, "origin", None) is not None and workers.origin.location is not None:
                related.append(Related(workers.origin.location, "number of workers"))
            yield Diagnostic("PGF009", hook.location, message, tuple(_unique(related)), key=f"never-runs:{hook.name}",
                             title=f"`{hook.name}` never runs: Puma is in single mode",
                             help="remove the hook, or run Puma in cluster mode (`workers` 2 or more)")
    for server in forking_servers(model):
        if server.kind is not ServerKind.UWSGI:
            continue
        live = _first_open_per_engine(server)
        escaped = {e.engine: e for e in server.parent_effects.escapes}
        reported: set[tuple] = set()
        for hook in server.hooks:
            if not hook.runs_in_child or hook.effective:
                continue
            for _, reset in hook.effects.resets:
                engines = [reset.engine] if reset.engine is not None else [
                    e for e in [*live, *escaped] if e.kind is EngineKind.DJANGO]
                for engine in engines:
                    if engine is None or child_resets(server, engine) or engine.nullpool or engine.pid_guarded:
                        continue
                    source = live.get(engine) or escaped.get(engine)
                    if source is None:
                        continue  # nothing crosses the fork for this engine: the missing reset does no harm
                    if (hook.location, engine.symbol) in reported:
                        continue
                    reported.add((hook.location, engine.symbol))
                    opened = (f"`{source.operation}` opens it in the master" if isinstance(source, ConnectionOpen)
                              else f"it is handed to `{source.callee}` in the master")
                    message = (
                        f"the reset of `{expression(engine)}` is registered with `os.register_at_fork(after_in_child=...)`, but uWSGI "
                        f"forks its workers from C and does not run Python's at-fork hooks unless `py-call-osafterfork` or "
                        f"`py-call-uwsgi-fork-hooks` (uWSGI >= 2.0.21) is set; {opened}, so every worker keeps using the "
                        f"master's socket (`SSL SYSCALL error: EOF detected`, wrong rows). Add `py-call-uwsgi-fork-hooks = true` "
                        f"to the uWSGI config, or register the reset with `@uwsgidecorators.postfork`, or set `lazy-apps = true`"
                    )
                    related = [Related(source.location, "connection opened in the uWSGI master" if isinstance(source, ConnectionOpen)
                                       else "engine handed to code pgforklint cannot see"),
                               Related(server.location, "uWSGI started here")]
                    if server.config_path:
                        related.append(Related(Location(server.config_path, 1), "uWSGI configuration without py-call-osafterfork"))
                    yield Diagnostic("PGF009", hook.location, message, tuple(_unique(related)),
                                     key=f"{engine.symbol}:register_at_fork",
                                     title=f"the reset of `{expression(engine)}` uses `os.register_at_fork`, which uWSGI never runs",
                                     help="set `py-call-uwsgi-fork-hooks = true` in the uWSGI config, or reset in a "
                                          "`@uwsgidecorators.postfork` function, or set `lazy-apps = true`")


def django_pool_misconfigured(model: DeploymentModel) -> Iterator[Diagnostic]:
    """PGF010: Django OPTIONS["pool"] with CONN_MAX_AGE != 0, or with psycopg2 as the only driver."""
    for problem in model.facts.get("django_pool_problems", []) or []:
        if problem.problem == "conn_max_age":
            message = (
                f"`DATABASES['{problem.alias}']` turns on Django's connection pool (`OPTIONS['pool']`) together with "
                f"{problem.detail}: Django refuses this combination when it first connects "
                f"(`ImproperlyConfigured: Pooling doesn't support persistent connections.`), so every request fails; "
                f"set `CONN_MAX_AGE` to 0 (the pool keeps connections itself: tune `max_idle`/`max_lifetime` in the pool options) "
                f"or drop `pool`"
            )
            related = (Related(problem.detail_location, "persistent connections set here"),) if problem.detail_location else ()
            title = f"`DATABASES['{problem.alias}']` combines Django's pool with persistent connections"
            help_ = "set `CONN_MAX_AGE` to 0 (the pool keeps connections itself), or drop `OPTIONS['pool']`"
        else:
            message = (
                f"`DATABASES['{problem.alias}']` turns on Django's connection pool (`OPTIONS['pool']`), but {problem.detail}: "
                f"Django's pool needs psycopg 3 and fails on connect with psycopg2 "
                f"(`ImproperlyConfigured: Database pooling requires psycopg >= 3`); install `psycopg[pool]` "
                f"(or `psycopg` and `psycopg-pool`) instead of psycopg2, or drop `pool`"
            )
            related = (Related(problem.detail_location, "PostgreSQL driver declared here"),) if problem.detail_location else ()
            title = f"`DATABASES['{problem.alias}']` turns on Django's pool, which needs psycopg 3"
            help_ = "install `psycopg[pool]` instead of psycopg2, or drop `OPTIONS['pool']`"
        yield Diagnostic("PGF010", problem.pool_location, message, related,
                         key=f"{problem.settings_module}:DATABASES['{problem.alias}']:{problem.problem}",
                         title=title, help=help_)
