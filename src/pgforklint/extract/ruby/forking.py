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
