"""The vocabulary of fixes: edits, fixes, the planning context, and the reset recipe for one engine."""

from __future__ import annotations

import ast
import enum
from collections.abc import Callable
from dataclasses import field
from pathlib import Path

from pgforklint.model import DeploymentModel, Engine, EngineKind, Server
from pgforklint.records import record


class Applicability(str, enum.Enum):
    SAFE = "safe"  # keeps the program's meaning apart from the bug it fixes; applied by --fix
    UNSAFE = "unsafe"  # changes behaviour beyond the bug (launch command, server mode); needs --unsafe-fixes


class NoFix(Exception):
    """No automatic fix; the message says why (shown in the finding's fix hint)."""


@record
class Edit:
    """One change to one file: `transform(old_text) -> new_text`. Edits compose in `order`."""

    path: str  # project-relative, '/'-separated
    transform: Callable[[str], str]
    order: tuple = (1, 0)  # (0, -line, -column): positional edits first, bottom-up; then (1, n) structural ones
    python: bool = True
    description: str = ""


@record
class Fix:
    applicability: Applicability
    message: str
    edits: list[Edit] = field(default_factory=list)

    @property
    def paths(self) -> set[str]:
        return {e.path for e in self.edits}


@record
class ResetRecipe:
    """How a child (or the parent) resets one engine: imports and statements, as source text.

    `imports` are (module, name) pairs to import inside the hook (`from module import name`): a
    module that is already imported when the hook runs, so the import has no side effects.
    """

    imports: list[tuple[str, str]]
    statements: list[str]
    parent_side: bool = False  # Django, SQLAlchemy < 1.4.33: close in the parent before the fork instead
    defined_in: str | None = None  # module where the engine is bound (no import needed there)
    # Where only a child-side hook exists (Celery, uWSGI) and the parent-side reset is the safe one: the child
    # statements to use instead, and why that is an unsafe fix.
    child_statements: list[str] | None = None
    child_unsafe: str | None = None

    def body(self, module_here: str | None = None, names_taken: set[str] = frozenset()) -> list[str]:
        lines = []
        for module, name in self.imports:
            if module_here is not None and module == module_here:
                continue
            lines.append(f"from {module} import {name}")
        return lines + self.statements


class Context:
    """What planners need: the model, the project's files, and the declared requirements."""

    def __init__(self, model: DeploymentModel, root: Path, project=None):
        self.model = model
        self.root = Path(root)
        self.project = project
        self._trees: dict[str, ast.Module | None] = {}

    def roots(self) -> list[str]:
        if self.project is not None:
            return self.project.default_module_roots()
        roots = [""]
        if (self.root / "src").is_dir():
            roots.append("src")
        return roots

    def exists(self, rel: str) -> bool:
        return (self.root / rel).is_file()

    def module_file(self, module: str) -> str | None:
        if self.project is not None:
            return self.project.module_file(module, self.roots())
        parts = module.split(".")
        for root in self.roots():
            base = "/".join(p for p in (root, *parts) if p)
            for candidate in (base + ".py", base + "/__init__.py"):
                if self.exists(candidate):
                    return candidate
        return None

    def module_name(self, rel: str) -> str | None:
        """The dotted module name of a project file, under the first module root that holds it."""
        for root in sorted(self.roots(), key=len, reverse=True):
            prefix = f"{root.strip('/')}/" if root.strip("/") else ""
            if rel.startswith(prefix) and rel.endswith(".py"):
                parts = rel[len(prefix):-3].split("/")
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                if parts and all(part.isidentifier() for part in parts):
                    return ".".join(parts)
        return None

    def tree(self, rel: str) -> ast.Module | None:
        if rel not in self._trees:
            tree = None
            source = self.project.python(rel) if self.project is not None else None
            if source is not None:
                tree = source.tree
            elif self.exists(rel):
                try:
                    from pgforklint.read.python import read_python

                    tree = read_python(self.root / rel).tree
                except Exception:  # noqa: BLE001 - unreadable files are PGF100 elsewhere
                    tree = None
            self._trees[rel] = tree
        return self._trees[rel]

    def dispose_keep(self) -> bool | None:
        """Whether `engine.dispose(close=False)` exists on every SQLAlchemy the project allows (added in 1.4.33):
        True, False (every allowed version is older), or None (the project does not say)."""
        from pgforklint.rules.fork import dispose_keep_available

        return dispose_keep_available(self.model)

    def sqlalchemy_versions(self) -> str:
        versions = self.model.facts.get("sqlalchemy_versions")
        return versions.text if versions is not None and versions.known else "an unpinned SQLAlchemy"


def module_of_symbol(engine: Engine) -> tuple[str, str] | None:
    module, _, name = engine.symbol.partition(":")
    if not module or not name.isidentifier():
        return None
    return module, name


def top_level_binding(tree: ast.Module, name: str) -> ast.stmt | None:
    """The last top-level statement binding `name` (assignment, def, class, import)."""
    found = None
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and statement.name == name:
            found = statement
        elif isinstance(statement, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id == name for t in statement.targets):
                found = statement
        elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name) and statement.target.id == name:
            found = statement
        elif isinstance(statement, (ast.Import, ast.ImportFrom)):
            for alias in statement.names:
                if (alias.asname or alias.name.split(".")[0]) == name:
                    found = statement
    return found


def engine_recipe(ctx: Context, server: Server, engine: Engine) -> ResetRecipe:
    """The statements that reset `engine` after the fork (or, for Django, before it), or NoFix."""
    if engine.kind is EngineKind.SQLALCHEMY:
        where = module_of_symbol(engine)
        if where is None:
            raise NoFix("the engine is not bound to a module-level name a hook can import")
        module, name = where
        expr = f"{name}.sync_engine" if engine.extra.get("async") else name
        keep = ctx.dispose_keep()
        if keep is True:
            return ResetRecipe([(module, name)], [f"{expr}.dispose(close=False)"], defined_in=module)
        # `dispose(close=False)` raises TypeError before SQLAlchemy 1.4.33, in the child hook: the worker would not
        # boot. `dispose()` in the parent right before the fork works on every version (SQLAlchemy's pooling docs).
        versions = ctx.sqlalchemy_versions()
        if keep is False:
            child, why = [f"{expr}.dispose()"], (
                f"{versions} has no `dispose(close=False)`; `dispose()` in the child also closes the parent's copy of the "
                "connections, which is right only while the parent never uses the engine after forking")
        else:
            child, why = [f"{expr}.dispose(close=False)"], (
                "the project does not pin SQLAlchemy, and `dispose(close=False)` (SQLAlchemy >= 1.4.33) stops the "
                "worker from booting on an older one")
        return ResetRecipe([(module, name)], [f"{expr}.dispose()"], parent_side=True, defined_in=module,
                           child_statements=child, child_unsafe=why)
    if engine.kind is EngineKind.FLASK_SQLALCHEMY:
        return _flask_sqlalchemy_recipe(ctx, server, engine)
    if engine.kind is EngineKind.DJANGO:
        return ResetRecipe([("django.db", "connections")], ["connections.close_all()"], parent_side=True)
    if engine.kind in (EngineKind.PSYCOPG2_POOL, EngineKind.PSYCOPG_POOL, EngineKind.ASYNCPG_POOL):
        raise NoFix("no automatic fix for a psycopg/asyncpg pool: an inherited pool cannot be detached without "
                    "closing its sockets (or, for psycopg_pool, without its background threads, which do not survive "
                    "the fork); the pool has to be created or opened in the child, which moves application code")
    if engine.kind is EngineKind.RAW_CONNECTION:
        raise NoFix("no automatic fix for a raw connection: it has to be opened in the child (or closed in the parent "
                    "before the fork), which moves application code")
    raise NoFix(f"no automatic fix for {engine.kind.value}")


def _flask_sqlalchemy_recipe(ctx: Context, server: Server, engine: Engine) -> ResetRecipe:
    # The walk names the extension after the module-level name it is first bound to (`app.ext:db`).
    where = module_of_symbol(engine)
    db_file = ctx.module_file(where[0]) if where is not None else None
    tree = ctx.tree(db_file) if db_file is not None else None
    binding = top_level_binding(tree, where[1]) if tree is not None and where is not None else None
    if not isinstance(binding, (ast.Assign, ast.AnnAssign)) or not isinstance(binding.value, ast.Call):  # rebound later
        raise NoFix("the Flask-SQLAlchemy extension is not bound to a module-level name a hook can import")
    db_module, db_name = where
    app = server.app
    if app is None or app.attribute is None or app.factory_call:
        raise NoFix("Flask-SQLAlchemy's `db.engine` needs an app context, and the app is built by a factory at start-up, "
                    "so a hook cannot name it; reset it with `with app.app_context(): db.engine.dispose(close=False)` "
                    "where the app is available")
    app_file = ctx.module_file(app.module)
    if app_file is None or not _is_flask_app(ctx, app_file, app.attribute):
        raise NoFix("cannot tell statically that the served object is the Flask app (it may be wrapped in middleware), "
                    "so a hook cannot call `app.app_context()` on it safely")
    app_name = app.attribute if app.attribute != db_name else None
    if app_name is None:
        raise NoFix("the app and the extension have the same name")
    imports = [(db_module, db_name), (app.module, app.attribute)]
    keep = ctx.dispose_keep()
    if keep is True:
        return ResetRecipe(imports, [f"with {app.attribute}.app_context():\n    {db_name}.engine.dispose(close=False)"],
                           defined_in=None)
    # As for a plain engine (engine_recipe): without `close=False` for sure, dispose in the parent before the fork.
    child = "dispose()" if keep is False else "dispose(close=False)"
    why = (f"{ctx.sqlalchemy_versions()} has no `dispose(close=False)`; `dispose()` in the child also closes the "
           "parent's copy of the connections" if keep is False else
           "the project does not pin SQLAlchemy, and `dispose(close=False)` (SQLAlchemy >= 1.4.33) stops the worker "
           "from booting on an older one")
    return ResetRecipe(imports, [f"with {app.attribute}.app_context():\n    {db_name}.engine.dispose()"],
                       parent_side=True, defined_in=None,
                       child_statements=[f"with {app.attribute}.app_context():\n    {db_name}.engine.{child}"],
                       child_unsafe=why)


def _is_flask_app(ctx: Context, rel: str, name: str, depth: int = 0) -> bool:
    """`name` in module `rel` is bound to `Flask(...)`, or to a call of a project factory that returns one."""
    tree = ctx.tree(rel)
    if tree is None or depth > 2:
        return False
    binding = top_level_binding(tree, name)
    if not isinstance(binding, ast.Assign) or not isinstance(binding.value, ast.Call):
        if isinstance(binding, ast.ImportFrom) and binding.level == 0 and binding.module:
            source_name = next(a.name for a in binding.names if (a.asname or a.name) == name)
            target = ctx.module_file(binding.module)
            return target is not None and _is_flask_app(ctx, target, source_name, depth + 1)
        return False
    func = binding.value.func
    flask_names = _flask_class_names(tree)
    if isinstance(func, ast.Name) and func.id in flask_names:
        return True
    if isinstance(func, ast.Attribute) and func.attr == "Flask" and isinstance(func.value, ast.Name) and func.value.id == "flask":
        return True
    if isinstance(func, ast.Name):
        factory = top_level_binding(tree, func.id)
        factory_file, factory_tree = rel, tree
        if isinstance(factory, ast.ImportFrom) and factory.module and factory.level == 0:
            source_name = next(a.name for a in factory.names if (a.asname or a.name) == func.id)
            factory_file = ctx.module_file(factory.module)
            factory_tree = ctx.tree(factory_file) if factory_file else None
            factory = top_level_binding(factory_tree, source_name) if factory_tree else None
        if isinstance(factory, ast.FunctionDef) and factory_tree is not None:
            return _returns_flask(factory, _flask_class_names(factory_tree))
    return False


def _flask_class_names(tree: ast.Module) -> set[str]:
    names = set()
    for statement in tree.body:
        if isinstance(statement, ast.ImportFrom) and statement.module == "flask":
            for alias in statement.names:
                if alias.name == "Flask":
                    names.add(alias.asname or "Flask")
    return names


def _returns_flask(function: ast.FunctionDef, flask_names: set[str]) -> bool:
    """The factory assigns `Flask(...)` to a variable at the top of its body and returns only that variable."""
    flask_vars: set[str] = set()
    for statement in function.body:
        if isinstance(statement, ast.Assign):
            value = statement.value
            is_flask = isinstance(value, ast.Call) and (
                (isinstance(value.func, ast.Name) and value.func.id in flask_names)
                or (isinstance(value.func, ast.Attribute) and value.func.attr == "Flask"))
            for target in statement.targets:
                if isinstance(target, ast.Name):
                    if is_flask:
                        flask_vars.add(target.id)
                    else:
                        flask_vars.discard(target.id)  # rebound (middleware): no longer the Flask app
    returns = [node for node in ast.walk(function) if isinstance(node, ast.Return)]
    return bool(returns) and all(isinstance(r.value, ast.Name) and r.value.id in flask_vars for r in returns)


def load_pyedit():
    """The libcst-based editing module, imported only when an edit runs (libcst costs ~0.17 s to import)."""
    from pgforklint.fix import pyedit as module

    return module
