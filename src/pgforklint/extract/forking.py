"""Shared machinery for servers that load code in a parent and fork children.

A server adapter describes the parent's steps (import a config module, run master hooks, import
the app when it preloads) and the child-side hooks; this module walks them with one Interpreter,
so engines keep their identity between the parent and the children, and records what happens in
each phase.
"""

from __future__ import annotations

from collections.abc import Callable

from pgforklint.diagnostics import Location
from pgforklint.extract.importtime import (
    AdapterVal,
    BoundMethod,
    ExternalVal,
    FunctionVal,
    Hooks,
    Interpreter,
    ModuleVal,
    Value,
)
from pgforklint.model import AppRef, Hook, Origin, OriginKind, ProcessEffects, Quantity, Server
from pgforklint.project import Project
from pgforklint.read.command import Command


def run_phase(interp: Interpreter, effects: ProcessEffects, step: Callable[[], object]) -> object:
    previous = interp.effects
    interp.effects = effects
    try:
        return step()
    finally:
        interp.effects = previous


def call_hook(interp: Interpreter, function: Value, location: Location, args: int = 0) -> ProcessEffects:
    """Walk a hook function as if the server called it; return what it did."""
    effects = ProcessEffects()
    if isinstance(function, BoundMethod) and isinstance(function.obj, FunctionVal):
        function = function.obj
    if isinstance(function, FunctionVal):
        from pgforklint.extract.importtime import UNKNOWN

        run_phase(interp, effects, lambda: interp.call_function(function, [UNKNOWN] * args, {}, location))
    return effects


def load_app(interp: Interpreter, app: AppRef) -> ModuleVal | None:
    """Import the app module and, for `module:factory()`, call the factory as the server would."""
    module = interp.import_module(app.module, app.location)
    app.roots = tuple(interp.module_roots)
    if module is not None:
        app.file = getattr(module, "path", None)
    if module is None or not app.attribute:
        return module
    target = module.namespace.get(app.attribute)
    if app.factory_call and isinstance(target, FunctionVal):
        interp.call_function(target, [], {}, app.location)
    return module


def add_at_fork_hooks(interp: Interpreter, server: Server, start: int = 0) -> None:
    """Hooks registered with os.register_at_fork(after_in_child=...) during the walk."""
    for kind, target, location in interp.registered[start:]:
        if kind == "at_fork_child":
            server.hooks.append(Hook("os.register_at_fork", location, True, call_hook(interp, target, location)))


def parse_app_ref(text: str, location: Location, default_attribute: str | None = "application") -> AppRef | None:
    """`module:variable`, `module:factory()` or `module` (gunicorn's default variable is `application`)."""
    text = text.strip()
    if not text or text.startswith("-") or "/" in text and ":" not in text:
        return None
    module, _, attribute = text.partition(":")
    factory = False
    if attribute.endswith(")") and "(" in attribute:
        attribute = attribute[: attribute.index("(")]
        factory = True
    if not all(part.isidentifier() for part in module.split(".")):
        return None
    attribute = attribute.strip() or default_attribute
    if attribute is not None and not attribute.isidentifier():
        return None
    return AppRef(module, attribute, factory, location)


# --- framework-aware interpreters ---------------------------------------------------------

# Callbacks handed to a framework, by the qualified name of the registering decorator/function.
REGISTRARS = {
    "uwsgidecorators.postfork": "uwsgi_postfork",
    "uwsgidecorators.postfork_chain": "uwsgi_postfork",
    "celery.signals.worker_process_init.connect": "celery_worker_process_init",
    "celery.signals.signals.worker_process_init.connect": "celery_worker_process_init",
    "celery.signals.worker_init.connect": "celery_worker_init",
    "celery.signals.signals.worker_init.connect": "celery_worker_init",
}


class _Registrar(AdapterVal):
    """`@postfork(2)` / `@worker_process_init.connect(weak=False)`: a decorator that registers."""

    def __init__(self, kind: str, location: Location):
        self.kind = kind
        self.location = location

    def decorate(self, interp, function, node, frame) -> None:
        interp.register(self.kind, function, interp.loc(frame.module, node))

    def call(self, interp, node, args, kwargs, frame, loc):
        for arg in args:
            if isinstance(arg, (FunctionVal, BoundMethod)):
                interp.register(self.kind, arg, loc)
                return arg
        return None


def _registrar_call(interp: Interpreter, qualname: str, node, args, kwargs, frame) -> Value | None:
    kind = REGISTRARS.get(qualname)
    if kind is None:
        return None
    loc = interp.loc(frame.module, node)
    for arg in args:
        if isinstance(arg, (FunctionVal, BoundMethod)):
            interp.register(kind, arg, loc)
            return arg
    return _Registrar(kind, loc)


def _registrar_decorated(interp: Interpreter, decorator: Value, function: FunctionVal, node, frame) -> None:
    if isinstance(decorator, ExternalVal) and decorator.qualname in REGISTRARS:
        interp.register(REGISTRARS[decorator.qualname], function, interp.loc(frame.module, node))


def make_interpreter(project: Project, roots: list[str], env: dict[str, str] | None = None) -> Interpreter:
    """An Interpreter that understands the frameworks: Django setup and ORM, Celery apps and signals,
    uWSGI decorators, multiprocessing fork points."""
    from pgforklint.extract import celery as celery_adapter
    from pgforklint.extract import django as django_adapter
    from pgforklint.extract import multiproc as multiproc_adapter
    from pgforklint.extract import rq as rq_adapter

    hooks = Hooks()
    hooks.on_call.append(_registrar_call)
    hooks.on_decorated.append(_registrar_decorated)
    django_adapter.install(hooks)
    celery_adapter.install(hooks)
    multiproc_adapter.install(hooks)
    rq_adapter.install(hooks)
    interp = Interpreter(project, roots, hooks)
    interp.env.update(env or {})
    return interp


def run_app_command(interp: Interpreter, command, location: Location) -> None:
    """What a process started by a command of the project's CLI runs before the server it starts takes over
    (`pgforklint.launch.app_cli.AppCommand`): the entry (as `__main__` for a script), `django.setup()` for a
    management command, the group callbacks (Flask's app factory), then the command function itself."""
    from dataclasses import replace

    from pgforklint.extract.importtime import ClassVal, InstanceVal, _class_lookup

    def function(module_name: str, name: str) -> FunctionVal | None:
        module = interp.import_module(module_name, location)
        owner, _, method = name.rpartition(".")
        value = module.namespace.get(owner or name) if module is not None else None
        if owner and isinstance(value, ClassVal):  # `Command.handle`
            found = _class_lookup(value, method)
            return replace(found, bound_self=InstanceVal(value)) if isinstance(found, FunctionVal) else None
        return value if isinstance(value, FunctionVal) else None

    if command.entry:
        if command.entry_is_main:
            interp.main_modules.add(command.entry)
        interp.import_module(command.entry, location)
    if command.django:
        from pgforklint.extract.django import django_setup

        django_setup(interp, location)
    for owner, name in command.callbacks:
        callback = function(owner, name)
        if callback is not None:
            interp.call_function(callback, [], {}, location)
    target = function(command.module, command.function)
    if target is not None:
        interp.call_function(target, [], {}, location)


def registered_hooks(interp: Interpreter, kinds: dict[str, str], start: int = 0, effective: bool = True,
                     args: int = 0) -> list[Hook]:
    """Child-side hooks registered during the walk, walked as the server would call them.

    `kinds` maps a registration kind to the hook name shown in messages.
    """
    hooks = []
    for kind, target, location in interp.registered[start:]:
        if kind in kinds:
            hooks.append(Hook(kinds[kind], location, True, call_hook(interp, target, location, args), effective))
    return hooks


def merge_effects(target: ProcessEffects, source: ProcessEffects) -> None:
    target.engines.extend(e for e in source.engines if e not in target.engines)
    target.opens.extend(source.opens)
    target.open_seq.extend(source.open_seq)
    target.resets.extend(source.resets)
    target.escapes.extend(source.escapes)
    target.pid_guards.extend(source.pid_guards)
    target.at_fork_child_hooks.extend(source.at_fork_child_hooks)


def word_quantity(text: str | None, location: Location, detail: str, word=None) -> Quantity | None:
    """An integer from a command-line or config word, keeping `${VAR:-N}` provenance."""
    if text is None:
        return None
    origin_kind = OriginKind.FILE
    env_var = None
    symbolic = None
    for ref in getattr(word, "refs", ()) or ():
        env_var = ref.name
        if ref.source == "default":
            origin_kind = OriginKind.ENV_DEFAULT
        elif ref.source == "unset":
            origin_kind = OriginKind.ENV_UNSET
            symbolic = word.raw
    try:
        value = int(str(text).strip())
    except ValueError:
        value = None
        symbolic = symbolic or str(text)
    return Quantity(value, Origin(origin_kind, location, detail), symbolic=symbolic, env_var=env_var)


def python_entry(command: Command, project: Project, roots: list[str], launch=None) -> str | None:
    """`python script.py` / `python -m package.module`: the project module it runs as __main__."""
    import re as _re

    if not _re.fullmatch(r"python(\d(\.\d+)?)?", command.program):
        return None
    words = command.argv[1:]
    index = 0
    while index < len(words):
        text = words[index].text
        if text == "-m" and index + 1 < len(words):
            name = words[index + 1].text
            return name if project.module_file(name, roots) else None
        if text in ("-c",):
            return None
        if text.startswith("-"):
            index += 1
            continue
        from pgforklint.launch.paths import repo_file

        rel = repo_file(project, launch, text) if text.endswith(".py") else None
        if rel is not None:
            for root in sorted(roots, key=len, reverse=True):
                prefix = (root.strip("/") + "/") if root.strip("/") else ""
                if rel.startswith(prefix):
                    return rel[len(prefix):-3].replace("/", ".").removesuffix(".__init__")
        return None
    return None
