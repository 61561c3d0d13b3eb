"""RQ workers: `rq worker`, `rq worker-pool`, django-rq's `rqworker`, and scripts calling `Worker(...).work()`.

Facts (https://python-rq.org/docs/workers/; rq/rq 2.x `rq/worker/base.py`, `worker_classes.py`;
rq/django-rq `management/commands/rqworker.py`):
- The default `Worker` forks a work horse (`os.fork()`) for every job; whatever the worker process
  opened before (its settings module `-c`, its worker class module, code a script ran before
  `work()`) is inherited by every horse. The job's own connections are opened in the horse: not a hazard.
- `SimpleWorker` runs jobs in the worker process; `SpawnWorker` (2.2+) spawns: neither forks.
- django-rq's `rqworker` runs `django.setup()`, then "Close any opened DB connection before any fork"
  (`reset_db_connections()`: `connection.close()` for each alias) before `work()`.
"""

from __future__ import annotations

from dataclasses import replace

from pgforklint.diagnostics import Location
from pgforklint.extract.forking import make_interpreter, python_entry, registered_hooks, run_phase
from pgforklint.extract.importtime import (
    UNKNOWN,
    AdapterVal,
    ClassVal,
    ExternalVal,
    FunctionVal,
    Hooks,
    Interpreter,
    Value,
    _class_lookup,
    _library_base,
)
from pgforklint.launch import Launch
from pgforklint.launch.app_cli import AppCommand
from pgforklint.launch.paths import module_roots, repo_dir
from pgforklint.model import (
    DeploymentModel,
    Flag,
    Origin,
    OriginKind,
    ProcessEffects,
    Quantity,
    Server,
    ServerKind,
)
from pgforklint.project import Project
from pgforklint.read.command import Command, Word
from pgforklint.records import record

WORKER_CLASSES = {"rq.Worker", "rq.worker.Worker", "rq.SimpleWorker", "rq.worker.SimpleWorker", "rq.SpawnWorker",
                  "rq.worker.SpawnWorker", "rq.worker.worker_classes.SpawnWorker", "rq.worker.worker_classes.SimpleWorker",
                  "django_rq.workers.Worker", "django_rq.get_worker", "django_rq.workers.get_worker",
                  "rq.worker.HerokuWorker", "rq.HerokuWorker", "rq.worker.RoundRobinWorker", "rq.worker.RandomWorker",
                  # Flask-RQ2: `RQ.get_worker()` builds `RQ_WORKER_CLASS`, rq's forking `Worker` by default
                  "flask_rq2.RQ.get_worker"}
NON_FORKING = ("SimpleWorker", "SpawnWorker")
# Methods of a project's Worker subclass that rq calls around the fork: `execute_job` in the worker before it
# forks (rq 1.x/2.x `Worker.execute_job` -> `fork_work_horse`), `main_work_horse`/`perform_job` in the horse.
PARENT_METHODS = ("execute_job",)
CHILD_METHODS = ("main_work_horse", "perform_job")


def _non_forking(name: str) -> bool:
    return name.rsplit(".", 1)[-1] in NON_FORKING


def _class_forks(value: Value, depth: int = 0) -> bool:
    if depth > 8:
        return True
    if isinstance(value, ExternalVal):
        return not _non_forking(value.qualname)
    if isinstance(value, ClassVal):
        return all(_class_forks(base, depth + 1) for base in value.bases) if value.bases else True
    return True


@record(eq=False)
class RQWorkerVal(AdapterVal):
    class_name: str
    forks: bool
    location: Location
    cls: ClassVal | None = None  # the project's subclass, whose own methods run around the fork

    def attribute(self, interp, attr, node, frame):
        method = _class_lookup(self.cls, attr) if self.cls is not None and attr != "work" else None
        return replace(method, bound_self=self) if isinstance(method, FunctionVal) else None

    def call_method(self, interp, name, node, args, kwargs, frame, loc):
        if name == "work":
            from pgforklint.extract.multiproc import record_fork

            child: list[tuple[str, Value]] = []
            for method_name in (*PARENT_METHODS, *CHILD_METHODS):
                method = _class_lookup(self.cls, method_name) if self.cls is not None else None
                if not isinstance(method, FunctionVal):
                    continue
                bound = replace(method, bound_self=self)
                if method_name in PARENT_METHODS:  # runs in the worker before each fork
                    interp.call_function(bound, [UNKNOWN, UNKNOWN], {}, loc)
                else:
                    child.append((f"{self.cls.name}.{method_name}", bound))
            if self.forks:
                record_fork(interp, "rq", "fork", loc, Quantity.default(1, "one work horse at a time"), child,
                            class_name=self.cls.name if self.cls is not None else self.class_name)
            return UNKNOWN
        return None


def _on_call(interp: Interpreter, qualname: str, node, args, kwargs, frame) -> Value | None:
    if qualname in WORKER_CLASSES:
        return RQWorkerVal(qualname, not _non_forking(qualname), interp.loc(frame.module, node))
    return None


def _rq_base(cls: ClassVal) -> str | None:
    return _library_base(cls, library=WORKER_CLASSES)


def _on_instantiate(interp: Interpreter, cls: ClassVal, args, kwargs, loc: Location) -> Value | None:
    """`class Worker(rq.Worker)` instantiated: an RQ worker whose own `__init__` runs first."""
    if _rq_base(cls) is None:
        return None
    worker = RQWorkerVal(cls.name, _class_forks(cls), loc, cls)
    init = _class_lookup(cls, "__init__")
    if isinstance(init, FunctionVal):
        interp.call_function(replace(init, bound_self=worker), args, kwargs, loc)
    return worker


def install(hooks: Hooks) -> None:
    hooks.on_call.append(_on_call)
    hooks.on_instantiate.append(_on_instantiate)


# --- launch lines ---------------------------------------------------------------------------


@record
class RQInvocation:
    launch: Launch
    command: Command
    kind: str  # "rq" | "django"
    options: dict[str, str]
    pool_size: str | None = None
    manage_module: str | None = None


def _options(words: list[Word]) -> dict[str, str]:
    options: dict[str, str] = {}
    short = {"-c": "--config", "-w": "--worker-class", "-n": "--num-workers", "-P": "--path", "-j": "--job-class"}
    index = 0
    while index < len(words):
        text = words[index].text
        if text.startswith("--") and "=" in text:
            name, value = text.split("=", 1)
            options[name] = value
        elif text in short or text in ("--config", "--worker-class", "--num-workers", "--path", "--job-class", "--url",
                                       "-u", "--queue-class", "--name", "--logging_level", "--results-ttl", "--pid"):
            if index + 1 < len(words):
                options[short.get(text, text)] = words[index + 1].text
                index += 1
        index += 1
    return options


def invocations(project: Project, launches: list[Launch]) -> list[RQInvocation]:
    found = []
    for launch in launches:
        roots = module_roots(project, launch)
        for command in launch.commands:
            args = command.argv[1:]
            if command.program == "rq" and args and args[0].text in ("worker", "worker-pool"):
                options = _options(args[1:])
                found.append(RQInvocation(launch, command, "rq", options,
                                          options.get("--num-workers", "2") if args[0].text == "worker-pool" else None))
            elif command.program == "rqworker":
                found.append(RQInvocation(launch, command, "rq", _options(args)))
            else:
                module = python_entry(command, project, roots, launch)
                texts = [w.text for w in args]
                for sub in ("rqworker", "rqworker-pool"):
                    if module and sub in texts:
                        rest = command.argv[texts.index(sub) + 2:]
                        options = _options(rest)
                        found.append(RQInvocation(launch, command, "django", options,
                                                  options.get("--num-workers", "2") if sub == "rqworker-pool" else None,
                                                  manage_module=module))
    return found


def build_server(project: Project, invocation: RQInvocation) -> Server | None:
    path = invocation.options.get("--path")
    folder = repo_dir(project, invocation.launch, path) if path and path.strip("./") else None
    roots = module_roots(project, invocation.launch, [folder] if folder is not None else [])
    env = {**invocation.launch.env, **invocation.command.env}
    interp = make_interpreter(project, roots, env)
    location = invocation.launch.location
    parent = ProcessEffects()
    worker_class = invocation.options.get("--worker-class", "rq.Worker")
    forks = not _non_forking(worker_class)

    def load() -> None:
        nonlocal forks
        config = invocation.options.get("--config")
        if config and project.module_file(config, roots):
            interp.import_module(config, location)
        module_name, _, class_name = worker_class.rpartition(".")
        if module_name and project.module_file(module_name, roots):
            module = interp.import_module(module_name, location)
            cls = module.namespace.get(class_name) if module else None
            if cls is not None:
                forks = _class_forks(cls)
        if invocation.kind == "django" and invocation.manage_module:
            from pgforklint.extract.django import _record_close, django_setup

            interp.main_modules.add(invocation.manage_module)
            interp.import_module(invocation.manage_module, location)  # sets DJANGO_SETTINGS_MODULE, runs setup
            django_setup(interp, location)
            _record_close(interp, location)  # django-rq: reset_db_connections() before work()

    run_phase(interp, parent, load)
    processes = Quantity.default(1, "one work horse at a time per worker")
    if invocation.pool_size is not None:
        try:
            processes = Quantity.from_file(int(invocation.pool_size), location, "rq worker-pool --num-workers")
        except ValueError:
            processes = Quantity(None, Origin(OriginKind.FILE, location, "--num-workers"), symbolic=invocation.pool_size)
    server = Server(ServerKind.RQ, location, forks=forks,
                    loads_app_in_parent=Flag(True, Origin(OriginKind.DEFAULT, None,
                                                          "the RQ worker forks a work horse for every job")),
                    processes=processes, threads=Quantity.default(1, "a work horse runs one job"),
                    worker_class=worker_class.rsplit(".", 1)[-1])
    server.parent_effects = parent
    server.hooks.extend(registered_hooks(interp, {"at_fork_child": "os.register_at_fork"}))
    return server


def app_command_server(project: Project, launch: Launch, command: AppCommand) -> Server:
    """A worker started by a command of the project's CLI (`pgforklint.launch.app_cli`): the process runs its
    entry (`manage.py`, the console script's module), the command's module, the group callbacks, then the
    command function, which builds the Worker and calls `work()`; the parent is what ran before that fork."""
    from pgforklint.extract.forking import run_app_command
    from pgforklint.extract.multiproc import fork_server
    from pgforklint.model import AppRef

    roots = module_roots(project, launch)
    interp = make_interpreter(project, roots, dict(launch.env))
    parent = ProcessEffects()
    run_phase(interp, parent, lambda: run_app_command(interp, command, launch.location))
    points = [p for p in interp.state.get("fork_points") or [] if p.kind == "rq" and p.effects is parent]
    if points:
        server = fork_server(interp, points[0], ServerKind.RQ, points[0].extra.get("class_name", "Worker"),
                             f"`Worker.work()`, run by `{command.words}`, forks a work horse for every job")
    else:  # the Worker was not followed in the walk; the launch stage saw it: the whole command is the parent
        server = Server(ServerKind.RQ, command.location, forks=True,
                        loads_app_in_parent=Flag(True, Origin(OriginKind.FILE, command.location,
                                                              f"`{command.words}` forks a work horse for every job")),
                        processes=Quantity.default(1, "one work horse at a time per worker"),
                        threads=Quantity.default(1, "a work horse runs one job"), worker_class="Worker")
        server.parent_effects = parent
        server.hooks.extend(registered_hooks(interp, {"at_fork_child": "os.register_at_fork"}))
    server.app = AppRef(command.module, command.function, False, command.location, command.rel, tuple(roots))
    return server


def adapt(project: Project, launches: list[Launch], model: DeploymentModel) -> None:
    from pgforklint.launch import attach_process_type
    from pgforklint.extract.multiproc import entry_modules, fork_server, walk_entry

    for invocation in invocations(project, launches):
        server = build_server(project, invocation)
        if server is not None:
            model.servers.append(server)
            attach_process_type(model, invocation.launch, server)
    for launch in launches:
        command = launch.extra.get("app_cli")
        if isinstance(command, AppCommand) and command.server == "rq":
            server = app_command_server(project, launch, command)
            model.servers.append(server)
            attach_process_type(model, launch, server)
    roots = project.default_module_roots()
    for name, location, env in entry_modules(project, launches, roots):
        interp, effects = walk_entry(project, name, location, env, project._cache.get(("entry-roots", name), roots))
        for point in interp.state.get("fork_points") or []:
            if point.kind != "rq" or point.effects is not effects:
                continue
            server = fork_server(interp, point, ServerKind.RQ, point.extra.get("class_name", "Worker").rsplit(".", 1)[-1],
                                 "`Worker.work()` forks a work horse for every job")
            model.servers.append(server)
            launch = project._cache.get(("entry-launch", name))
            if launch is not None:
                from pgforklint.launch import attach_process_type

                attach_process_type(model, launch, server)


__all__ = ["adapt", "install", "RQWorkerVal"]
