"""Celery workers: `celery -A proj worker` launch lines, pools, concurrency, and signal hooks.

Facts (docs: https://docs.celeryq.dev/en/stable/userguide/configuration.html#worker-concurrency,
https://docs.celeryq.dev/en/stable/userguide/signals.html#worker-process-init; source
celery/celery 5.6 `celery/concurrency/__init__.py`, `celery/fixups/django.py`):
- The worker parent imports the app module, its configuration, and the task modules (`include`,
  `imports`, `autodiscover_tasks()`), then the prefork pool (billiard) forks `concurrency` children
  with `os.fork()`; `worker_process_init` handlers run in each child.
- Pools: `prefork` (default, also `processes`) forks; `solo`, `threads`, `gevent`, `eventlet` do not.
- Concurrency: `-c/--concurrency`, else `worker_concurrency`, else the number of CPUs.
- With DJANGO_SETTINGS_MODULE set, Celery's Django fixup runs `django.setup()` in the parent and, in
  each child (`worker_process_init`), drops the inherited Django connections without network I/O.
  SQLAlchemy engines get no such treatment.
"""

from __future__ import annotations

from dataclasses import field

from pgforklint.diagnostics import Location
from pgforklint.extract.forking import (
    _Registrar,
    call_hook,
    make_interpreter,
    merge_effects,
    python_entry,
    registered_hooks,
    run_phase,
    word_quantity,
)
from pgforklint.extract.importtime import (
    UNKNOWN,
    AdapterVal,
    ConstVal,
    ContainerVal,
    ExternalVal,
    FunctionVal,
    Hooks,
    Interpreter,
    ModuleVal,
    Value,
)
from pgforklint.launch import Launch
from pgforklint.launch.paths import describe_place, describe_roots, module_roots, repo_dir
from pgforklint.extract.pyvalues import module_assignments
from pgforklint.model import (
    AppRef,
    DeploymentModel,
    Flag,
    Hook,
    Origin,
    OriginKind,
    ProcessEffects,
    Quantity,
    Reset,
    ResetKind,
    Server,
    ServerKind,
)
from pgforklint.project import Project
from pgforklint.read.command import Command, Word, python_module_invocation
from pgforklint.records import record

FORKING_POOLS = {"prefork", "processes"}
KNOWN_POOLS = {"prefork", "processes", "solo", "threads", "gevent", "eventlet", "custom"}
VALUE_OPTIONS = {"-A", "--app", "-b", "--broker", "--result-backend", "--loader", "--config", "--workdir", "-P", "--pool",
                 "-c", "--concurrency", "-l", "--loglevel", "-n", "--hostname", "-Q", "--queues", "-X",
                 "--exclude-queues", "-I", "--include", "--autoscale", "--max-tasks-per-child", "--max-memory-per-child",
                 "-f", "--logfile", "--pidfile", "-O", "-E", "--statedb", "--scheduler", "-s", "--schedule",
                 "--prefetch-multiplier", "--time-limit", "--soft-time-limit", "-D", "--purge", "--uid", "--gid",
                 "--umask", "--executable", "-S"}
FLAG_OPTIONS = {"-B", "--beat", "-E", "--task-events", "--without-gossip", "--without-mingle", "--without-heartbeat",
                "--detach", "--quiet", "-q", "--no-color", "--purge", "--discard", "--skip-checks"}


# --- the app object seen during the walk -------------------------------------------------------


@record(eq=False)
class CeleryAppVal(AdapterVal):
    location: Location
    module: str = ""  # the module whose code creates the app (`Celery()` is called there)
    config_objects: list[tuple[str, str | None, Location]] = field(default_factory=list)  # (module, namespace, where)
    conf: dict[str, tuple[object, Location]] = field(default_factory=dict)
    includes: list[str] = field(default_factory=list)
    autodiscover: list[tuple[list[str] | None, Location]] = field(default_factory=list)
    django_fixup: bool = False

    def attribute(self, interp, attr, node, frame):
        if attr == "conf":
            return _ConfVal(self)
        if attr in PARENT_APP_SIGNALS:
            return _AppSignal(interp.loc(frame.module, node))
        return None

    def call_method(self, interp, name, node, args, kwargs, frame, loc):
        if name == "config_from_object" and args:
            target = args[0]
            namespace = kwargs.get("namespace")
            ns = namespace.value if isinstance(namespace, ConstVal) and isinstance(namespace.value, str) else None
            if isinstance(target, ConstVal) and isinstance(target.value, str):
                self.config_objects.append((target.value, ns, loc))
            elif isinstance(target, ModuleVal):
                self.config_objects.append((target.name, ns, loc))
            return UNKNOWN
        if name == "autodiscover_tasks":
            packages = args[0] if args else kwargs.get("packages")
            names = _strings(packages)
            self.autodiscover.append((names, loc))
            return UNKNOWN
        if name in ("task", "shared_task"):
            _task_base(interp, kwargs.get("base"), loc)
            for arg in args:
                if isinstance(arg, FunctionVal):
                    return arg
            return _PassThrough()
        return None


def _task_base(interp: Interpreter, base: Value | None, loc: Location) -> None:
    """`@app.task(base=DBTask)`: Celery makes each task an instance of a subclass of `base` when the app is
    finalized, which the worker does in its parent before the pool forks (celery/app/base.py `_task_from_fun`,
    `finalize`): the base class's own `__init__` runs there, once per task (walked once per class)."""
    from dataclasses import replace

    from pgforklint.extract.importtime import ClassVal, InstanceVal, _class_lookup

    if not isinstance(base, ClassVal):
        return
    init = _class_lookup(base, "__init__")
    done = interp.state.setdefault("celery_task_bases", set())
    if not isinstance(init, FunctionVal) or id(base) in done:  # type: ignore[operator]
        return
    done.add(id(base))  # type: ignore[union-attr]
    interp.register("celery_worker_init", replace(init, bound_self=InstanceVal(base)), loc)


# Signals sent in the worker's parent process before the prefork pool forks its children
# (docs.celeryq.dev/en/stable/userguide/signals.html: `celeryd_init` "the first signal sent when celery worker
# starts up", `worker_init` "dispatched before the worker is started"; `app.on_after_configure` / `on_after_finalize`
# when the app reads its configuration / is finalized, both in the worker parent). Handlers that query open a
# connection the children inherit. `worker_process_init` runs in each child (a reset hook, see build_server).
PARENT_SIGNALS = {"celery.signals.celeryd_init.connect", "celery.signals.signals.celeryd_init.connect",
                  "celery.signals.celeryd_after_setup.connect", "celery.signals.import_modules.connect"}
PARENT_APP_SIGNALS = {"on_after_configure", "on_after_finalize", "on_configure"}


class _AppSignal(AdapterVal):
    """`app.on_after_configure`: `.connect` registers a handler that runs in the worker parent."""

    def __init__(self, location: Location):
        self.location = location

    def attribute(self, interp, attr, node, frame):
        if attr == "connect":
            return _ParentSignalRegistrar("celery_worker_init", interp.loc(frame.module, node))
        return None


class _ParentSignalRegistrar(_Registrar):
    """`@signal.connect`, `@signal.connect(weak=False)` and `signal.connect(handler)`."""

    def call(self, interp, node, args, kwargs, frame, loc):
        registered = super().call(interp, node, args, kwargs, frame, loc)
        return registered if registered is not None else self


@record(eq=False)
class _PassThrough(AdapterVal):
    def call(self, interp, node, args, kwargs, frame, loc):
        return args[0] if args else None


@record(eq=False)
class _ConfVal(AdapterVal):
    app: CeleryAppVal

    def set_attribute(self, interp, attr, value, loc):
        self.app.conf[attr] = (_plain(value), loc)

    def call_method(self, interp, name, node, args, kwargs, frame, loc):
        if name == "update":
            for key, value in kwargs.items():
                self.app.conf[key] = (_plain(value), loc)
            return UNKNOWN
        return None


def _plain(value: Value) -> object:
    if isinstance(value, ConstVal):
        return value.value
    if isinstance(value, ContainerVal):
        return [_plain(v) for v in value.items]
    return None


def _strings(value: Value | None) -> list[str] | None:
    if isinstance(value, ContainerVal):
        return [v.value for v in value.items if isinstance(v, ConstVal) and isinstance(v.value, str)]
    return None


def _on_call(interp: Interpreter, qualname: str, node, args, kwargs, frame) -> Value | None:
    if qualname in PARENT_SIGNALS:
        return _ParentSignalRegistrar("celery_worker_init", interp.loc(frame.module, node)).call(
            interp, node, args, kwargs, frame, interp.loc(frame.module, node))
    if qualname in ("celery.Celery", "celery.app.Celery", "celery.app.base.Celery"):
        app = CeleryAppVal(interp.loc(frame.module, node), frame.module.name)
        include = _strings(kwargs.get("include"))
        if include:
            app.includes.extend(include)
        config = kwargs.get("config_source")
        if isinstance(config, ConstVal) and isinstance(config.value, str):
            app.config_objects.append((config.value, None, app.location))
        # celery/fixups/django.py: installed when DJANGO_SETTINGS_MODULE is set when the app is created.
        app.django_fixup = bool(interp.env.get("DJANGO_SETTINGS_MODULE"))
        interp.state.setdefault("celery_apps", []).append(app)  # type: ignore[union-attr]
        return app
    if qualname in ("celery.shared_task", "celery.app.shared_task"):
        _task_base(interp, kwargs.get("base"), interp.loc(frame.module, node))
        for arg in args:
            if isinstance(arg, FunctionVal):
                return arg
        return _PassThrough()
    return None


def _on_decorated(interp: Interpreter, decorator: Value, function: FunctionVal, node, frame) -> None:
    if isinstance(decorator, ExternalVal) and decorator.qualname in PARENT_SIGNALS:  # `@celeryd_init.connect`
        interp.register("celery_worker_init", function, interp.loc(frame.module, node))


def install(hooks: Hooks) -> None:
    hooks.on_call.append(_on_call)
    hooks.on_decorated.append(_on_decorated)


# --- launch lines ---------------------------------------------------------------------------


@record
class CeleryInvocation:
    launch: Launch
    command: Command
    options: dict[str, tuple[str, Word]]  # long option -> (value, word)
    nodes: tuple[int, str] | None = None  # `celery multi start w1 w2`: each node is a worker of its own


_ALIASES = {"-A": "--app", "-P": "--pool", "-c": "--concurrency", "-I": "--include", "-B": "--beat"}


def celery_arguments(command: Command) -> list[Word] | None:
    if command.program == "celery":
        return command.argv[1:]
    module = python_module_invocation(command)
    if module and module[0] == "celery":
        return module[1]
    return None


def parse(words: list[Word]) -> tuple[str | None, dict[str, tuple[str, Word]]]:
    subcommand = None
    options: dict[str, tuple[str, Word]] = {}
    index = 0
    while index < len(words):
        word = words[index]
        text = word.text
        if text.startswith("--") and "=" in text:
            name, value = text.split("=", 1)
            options[_ALIASES.get(name, name)] = (value, word)
            index += 1
            continue
        if text.startswith("-") and len(text) > 2 and not text.startswith("--") and text[:2] in ("-A", "-P", "-c", "-Q", "-l", "-n"):
            options[_ALIASES.get(text[:2], text[:2])] = (text[2:], word)
            index += 1
            continue
        if text.startswith("-"):
            name = _ALIASES.get(text, text)
            if text in FLAG_OPTIONS:
                options[name] = ("true", word)
                index += 1
                continue
            if index + 1 < len(words):
                options[name] = (words[index + 1].text, words[index + 1])
                index += 2
                continue
            index += 1
            continue
        if subcommand is None:
            subcommand = text
        index += 1
    return subcommand, options


def invocations(launches: list[Launch]) -> list[CeleryInvocation]:
    found = []
    for launch in launches:
        for command in launch.commands:
            words = celery_arguments(command)
            if words is None:
                continue
            subcommand, options = parse(words)
            if subcommand == "multi":
                multi = _multi_start(words)
                if multi is not None:
                    found.append(CeleryInvocation(launch, command, multi[1], multi[0]))
                continue
            if subcommand != "worker":
                continue
            found.append(CeleryInvocation(launch, command, options))
    return found


def _multi_start(words: list[Word]) -> tuple[tuple[int, str], dict[str, tuple[str, Word]]] | None:
    """`celery multi start 3 -A proj` or `celery multi start w1 w2 -A proj ...`: N worker nodes, each a worker
    with the options given (a number names that many nodes) [src: celery/celery celery/bin/multi.py]. Per-node
    options (`-c:1-2 4`) are left out."""
    texts = [w.text for w in words]
    start = next((i for i, t in enumerate(texts) if t == "multi"), None)
    if start is None or start + 1 >= len(texts) or texts[start + 1] not in ("start", "restart"):
        return None
    index = start + 2
    names: list[Word] = []
    while index < len(words) and not texts[index].startswith("-"):
        names.append(words[index])
        index += 1
    if not names:
        return None
    count = int(names[0].text) if len(names) == 1 and names[0].text.isdigit() else len(names)
    rest: list[Word] = []
    skip = False
    for word in words[index:]:
        if skip:
            skip = False
        elif word.text.startswith("-") and ":" in word.text.split("=", 1)[0]:
            skip = "=" not in word.text
        else:
            rest.append(word)
    _, options = parse(rest)
    return (count, " ".join(w.text for w in names)), options


# --- the server ------------------------------------------------------------------------------


def _config_value(interp: Interpreter, app: CeleryAppVal, name: str, env: dict[str, str]) -> tuple[object, Location] | None:
    """A worker setting from `app.conf.update(...)`, `app.conf.NAME = ...` or the config_from_object module."""
    if name in app.conf:
        return app.conf[name]
    found = None
    for module_name, namespace, _ in app.config_objects:
        module_name = module_name.split(":", 1)[0]
        rel = interp.project.module_file(module_name, interp.module_roots)
        parsed = interp.project.python(rel) if rel else None
        if parsed is None:
            continue
        values = module_assignments(parsed.tree, rel, env, parsed.text)[0]
        keys = [f"{namespace}_{name.upper()}"] if namespace else [name, f"CELERYD_{name.upper().removeprefix('WORKER_')}"]
        for key in keys:
            value = values.get(key)
            if value is not None:
                found = (value.value if value.known else None, value.location)
    return found


def build_server(project: Project, invocation: CeleryInvocation) -> Server | None:
    options = invocation.options
    workdir = options.get("--workdir")
    folder = repo_dir(project, invocation.launch, workdir[0]) if workdir and workdir[0].strip("./") else None
    roots = module_roots(project, invocation.launch, [folder] if folder is not None else [])
    env = {**invocation.launch.env, **invocation.command.env}
    location = invocation.launch.location
    app_option = options.get("--app")
    interp = make_interpreter(project, roots, env)
    parent = ProcessEffects()
    app: CeleryAppVal | None = None
    found_attribute = False  # `-A module.attribute` named a name the module defines (an app pgforklint may not know)
    app_module: ModuleVal | None = None  # the module `-A` names, once imported

    def load() -> None:
        nonlocal app, found_attribute, app_module
        prelude = invocation.launch.extra.get("app_cli")
        if prelude is not None and prelude.server == "celery":  # started by a command of the project's CLI
            from pgforklint.extract.forking import run_app_command

            run_app_command(interp, prelude, location)
        if app_option is None:
            return
        module_name, _, attribute = app_option[0].partition(":")
        split = not attribute and "." in module_name and not project.module_file(module_name, roots) \
            and not project.is_package_dir(module_name, roots)
        if split:
            # `-A run_celery.notify_celery`: Celery's find_app reads `module.attribute` before a module path.
            module_name, _, attribute = module_name.rpartition(".")
        module = interp.import_module(module_name, location)
        if module is None:
            return
        found_attribute = split and attribute in module.namespace
        app_module = module
        candidate = module.namespace.get(attribute or "app") or module.namespace.get("celery")
        if not isinstance(candidate, CeleryAppVal) and project.module_file(f"{module_name}.celery", roots):
            sub = interp.import_module(f"{module_name}.celery", location)  # Celery's find_app tries `proj.celery`
            if sub is not None:
                app_module = sub
                candidate = sub.namespace.get(attribute or "app") or sub.namespace.get("celery")
        apps = interp.state.get("celery_apps") or []
        if isinstance(candidate, CeleryAppVal):
            app = candidate
        elif len(apps) == 1:
            app = apps[0]
        if app is None:
            return
        for module_name, _, where in app.config_objects:
            name = module_name.split(":", 1)[0]
            if name != "django.conf" and project.module_file(name, roots):
                interp.import_module(name, where)
        if app.django_fixup:
            from pgforklint.extract.django import django_setup

            django_setup(interp, app.location)
        task_modules: list[tuple[str, Location]] = [(m, app.location) for m in app.includes]
        for key in ("include", "imports"):
            value = _config_value(interp, app, key, env)
            if value and isinstance(value[0], (list, tuple)):
                task_modules.extend((str(m), value[1]) for m in value[0] if isinstance(m, str))
        cli_include = options.get("--include")
        if cli_include:
            task_modules.extend((m.strip(), location) for m in cli_include[0].split(",") if m.strip())
        for packages, where in app.autodiscover:
            if packages is None:
                packages = _installed_apps(interp)
            task_modules.extend((f"{p}.tasks", where) for p in packages)
        for name, where in task_modules:
            if project.module_file(name, roots):
                interp.import_module(name, where)

    run_phase(interp, parent, load)
    if app_option is None and not parent.engines:
        return None
    failed = []
    if app_option is not None and app is None and not found_attribute:
        module_name = app_option[0].partition(":")[0]
        if project.module_file(module_name, roots) is None and not project.is_package_dir(module_name, roots):
            failed.append(f"celery -A {app_option[0]}: no module `{module_name}` in {describe_roots(roots)}"
                          f" (the worker runs in {describe_place(invocation.launch)})")

    pool_option = options.get("--pool")
    pool_setting = _config_value(interp, app, "worker_pool", env) if app else None
    if pool_option:
        pool, pool_origin = pool_option[0], Origin(OriginKind.FILE, location, "--pool")
    elif pool_setting and isinstance(pool_setting[0], str):
        pool, pool_origin = pool_setting[0], Origin(OriginKind.FILE, pool_setting[1], "worker_pool")
    else:
        pool, pool_origin = "prefork", Origin(OriginKind.DEFAULT, None, "Celery's default pool is prefork")
    pool = pool.split(":")[-1].split(".")[-1].lower() if pool else "prefork"
    forks = pool in FORKING_POOLS  # solo/threads/gevent/eventlet run tasks in the worker process itself

    concurrency = None
    autoscale = options.get("--autoscale")
    if autoscale:
        concurrency = word_quantity(autoscale[0].split(",")[0], location, "--autoscale maximum", autoscale[1])
    elif options.get("--concurrency"):
        value, word = options["--concurrency"]
        concurrency = word_quantity(value, location, "--concurrency", word)
    elif app is not None:
        setting = _config_value(interp, app, "worker_concurrency", env)
        if setting is not None:
            value = setting[0]
            concurrency = Quantity(value if isinstance(value, int) else None,
                                   Origin(OriginKind.FILE, setting[1], "worker_concurrency"),
                                   symbolic=None if isinstance(value, int) else "worker_concurrency")
    if concurrency is not None and concurrency.value == 0:
        # The worker takes a concurrency of 0 as "not set": `if not self.concurrency: self.concurrency = cpu_count()`
        # [src: celery/celery celery/apps/worker.py]
        concurrency = Quantity(None, Origin(concurrency.origin.kind, concurrency.origin.location,
                                            f"{concurrency.origin.detail or '--concurrency'} = 0, which Celery takes "
                                            "as the number of CPUs"), symbolic="cpu_count()",
                               env_var=concurrency.env_var)
    if concurrency is None:
        concurrency = Quantity(None, Origin(OriginKind.DEFAULT, None, "Celery's default concurrency: the number of CPUs"),
                               symbolic="cpu_count()")
    if forks:
        processes, threads = concurrency, Quantity.default(1, "a prefork child runs one task at a time")
    else:
        processes = Quantity.default(1, f"the {pool} pool runs in the worker process")
        threads = concurrency if pool in ("threads", "gevent", "eventlet") else Quantity.default(1, "the solo pool runs one task at a time")

    server = Server(ServerKind.CELERY, location, forks=forks,
                    loads_app_in_parent=Flag(True, Origin(OriginKind.DEFAULT, None,
                                                          "the Celery worker imports the app and its tasks before forking")),
                    processes=processes, threads=threads, worker_class=pool)
    server.parent_effects = parent
    server.failed.extend(failed)
    server.settings = {"pool": pool, "pool_origin": pool_origin, "concurrency": concurrency}
    if app is not None and app.module:
        # Where `Celery()` is created: the worker parent imports that module before forking (pgforklint.fix
        # puts the `worker_process_init` handler there).
        server.app = AppRef(app.module, None, False, app.location, file=app.location.path, roots=tuple(roots))
    elif app_module is not None and app_module.path and not failed:
        # `app = configure().make_celery_app()`: an app pgforklint does not see built, in a module the worker
        # imports (and that was walked): the process is followed to that module.
        server.app = AppRef(app_module.name, None, False, Location(app_module.path, 1), file=app_module.path,
                            roots=tuple(roots))
    for hook in registered_hooks(interp, {"celery_worker_init": "worker_init"}):
        merge_effects(parent, hook.effects)  # worker_init runs in the parent before the pool starts
    server.hooks.extend(registered_hooks(interp, {"celery_worker_process_init": "worker_process_init",
                                                  "at_fork_child": "os.register_at_fork"}))
    if app is not None and app.django_fixup:
        fixup = ProcessEffects()
        for engine in (interp.state.get("django_engines") or {}).values():
            fixup.resets.append((0, Reset(ResetKind.DISPOSE_KEEP, engine, app.location)))
        fixup.resets.append((0, Reset(ResetKind.DISPOSE_KEEP, None, app.location)))
        server.hooks.append(Hook("Celery's Django fixup", app.location, True, fixup))
    server.notes.append(f"pool: {pool}")
    return server


def _installed_apps(interp: Interpreter) -> list[str]:
    from pgforklint.extract.django import settings_module_for

    name = settings_module_for(interp)
    module = interp.modules.get(name) if name else None
    apps = module.namespace.get("INSTALLED_APPS") if module else None
    if isinstance(apps, ContainerVal):
        out = []
        for item in apps.items:
            if isinstance(item, ConstVal) and isinstance(item.value, str):
                entry = item.value
                if ".apps." in entry:
                    entry = entry.split(".apps.", 1)[0]
                out.append(entry)
        return out
    return []


def adapt(project: Project, launches: list[Launch], model: DeploymentModel) -> None:
    from pgforklint.launch import attach_process_type

    for invocation in invocations(launches):
        server = build_server(project, invocation)
        if server is None:
            continue
        model.servers.append(server)
        attach_process_type(model, invocation.launch, server)
        if invocation.nodes is not None:
            count, names = invocation.nodes
            for process_type in model.process_types:
                if process_type.server is server:
                    process_type.instances = Quantity(count, Origin(
                        OriginKind.FILE, invocation.launch.location,
                        f"celery multi start {names}: {count} worker node(s)"))


__all__ = ["adapt", "install", "CeleryAppVal", "call_hook", "python_entry"]
