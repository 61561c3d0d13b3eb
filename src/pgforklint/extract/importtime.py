"""What runs when a process imports the application: an abstract walk of the project's own code.

Nothing is executed. Module bodies are walked in order (not `if __name__ == "__main__":`), class
bodies and decorators too; functions and app factories that module-level code calls are followed
into the project's own modules (depth-bounded, with a recursion guard); project-local imports are
followed transitively, absolute and relative. Library calls are recognised by qualified name, so
aliases (`import sqlalchemy as sa`, `from sqlalchemy import create_engine as ce`) work.

The walk records, in order, the engines and pools created, the operations that open a real
connection, the resets (dispose, close), engines handed to code pgforklint cannot see, and the
fork hooks registered. Adapters for servers (gunicorn, Celery, uWSGI ...) drive it.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import field, replace

from pgforklint.diagnostics import Location
from pgforklint.extract.positions import node_columns
from pgforklint.extract.pyvalues import StaticEvaluator, _is_main_guard
from pgforklint.model import (
    ConnectionOpen,
    Engine,
    EngineEscape,
    EngineKind,
    ProcessEffects,
    Quantity,
    Reset,
    ResetKind,
)
from pgforklint.project import MAX_CALL_DEPTH, MAX_IMPORT_DEPTH, MAX_MODULES, Project
from pgforklint.records import record
from pgforklint.safeio import bounded_items, spend_walk

# --- abstract values -----------------------------------------------------------------------


class Value:
    """Something an expression evaluates to. `Unknown` for anything pgforklint does not model."""


class Unknown(Value):
    pass


UNKNOWN = Unknown()


@record(eq=False)
class ModuleVal(Value):
    name: str
    namespace: dict[str, Value] = field(default_factory=dict)
    path: str | None = None


@record(eq=False)
class ExternalVal(Value):
    """A name from outside the project: `sqlalchemy.create_engine`, `os.environ`."""

    qualname: str


@record(eq=False)
class FunctionVal(Value):
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
    module: ModuleVal
    closure: dict[str, Value] | None = None
    bound_self: Value | None = None
    # Parameter defaults, evaluated where the function is defined (`def init_db(engine=engine)`).
    defaults: dict[str, Value] | None = None
    # "cache": `functools.lru_cache`/`cache` (one result per process); "context": `contextlib.contextmanager`.
    wrapper: str | None = None

    @property
    def name(self) -> str:
        return getattr(self.node, "name", "<lambda>")


@record(eq=False)
class PartialVal(Value):
    """`functools.partial(func, *args, **kwargs)`."""

    func: Value
    args: list[Value]
    kwargs: dict[str, Value]


@record(eq=False)
class ContextVal(Value):
    """What a project `@contextmanager` function returns: entering it gives what the generator yielded."""

    yielded: Value


@record(eq=False)
class ClassVal(Value):
    name: str
    module: ModuleVal
    namespace: dict[str, Value]
    bases: list[Value]
    node: ast.ClassDef


@record(eq=False)
class InstanceVal(Value):
    cls: ClassVal


@record(eq=False)
class EngineVal(Value):
    engine: Engine


@record(eq=False)
class ConnVal(Value):
    """A checked-out connection (SQLAlchemy Connection, DB-API connection from a pool)."""

    engine: Engine
    raw: bool = False
    # The open that checked it out, when it is a connection the caller holds (`engine.connect()`):
    # bound to a module-level name, it stays checked out across the fork (see `ConnectionOpen.retained`).
    open_: ConnectionOpen | None = None


@record(eq=False)
class SessionFactoryVal(Value):
    engine: Engine | None
    proxied: "SessionVal | None" = None  # scoped_session: the one session its methods act on


@record(eq=False)
class SessionVal(Value):
    engine: Engine | None
    pending: bool = False  # objects added: the next flush/commit writes them (and connects)
    subclass: "ClassVal | None" = None  # `class AuditSession(Session)`: the project's methods


@record(eq=False)
class QueryVal(Value):
    engine: Engine | None


@record(eq=False)
class FlaskSQLAVal(Value):
    engine: Engine
    subclass: "ClassVal | None" = None  # `class Database(SQLAlchemy)`: the project's methods


@record(eq=False)
class ConstVal(Value):
    value: object


@record(eq=False)
class BoundMethod(Value):
    obj: Value
    name: str


class AdapterVal(Value):
    """A value a framework adapter models (a Celery app, a Django queryset ...).

    Each method returns None to fall back to the generic behaviour.
    """

    def attribute(self, interp: "Interpreter", attr: str, node: ast.AST, frame: "Frame") -> "Value | None":
        return None

    def call(self, interp: "Interpreter", node: ast.Call, args: list["Value"], kwargs: dict[str, "Value"],
             frame: "Frame", loc: Location) -> "Value | None":
        return None

    def call_method(self, interp: "Interpreter", name: str, node: ast.Call, args: list["Value"],
                    kwargs: dict[str, "Value"], frame: "Frame", loc: Location) -> "Value | None":
        return None

    def iterate(self, interp: "Interpreter", node: ast.AST, frame: "Frame") -> None:
        return None

    def decorate(self, interp: "Interpreter", function: "FunctionVal", node: ast.AST, frame: "Frame") -> None:
        return None

    def subscript(self, interp: "Interpreter", node: ast.AST, frame: "Frame") -> "Value | None":
        return None

    def enter(self, interp: "Interpreter", node: ast.AST, frame: "Frame") -> "Value | None":
        return None

    def set_attribute(self, interp: "Interpreter", attr: str, value: "Value", location: Location) -> None:
        return None


@record(eq=False)
class ContainerVal(Value):
    """A list/tuple/dict literal: kept so that engines inside are not lost (e.g. SQLALCHEMY_ENGINE_OPTIONS)."""

    items: list[Value]
    node: ast.AST | None = None
    keyed: dict | None = None  # a dict's values by constant key (`_engines["default"] = create_engine(...)`)


# --- qualified names the walk understands ---------------------------------------------------

SQLALCHEMY_ENGINE_FACTORIES = {
    "sqlalchemy.create_engine", "sqlalchemy.engine.create_engine", "sqlalchemy.engine.create.create_engine",
    "sqlalchemy.ext.asyncio.create_async_engine", "sqlalchemy.ext.asyncio.engine.create_async_engine",
    "sqlalchemy.engine_from_config", "sqlalchemy.engine.engine_from_config",
    "sqlalchemy.ext.asyncio.async_engine_from_config", "sqlmodel.create_engine",
}
SESSION_FACTORIES = {
    "sqlalchemy.orm.sessionmaker", "sqlalchemy.orm.session.sessionmaker", "sqlalchemy.orm.scoped_session",
    "sqlalchemy.orm.scoping.scoped_session", "sqlalchemy.ext.asyncio.async_sessionmaker",
    "sqlalchemy.ext.asyncio.async_scoped_session",
}
SESSION_CLASSES = {
    "sqlalchemy.orm.Session", "sqlalchemy.orm.session.Session", "sqlalchemy.ext.asyncio.AsyncSession",
    "sqlmodel.Session", "sqlmodel.orm.session.Session",
}
RAW_CONNECT = {"psycopg2.connect", "psycopg.connect", "psycopg.Connection.connect", "asyncpg.connect",
               "psycopg.AsyncConnection.connect", "pg8000.connect", "pg8000.native.Connection"}
PSYCOPG2_POOLS = {"psycopg2.pool.SimpleConnectionPool", "psycopg2.pool.ThreadedConnectionPool",
                  "psycopg2.pool.AbstractConnectionPool", "psycopg2.pool.PersistentConnectionPool"}
PSYCOPG_POOLS = {"psycopg_pool.ConnectionPool", "psycopg_pool.AsyncConnectionPool", "psycopg_pool.NullConnectionPool",
                 "psycopg_pool.pool.ConnectionPool", "psycopg_pool.AsyncNullConnectionPool"}
ASYNCPG_POOLS = {"asyncpg.create_pool", "asyncpg.pool.create_pool"}
FLASK_SQLALCHEMY = {"flask_sqlalchemy.SQLAlchemy", "flask_sqlalchemy.extension.SQLAlchemy",
                    # Flask-AppBuilder's subclasses of flask_sqlalchemy.SQLAlchemy (flask_appbuilder/models/sqla/).
                    "flask_appbuilder.SQLA", "flask_appbuilder.models.sqla.SQLA", "flask_appbuilder.models.sqla.base.SQLA",
                    "flask_appbuilder.models.sqla.base_legacy.SQLA"}
# Library functions that return one of the classes above (flask_appbuilder/utils/legacy.py: the SQLA class
# that matches the installed Flask-SQLAlchemy).
CLASS_FACTORIES = {"flask_appbuilder.utils.legacy.get_sqla_class": "flask_appbuilder.models.sqla.base.SQLA",
                   # Flask-RQ2's extension object, kept so that `rq.get_worker(...)` names the worker it builds
                   "flask_rq2.RQ": "flask_rq2.RQ", "flask_rq2.app.RQ": "flask_rq2.RQ"}
# Library classes a project may subclass: instantiating the subclass behaves like the library class.
# (SQLAlchemy's engine factories are functions, not classes.)
SUBCLASSABLE = FLASK_SQLALCHEMY | PSYCOPG_POOLS | PSYCOPG2_POOLS | SESSION_CLASSES
# Construction of these opens connections: with an `__init__` of the project's own in between, the
# arguments that reach the library (`open=False`, `minconn=0`) are not known, so the subclass is not modelled.
CONNECTING_CLASSES = PSYCOPG_POOLS | PSYCOPG2_POOLS
NULL_POOLS = ("NullPool",)

# Opening methods that hand the caller a connection it holds until it closes it.
HELD_CONNECTION_METHODS = {"connect", "raw_connection"}
ENGINE_OPENING_METHODS = {"connect", "begin", "raw_connection", "execute", "scalar", "table_names", "has_table",
                          "run_callable", "transaction"}
ENGINE_HARMLESS_METHODS = {"execution_options", "update_execution_options", "get_execution_options", "dispose",
                           "clear_compiled_cache", "sync_engine", "url", "dialect", "pool", "name", "driver", "echo"}
SESSION_EXECUTING_METHODS = {"execute", "exec", "scalar", "scalars", "get", "get_one", "connection",
                             "merge", "refresh", "run_sync", "stream", "stream_scalars"}
# A flush or commit connects only when there is something to write: a session's transaction begins without a
# connection, which is procured on first use (SQLAlchemy 2.0 "autobegin"; orm/session.py `_connection_for_bind`).
SESSION_WRITING_METHODS = {"flush", "commit"}
SESSION_PENDING_METHODS = {"add", "add_all", "delete", "bulk_save_objects", "bulk_insert_mappings",
                           "bulk_update_mappings"}
QUERY_TERMINALS = {"all", "first", "one", "one_or_none", "scalar", "count", "get", "exists", "delete", "update",
                   "__iter__", "paginate"}
METADATA_OPENING_METHODS = {"create_all", "drop_all", "reflect"}
POOL_OPENING_METHODS = {"getconn", "connection", "open", "wait", "acquire"}
POOL_CLOSING_METHODS = {"closeall", "close", "terminate"}
ITERATING_BUILTINS = {"list", "len", "tuple", "set", "sorted", "bool", "sum", "any", "all", "dict", "frozenset", "max", "min",
                      "next", "iter", "enumerate"}

CACHING_DECORATORS = {"functools.lru_cache", "functools.cache", "functools.cached_property"}
CONTEXT_DECORATORS = {"contextlib.contextmanager", "contextlib.asynccontextmanager"}

# Packages whose functions are known not to connect when handed an engine at import time.
SAFE_PACKAGES = {
    "sqlalchemy", "sqlmodel", "flask_sqlalchemy", "flask_migrate", "flask", "logging", "builtins", "typing",
    "functools", "os", "sys", "json", "atexit", "dataclasses", "contextlib", "warnings", "weakref", "fastapi",
    "starlette", "structlog", "abc", "enum", "collections", "itertools", "alembic", "celery", "gunicorn",
    # Flask-Security's datastores keep the `db` they are given and query only when a request logs in
    # (pallets-eco/flask-security, flask_security/datastore.py: `Datastore.__init__` is `self.db = db`).
    "flask_security",
}
BUILTIN_NAMES = set(dir(__builtins__)) if isinstance(__builtins__, dict) is False else set(__builtins__)


# --- the walk -----------------------------------------------------------------------------


@record
class Frame:
    module: ModuleVal
    locals: dict[str, Value] | None  # None at module level (globals are the module namespace)
    closure: dict[str, Value] | None = None
    return_value: Value | None = None
    yielded: Value | None = None
    globals: set[str] | None = None  # names declared `global` in this function

    def lookup(self, name: str) -> Value | None:
        if self.locals is not None and name in self.locals and not (self.globals and name in self.globals):
            return self.locals[name]
        if self.closure is not None and name in self.closure:
            return self.closure[name]
        return self.module.namespace.get(name)

    def bind(self, name: str, value: Value) -> None:
        if self.locals is None or (self.globals is not None and name in self.globals):
            self.module.namespace[name] = value
        else:
            self.locals[name] = value


@record
class Hooks:
    """Callbacks for framework adapters that need more than the generic walk."""

    on_call: list[Callable[["Interpreter", str, ast.Call, list[Value], dict[str, Value], Frame], Value | None]] = field(
        default_factory=list
    )
    on_decorated: list[Callable[["Interpreter", Value, FunctionVal, ast.AST, Frame], None]] = field(default_factory=list)
    on_class: list[Callable[["Interpreter", ClassVal, Frame], None]] = field(default_factory=list)
    # An attribute a class does not define itself (Django's `Model.objects`).
    on_class_attribute: list[Callable[["Interpreter", ClassVal, str], "Value | None"]] = field(default_factory=list)
    # A project class instantiated (`class Worker(rq.Worker)`): an adapter's value for it, or None.
    on_instantiate: list[Callable[["Interpreter", ClassVal, list[Value], dict[str, Value], Location], "Value | None"]] = field(
        default_factory=list)
    # An `if` an adapter walks itself (the child branch of `if os.fork() == 0:`); True when handled.
    on_if: list[Callable[["Interpreter", ast.If, Frame], bool]] = field(default_factory=list)
    # The end of a loop's body, with the sequence number at its start (a fork repeated by the next iteration).
    on_loop_end: list[Callable[["Interpreter", int, ast.stmt, Frame], None]] = field(default_factory=list)


class Interpreter:
    """One process's view of the project: modules imported once, engines with stable identities.

    `effects` is where recorded facts go; adapters switch it between the parent and child phases.
    """

    def __init__(self, project: Project, module_roots: list[str], hooks: Hooks | None = None):
        self.project = project
        self.module_roots = module_roots
        self.hooks = hooks or Hooks()
        self.modules: dict[str, ModuleVal] = {}
        self.effects = ProcessEffects()
        self.chain: list[Location] = []  # call sites from the entry to the current statement
        self._import_depth = 0
        self._call_stack: list[int] = []
        self._seq = 0
        self.bound_notices: set[str] = set()
        self.registered: list[tuple[str, Value, Location]] = []  # (kind, target, where): e.g. ("at_fork_child", fn, loc)
        # Environment the walked code sets or the launch gives (os.environ.setdefault("DJANGO_SETTINGS_MODULE", ...)).
        self.env: dict[str, str] = {}
        # Modules whose `if __name__ == "__main__":` body runs (scripts started as `python script.py`).
        self.main_modules: set[str] = set()
        # Adapter-specific state (Django engines, Celery apps, fork points ...).
        self.state: dict[str, object] = {}
        self._texts: dict[str, str] = {}
        # Enclosing `if`s that depend on the environment: (how the code says it, where, default takes it?).
        self.conditions: list[tuple[str, Location, bool | None, tuple[str, ...]]] = []

    def register(self, kind: str, target: Value, location: Location) -> None:
        """A callback handed to a framework: a fork hook, a signal handler."""
        self.registered.append((kind, target, location))

    # -- bookkeeping -------------------------------------------------------------------------

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def loc(self, module: ModuleVal, node: ast.AST) -> Location:
        column, end_column = node_columns(self.source_text(module.path), node)
        return Location(module.path or module.name, getattr(node, "lineno", 1), column,
                        getattr(node, "end_lineno", None), end_column)

    def source_text(self, rel: str | None) -> str | None:
        """The text of a project module (for character columns); None when it cannot be read."""
        if rel is None:
            return None
        text = self._texts.get(rel)
        if text is None:
            source = self.project.python(rel)
            text = source.text if source is not None else ""
            self._texts[rel] = text
        return text

    def record_open(self, engine: Engine, location: Location, operation: str) -> ConnectionOpen:
        open_ = ConnectionOpen(engine, location, operation, tuple(self.chain))
        if self.conditions:
            text, where, default, names = self.conditions[-1]
            if len(self.conditions) > 1:
                text = " and ".join(c[0] for c in self.conditions)
                default = None if any(c[2] is None for c in self.conditions) else all(c[2] for c in self.conditions)
                names = tuple(dict.fromkeys(n for c in self.conditions for n in c[3]))
            open_ = replace(open_, condition=text, condition_location=where, condition_default=default,
                            condition_env=names)
        self.effects.opens.append(open_)
        self.effects.open_seq.append(self.next_seq())
        return open_

    def set_retained(self, conn: "ConnVal", retained: bool) -> None:
        """Mark the open behind a checked-out connection as held (bound at module level) or released."""
        open_ = conn.open_
        if open_ is None or open_.retained is retained:
            return
        for index, recorded in enumerate(self.effects.opens):
            if recorded is open_:
                conn.open_ = self.effects.opens[index] = replace(open_, retained=retained)
                return

    def record_reset(self, reset: Reset) -> None:
        self.effects.resets.append((self.next_seq(), reset))

    def record_engine(self, engine: Engine) -> None:
        if engine not in self.effects.engines:
            self.effects.engines.append(engine)

    def notice_bound(self, what: str, location: Location) -> None:
        if what not in self.bound_notices:
            self.bound_notices.add(what)
            self.project.notices.append(_bound_notice(what, location))

    # -- modules ------------------------------------------------------------------------------

    def import_module(self, name: str, location: Location | None = None) -> ModuleVal | None:
        """Import a project module (and its parent packages first), walking its body once."""
        if name in self.modules:
            return self.modules[name]
        rel = self.project.module_file(name, self.module_roots)
        if rel is None:
            if self.project.is_package_dir(name, self.module_roots):
                module = ModuleVal(name, {}, None)
                self.modules[name] = module
                return module
            return None
        parts = name.split(".")
        for i in range(1, len(parts)):
            parent = ".".join(parts[:i])
            if parent not in self.modules:
                self.import_module(parent, location)
        if len(self.modules) >= MAX_MODULES:
            self.notice_bound(f"more than {MAX_MODULES} modules", location or Location(rel, 1))
            return None
        if self._import_depth >= MAX_IMPORT_DEPTH:
            self.notice_bound(f"imports nested deeper than {MAX_IMPORT_DEPTH}", location or Location(rel, 1))
            return None
        module = ModuleVal(name, {"__name__": ConstVal(name)}, rel)
        self.modules[name] = module  # registered before walking: import cycles see the partial module
        if len(parts) > 1 and parts[0] in self.modules:
            parent_module = self.modules[".".join(parts[:-1])] if ".".join(parts[:-1]) in self.modules else None
            if parent_module is not None:
                parent_module.namespace.setdefault(parts[-1], module)
        from pgforklint import prefilter

        if prefilter.defer(self, module):  # nothing it imports can record a fact: walked only when needed
            return module
        source = self.project.python(rel)
        if source is None:
            return module
        self._import_depth += 1
        if location is not None:
            self.chain.append(location)
        try:
            self.walk_body(source.tree.body, Frame(module, None))
        except RecursionError:  # code nested deeper than the walk can follow: PGF100, the run goes on
            self.project.report_too_deep(rel)
        finally:
            self._import_depth -= 1
            if location is not None:
                self.chain.pop()
        return module

    def resolve_relative(self, frame: Frame, module: str | None, level: int) -> str | None:
        from pgforklint.read.python import absolute_import, package_of

        is_package = bool(frame.module.path and frame.module.path.endswith("__init__.py"))
        return absolute_import(package_of(frame.module.name, is_package), module, level)

    # -- statements ---------------------------------------------------------------------------

    def walk_body(self, body: list[ast.stmt], frame: Frame) -> None:
        for stmt in body:
            self.walk_stmt(stmt, frame)

    def walk_stmt(self, stmt: ast.stmt, frame: Frame) -> None:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                loc = self.loc(frame.module, stmt)
                module = self.import_module(alias.name, loc)
                if alias.asname:
                    frame.bind(alias.asname, module if module else ExternalVal(alias.name))
                else:
                    head = alias.name.split(".")[0]
                    head_module = self.modules.get(head) if module else None
                    frame.bind(head, head_module if head_module else ExternalVal(head))
        elif isinstance(stmt, ast.ImportFrom):
            self._import_from(stmt, frame)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function = FunctionVal(stmt, frame.module, frame.locals, defaults=self._defaults(stmt.args, frame))
            value: Value = function
            for decorator in reversed(stmt.decorator_list):
                deco = self.eval(decorator, frame)
                for hook in self.hooks.on_decorated:
                    hook(self, deco, function, decorator, frame)
                if isinstance(deco, AdapterVal):
                    deco.decorate(self, function, decorator, frame)
                self._note_decorator(deco, function, decorator, frame)
                value = self._decorated(deco, value, decorator, frame)
            frame.bind(stmt.name, value)
        elif isinstance(stmt, ast.ClassDef):
            from pgforklint.prefilter import resolve

            bases = [resolve(self, self.eval(b, frame)) for b in stmt.bases]
            for keyword in stmt.keywords:
                self.eval(keyword.value, frame)
            for decorator in stmt.decorator_list:
                self.eval(decorator, frame)
            namespace: dict[str, Value] = {}
            cls = ClassVal(stmt.name, frame.module, namespace, bases, stmt)
            class_frame = Frame(frame.module, namespace, closure=frame.locals)
            self.walk_body(stmt.body, class_frame)
            frame.bind(stmt.name, cls)
            for hook in self.hooks.on_class:
                hook(self, cls, frame)
        elif isinstance(stmt, ast.Assign):
            value = self.eval(stmt.value, frame)
            for target in stmt.targets:
                self.assign(target, value, frame)
        elif isinstance(stmt, ast.AnnAssign):
            if stmt.value is not None:
                self.assign(stmt.target, self.eval(stmt.value, frame), frame)
        elif isinstance(stmt, ast.AugAssign):
            value = self.eval(stmt.value, frame)
            if isinstance(stmt.target, ast.Name) and isinstance(stmt.op, ast.Add) and isinstance(value, ContainerVal):
                current = frame.lookup(stmt.target.id)
                if isinstance(current, ContainerVal):
                    items = [*current.items, *value.items]
                    kept = bounded_items(items)  # `x += x` doubles a list per line
                    if len(kept) < len(items):
                        self.notice_bound(f"a list grown past {len(kept)} items", self.loc(frame.module, stmt))
                    frame.bind(stmt.target.id, ContainerVal(kept, current.node))
        elif isinstance(stmt, ast.Expr):
            self.eval(stmt.value, frame)
        elif isinstance(stmt, ast.If):
            if _is_main_guard(stmt.test) and frame.locals is None and frame.module.name in self.main_modules:
                self.walk_body(stmt.body, frame)
                return
            if _is_main_guard(stmt.test) or _is_type_checking(stmt.test):
                self.walk_body(stmt.orelse, frame)
                return
            if any(hook(self, stmt, frame) for hook in self.hooks.on_if):
                return
            self.eval(stmt.test, frame)
            condition = env_condition(self, stmt.test, frame)
            if condition is None:
                self.walk_body(stmt.body, frame)
                self.walk_body(stmt.orelse, frame)
                return
            text, default, names = condition
            where = self.loc(frame.module, stmt.test)
            for body, said, taken in ((stmt.body, text, default),
                                      (stmt.orelse, f"not ({text})", None if default is None else not default)):
                if not body:
                    continue
                self.conditions.append((said, where, taken, names))
                try:
                    self.walk_body(body, frame)
                finally:
                    self.conditions.pop()
        elif isinstance(stmt, (ast.For, ast.AsyncFor)):
            start = self._seq
            iterable = self.eval(stmt.iter, frame)
            self._iterate(iterable, stmt.iter, frame)
            self.assign(stmt.target, UNKNOWN, frame)
            self.walk_body(stmt.body, frame)
            for hook in self.hooks.on_loop_end:
                hook(self, start, stmt, frame)
            self.walk_body(stmt.orelse, frame)
        elif isinstance(stmt, ast.While):
            start = self._seq
            self.eval(stmt.test, frame)
            self.walk_body(stmt.body, frame)
            for hook in self.hooks.on_loop_end:
                hook(self, start, stmt, frame)
            self.walk_body(stmt.orelse, frame)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            managed: list[ConnVal] = []
            for item in stmt.items:
                value = self.eval(item.context_expr, frame)
                entered = self._enter_context(value, item.context_expr, frame)
                managed.extend(v for v in (value, entered) if isinstance(v, ConnVal))
                if item.optional_vars is not None:
                    self.assign(item.optional_vars, entered, frame)
            self.walk_body(stmt.body, frame)
            for conn in managed:
                self.set_retained(conn, False)  # the with-block closes (returns) the connection
        elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            scope = frame.locals if frame.locals is not None else frame.module.namespace
            before = dict(scope)
            self.walk_body(stmt.body, frame)
            # `try: from lib import f` / `except ImportError: def f(...)`: the fallback is for environments
            # without the library; the deployment being analysed has it, so the library's binding stays.
            imported = {name: value for name, value in scope.items()
                        if isinstance(value, ExternalVal) and before.get(name) is not value}
            for handler in stmt.handlers:
                if handler.type is not None:
                    self.eval(handler.type, frame)
                self.walk_body(handler.body, frame)
                if imported and _catches_import_error(handler.type):
                    scope.update(imported)
            self.walk_body(stmt.orelse, frame)
            self.walk_body(stmt.finalbody, frame)
        elif isinstance(stmt, ast.Return):
            if stmt.value is not None:
                value = self.eval(stmt.value, frame)
                if frame.return_value is None or isinstance(frame.return_value, Unknown):
                    frame.return_value = value
        elif isinstance(stmt, ast.Global):
            if frame.locals is not None:
                frame.globals = {*(frame.globals or ()), *stmt.names}
        elif isinstance(stmt, ast.Raise):
            if stmt.exc is not None:
                self.eval(stmt.exc, frame)
        elif isinstance(stmt, ast.Assert):
            self.eval(stmt.test, frame)
        elif type(stmt).__name__ == "Match":
            self.eval(stmt.subject, frame)
            for case in stmt.cases:
                self.walk_body(case.body, frame)

    def _import_from(self, stmt: ast.ImportFrom, frame: Frame) -> None:
        loc = self.loc(frame.module, stmt)
        name = self.resolve_relative(frame, stmt.module, stmt.level)
        if name is None:
            return
        module = self.import_module(name, loc)
        for alias in stmt.names:
            if alias.name == "*":
                if module is not None:
                    for key, value in list(module.namespace.items()):
                        if not key.startswith("_"):
                            frame.bind(key, value)
                continue
            local = alias.asname or alias.name
            if module is None:
                frame.bind(local, ExternalVal(f"{name}.{alias.name}") if not stmt.level else UNKNOWN)
                continue
            if alias.name in module.namespace:
                frame.bind(local, module.namespace[alias.name])
                continue
            submodule = self.import_module(f"{name}.{alias.name}", loc)
            frame.bind(local, submodule if submodule is not None else UNKNOWN)

    def assign(self, target: ast.AST, value: Value, frame: Frame) -> None:
        if isinstance(target, ast.Name):
            module_level = frame.locals is None or bool(frame.globals and target.id in frame.globals)
            if isinstance(value, (EngineVal, FlaskSQLAVal)) and module_level and value.engine.symbol.endswith(">"):
                value.engine.symbol = f"{frame.module.name}:{target.id}"
            if isinstance(value, ConnVal) and frame.locals is None:
                self.set_retained(value, True)
            frame.bind(target.id, value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            items = value.items if isinstance(value, ContainerVal) and len(value.items) == len(target.elts) else None
            for index, element in enumerate(target.elts):
                self.assign(element, items[index] if items else UNKNOWN, frame)
        elif isinstance(target, ast.Attribute):
            base = self.eval(target.value, frame)
            if isinstance(base, (ModuleVal,)):
                base.namespace[target.attr] = value
            elif isinstance(base, InstanceVal):
                base.cls.namespace.setdefault(target.attr, value)
            elif isinstance(base, ExternalVal):
                self.register(f"setattr:{base.qualname}.{target.attr}", value, self.loc(frame.module, target))
            elif isinstance(base, AdapterVal):
                base.set_attribute(self, target.attr, value, self.loc(frame.module, target))
        elif isinstance(target, ast.Subscript):
            base = self.eval(target.value, frame)
            key = self.eval(target.slice, frame)
            if isinstance(base, ContainerVal) and isinstance(base.node, ast.Dict) and isinstance(key, ConstVal) \
                    and isinstance(key.value, (str, int)):
                if base.keyed is None:
                    base.keyed = {}
                base.keyed[key.value] = value
                base.items.append(value)
            if isinstance(base, ExternalVal) and base.qualname == "os.environ" and isinstance(key, ConstVal) \
                    and isinstance(key.value, str) and isinstance(value, ConstVal) and isinstance(value.value, str):
                self.env[key.value] = value.value
        elif isinstance(target, ast.Starred):
            self.assign(target.value, UNKNOWN, frame)

    # -- expressions --------------------------------------------------------------------------

    def eval(self, node: ast.AST, frame: Frame) -> Value:
        if isinstance(node, ast.Name):
            value = frame.lookup(node.id)
            if value is not None:
                return value
            if node.id in BUILTIN_NAMES:
                return ExternalVal(f"builtins.{node.id}")
            return UNKNOWN
        if isinstance(node, ast.Constant):
            return ConstVal(node.value)
        if isinstance(node, ast.Attribute):
            return self.get_attribute(self.eval(node.value, frame), node.attr, node, frame)
        if isinstance(node, ast.Call):
            return self.eval_call(node, frame)
        if isinstance(node, ast.Await):
            value = self.eval(node.value, frame)
            self._awaited(value, node)
            return value
        if isinstance(node, ast.Subscript):
            base = self.eval(node.value, frame)
            self.eval(node.slice, frame)
            if isinstance(base, AdapterVal):
                result = base.subscript(self, node, frame)
                return result if result is not None else UNKNOWN
            if isinstance(base, ExternalVal):
                return ExternalVal(f"{base.qualname}[]")
            if isinstance(base, ContainerVal) and base.keyed:
                key = self.eval(node.slice, frame)
                if isinstance(key, ConstVal) and key.value in base.keyed:
                    return base.keyed[key.value]
            return UNKNOWN
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            return ContainerVal([self.eval(e, frame) for e in node.elts], node)
        if isinstance(node, ast.Dict):
            items = []
            keyed: dict = {}
            for key, value in zip(node.keys, node.values):
                key_value = self.eval(key, frame) if key is not None else None
                items.append(self.eval(value, frame))
                if isinstance(key_value, ConstVal) and isinstance(key_value.value, (str, int)):
                    keyed[key_value.value] = items[-1]
            return ContainerVal(items, node, keyed)
        if isinstance(node, ast.Lambda):
            return FunctionVal(node, frame.module, frame.locals)
        if isinstance(node, ast.NamedExpr):
            value = self.eval(node.value, frame)
            self.assign(node.target, value, frame)
            return value
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            for generator in node.generators:
                iterable = self.eval(generator.iter, frame)
                if not isinstance(node, ast.GeneratorExp):
                    self._iterate(iterable, generator.iter, frame)
            return UNKNOWN
        if isinstance(node, ast.Starred):
            return self.eval(node.value, frame)
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            value = self.eval(node.value, frame) if node.value is not None else UNKNOWN
            if frame.yielded is None or isinstance(frame.yielded, Unknown):
                frame.yielded = value
            return UNKNOWN
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self.eval(child, frame)
        return UNKNOWN

    def get_attribute(self, base: Value, attr: str, node: ast.AST, frame: Frame) -> Value:
        if isinstance(base, AdapterVal):
            result = base.attribute(self, attr, node, frame)
            return result if result is not None else BoundMethod(base, attr)
        if isinstance(base, ModuleVal):
            if attr in base.namespace:
                return base.namespace[attr]
            sub = self.import_module(f"{base.name}.{attr}") if base.path is None or base.path.endswith("__init__.py") else None
            if sub is None:
                return self._module_getattr(base, attr, node, frame)
            return sub
        if isinstance(base, ExternalVal):
            return ExternalVal(f"{base.qualname}.{attr}")
        if isinstance(base, ClassVal):
            if attr in base.namespace:
                value = base.namespace[attr]
                return value
            for parent in base.bases:
                if isinstance(parent, ClassVal):
                    inherited = self.get_attribute(parent, attr, node, frame)
                    if not isinstance(inherited, Unknown):
                        return inherited
            for hook in self.hooks.on_class_attribute:
                found = hook(self, base, attr)
                if found is not None:
                    return found
            if attr == "query" and any(isinstance(b, BoundMethod) and b.name == "Model" for b in base.bases):
                owner = next(b.obj for b in base.bases if isinstance(b, BoundMethod) and b.name == "Model")
                if isinstance(owner, FlaskSQLAVal):
                    return QueryVal(owner.engine)
            return UNKNOWN
        if isinstance(base, InstanceVal):
            value = _class_lookup(base.cls, attr)
            if isinstance(value, FunctionVal):
                return replace(value, bound_self=base)
            return value if value is not None else UNKNOWN
        if isinstance(base, (SessionVal, FlaskSQLAVal)) and base.subclass is not None:
            method = _class_lookup(base.subclass, attr)
            if isinstance(method, FunctionVal):
                return replace(method, bound_self=base)
        if isinstance(base, EngineVal) and attr in ("sync_engine", "engine"):
            return base
        if isinstance(base, FlaskSQLAVal):
            if attr == "engine":
                return EngineVal(base.engine)
            if attr == "session":
                return SessionVal(base.engine)
        if isinstance(base, SessionFactoryVal) and attr == "session_factory":
            return base
        if isinstance(base, (SessionVal, SessionFactoryVal)) and attr == "bind" and base.engine is not None:
            return EngineVal(base.engine)  # `Session.bind.dispose()`: the engine the session is bound to
        if isinstance(base, (EngineVal, ConnVal, SessionVal, SessionFactoryVal, QueryVal, FlaskSQLAVal)):
            return BoundMethod(base, attr)
        if isinstance(base, (Unknown, ConstVal, ContainerVal, FunctionVal, BoundMethod)):
            return BoundMethod(base, attr)
        return UNKNOWN

    def qualname_of(self, value: Value) -> str | None:
        if isinstance(value, ExternalVal):
            return value.qualname
        return None

    def eval_call(self, node: ast.Call, frame: Frame) -> Value:
        func = self.eval(node.func, frame)
        args = []
        for a in node.args:
            value = self.eval(a, frame)
            if isinstance(a, ast.Starred) and isinstance(value, ContainerVal) and isinstance(value.node, ast.arguments):
                args.extend(value.items)  # `*args` forwarded by a wrapper
            else:
                args.append(value)
        kwargs: dict[str, Value] = {}
        for keyword in node.keywords:
            value = self.eval(keyword.value, frame)
            if keyword.arg is not None:
                kwargs[keyword.arg] = value
        return self.call_value(func, node, args, kwargs, frame)

    def call_value(self, func: Value, node: ast.Call, args: list[Value], kwargs: dict[str, Value], frame: Frame
                   ) -> Value:
        from pgforklint.prefilter import OpaqueVal, resolve_arguments

        if not isinstance(func, OpaqueVal):  # placeholders of deferred modules are resolved once they matter
            args, kwargs = resolve_arguments(self, args, kwargs)
        qualname = self.qualname_of(func)
        for hook in self.hooks.on_call:
            result = hook(self, qualname or "", node, args, kwargs, frame) if qualname else None
            if result is not None:
                return result
        loc = self.loc(frame.module, node)
        if qualname is not None:
            return self._call_external(qualname, node, args, kwargs, frame, loc)
        if isinstance(func, AdapterVal):
            result = func.call(self, node, args, kwargs, frame, loc)
            return result if result is not None else UNKNOWN
        if isinstance(func, FunctionVal):
            return self.call_function(func, args, kwargs, loc)
        if isinstance(func, PartialVal):
            return self.call_value(func.func, node, [*func.args, *args], {**func.kwargs, **kwargs}, frame)
        if isinstance(func, ClassVal):
            return self._instantiate(func, args, kwargs, loc, node, frame)
        if isinstance(func, BoundMethod):
            return self._call_method(func, node, args, kwargs, frame, loc)
        if isinstance(func, SessionFactoryVal):
            return SessionVal(func.engine)
        return UNKNOWN

    def call_function(self, function: FunctionVal, args: list[Value], kwargs: dict[str, Value], loc: Location | None
                      ) -> Value:
        key = id(function.node)
        if function.wrapper == "cache":
            cached = self.state.setdefault("cached_results", {}).get(key)  # type: ignore[union-attr]
            if cached is not None:
                return cached
        if key in self._call_stack:
            return UNKNOWN  # recursion guard
        if len(self._call_stack) >= MAX_CALL_DEPTH:
            self.notice_bound(f"calls nested deeper than {MAX_CALL_DEPTH}", loc or Location(function.module.path or "", 1))
            return UNKNOWN
        exhausted = spend_walk(self, key)  # pgforklint.safeio: each body walked a bounded number of times
        if exhausted:
            self.notice_bound(exhausted, loc or Location(function.module.path or "", 1))
            return UNKNOWN
        local: dict[str, Value] = {}
        params = function.node.args
        positional = [*params.posonlyargs, *params.args]
        supplied = list(args)
        if function.bound_self is not None:
            supplied.insert(0, function.bound_self)
        defaults = function.defaults or {}
        for index, param in enumerate(positional):
            local[param.arg] = supplied[index] if index < len(supplied) else kwargs.get(
                param.arg, defaults.get(param.arg, UNKNOWN))
        for param in params.kwonlyargs:
            local[param.arg] = kwargs.get(param.arg, defaults.get(param.arg, UNKNOWN))
        if params.vararg:
            local[params.vararg.arg] = ContainerVal(supplied[len(positional):], params)
        if params.kwarg:
            local[params.kwarg.arg] = UNKNOWN
        frame = Frame(function.module, local, closure=function.closure)
        self._call_stack.append(key)
        if loc is not None:
            self.chain.append(loc)
        try:
            if isinstance(function.node, ast.Lambda):
                return self.eval(function.node.body, frame)
            self.walk_body(function.node.body, frame)
        finally:
            self._call_stack.pop()
            if loc is not None:
                self.chain.pop()
        if function.wrapper == "context":
            return ContextVal(frame.yielded if frame.yielded is not None else UNKNOWN)
        result = frame.return_value if frame.return_value is not None else UNKNOWN
        if function.wrapper == "cache":
            self.state.setdefault("cached_results", {})[key] = result  # type: ignore[index]
            if isinstance(result, EngineVal) and result.engine.symbol.endswith(">"):
                result.engine.symbol = f"{function.module.name}:{function.name}()"
        return result

    def _defaults(self, params: ast.arguments, frame: Frame) -> dict[str, Value] | None:
        """Parameter defaults, evaluated once where the function is defined, as Python does."""
        if not params.defaults and not any(params.kw_defaults):
            return None
        found: dict[str, Value] = {}
        positional = [*params.posonlyargs, *params.args]
        for param, default in zip(positional[len(positional) - len(params.defaults):], params.defaults):
            found[param.arg] = self.eval(default, frame)
        for param, default in zip(params.kwonlyargs, params.kw_defaults):
            if default is not None:
                found[param.arg] = self.eval(default, frame)
        return found

    def _decorated(self, decorator: Value, function: Value, node: ast.AST, frame: Frame) -> Value:
        """What a decorator turns a function into, when that matters to the walk: memoised factories,
        context managers, and the project's own decorators (called at definition time, as Python does)."""
        name = decorator.qualname if isinstance(decorator, ExternalVal) else None
        if name in CACHING_DECORATORS and isinstance(function, FunctionVal):
            return replace(function, wrapper="cache")
        if name in CONTEXT_DECORATORS and isinstance(function, FunctionVal):
            return replace(function, wrapper="context")
        if isinstance(decorator, FunctionVal) and decorator.module.path is not None:
            wrapped = self.call_function(decorator, [function], {}, self.loc(frame.module, node))
            if isinstance(wrapped, (FunctionVal, PartialVal)):
                return wrapped  # a wrapper that injects a session or connection, then calls the function
        return function

    def _module_getattr(self, module: ModuleVal, attr: str, node: ast.AST, frame: Frame) -> Value:
        """PEP 562 module `__getattr__`: a lazily created engine reached as `module.engine`."""
        hook = module.namespace.get("__getattr__")
        if isinstance(hook, FunctionVal) and hook.module is module:
            value = self.call_function(hook, [ConstVal(attr)], {}, self.loc(frame.module, node))
            if isinstance(value, EngineVal) and value.engine.symbol.endswith(">"):
                value.engine.symbol = f"{module.name}:{attr}"
            return value
        return UNKNOWN

    def _instantiate(self, cls: ClassVal, args: list[Value], kwargs: dict[str, Value], loc: Location,
                     node: ast.Call | None = None, frame: Frame | None = None) -> Value:
        for hook in self.hooks.on_instantiate:
            made = hook(self, cls, args, kwargs, loc)
            if made is not None:
                return made
        init = _class_lookup(cls, "__init__")
        library = _library_base(cls)
        if library is not None and node is not None and frame is not None and not (
                library in CONNECTING_CLASSES and isinstance(init, FunctionVal)):
            # `class SQLA(SQLAlchemy): ...; db = SQLA()` behaves like the library class it extends.
            value = self._call_external(library, node, args, kwargs, frame, loc)
            engine = engine_of(value, sessions=True)
            short = library.rsplit(".", 1)[-1]
            if engine is not None and engine.location == loc and engine.symbol.endswith(f"<{short}@{loc.line}>"):
                engine.symbol = engine.symbol.replace(f"<{short}@", f"<{cls.name}@")
            if isinstance(value, (SessionVal, FlaskSQLAVal)):
                value.subclass = cls
            if isinstance(init, FunctionVal):
                self.call_function(replace(init, bound_self=value), args, kwargs, loc)
            return value
        instance = InstanceVal(cls)
        if isinstance(init, FunctionVal):
            self.call_function(replace(init, bound_self=instance), args, kwargs, loc)
        return instance

    # -- library semantics --------------------------------------------------------------------

    def _engine_arg(self, args: list[Value], kwargs: dict[str, Value], position: int | None, *names: str) -> Engine | None:
        candidates: list[Value] = []
        for name in names:
            if name in kwargs:
                candidates.append(kwargs[name])
        if position is not None and position < len(args):
            candidates.append(args[position])
        for value in candidates:
            engine = engine_of(value)
            if engine is not None:
                return engine
        return None

    def _call_external(self, qualname: str, node: ast.Call, args: list[Value], kwargs: dict[str, Value],
                       frame: Frame, loc: Location) -> Value:
        short = qualname.rsplit(".", 1)[-1]
        if qualname in SQLALCHEMY_ENGINE_FACTORIES:
            engine = Engine(EngineKind.SQLALCHEMY, f"{frame.module.name}:<{short}@{loc.line}>", loc)
            engine.nullpool = _is_null_pool(kwargs.get("poolclass"))
            engine.pool_size = _int_kwarg(node, "pool_size", loc, frame, self)
            engine.max_overflow = _int_kwarg(node, "max_overflow", loc, frame, self)
            engine.extra["async"] = "async" in qualname
            engine.extra["poolclass"] = _poolclass_name(kwargs.get("poolclass"))
            self.record_engine(engine)
            return EngineVal(engine)
        if qualname in CLASS_FACTORIES:
            return ExternalVal(CLASS_FACTORIES[qualname])
        if qualname in FLASK_SQLALCHEMY:
            engine = Engine(EngineKind.FLASK_SQLALCHEMY, f"{frame.module.name}:<{short}@{loc.line}>", loc)
            self.record_engine(engine)
            return FlaskSQLAVal(engine)
        if qualname in SESSION_FACTORIES:
            # `scoped_session(sessionmaker(bind=engine))`: the inner factory's engine
            inner = args[0] if args else kwargs.get("session_factory")
            if isinstance(inner, SessionFactoryVal) and "scoped" in qualname:
                return SessionFactoryVal(inner.engine)
            return SessionFactoryVal(self._engine_arg(args, kwargs, 0, "bind"))
        if qualname in CACHING_DECORATORS:  # `@lru_cache(maxsize=None)`
            return ExternalVal(qualname)
        if qualname in ("functools.partial",) and args:
            return PartialVal(args[0], args[1:], dict(kwargs))
        if qualname in SESSION_CLASSES:
            return SessionVal(self._engine_arg(args, kwargs, 0, "bind"))
        if qualname in RAW_CONNECT:
            engine = Engine(EngineKind.RAW_CONNECTION, f"{frame.module.name}:<{qualname}@{loc.line}>", loc, eager=True)
            self.record_engine(engine)
            self.record_open(engine, loc, f"{qualname}()")
            return ConnVal(engine, raw=True)
        if qualname in PSYCOPG2_POOLS:
            minconn = _int_arg(node, 0, "minconn", loc, frame, self)
            maxconn = _int_arg(node, 1, "maxconn", loc, frame, self)
            engine = Engine(EngineKind.PSYCOPG2_POOL, f"{frame.module.name}:<{short}@{loc.line}>", loc,
                            eager=not (minconn and minconn.value == 0), max_size=maxconn)
            engine.extra["min_size"] = minconn
            self.record_engine(engine)
            if engine.eager:
                self.record_open(engine, loc, f"{short}(minconn=...) opens its connections at construction")
            return EngineVal(engine)
        if qualname in PSYCOPG_POOLS:
            open_arg = kwargs.get("open")
            opened = not (isinstance(open_arg, ConstVal) and open_arg.value is False)
            if "NullConnectionPool" in qualname:
                min_size = Quantity.default(0, "NullConnectionPool keeps no connections")
            else:
                min_size = _int_kwarg(node, "min_size", loc, frame, self) or Quantity.default(4, "psycopg_pool min_size default 4")
            max_size = _int_kwarg(node, "max_size", loc, frame, self)
            engine = Engine(EngineKind.PSYCOPG_POOL, f"{frame.module.name}:<{short}@{loc.line}>", loc,
                            eager=opened and (min_size.value or 0) > 0, max_size=max_size)
            engine.extra["min_size"] = min_size
            engine.extra["async"] = "Async" in qualname
            self.record_engine(engine)
            if engine.eager and "Async" not in qualname:
                self.record_open(engine, loc, f"{short}() opens its pool at construction (open=True is the default)")
            return EngineVal(engine)
        if qualname in ASYNCPG_POOLS:
            # The pool connects `min_size` connections when it is initialised: `await create_pool(...)`,
            # `async with create_pool(...)`, or a coroutine run to completion (asyncpg/pool.py Pool._initialize).
            engine = Engine(EngineKind.ASYNCPG_POOL, f"{frame.module.name}:<create_pool@{loc.line}>", loc, eager=True,
                            max_size=_int_kwarg(node, "max_size", loc, frame, self))
            engine.extra["min_size"] = _int_kwarg(node, "min_size", loc, frame, self)
            engine.extra["async"] = True
            self.record_engine(engine)
            return EngineVal(engine)
        if qualname in ("sqlalchemy.inspect", "sqlalchemy.engine.reflection.Inspector.from_engine"):
            engine = self._engine_arg(args, kwargs, 0, "subject", "bind")
            if engine is not None:
                self.record_open(engine, loc, "inspect(engine)")
            return UNKNOWN
        if qualname in ("sqlalchemy.Table", "sqlalchemy.schema.Table"):
            engine = self._engine_arg([], kwargs, None, "autoload_with")
            if engine is not None:
                self.record_open(engine, loc, "Table(..., autoload_with=engine)")
            return UNKNOWN
        if qualname.startswith("pandas.") and short.startswith("read_sql"):
            engine = self._engine_arg(args, kwargs, 1, "con")
            if engine is not None:
                self.record_open(engine, loc, f"pandas.{short}(..., engine)")
            return UNKNOWN
        if qualname.endswith("DataFrame.to_sql"):
            return UNKNOWN
        if qualname in ("sqlalchemy.event.listens_for", "sqlalchemy.event.listen"):
            target = self._engine_arg(args, kwargs, 0)
            event_name = args[1].value if len(args) > 1 and isinstance(args[1], ConstVal) else None
            if qualname.endswith("listen") and len(args) > 2 and target is not None:
                self._maybe_pid_guard(target, event_name, args[2], loc)
            if target is not None and qualname.endswith("listens_for"):
                return _ListenerDecorator(target, event_name, loc)
            return UNKNOWN
        if qualname == "os.register_at_fork":
            child = kwargs.get("after_in_child")
            if isinstance(child, (FunctionVal, BoundMethod)):
                self.registered.append(("at_fork_child", child, loc))
            return UNKNOWN
        if qualname in ("asyncio.run", "asyncio.get_event_loop.run_until_complete", "asyncio.new_event_loop.run_until_complete",
                        "asyncio.get_event_loop().run_until_complete"):
            if args:
                self._awaited(args[0], node)
            return args[0] if args else UNKNOWN
        if qualname in ("os.environ.setdefault", "os.putenv") and len(args) >= 2 and isinstance(args[0], ConstVal) \
                and isinstance(args[1], ConstVal) and isinstance(args[0].value, str) and isinstance(args[1].value, str):
            if qualname == "os.putenv":
                self.env[args[0].value] = args[1].value
            else:
                self.env.setdefault(args[0].value, args[1].value)
            return args[1]
        if qualname.startswith("builtins.") and short in ITERATING_BUILTINS and args and isinstance(args[0], AdapterVal):
            args[0].iterate(self, node, frame)
            return UNKNOWN
        if qualname.startswith("builtins.") and short in ITERATING_BUILTINS - {"len", "bool"} and args \
                and isinstance(args[0], QueryVal):
            # `list(session.query(Job))` runs the query; `bool(query)` does not.
            if args[0].engine is not None:
                self.record_open(args[0].engine, self.loc(frame.module, node.args[0]), f"{short}(query)")
            return UNKNOWN
        # An engine or session handed to code pgforklint cannot see, at import time.
        package = qualname.split(".", 1)[0]
        if package not in SAFE_PACKAGES and not qualname.startswith("builtins."):
            for value in [*args, *kwargs.values()]:
                engine = engine_of(value, sessions=True)
                if engine is not None and engine.kind is not EngineKind.DJANGO:
                    self.effects.escapes.append(EngineEscape(engine, loc, qualname, tuple(self.chain)))
        return UNKNOWN

    def _call_method(self, method: BoundMethod, node: ast.Call, args: list[Value], kwargs: dict[str, Value],
                     frame: Frame, loc: Location) -> Value:
        obj, name = method.obj, method.name
        if isinstance(obj, AdapterVal):
            result = obj.call_method(self, name, node, args, kwargs, frame, loc)
            return result if result is not None else UNKNOWN
        if name == "run_until_complete" and args:
            self._awaited(args[0], node)
            return args[0]
        if isinstance(obj, EngineVal):
            engine = obj.engine
            if engine.kind in (EngineKind.SQLALCHEMY, EngineKind.FLASK_SQLALCHEMY):
                if name == "dispose":
                    close = kwargs.get("close", args[0] if args else None)
                    keep = isinstance(close, ConstVal) and close.value is False
                    self.record_reset(Reset(ResetKind.DISPOSE_KEEP if keep else ResetKind.DISPOSE_CLOSE, engine, loc))
                    return UNKNOWN
                if name in ENGINE_OPENING_METHODS:
                    open_ = self.record_open(engine, loc, f"{engine_expression(engine)}.{name}()")
                    return ConnVal(engine, open_=open_ if name in HELD_CONNECTION_METHODS else None)
                if name in ("execution_options",):
                    return obj
                return UNKNOWN
            if name in POOL_OPENING_METHODS:
                if not (engine.eager and name == "open"):
                    self.record_open(engine, loc, f"{engine.label}.{name}()")
                return ConnVal(engine, raw=True)
            if name in POOL_CLOSING_METHODS:
                self.record_reset(Reset(ResetKind.CLOSE, engine, loc))
            return UNKNOWN
        if isinstance(obj, ConnVal):
            if name == "close" and obj.raw and obj.engine.kind is EngineKind.RAW_CONNECTION:
                self.record_reset(Reset(ResetKind.CLOSE, obj.engine, loc))
            if name in ("close", "invalidate", "detach"):
                self.set_retained(obj, False)
            if name in ("cursor", "execute", "begin", "execution_options"):
                return obj
            return UNKNOWN
        if isinstance(obj, SessionFactoryVal):
            if name in ("begin",):
                if obj.engine is not None:
                    self.record_open(obj.engine, loc, "sessionmaker.begin()")
                return SessionVal(obj.engine)
            if name == "configure":
                engine = self._engine_arg(args, kwargs, None, "bind")
                if engine is not None:
                    obj.engine = engine
                return UNKNOWN
            if name in SESSION_EXECUTING_METHODS or name in SESSION_WRITING_METHODS or name in SESSION_PENDING_METHODS \
                    or name == "query":  # scoped_session proxies the session of the current thread
                session = obj.proxied if obj.proxied is not None and obj.proxied.engine is obj.engine else SessionVal(obj.engine)
                obj.proxied = session
                return self._call_method(BoundMethod(session, name), node, args, kwargs, frame, loc)
            if name == "remove":
                return UNKNOWN
            if name == "get_bind" and obj.engine is not None:
                return EngineVal(obj.engine)
            return UNKNOWN
        if isinstance(obj, SessionVal):
            if name == "get_bind" and obj.engine is not None:
                return EngineVal(obj.engine)
            if name in SESSION_EXECUTING_METHODS or (name in SESSION_WRITING_METHODS and obj.pending):
                if obj.engine is not None:
                    self.record_open(obj.engine, loc, f"session.{name}()")
                return UNKNOWN
            if name in SESSION_PENDING_METHODS:
                obj.pending = name.startswith(("add", "delete")) or obj.pending
                if name.startswith("bulk_") and obj.engine is not None:
                    self.record_open(obj.engine, loc, f"session.{name}()")
                return UNKNOWN
            if name == "query":
                return QueryVal(obj.engine)
            if name == "begin":
                return obj
            return UNKNOWN
        if isinstance(obj, QueryVal):
            if name in QUERY_TERMINALS:
                if obj.engine is not None:
                    self.record_open(obj.engine, loc, f"query.{name}()")
                return UNKNOWN
            return obj
        if isinstance(obj, FlaskSQLAVal):
            if name in METADATA_OPENING_METHODS:
                self.record_open(obj.engine, loc, f"{obj.engine.label if obj.engine.label.isidentifier() else 'db'}.{name}()")
                return UNKNOWN
            if name == "init_app":
                return UNKNOWN
            if name == "Model":
                return UNKNOWN
            return UNKNOWN
        if name in METADATA_OPENING_METHODS:
            engine = self._engine_arg(args, kwargs, 0, "bind")
            if engine is not None:
                self.record_open(engine, loc, f"metadata.{name}(engine)")
            return UNKNOWN
        if name in ("run_sync",) and args:
            return UNKNOWN
        if isinstance(obj, ContainerVal) and obj.keyed and name in ("get", "setdefault", "pop") and args \
                and isinstance(args[0], ConstVal) and args[0].value in obj.keyed:
            return obj.keyed[args[0].value]
        if isinstance(obj, ContainerVal) and isinstance(obj.node, ast.Dict) and name == "setdefault" and len(args) == 2 \
                and isinstance(args[0], ConstVal) and isinstance(args[0].value, (str, int)):
            obj.keyed = {**(obj.keyed or {}), args[0].value: args[1]}
            return args[1]
        if isinstance(obj, (Unknown, ContainerVal, BoundMethod)) and name == "get" and len(args) == 2 \
                and isinstance(args[1], (ClassVal, FunctionVal)):
            # `app.config.get("APP_INITIALIZER", ProjectInitializer)(app)`: the project's default is what runs
            # unless configuration overrides it.
            return args[1]
        return UNKNOWN

    def _iterate(self, iterable: Value, node: ast.AST, frame: Frame) -> None:
        if isinstance(iterable, AdapterVal):
            iterable.iterate(self, node, frame)
            return
        if isinstance(iterable, QueryVal) and iterable.engine is not None:
            self.record_open(iterable.engine, self.loc(frame.module, node), "iterating a query")

    def _enter_context(self, value: Value, node: ast.AST, frame: Frame) -> Value:
        if isinstance(value, AdapterVal):
            entered = value.enter(self, node, frame)
            return entered if entered is not None else value
        if isinstance(value, EngineVal) and value.engine.kind is EngineKind.ASYNCPG_POOL:
            self._initialize_async_pool(value.engine, self.loc(frame.module, node))
            return value
        if isinstance(value, SessionFactoryVal):
            return SessionVal(value.engine)
        if isinstance(value, ContextVal):
            return value.yielded
        if isinstance(value, EngineVal) and value.engine.kind in (EngineKind.PSYCOPG_POOL, EngineKind.ASYNCPG_POOL):
            return value
        return value

    def _awaited(self, value: Value, node: ast.AST) -> None:
        if isinstance(value, EngineVal) and value.engine.kind is EngineKind.ASYNCPG_POOL:
            self._initialize_async_pool(value.engine, value.engine.location)

    def _initialize_async_pool(self, engine: Engine, loc: Location) -> None:
        if engine.extra.get("initialized_in") is self.effects:
            return
        engine.extra["initialized_in"] = self.effects
        min_size = engine.extra.get("min_size")
        if isinstance(min_size, Quantity) and min_size.value == 0:
            return
        self.record_open(engine, engine.location, "asyncpg.create_pool() connects min_size connections (default 10) when awaited")

    def _maybe_pid_guard(self, engine: Engine, event_name: object, listener: Value, loc: Location) -> None:
        if event_name != "checkout" or not isinstance(listener, FunctionVal):
            return
        if _mentions_getpid(listener.node):
            engine.pid_guarded = True
            self.effects.pid_guards.append((engine, loc))

    def _note_decorator(self, decorator: Value, function: FunctionVal, node: ast.AST, frame: Frame) -> None:
        if isinstance(decorator, _ListenerDecorator):
            self._maybe_pid_guard(decorator.engine, decorator.event, function, decorator.location)


@record(eq=False)
class _ListenerDecorator(Value):
    engine: Engine
    event: object
    location: Location


def engine_expression(engine: Engine) -> str:
    """How code names the engine: `engine`, or `db.engine` for a Flask-SQLAlchemy extension."""
    if engine.kind is EngineKind.FLASK_SQLALCHEMY:
        return f"{engine.label}.engine" if engine.label.isidentifier() else "db.engine"
    return engine.label


def _class_lookup(cls: ClassVal, attr: str, depth: int = 0) -> Value | None:
    """`attr` on a project class or, in base order, on its project base classes."""
    if attr in cls.namespace:
        return cls.namespace[attr]
    if depth < 10:
        for base in cls.bases:
            if isinstance(base, ClassVal):
                found = _class_lookup(base, attr, depth + 1)
                if found is not None:
                    return found
    return None


def _library_base(cls: ClassVal, depth: int = 0, library: frozenset[str] | set[str] = SUBCLASSABLE) -> str | None:
    """The qualified name of a modelled library class (one of `library`) that a project class extends, directly
    or not."""
    for base in cls.bases:
        if isinstance(base, ExternalVal) and base.qualname in library:
            return base.qualname
        if isinstance(base, ClassVal) and depth < 10:
            found = _library_base(base, depth + 1, library)
            if found is not None:
                return found
    return None


def engine_of(value: Value, sessions: bool = False) -> Engine | None:
    if isinstance(value, EngineVal):
        return value.engine
    if isinstance(value, FlaskSQLAVal):
        return value.engine
    if isinstance(value, ConnVal):
        return value.engine
    if sessions and isinstance(value, (SessionVal, SessionFactoryVal)):
        return value.engine
    return None


def _is_null_pool(value: Value | None) -> bool:
    return isinstance(value, ExternalVal) and value.qualname.rsplit(".", 1)[-1] in NULL_POOLS


def _poolclass_name(value: Value | None) -> str | None:
    if isinstance(value, ExternalVal):
        return value.qualname.rsplit(".", 1)[-1]
    return None


def _static(interp: Interpreter, frame: Frame, node: ast.AST):
    source = interp.project.python(frame.module.path) if frame.module.path else None
    names = {}
    if source is not None and frame.locals is None:
        from pgforklint.extract.pyvalues import module_assignments

        cache_key = ("static-names", frame.module.path)
        cached = interp.project._cache.get(cache_key)
        if cached is None:
            cached = module_assignments(source.tree, frame.module.path, None, source.text)[0]
            interp.project._cache[cache_key] = cached
        names = cached
    return StaticEvaluator(frame.module.path or frame.module.name, dict(names),
                           text=source.text if source is not None else None).evaluate(node)


def _int_kwarg(node: ast.Call, name: str, loc: Location, frame: Frame, interp: Interpreter) -> Quantity | None:
    for keyword in node.keywords:
        if keyword.arg == name:
            value = _static(interp, frame, keyword.value)
            return value.as_quantity(f"{name}=")
    return None


def _int_arg(node: ast.Call, position: int, name: str, loc: Location, frame: Frame, interp: Interpreter
             ) -> Quantity | None:
    if position < len(node.args) and not isinstance(node.args[position], ast.Starred):
        return _static(interp, frame, node.args[position]).as_quantity(f"{name}=")
    return _int_kwarg(node, name, loc, frame, interp)


def _mentions_getpid(node: ast.AST) -> bool:
    for child in ast.walk(node):
        if isinstance(child, ast.Attribute) and child.attr == "getpid":
            return True
        if isinstance(child, ast.Name) and child.id == "getpid":
            return True
    return False


def _catches_import_error(node: ast.AST | None) -> bool:
    names = node.elts if isinstance(node, ast.Tuple) else [node]
    return any((isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError"))
               or (isinstance(n, ast.Attribute) and n.attr in ("ImportError", "ModuleNotFoundError")) for n in names)


def _is_type_checking(test: ast.AST) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _bound_notice(what: str, location: Location):
    from pgforklint.diagnostics import Diagnostic

    return Diagnostic(
        "PGF101", location,
        f"analysis bound reached: {what}; findings beyond this point may be missing",
        key=f"bound:{what}", title=f"analysis bound reached: {what}",
        help="findings beyond this point may be missing",
    )


def iter_functions(module: ModuleVal) -> Iterator[tuple[str, FunctionVal]]:
    for name, value in module.namespace.items():
        if isinstance(value, FunctionVal) and value.module is module:
            yield name, value


# --- conditions on the environment ---------------------------------------------------------------

_ENV_LOOKUPS = ("os.environ.get", "os.getenv", "os.environ.setdefault")
_MISSING = object()


def env_condition(interp: Interpreter, test: ast.AST, frame: Frame) -> tuple[str, bool | None, tuple[str, ...]] | None:
    """(the test as written, whether the variables' defaults make it true, the variables) for an `if` test that
    reads the environment (directly, through a module-level name, or through Django's `settings.X`); else None."""
    used: set[str] = set()
    value = _condition_value(interp, test, frame, used, 0)
    if not used:
        return None
    source = interp.source_text(frame.module.path)
    text = (ast.get_source_segment(source, test) if source else None) or ast.unparse(test)
    return " ".join(text.split()), (None if value is _MISSING else bool(value)), tuple(sorted(used))


def _condition_value(interp: Interpreter, node: ast.AST, frame: Frame, used: set[str], depth: int) -> object:
    """The value the test has when no environment variable it reads is set (_MISSING: cannot tell); the variables
    read go to `used`."""
    if depth > 4:
        return _MISSING
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        inner = _condition_value(interp, node.operand, frame, used, depth)
        return _MISSING if inner is _MISSING else not inner
    if isinstance(node, ast.BoolOp):
        values = [_condition_value(interp, v, frame, used, depth) for v in node.values]
        if any(v is _MISSING for v in values):
            return _MISSING
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        op = node.ops[0]
        right = node.comparators[0]
        if isinstance(op, (ast.In, ast.NotIn)) and _is_environ(interp, right, frame):
            key = _condition_value(interp, node.left, frame, set(), depth + 1)
            if isinstance(key, str):
                used.add(key)
                return isinstance(op, ast.NotIn)  # unset by default
            return _MISSING
        left = _condition_value(interp, node.left, frame, used, depth + 1)
        other = _condition_value(interp, right, frame, used, depth + 1)
        if left is _MISSING or other is _MISSING:
            return _MISSING
        try:
            return {ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b, ast.In: lambda a, b: a in b,
                    ast.NotIn: lambda a, b: a not in b, ast.Is: lambda a, b: a is b,
                    ast.IsNot: lambda a, b: a is not b}[type(op)](left, other)
        except (KeyError, TypeError):
            return _MISSING
    if isinstance(node, ast.Call):
        func = interp.eval(node.func, frame) if isinstance(node.func, (ast.Name, ast.Attribute)) else None
        name = func.qualname if isinstance(func, ExternalVal) else ""
        if name in _ENV_LOOKUPS and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            used.add(node.args[0].value)
            if len(node.args) > 1:
                return _condition_value(interp, node.args[1], frame, set(), depth + 1)
            default = next((k.value for k in node.keywords if k.arg == "default"), None)
            return _condition_value(interp, default, frame, set(), depth + 1) if default is not None else None
        if isinstance(node.func, ast.Attribute) and node.func.attr in ("lower", "upper", "strip", "casefold") \
                and not node.args:
            inner = _condition_value(interp, node.func.value, frame, used, depth)
            return getattr(inner, node.func.attr)() if isinstance(inner, str) else _MISSING
        if isinstance(node.func, ast.Name) and node.func.id in ("bool", "int", "str") and len(node.args) == 1:
            inner = _condition_value(interp, node.args[0], frame, used, depth)
            try:
                return _MISSING if inner is _MISSING else {"bool": bool, "int": int, "str": str}[node.func.id](inner)
            except (TypeError, ValueError):
                return _MISSING
        return _MISSING
    if isinstance(node, ast.Subscript) and _is_environ(interp, node.value, frame):
        key = _condition_value(interp, node.slice, frame, set(), depth + 1)
        if isinstance(key, str):
            used.add(key)
        return _MISSING  # a KeyError when unset: the import would fail
    if isinstance(node, ast.Name) and frame.module.path is not None:
        assigned = _module_assignment(interp, frame.module.path, node.id)
        if assigned is not None:
            return _condition_value(interp, assigned, Frame(frame.module, None), used, depth + 1)
        value = frame.lookup(node.id)
        if isinstance(value, ModuleVal) or value is None:
            return _MISSING
        return _MISSING
    if isinstance(node, ast.Attribute):
        base = interp.eval(node.value, frame) if isinstance(node.value, (ast.Name, ast.Attribute)) else None
        if isinstance(base, AdapterVal):  # a deferred module (prefilter placeholder): walked now that it matters
            from pgforklint.prefilter import resolve

            base = resolve(interp, base)
        if isinstance(base, ExternalVal) and base.qualname == "django.conf.settings":
            module = interp.state.get("django_settings_module")
            if module is None:
                from pgforklint.extract.django import settings_module_for

                module = interp.state["django_settings_module"] = settings_module_for(interp) or ""
            rel = interp.project.module_file(module, interp.module_roots) if module else None
            if rel is not None and module in interp.modules:
                assigned = _module_assignment(interp, rel, node.attr)
                if assigned is not None:
                    return _condition_value(interp, assigned, Frame(interp.modules[module], None), used, depth + 1)
        if isinstance(base, ModuleVal) and base.path is not None:
            assigned = _module_assignment(interp, base.path, node.attr)
            if assigned is not None:
                return _condition_value(interp, assigned, Frame(base, None), used, depth + 1)
        return _MISSING
    return _MISSING


def _is_environ(interp: Interpreter, node: ast.AST, frame: Frame) -> bool:
    if not isinstance(node, (ast.Name, ast.Attribute)):
        return False
    value = interp.eval(node, frame)
    return isinstance(value, ExternalVal) and value.qualname == "os.environ"


def _module_assignment(interp: Interpreter, rel: str, name: str) -> ast.AST | None:
    """The value of the last top-level `name = ...` of a project module (for conditions only)."""
    key = ("top-assignments", rel)
    table = interp.project._cache.get(key)
    if table is None:
        table = {}
        source = interp.project.python(rel)
        for stmt in source.tree.body if source is not None else []:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                table[stmt.targets[0].id] = stmt.value
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
                table[stmt.target.id] = stmt.value
        interp.project._cache[key] = table
    return table.get(name)
