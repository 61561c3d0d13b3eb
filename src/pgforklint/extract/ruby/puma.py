"""Puma: `puma [-C FILE] [-w N] [-t MIN:MAX] [--preload]`, `rails server`, `rackup -s puma`.

Facts [src: puma/puma@ff2e212 (8.0.2) lib/puma/configuration.rb, dsl.rb, History.md; reference/ruby.md §2.1]:
- Config: `-C FILE`, else the first of `config/puma/<env>.rb`, `config/puma.rb` (linted as production).
- Precedence: command line over the config file over Puma's own environment defaults (5.0+: `WEB_CONCURRENCY`
  for workers, `PUMA_MAX_THREADS`/`MAX_THREADS` for threads) over the defaults: workers 0 (single mode, no
  fork), max threads 16 up to 4.x and 5 from 5.0. `max_io_threads` (8.0+) lets marked requests run above
  `max_threads`.
- Preload: explicit `preload_app!` / `preload_app!(false)` / `--preload`; otherwise off up to 4.x, on from
  5.0 to 6.x only when `workers > 1` comes from `WEB_CONCURRENCY` or `-w`, on from 7.0 whenever `workers > 1`
  (and not `prune_bundler`).
- Hooks renamed in 7.0 (old names kept as aliases). Cluster-only hooks with `workers 0` never run and Puma
  warns about them (configuration.rb `warn_hooks`): PGF009.
"""

from __future__ import annotations

from pgforklint.diagnostics import Location
from pgforklint.extract.ruby import RubyLaunch, attach, option_word, has_flag, ruby_app, ruby_launches, word_quantity
from pgforklint.extract.ruby.code import quantity_of
from pgforklint.extract.ruby.forking import add_hook, assume_fork_safe_rails, config_calls, master_effects, read_hook
from pgforklint.model import DeploymentModel, Flag, Hook, Origin, OriginKind, ProcessEffects, Quantity, Server, ServerKind
from pgforklint.read.ruby import Scope, evaluate, text_of

CONFIG_FILES = ("config/puma/production.rb", "config/puma.rb")
CHILD_HOOKS = ("on_worker_boot", "before_worker_boot", "on_worker_shutdown", "before_worker_shutdown")
MASTER_HOOKS = ("before_fork", "on_worker_fork", "before_worker_fork", "after_worker_fork", "after_worker_boot",
                "on_refork", "before_refork", "on_booted", "after_booted", "on_restart", "before_restart")
CLUSTER_ONLY = ("before_fork", "on_worker_boot", "before_worker_boot", "on_worker_shutdown", "before_worker_shutdown",
                "on_worker_fork", "before_worker_fork", "after_worker_fork", "after_worker_boot", "on_refork",
                "before_refork")
DSL = {"workers", "threads", "preload_app!", "port", "bind", "environment", "pidfile", "state_path", "plugin",
       "fork_worker", "max_io_threads", "prune_bundler", "worker_timeout", "stdout_redirect", "daemonize",
       "rackup", "tag", "quiet", "silence_single_worker_warning", "activate_control_app", "wait_for_less_busy_worker",
       "lowlevel_error_handler", "persistent_timeout", "first_data_timeout", "nakayoshi_fork", "directory",
       "worker_boot_timeout", "worker_shutdown_timeout", "log_requests", "ssl_bind", "app", "single", "cluster",
       "extra_runtime_dependencies", "preload_app", "silence_fork_callback_warning"}


def adapt(project, launches, model: DeploymentModel) -> None:
    app = ruby_app(project, model)
    if app is None:
        return
    found = [r for r in ruby_launches(launches, app) if r.kind == "puma"]
    for ruby_launch in found:
        config = option_word(ruby_launch.words, "-C", "--config")
        if config is not None and config.text == "-":
            rel = None
        elif config is not None:
            rel = config.text.lstrip("./")
        else:
            rel = next((c for c in CONFIG_FILES if project.exists(c)), None)
        server = build(project, model, app, ruby_launch, rel)
        attach(model, ruby_launch, server)
        _solid_queue_plugin(project, model, app, server)
    if not found:
        rel = next((c for c in CONFIG_FILES if project.exists(c)), None)
        if rel is not None:
            server = build(project, model, app, None, rel)
            attach(model, None, server)
            _solid_queue_plugin(project, model, app, server)


def _version(app) -> tuple | None:
    return app.version("puma")


def build(project, model, app, ruby_launch: RubyLaunch | None, rel: str | None) -> Server:
    version = _version(app)
    launch_location = ruby_launch.launch.location if ruby_launch is not None else Location(rel or CONFIG_FILES[1], 1)
    env = dict(ruby_launch.env) if ruby_launch is not None else {}
    workers: Quantity | None = None
    workers_from_config = False
    max_threads: Quantity | None = None
    io_threads: Quantity | None = None
    preload: Flag | None = None
    prune_bundler = False
    plugin = None
    silenced = False
    hooks: list[Hook] = []
    config_effects = ProcessEffects()
    source = project.ruby(rel) if rel and project.exists(rel) else None
    if source is not None:
        scope = Scope(env=env)
        for call, where in config_calls(app, source, rel, scope, config_effects):
            method = call.method
            if method == "workers" and call.args:
                workers = quantity_of(evaluate(call.args[0], scope), where, "`workers`")
                workers_from_config = True
            elif method == "threads" and call.args:
                max_threads = quantity_of(evaluate(call.args[-1], scope), where, "`threads` (max)")
            elif method == "max_io_threads" and call.args:
                io_threads = quantity_of(evaluate(call.args[0], scope), where, "`max_io_threads`")
            elif method == "preload_app!":
                value = evaluate(call.args[0], scope) if call.args else None
                on = value is None or value.value is not False
                preload = Flag(on, Origin(OriginKind.FILE, where, "`preload_app!`" if on else "`preload_app!(false)`"))
            elif method == "plugin" and call.args and text_of(call.args[0]).strip(":\"'") == "solid_queue":
                plugin = (where, _condition(call.node, scope))
            elif method == "prune_bundler":
                prune_bundler = True
            elif method == "silence_fork_callback_warning":
                silenced = True  # the author keeps cluster hooks for a cluster setup on purpose
            elif method in MASTER_HOOKS or method in CHILD_HOOKS:
                hooks.append(read_hook(app, call, rel, scope, method in CHILD_HOOKS))
            elif method not in DSL:
                app.reader.read_node(call.node, rel, config_effects, scope)
    # The command line wins over the file.
    if ruby_launch is not None:
        where = ruby_launch.launch.location
        word = option_word(ruby_launch.words, "-w", "--workers")
        if word is not None:
            workers = word_quantity(word, where, "`-w` on the command line") or workers
            workers_from_config = False
        word = option_word(ruby_launch.words, "-t", "--threads")
        if word is not None and ":" in word.text:
            from pgforklint.read.command import Word

            high = word.text.split(":", 1)[1]
            max_threads = word_quantity(Word(high, word.raw.split(":", 1)[-1], word.refs[-1:]), where,
                                        "`-t` on the command line (max)") or max_threads
        elif word is not None:
            max_threads = word_quantity(word, where, "`-t` on the command line") or max_threads
        if has_flag(ruby_launch.words, "--preload"):
            preload = Flag(True, Origin(OriginKind.FILE, where, "`--preload`"))
    modern = version is None or version >= (5, 0)
    workers_written = workers is not None  # by the config file or the command line
    if workers is None:
        if modern and "WEB_CONCURRENCY" in env and env["WEB_CONCURRENCY"].strip().isdigit():
            where = ruby_launch.launch.env_locations.get("WEB_CONCURRENCY", launch_location) if ruby_launch else launch_location
            workers = Quantity(int(env["WEB_CONCURRENCY"]), Origin(OriginKind.FILE, where, "$WEB_CONCURRENCY (read by Puma 5.0+)"),
                               env_var="WEB_CONCURRENCY")
        elif modern:
            workers = Quantity(None, Origin(OriginKind.ENV_UNSET, None,
                                            "Puma reads $WEB_CONCURRENCY for workers (5.0+); it has no value in the repo, "
                                            "so Puma runs in single mode (workers 0)"), env_var="WEB_CONCURRENCY")
        else:
            workers = Quantity.default(0, "Puma's default workers = 0 (single mode)")
    if max_threads is None:
        default = 5 if version is None or version >= (5, 0) else 16
        names = [n for n in ("PUMA_MAX_THREADS", "MAX_THREADS") if n in env and env[n].strip().isdigit()] if modern else []
        if names:
            max_threads = Quantity(int(env[names[0]]), Origin(OriginKind.FILE, launch_location, f"${names[0]}"), env_var=names[0])
        else:
            max_threads = Quantity.default(default, f"Puma {'5.0+' if default == 5 else '< 5.0'} default max threads = {default}"
                                           + (" (version unknown)" if version is None else ""))
    n_workers = workers.value or 0
    # A `workers` value the repository writes but pgforklint cannot read (`workers Integer(ENV.fetch(...) {
    # Concurrent.physical_processor_count })`) may start cluster mode: the fork rules run as if it does.
    may_fork = workers.value is None and workers_written
    cluster = n_workers > 0 or may_fork
    if preload is None:
        implicit = False
        if n_workers > 1 or may_fork:
            if version is not None and version >= (7, 0):
                implicit = not prune_bundler
            elif version is not None and version >= (5, 0):
                implicit = not workers_from_config and not prune_bundler
            elif version is None:
                implicit = not workers_from_config and not prune_bundler
        where = workers.origin.location or launch_location
        if implicit:
            preload = Flag(True, Origin(OriginKind.DEFAULT, where,
                                        f"Puma {app.version_text('puma')} preloads by default with `workers` > 1 "
                                        f"(`preload_app!` is implicit)"))
        else:
            preload = Flag(False, Origin(OriginKind.DEFAULT, None, "no `preload_app!`"))
    threads = max_threads
    if io_threads is not None and io_threads.value and max_threads.value is not None:
        threads = Quantity(max_threads.value + io_threads.value,
                           Origin(OriginKind.DERIVED, io_threads.origin.location,
                                  f"max threads {max_threads.value} + max_io_threads {io_threads.value}"))
    from pgforklint.extract.ruby.good_job import async_in_web

    jobs = async_in_web(project, app, env)
    if jobs is not None and threads.value is not None:
        threads = Quantity(threads.value + jobs.value, Origin(OriginKind.DERIVED, jobs.origin.location,
                                                              f"{threads.value} Puma threads + {jobs.origin.detail}"))
    processes = workers if cluster else Quantity(1, workers.origin if workers.origin.kind is not OriginKind.DEFAULT else
                                                 Origin(OriginKind.DEFAULT, None, "Puma single mode: one process"),
                                                 symbolic=workers.symbolic, env_var=workers.env_var)
    if not cluster and workers.value is None:
        processes = Quantity(None, workers.origin, "WEB_CONCURRENCY", env_var="WEB_CONCURRENCY")
    loads = preload.value and cluster
    server = Server(ServerKind.PUMA, launch_location, forks=cluster, loads_app_in_parent=preload if loads else Flag(False, preload.origin),
                    processes=processes, threads=threads, worker_class="threads",
                    config_path=rel if source is not None else None)
    server.settings.update(language="ruby", workers=workers, max_threads=max_threads)
    if may_fork:
        server.settings["may_fork"] = "`workers` not read"
    if plugin is not None:
        server.settings["solid_queue_plugin"] = plugin
    server.parent_effects = master_effects(app, loads, preload.origin.location, "Puma", config_effects)
    never_runs = not cluster and workers.value is not None and workers.env_var is None and not silenced
    for hook in hooks:
        if never_runs and hook.name in CLUSTER_ONLY:
            hook.effective = False
            hook.never_runs_reason = (f"Puma runs in single mode here (`workers` is {workers.value}), and `{hook.name}` only "
                                      f"runs in cluster mode: Puma itself warns \"The code in the `{hook.name}` block will "
                                      f"not execute in the current Puma configuration\"")
        if cluster or hook.name not in CLUSTER_ONLY:
            add_hook(server, hook)
        else:
            server.hooks.append(hook)
    assume_fork_safe_rails(model, app, server)
    return server


def _condition(node, scope: Scope) -> tuple[str, bool | None] | None:
    """The `if`/`unless` around a config line (`plugin :solid_queue if ENV["SOLID_QUEUE_IN_PUMA"]`): its text, and
    whether the values the repository gives make it true (None: the repository does not decide)."""
    parent = node.parent
    while parent is not None and parent.type not in ("program", "do_block", "block"):
        if parent.type in ("if", "unless", "if_modifier", "unless_modifier"):
            condition = parent.child_by_field_name("condition")
            if condition is None:
                return None
            value = evaluate(condition, scope)
            decided = None if value.value is None else value.value is not False  # in Ruby "" and "0" are true
            if decided is not None and parent.type.startswith("unless"):
                decided = not decided
            return (f"{'unless' if parent.type.startswith('unless') else 'if'} {text_of(condition)}", decided)
        parent = parent.parent
    return None


def _solid_queue_plugin(project, model: DeploymentModel, app, web: Server) -> None:
    """`plugin :solid_queue` runs Solid Queue's supervisor and its workers inside each web instance (reference/
    ruby.md §2.6): its own row, with the web's instances (the budget reads them from the web's process type)."""
    from pgforklint.extract.ruby.solid_queue import supervisor
    from pgforklint.model import ProcessType

    plugin = web.settings.get("solid_queue_plugin")
    if plugin is None or (app.gems is not None and not app.has_gem("solid_queue")):
        return
    where, condition = plugin
    if condition is not None and condition[1] is False:
        return  # the repository turns it off
    host = next((p for p in model.process_types if p.server is web), None)
    jobs = supervisor(project, app, where)
    if host is None:
        # No launch line: Puma counts as one instance, and so does the plugin inside it (when it is surely on).
        if condition is None:
            model.servers.append(jobs)
        return
    jobs.settings["runs_inside"] = host
    if condition is not None and condition[1] is None:
        jobs.settings["runs_inside_condition"] = condition[0]
    model.servers.append(jobs)
    model.process_types.append(ProcessType(
        name=f"{host.name} (solid_queue plugin)", command=f"plugin :solid_queue in {where.path}", location=where,
        instances=host.instances, server=jobs, env=dict(host.env), transient=host.transient))
