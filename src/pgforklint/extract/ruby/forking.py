"""Shared by the Ruby forking servers (Unicorn, Puma, Resque): what the master holds at the fork, the hooks.

The master's effects, in order: the server configuration's own top-level code, the app's boot when it is
preloaded (`app.boot`, with Rails 5.2+'s after-boot flush), then the master-side hooks (`before_fork`).
Child-side hooks (`after_fork`, `on_worker_boot`/`before_worker_boot`) are `Hook(runs_in_child=True)`.
On Active Record < 5.2 a preloaded app hands its pool to every child (PGF002 through an `EngineEscape`).
"""

from __future__ import annotations

from pgforklint.diagnostics import Location
from pgforklint.extract.ruby import RubyApp, copy_effects
from pgforklint.model import EngineEscape, Hook, ProcessEffects, Server


def master_effects(app: RubyApp, preload: bool, preload_location: Location | None, server_name: str,
                   config_effects: ProcessEffects | None = None) -> ProcessEffects:
    effects = copy_effects(app.boot) if preload else ProcessEffects(list(app.boot.engines))
    for engine in app.ar_engines:
        if engine not in effects.engines:
            effects.engines.append(engine)
    if config_effects is not None:
        _extend(effects, config_effects)
    if preload and preload_location is not None:
        # Sequel with `test: false` connects on first use: whatever queries while the app loads (code pgforklint
        # cannot see) leaves a connection in the pool the workers inherit; Sequel says to disconnect before forking.
        for engine in effects.engines:
            if engine.extra.get("lazy_sequel"):
                effects.escapes.append(EngineEscape(
                    engine, engine.location, "the preloaded app",
                    why=(f"`{engine.label}` is created in {server_name}'s master while it loads the app before forking; with "
                         f"`test: false` it connects on first use, so any query while the app loads leaves a connection "
                         f"in its pool")))
    if preload and app.ar_fork_safe is False and preload_location is not None:
        version = app.version_text("activerecord") if app.version("activerecord") else app.version_text("rails")
        for engine in app.ar_engines[:1]:  # one finding: every database's pool is handed over the same way
            effects.escapes.append(EngineEscape(
                engine, preload_location, "the preloaded Rails app",
                why=(f"{server_name} loads the Rails app in the master before forking, and Active Record {version} "
                     f"(< 5.2) does not discard the connections a forked child inherits")))
    return effects


def _extend(effects: ProcessEffects, more: ProcessEffects) -> None:
    for engine in more.engines:
        if engine not in effects.engines:
            effects.engines.append(engine)
    effects.opens.extend(more.opens)
    effects.open_seq.extend(more.open_seq)
    effects.resets.extend(more.resets)
    effects.escapes.extend(more.escapes)


def add_hook(server: Server, hook: Hook) -> None:
    server.hooks.append(hook)
    if not hook.runs_in_child and hook.effective:
        _extend(server.parent_effects, hook.effects)


def assume_fork_safe_rails(model, app: RubyApp, server: Server) -> None:
    """PGF101 when a preloading server runs Active Record of an unknown version and no hook resets it: the
    hazard exists only before Rails 5.2, and pgforklint does not invent it; it says what it assumed."""
    from pgforklint.diagnostics import Diagnostic

    if not app.ar_engines or app.ar_fork_safe is not None or not server.loads_app_in_parent.value:
        return
    engines = set(map(id, app.ar_engines))
    effects = [h.effects for h in server.hooks]  # the boot flush in parent_effects is the assumption itself
    if any(id(reset.engine) in engines for effect in effects for _, reset in effect.resets):
        return
    where = server.loads_app_in_parent.origin.location or server.location
    message = (f"the Active Record version is unknown (no `Gemfile.lock` naming `activerecord` or `rails`): pgforklint "
               f"assumes Rails 5.2 or later, whose forked children discard the connections they inherit, so this "
               f"preloading {server.kind.value} needs no fork hooks; on Rails < 5.2 it needs "
               f"`ActiveRecord::Base.connection.disconnect!` before the fork and `ActiveRecord::Base.establish_connection` "
               f"after it. Commit `Gemfile.lock` so the version can be checked")
    model.diagnostics.append(Diagnostic(
        "PGF101", where, message, key=f"assumed:activerecord-version:{server.kind.value}",
        title="Active Record version unknown: Rails 5.2+ fork handling assumed",
        help="commit `Gemfile.lock` (it names the `activerecord` version) so the fork rules can check this server"))


def config_calls(app: RubyApp, source, rel: str, scope, config_effects: ProcessEffects):
    """The DSL calls of a server configuration file (`workers 2`, `before_fork do ... end`) as (call, location);
    every other statement is code the master runs, read into `config_effects`."""
    from pgforklint.read.ruby import as_call, statements

    for statement in statements(source.root, scope):
        call = as_call(statement)
        if call is None or call.receiver is not None:
            app.reader.read_node(statement, rel, config_effects, scope)
            continue
        yield call, Location(rel, call.line)


def read_hook(app: RubyApp, call, rel: str, scope, runs_in_child: bool) -> Hook:
    from pgforklint.read.ruby import Scope

    effects = ProcessEffects()
    app.reader.read_block(call, rel, effects, Scope(env=scope.env, locals=dict(scope.locals)))
    return Hook(call.method, Location(rel, call.line), runs_in_child, effects)
