"""Unicorn: `unicorn -c FILE` (no default file; `config/unicorn.rb` is read when no launch names one).

Facts [src: defunkt/unicorn@e986271 lib/unicorn/configurator.rb, bin/unicorn, examples/unicorn.conf.rb]:
`worker_processes` default 1, `preload_app` default false, `worker_exec true` (5.3.0+) re-execs each worker
after the fork so nothing is inherited (treated as no preload), `before_fork` runs in the master before each
worker is forked, `after_fork` in the worker. One request at a time per worker.
"""

from __future__ import annotations

from pgforklint.diagnostics import Location
from pgforklint.extract.ruby import RubyLaunch, attach, option_word, ruby_app, ruby_launches
from pgforklint.extract.ruby.code import quantity_of
from pgforklint.extract.ruby.forking import add_hook, assume_fork_safe_rails, config_calls, master_effects, read_hook
from pgforklint.model import DeploymentModel, Flag, Hook, Origin, OriginKind, ProcessEffects, Quantity, Server, ServerKind
from pgforklint.read.ruby import Scope, evaluate

DEFAULT_CONFIG = "config/unicorn.rb"
MASTER_HOOKS = ("before_fork", "before_exec", "after_worker_exit")
CHILD_HOOKS = ("after_fork", "after_worker_ready")
DSL = {"worker_processes", "preload_app", "worker_exec", "timeout", "listen", "pid", "stderr_path", "stdout_path",
       "working_directory", "user", "logger", "check_client_connection", "early_hints", "rewindable_input",
       "client_body_buffer_size", "default_middleware", "before_murder", "after_worker_exit"}


def adapt(project, launches, model: DeploymentModel) -> None:
    app = ruby_app(project, model)
    if app is None:
        return
    found = [r for r in ruby_launches(launches, app) if r.kind == "unicorn"]
    done: set[str] = set()
    for ruby_launch in found:
        config = option_word(ruby_launch.words, "-c", "--config-file")
        rel = config.text.lstrip("./") if config is not None else None
        server = build(project, model, app, ruby_launch, rel)
        attach(model, ruby_launch, server)
        if rel:
            done.add(rel)
    if not found and project.exists(DEFAULT_CONFIG):
        attach(model, None, build(project, model, app, None, DEFAULT_CONFIG))


def build(project, model, app, ruby_launch: RubyLaunch | None, rel: str | None) -> Server:
    location = ruby_launch.launch.location if ruby_launch is not None else Location(rel or DEFAULT_CONFIG, 1)
    processes = Quantity.default(1, "Unicorn's default worker_processes = 1")
    preload = Flag(False, Origin(OriginKind.DEFAULT, None, "Unicorn's default preload_app false"))
    worker_exec = False
    hooks: list[Hook] = []
    config_effects = ProcessEffects()
    source = project.ruby(rel) if rel and project.exists(rel) else None
    if source is not None:
        scope = Scope(env=dict(ruby_launch.env) if ruby_launch is not None else {})
        for call, where in config_calls(app, source, rel, scope, config_effects):
            if call.method == "worker_processes" and call.args:
                processes = quantity_of(evaluate(call.args[0], scope), where, "worker_processes")
            elif call.method == "preload_app":
                value = evaluate(call.args[0], scope) if call.args else None
                preload = Flag(bool(value is not None and value.value is True), Origin(OriginKind.FILE, where, "`preload_app true`"))
            elif call.method == "worker_exec":
                value = evaluate(call.args[0], scope) if call.args else None
                worker_exec = bool(value is not None and value.value is True)
            elif call.method in MASTER_HOOKS or call.method in CHILD_HOOKS:
                hooks.append(read_hook(app, call, rel, scope, call.method in CHILD_HOOKS))
            elif call.method not in DSL:
                app.reader.read_node(call.node, rel, config_effects, scope)
    loads = preload.value and not worker_exec
    if preload.value and worker_exec:
        preload = Flag(False, Origin(OriginKind.FILE, preload.origin.location, "`worker_exec true` re-executes each worker"))
    server = Server(ServerKind.UNICORN, location, forks=True, loads_app_in_parent=preload if loads else Flag(False, preload.origin),
                    processes=processes, threads=Quantity.default(1, "Unicorn workers serve one request at a time"),
                    worker_class="sync", config_path=rel if source is not None else None)
    server.settings["language"] = "ruby"
    server.parent_effects = master_effects(app, loads, preload.origin.location, "Unicorn", config_effects)
    for hook in hooks:
        add_hook(server, hook)
    assume_fork_safe_rails(model, app, server)
    return server
