"""Shared machinery for servers that load code in a parent and fork children.

A server adapter describes the parent's steps (import a config module, run master hooks, import
the app when it preloads) and the child-side hooks; this module walks them with one Interpreter,
so engines keep their identity between the parent and the children, and records what happens in
each phase.
"""

from __future__ import annotations

from typing import Callable

from pgforklint.diagnostics import Location
from pgforklint.extract.importtime import (
    BoundMethod,
    FunctionVal,
    Interpreter,
    ModuleVal,
    Value,
)
from pgforklint.model import AppRef, Hook, ProcessEffects, Server


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
