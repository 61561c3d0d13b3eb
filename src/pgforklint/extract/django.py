"""Django: settings modules, `DATABASES`, what `django.setup()` runs, and ORM queries at import.

Facts (sources in rules/PGF001.md, rules/PGF010.md):
- Django connections are lazy: nothing connects until a query runs. `django.setup()` (called by
  `get_wsgi_application()`, `get_asgi_application()`, `execute_from_command_line()`, Celery's Django
  fixup) imports every app of INSTALLED_APPS, then their `models` modules, then calls each
  `AppConfig.ready()`. A query there, or at import of any of those modules, opens a connection in
  the process that runs setup: under gunicorn --preload, uWSGI without lazy-apps, Celery prefork and
  RQ that is the parent, which then forks.
- `OPTIONS["pool"]` (Django 5.1+, psycopg 3 only): `CONN_MAX_AGE != 0` raises
  `ImproperlyConfigured("Pooling doesn't support persistent connections.")`; with psycopg2 Django
  raises `ImproperlyConfigured("Database pooling requires psycopg >= 3")` on connect.

Django engines are `Engine(kind=EngineKind.DJANGO)`, one per alias of DATABASES, with `extra`:
- `alias` (str), `settings_module` (dotted name), `backend` (the ENGINE string or None),
- `conn_max_age`: a `Quantity` (None value with `conn_max_age_unlimited=True` for `None`),
- `conn_max_age_unlimited` (bool), `conn_health_checks` (bool or None when unknown),
- `pool` (bool), `pool_min_size` / `pool_max_size` (`Quantity`; psycopg_pool defaults 4 / = min_size),
- `per_thread` (True: without a pool Django keeps one connection per thread per alias).
`max_size` is set to the pool's capacity when `pool` is on; `eager` is False (Django opens its pool
with `open=False`, lazily).
"""

from __future__ import annotations

import ast
import re
from dataclasses import field, replace

from pgforklint.diagnostics import Location
from pgforklint.discover import FileKind
from pgforklint.extract.importtime import (
    UNKNOWN,
    AdapterVal,
    ClassVal,
    ConstVal,
    ContainerVal,
    ExternalVal,
    FunctionVal,
    Hooks,
    InstanceVal,
    Interpreter,
    ModuleVal,
    Value,
)
from pgforklint.launch import Launch
from pgforklint.extract.positions import char_column
from pgforklint.extract.pyvalues import StaticEvaluator, StaticValue, dotted_name, import_aliases
from pgforklint.extract.requirements import read_requirements
from pgforklint.model import DeploymentModel, Engine, EngineKind, Origin, OriginKind, Quantity, Reset, ResetKind
from pgforklint.project import Project
from pgforklint.records import record

SETUP_CALLS = {
    "django.setup", "django.core.wsgi.get_wsgi_application", "django.core.asgi.get_asgi_application",
    "django.core.management.execute_from_command_line", "django.core.handlers.wsgi.WSGIHandler",
}
CONNECTION_OPENING = {"cursor", "ensure_connection", "connect", "chunked_cursor"}
# `Model.objects.<method>` of a model pgforklint only knows by name (django.contrib, third-party apps):
# manager methods that query besides the QuerySet API (contrib/sites/models.py SiteManager.get_current,
# contrib/auth/base_user.py BaseUserManager.get_by_natural_key, contrib/auth/models.py UserManager,
# contrib/contenttypes/models.py ContentTypeManager.get_for_model(s) on a cold cache).
MANAGER_EVALUATING = {"get_current", "get_by_natural_key", "create_user", "create_superuser", "get_for_model",
                      "get_for_models", "get_for_id"}
_EXTERNAL_MANAGER = re.compile(r"^(?:[\w.]+\.)?(?P<model>[A-Z]\w*)\.(?:objects|_default_manager|_base_manager)\.(?P<method>\w+)$")
# Management commands that use the database (django/core/management/commands/*.py; `requires_system_checks`
# aside, these open a connection in `handle()`): at import they run in the process that loads the app.
DB_COMMANDS = {"migrate", "loaddata", "flush", "createcachetable", "dumpdata", "showmigrations", "createsuperuser",
               "changepassword", "remove_stale_contenttypes", "clearsessions", "sqlsequencereset", "inspectdb",
               "dbshell", "sqlflush", "makemigrations"}
# The cache API (django/core/cache/backends/base.py BaseCache): with `DatabaseCache` each call queries.
CACHE_METHODS = {"get", "set", "add", "get_or_set", "delete", "incr", "decr", "has_key", "get_many", "set_many",
                 "delete_many", "clear", "touch"}
CONNECTION_CLOSING = {"close", "close_pool"}
QS_LAZY = {
    "all", "filter", "exclude", "order_by", "values", "values_list", "select_related", "prefetch_related", "annotate",
    "alias", "only", "defer", "using", "distinct", "none", "reverse", "select_for_update", "extra", "dates",
    "datetimes", "union", "intersection", "difference", "complex_filter", "get_queryset", "db_manager",
}
QS_EVALUATING = {
    "get", "first", "last", "count", "exists", "create", "get_or_create", "update_or_create", "update", "delete",
    "bulk_create", "bulk_update", "aggregate", "in_bulk", "earliest", "latest", "iterator", "explain", "contains",
    "raw", "aget", "afirst", "alast", "acount", "aexists", "acreate", "aget_or_create", "aupdate", "adelete",
    "aaggregate", "ain_bulk", "aiterator", "acontains", "__iter__", "__len__", "__bool__",
}
MODEL_BASES = ("django.db.models.Model", "django.db.models.base.Model", "django.contrib.auth.models.AbstractUser",
               "django.contrib.auth.models.AbstractBaseUser", "django.contrib.auth.base_user.AbstractBaseUser",
               "django.contrib.gis.db.models.Model")
APPCONFIG_BASES = ("django.apps.AppConfig", "django.apps.config.AppConfig")
DJ_DATABASE_URL = {"dj_database_url.config", "dj_database_url.parse"}
ENVIRON_DB = ("db", "db_url", "db_url_config")


# --- ORM values --------------------------------------------------------------------------


def django_engine(interp: Interpreter, alias: str = "default") -> Engine:
    engines: dict[str, Engine] = interp.state.setdefault("django_engines", {})  # type: ignore[assignment]
    engine = engines.get(alias)
    if engine is None:
        location = Location(str(interp.state.get("django_settings_path") or "settings.py"), 1)
        engine = Engine(EngineKind.DJANGO, f"django:DATABASES['{alias}']", location)
        engine.extra.update({"alias": alias, "per_thread": True})
        engines[alias] = engine
    interp.record_engine(engine)
    return engine


@record(eq=False)
class QuerySetVal(AdapterVal):
    """A Django manager or queryset: lazy until evaluated."""

    model: str
    alias: str = "default"

    def attribute(self, interp, attr, node, frame):
        return None

    def call_method(self, interp, name, node, args, kwargs, frame, loc):
        if name == "using" and args and isinstance(args[0], ConstVal) and isinstance(args[0].value, str):
            return QuerySetVal(self.model, args[0].value)
        if name in QS_LAZY:
            return self
        if name in QS_EVALUATING:
            interp.record_open(django_engine(interp, self.alias), loc, f"{self.model}.objects...{name}()")
            return UNKNOWN
        return None

    def iterate(self, interp, node, frame):
        interp.record_open(django_engine(interp, self.alias), interp.loc(frame.module, node),
                           f"evaluating a `{self.model}` queryset")

    def subscript(self, interp, node, frame):
        interp.record_open(django_engine(interp, self.alias), interp.loc(frame.module, node),
                           f"indexing a `{self.model}` queryset")
        return UNKNOWN


@record(eq=False)
class ModelVal(AdapterVal):
    """`apps.get_model("app", "Model")`: a model class known by name only."""

    name: str

    def attribute(self, interp, attr, node, frame):
        if attr in ("objects", "_default_manager", "_base_manager"):
            return QuerySetVal(self.name)
        return None


def _is_model_class(cls: ClassVal, depth: int = 0) -> bool:
    if depth > 10:
        return False
    for base in cls.bases:
        if isinstance(base, ExternalVal) and (base.qualname in MODEL_BASES or base.qualname.endswith(".models.Model")):
            return True
        if isinstance(base, ClassVal) and _is_model_class(base, depth + 1):
            return True
    return False


def _is_appconfig(cls: ClassVal, depth: int = 0) -> bool:
    if depth > 10:
        return False
    for base in cls.bases:
        if isinstance(base, ExternalVal) and base.qualname in APPCONFIG_BASES:
            return True
        if isinstance(base, ClassVal) and _is_appconfig(base, depth + 1):
            return True
    return False


def _class_attribute(interp: Interpreter, cls: ClassVal, attr: str) -> Value | None:
    if attr in ("objects", "_default_manager", "_base_manager") and _is_model_class(cls):
        return QuerySetVal(cls.name)
    return None


def _connection_alias(qualname: str) -> str:
    return "default"


def _on_call(interp: Interpreter, qualname: str, node, args, kwargs, frame) -> Value | None:
    if qualname in SETUP_CALLS:
        django_setup(interp, interp.loc(frame.module, node))
        return UNKNOWN
    if not qualname.startswith(("django.", "split_settings.")) and ".objects." not in qualname \
            and "_manager." not in qualname:
        return None
    manager = _EXTERNAL_MANAGER.match(qualname)
    # `Model.objects` of another ORM (mongoengine, neomodel ...) has the same shape: only in a Django project.
    if manager is not None and find_settings_modules(interp.project, interp.module_roots):
        queryset = QuerySetVal(manager.group("model"))
        loc = interp.loc(frame.module, node)
        method = manager.group("method")
        result = queryset.call_method(interp, method, node, args, kwargs, frame, loc)
        if result is not None:
            return result
        if method in MANAGER_EVALUATING:
            interp.record_open(django_engine(interp), loc, f"{queryset.model}.objects.{method}()")
            return UNKNOWN
        return queryset  # a custom manager method: assumed to return a queryset (lazy)
    if qualname in ("django.contrib.auth.get_user_model",):
        return ModelVal("User")
    if qualname in ("django.core.management.call_command",) and args and isinstance(args[0], ConstVal) \
            and args[0].value in DB_COMMANDS:
        interp.record_open(django_engine(interp), interp.loc(frame.module, node), f"call_command({args[0].value!r})")
        return UNKNOWN
    if qualname.startswith(("django.core.cache.cache.", "django.core.cache.caches[].")) \
            and qualname.rsplit(".", 1)[-1] in CACHE_METHODS and _database_cache(interp):
        interp.record_open(django_engine(interp), interp.loc(frame.module, node),
                           f"cache.{qualname.rsplit('.', 1)[-1]}() on the database cache (`DatabaseCache`)")
        return UNKNOWN
    if qualname in ("split_settings.tools.include",):
        _include_settings(interp, node, frame)
        return UNKNOWN
    if qualname in ("django.apps.apps.get_model", "django.apps.registry.apps.get_model"):
        name = args[1].value if len(args) > 1 and isinstance(args[1], ConstVal) else (
            args[0].value if args and isinstance(args[0], ConstVal) else "Model")
        return ModelVal(str(name))
    for prefix in ("django.db.connection.", "django.db.connections[]."):
        if qualname.startswith(prefix):
            method = qualname[len(prefix):]
            loc = interp.loc(frame.module, node)
            if method in CONNECTION_OPENING:
                interp.record_open(django_engine(interp), loc, f"django.db.connection.{method}()")
                return UNKNOWN
            if method in CONNECTION_CLOSING:
                _record_close(interp, loc)
                return UNKNOWN
    if qualname in ("django.db.connections.close_all",):
        _record_close(interp, interp.loc(frame.module, node))
        return UNKNOWN
    return None


def _database_cache(interp: Interpreter) -> bool:
    """Whether the settings configure `django.core.cache.backends.db.DatabaseCache` (a cache that queries)."""
    cached = interp.state.get("django_database_cache")
    if cached is None:
        cached = False
        name = settings_module_for(interp)
        for module in ([name, *_star_imports(interp.project, name, interp.module_roots)] if name else []):
            rel = interp.project.module_file(module, interp.module_roots)
            source = interp.project.python(rel) if rel else None
            if source is not None and "backends.db.DatabaseCache" in source.text:
                cached = True
        interp.state["django_database_cache"] = cached
    return bool(cached)


def _include_settings(interp: Interpreter, node: ast.Call, frame) -> None:
    """django-split-settings `include("components/*.py", optional("local.py"))`: each file runs in the
    including module's namespace, in order (split_settings/tools.py)."""
    if frame.module.path is None:
        return
    for rel in split_settings_files(interp.project, frame.module.path, node):
        source = interp.project.python(rel)
        if source is None:
            continue
        component = ModuleVal(frame.module.name, frame.module.namespace, rel)
        interp.chain.append(interp.loc(frame.module, node))
        try:
            interp.walk_body(source.tree.body, type(frame)(component, None))
        finally:
            interp.chain.pop()


def split_settings_files(project: Project, including: str, call: ast.Call) -> list[str]:
    """The project files an `include(...)` call names, relative to the including file, globs expanded."""
    import fnmatch
    import posixpath

    base = posixpath.dirname(including)
    patterns = []
    for arg in call.args:
        if isinstance(arg, ast.Call) and arg.args:  # optional("local_settings.py")
            arg = arg.args[0]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            patterns.append(posixpath.normpath(posixpath.join(base, arg.value)))
    found: list[str] = []
    if not patterns:
        return found
    files = sorted(source.rel for source in project.files(FileKind.PYTHON))
    for pattern in patterns:
        for rel in files:
            if rel not in found and rel != including and fnmatch.fnmatchcase(rel, pattern):
                found.append(rel)
    return found


def _record_close(interp: Interpreter, loc: Location) -> None:
    engines: dict[str, Engine] = interp.state.get("django_engines") or {}  # type: ignore[assignment]
    if not engines:
        interp.record_reset(Reset(ResetKind.DJANGO_CLOSE_ALL, None, loc))
    for engine in engines.values():
        interp.record_reset(Reset(ResetKind.DJANGO_CLOSE_ALL, engine, loc))


def install(hooks: Hooks) -> None:
    hooks.on_call.append(_on_call)
    hooks.on_class_attribute.append(_class_attribute)


# --- django.setup() ------------------------------------------------------------------------


def settings_module_for(interp: Interpreter) -> str | None:
    name = interp.env.get("DJANGO_SETTINGS_MODULE")
    if name and interp.project.module_file(name, interp.module_roots):
        return name
    candidates = find_settings_modules(interp.project, interp.module_roots)
    leaves = _leaf_modules(interp.project, interp.module_roots, candidates)
    return leaves[0] if len(leaves) == 1 else None


def django_setup(interp: Interpreter, location: Location) -> None:
    """What `django.setup()` runs, in the current phase: settings, app modules, models, ready()."""
    if interp.state.get("django_setup_in") is interp.effects:
        return
    interp.state["django_setup_in"] = interp.effects
    name = settings_module_for(interp)
    if name is None:
        return
    rel = interp.project.module_file(name, interp.module_roots)
    interp.state["django_settings_path"] = rel
    interp.chain.append(location)
    try:
        settings = interp.import_module(name, location)
        for alias, database in read_databases(interp.project, name, interp.module_roots).items():
            engine = django_engine(interp, alias)
            _fill_engine(engine, database, name)
        if settings is None:
            return
        apps = settings.namespace.get("INSTALLED_APPS")
        entries = [item.value for item in apps.items if isinstance(item, ConstVal) and isinstance(item.value, str)] \
            if isinstance(apps, ContainerVal) else []
        configs: list[tuple[ClassVal, Location]] = []
        app_modules: list[str] = []
        for entry in entries:
            config = _app_config(interp, entry, location)
            if config is not None:
                configs.append(config)
                label_module = _config_app_name(config[0]) or entry
            else:
                label_module = entry
            if interp.project.module_file(label_module, interp.module_roots) or \
                    interp.project.is_package_dir(label_module, interp.module_roots):
                app_modules.append(label_module)
        for module in app_modules:  # apps.populate() phase 2: import each app's models module
            if interp.project.module_file(f"{module}.models", interp.module_roots):
                interp.import_module(f"{module}.models", location)
        for cls, where in configs:  # phase 3: ready()
            ready = cls.namespace.get("ready")
            if isinstance(ready, FunctionVal):
                interp.call_function(replace(ready, bound_self=InstanceVal(cls)),
                                     [], {}, where)
    finally:
        interp.chain.pop()


def _config_app_name(cls: ClassVal) -> str | None:
    value = cls.namespace.get("name")
    return value.value if isinstance(value, ConstVal) and isinstance(value.value, str) else None


def _app_config(interp: Interpreter, entry: str, location: Location) -> tuple[ClassVal, Location] | None:
    project, roots = interp.project, interp.module_roots
    module_name, _, last = entry.rpartition(".")
    # "shop.apps.ShopConfig"
    if module_name and last[:1].isupper() and project.module_file(module_name, roots):
        module = interp.import_module(module_name, location)
        cls = module.namespace.get(last) if module else None
        if isinstance(cls, ClassVal):
            app_name = _config_app_name(cls)
            if app_name and project.module_file(app_name, roots):
                interp.import_module(app_name, location)
            return cls, _class_location(interp, cls)
        return None
    if not (project.module_file(entry, roots) or project.is_package_dir(entry, roots)):
        return None
    interp.import_module(entry, location)
    apps_module = f"{entry}.apps"
    if not project.module_file(apps_module, roots):
        return None
    module = interp.import_module(apps_module, location)
    if module is None:
        return None
    found = [v for v in module.namespace.values() if isinstance(v, ClassVal) and v.module is module and _is_appconfig(v)]
    default = [c for c in found if isinstance(c.namespace.get("default"), ConstVal) and c.namespace["default"].value is True]
    if default:
        found = default
    named = [c for c in found if _config_app_name(c) == entry]
    chosen = named[0] if len(named) == 1 else (found[0] if len(found) == 1 else None)
    return (chosen, _class_location(interp, chosen)) if chosen is not None else None


def _class_location(interp: Interpreter, cls: ClassVal) -> Location:
    ready = cls.namespace.get("ready")
    node = ready.node if isinstance(ready, FunctionVal) else cls.node
    line = getattr(node, "lineno", 1)
    return Location(cls.module.path or cls.module.name, line,
                    char_column(interp.source_text(cls.module.path), line, getattr(node, "col_offset", 0)) or 1)


# --- settings: DATABASES read statically -----------------------------------------------------


@record
class Setting:
    value: StaticValue
    location: Location
    conditional: bool = False


@record
class DjangoDatabase:
    alias: str
    location: Location
    keys: dict[str, Setting] = field(default_factory=dict)  # CONN_MAX_AGE, CONN_HEALTH_CHECKS, ENGINE
    options: dict[str, Setting] = field(default_factory=dict)  # OPTIONS keys (pool ...)
    via: str | None = None  # "dj_database_url.config", "env.db" ...
    conditional: bool = False  # the alias exists only in a branch whose condition is not known statically


def find_settings_modules(project: Project, roots: list[str]) -> list[str]:
    cache_key = ("django-settings-modules", ",".join(roots))
    cached = project._cache.get(cache_key)
    if cached is not None:
        return cached
    found = []
    for source in project.files(FileKind.PYTHON):
        if not project.contains(source.rel, b"DATABASES") or not _may_assign_databases(source):
            continue
        parsed = project.python(source.rel, keep=False)
        if parsed is None:
            continue
        if any(_assigns_databases(stmt) for stmt in parsed.tree.body):
            name = _module_name(source.rel, roots)
            if name:
                found.append(name)
    project._cache[cache_key] = found
    return found


# `DATABASES = ...`, `DATABASES: dict = ...`, `X = DATABASES = ...`, `(DATABASES) = ...`, across continuation
# lines: a superset, in bytes, of the statements `_assigns_databases` accepts. Files that only mention the
# name (`settings.DATABASES["default"]`) are then not parsed.
_DATABASES_ASSIGNMENT = re.compile(rb"\bDATABASES[ \t\r\n)\\]*(?:=(?!=)|:(?!=))")


def _may_assign_databases(source) -> bool:
    from pgforklint.discover import MAX_FILE_BYTES
    from pgforklint.read.text import read_head

    try:
        data = read_head(source.path, MAX_FILE_BYTES + 1)
    except OSError:
        return True  # the read that follows reports why
    return len(data) > MAX_FILE_BYTES or _DATABASES_ASSIGNMENT.search(data) is not None


def _assigns_databases(stmt: ast.stmt) -> bool:
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        return any(isinstance(t, ast.Name) and t.id == "DATABASES" for t in targets)
    if isinstance(stmt, (ast.If, ast.Try)):
        return any(_assigns_databases(s) for s in [*stmt.body, *getattr(stmt, "orelse", [])])
    return False


def _module_name(rel: str, roots: list[str]) -> str | None:
    for root in sorted(roots, key=len, reverse=True):
        prefix = (root.strip("/") + "/") if root.strip("/") else ""
        if rel.startswith(prefix) and rel.endswith(".py"):
            name = rel[len(prefix):-3].replace("/", ".")
            if name.endswith(".__init__"):
                name = name[: -len(".__init__")]
            if all(part.isidentifier() for part in name.split(".")):
                return name
    return None


def _star_imports(project: Project, name: str, roots: list[str]) -> list[str]:
    rel = project.module_file(name, roots)
    parsed = project.python(rel) if rel else None
    if parsed is None:
        return []
    out = []
    for stmt in ast.walk(parsed.tree):
        if isinstance(stmt, ast.ImportFrom) and any(a.name == "*" for a in stmt.names):
            target = _resolve(name, rel, stmt.module, stmt.level)
            if target and project.module_file(target, roots):
                out.append(target)
        elif isinstance(stmt, ast.Call) and _is_include(stmt):
            out.extend(m for m in (_module_name(r, roots) for r in split_settings_files(project, rel, stmt)) if m)
    return out


def _is_include(call: ast.Call) -> bool:
    """`include(...)` / `split_settings.tools.include(...)` (the name is checked against the imports by the caller
    where it matters; a project function named `include` taking file names is the same idea)."""
    func = call.func
    return (isinstance(func, ast.Name) and func.id == "include") or (
        isinstance(func, ast.Attribute) and func.attr == "include" and isinstance(func.value, (ast.Name, ast.Attribute))
        and "split_settings" in ast.unparse(func.value))


def _resolve(name: str, rel: str, module: str | None, level: int) -> str | None:
    from pgforklint.read.python import absolute_import, package_of

    return absolute_import(package_of(name, rel.endswith("__init__.py")), module, level)


def _leaf_modules(project: Project, roots: list[str], candidates: list[str]) -> list[str]:
    imported = set()
    for name in candidates:
        imported.update(_star_imports(project, name, roots))
    return [n for n in candidates if n not in imported]


class _DatabasesReader:
    """Walks a settings module's top level in order and tracks DATABASES."""

    def __init__(self, project: Project, roots: list[str]):
        self.project = project
        self.roots = roots
        self.databases: dict[str, DjangoDatabase] = {}
        self.names: dict[str, StaticValue] = {}
        self.aliases: dict[str, str] = {}
        self.seen: set[str] = set()

    def read(self, name: str) -> None:
        if name in self.seen or len(self.seen) > 20:
            return
        self.seen.add(name)
        rel = self.project.module_file(name, self.roots)
        parsed = self.project.python(rel) if rel else None
        if parsed is None:
            return
        self.rel, self.name = rel, name
        self.aliases = {**self.aliases, **import_aliases(parsed.tree)}
        self.text = parsed.text
        self.evaluator = StaticEvaluator(rel, self.names, {}, self.aliases, parsed.text)
        self.body(parsed.tree.body, False)

    def body(self, statements: list[ast.stmt], conditional: bool) -> None:
        for stmt in statements:
            self.statement(stmt, conditional)

    def statement(self, stmt: ast.stmt, conditional: bool) -> None:
        if isinstance(stmt, ast.ImportFrom) and any(a.name == "*" for a in stmt.names):
            target = _resolve(self.name, self.rel, stmt.module, stmt.level)
            if target and self.project.module_file(target, self.roots):
                saved = (self.rel, self.name, self.evaluator)
                self.read(target)
                self.rel, self.name, self.evaluator = saved
            return
        if isinstance(stmt, ast.If):
            test = self.evaluator.evaluate(stmt.test)
            truth = None
            if test.known:
                truth = bool(test.value)  # Python's truth: `if os.environ.get("X", "false"):` is taken
            if truth is True:
                self.body(stmt.body, conditional)
            elif truth is False:
                self.body(stmt.orelse, conditional)
            else:
                self.body(stmt.body, True)
                self.body(stmt.orelse, True)
            return
        if isinstance(stmt, ast.Try):
            self.body(stmt.body, conditional)
            self.body(stmt.finalbody, conditional)
            return
        if isinstance(stmt, ast.Assign):
            value = stmt.value
            for target in stmt.targets:
                self.assign(target, value, conditional, stmt)
            return
        if isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            self.assign(stmt.target, stmt.value, conditional, stmt)
            return
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            call = stmt.value
            called = dotted_name(call.func) or ""
            if _is_include(call) and (self.aliases.get(called) or called).startswith("split_settings"):
                saved = (self.rel, self.name, self.evaluator)
                for rel in split_settings_files(self.project, self.rel, call):
                    name = _module_name(rel, self.roots)
                    if name:
                        self.read(name)
                self.rel, self.name, self.evaluator = saved
                return
            if isinstance(call.func, ast.Attribute) and call.func.attr == "update":
                path = self.path(call.func.value)
                if path is not None:
                    if call.args and isinstance(call.args[0], ast.Dict):
                        self.merge_dict(path, call.args[0], conditional)
                    for keyword in call.keywords:
                        if keyword.arg:
                            self.set_path([*path, keyword.arg], keyword.value, conditional, keyword)

    def assign(self, target: ast.AST, value: ast.AST, conditional: bool, stmt: ast.stmt) -> None:
        if isinstance(target, ast.Name):
            if target.id == "DATABASES":
                if not conditional:
                    self.databases = {}
                if isinstance(value, ast.Dict):
                    self.merge_dict([], value, conditional)
                return
            self.names[target.id] = self.evaluator.evaluate(value)
            return
        path = self.path(target)
        if path is not None:
            self.set_path(path, value, conditional, stmt)

    def path(self, node: ast.AST) -> list[str] | None:
        """DATABASES["default"]["OPTIONS"] -> ["default", "OPTIONS"]."""
        keys: list[str] = []
        while isinstance(node, ast.Subscript):
            key = self.evaluator.evaluate(node.slice)
            if not key.known or not isinstance(key.value, str):
                return None
            keys.append(key.value)
            node = node.value
        if isinstance(node, ast.Name) and node.id == "DATABASES":
            return list(reversed(keys))
        return None

    def merge_dict(self, path: list[str], node: ast.Dict, conditional: bool) -> None:
        for key_node, value_node in zip(node.keys, node.values):
            if key_node is None:
                continue
            key = self.evaluator.evaluate(key_node)
            if key.known and isinstance(key.value, str):
                self.set_path([*path, key.value], value_node, conditional, key_node)

    def set_path(self, path: list[str], value: ast.AST, conditional: bool, anchor: ast.AST) -> None:
        if not path:
            if isinstance(value, ast.Dict):
                self.merge_dict([], value, conditional)
            return
        alias = path[0]
        location = self.loc(anchor)
        if len(path) == 1:
            database = DjangoDatabase(alias, location, conditional=conditional)
            if alias in self.databases and conditional:
                database = self.databases[alias]
            self.databases[alias] = database
            if isinstance(value, ast.Dict):
                self.merge_dict([alias], value, conditional)
            elif isinstance(value, ast.Call):
                self.from_call(database, value, conditional)
            return
        database = self.databases.setdefault(alias, DjangoDatabase(alias, location, conditional=conditional))
        key = path[1]
        if key == "OPTIONS":
            if len(path) == 2:
                if not conditional:
                    database.options = {}
                if isinstance(value, ast.Dict):
                    self.merge_dict([alias, "OPTIONS"], value, conditional)
                return
            if len(path) == 3:
                database.options[path[2]] = Setting(self.evaluate_option(value), location, conditional)
            return
        if len(path) == 2:
            database.keys[key] = Setting(self.evaluator.evaluate(value), location, conditional)

    def evaluate_option(self, node: ast.AST) -> StaticValue:
        if isinstance(node, ast.Dict):
            result = {}
            for key_node, value_node in zip(node.keys, node.values):
                key = self.evaluator.evaluate(key_node) if key_node is not None else None
                if key is not None and key.known:
                    result[key.value] = self.evaluator.evaluate(value_node)
            return StaticValue(result, self.loc(node))
        return self.evaluator.evaluate(node)

    def from_call(self, database: DjangoDatabase, call: ast.Call, conditional: bool) -> None:
        func = self.evaluator.qualify(dotted_name(call.func)) or ""
        location = self.loc(call)
        if func in DJ_DATABASE_URL or func.endswith(tuple(f".{n}" for n in ENVIRON_DB)):
            database.via = func
            for keyword in call.keywords:
                name = {"conn_max_age": "CONN_MAX_AGE", "conn_health_checks": "CONN_HEALTH_CHECKS",
                        "engine": "ENGINE"}.get(keyword.arg or "")
                if name:
                    database.keys[name] = Setting(self.evaluator.evaluate(keyword.value), self.loc(keyword.value),
                                                  conditional)
            if func not in DJ_DATABASE_URL:
                database.keys.setdefault("CONN_MAX_AGE", Setting(StaticValue(None, location, symbolic="?conn_max_age in the URL",
                                                                              known=False), location, conditional))

    def loc(self, node: ast.AST) -> Location:
        line = getattr(node, "lineno", 1)
        return Location(self.rel, line, char_column(getattr(self, "text", None), line, getattr(node, "col_offset", 0)) or 1)


def read_databases(project: Project, module: str, roots: list[str]) -> dict[str, DjangoDatabase]:
    cache_key = ("django-databases", module)
    cached = project._cache.get(cache_key)
    if cached is not None:
        return cached
    reader = _DatabasesReader(project, roots)
    reader.read(module)
    project._cache[cache_key] = reader.databases
    return reader.databases


def _quantity(setting: Setting | None, default: int | None, detail: str) -> Quantity:
    if setting is None:
        return Quantity.default(default, detail)
    return setting.value.as_quantity(detail.split(" (", 1)[0])


def _fill_engine(engine: Engine, database: DjangoDatabase, settings_module: str) -> None:
    engine.location = database.location
    engine.symbol = f"{settings_module}:DATABASES['{database.alias}']"
    keys, options = database.keys, database.options
    conn_max_age = keys.get("CONN_MAX_AGE")
    unlimited = conn_max_age is not None and conn_max_age.value.known and conn_max_age.value.value is None
    health = keys.get("CONN_HEALTH_CHECKS")
    backend = keys.get("ENGINE")
    pool = options.get("pool")
    pool_value = pool.value.value if pool is not None and pool.value.known else None
    pool_on = bool(pool_value) if pool_value is not None and not isinstance(pool_value, dict) else isinstance(pool_value, dict)
    engine.extra.update({
        "alias": database.alias,
        "settings_module": settings_module,
        "backend": backend.value.value if backend is not None and backend.value.known else None,
        "conn_max_age": _quantity(conn_max_age, 0, "CONN_MAX_AGE (Django's default 0: close after each request)"),
        "conn_max_age_unlimited": unlimited,
        "conn_health_checks": (bool(health.value.value) if health is not None and health.value.known else
                               (False if health is None else None)),
        "pool": pool_on,
        "per_thread": not pool_on,
        "conditional": database.conditional,
    })
    if pool_on:
        pool_dict = pool_value if isinstance(pool_value, dict) else {}
        min_size = pool_dict.get("min_size")
        max_size = pool_dict.get("max_size")
        min_q = min_size.as_quantity("pool min_size") if isinstance(min_size, StaticValue) else \
            Quantity.default(4, "psycopg_pool's default min_size = 4")
        if isinstance(max_size, StaticValue) and not (max_size.known and max_size.value is None):
            max_q = max_size.as_quantity("pool max_size")
        else:
            max_q = Quantity(min_q.value, Origin(OriginKind.DERIVED, min_q.origin.location,
                                                 "psycopg_pool's max_size defaults to min_size"), symbolic=min_q.symbolic)
        engine.extra["pool_min_size"] = min_q
        engine.extra["min_size"] = min_q  # the key the budget reads for every pool
        engine.extra["pool_max_size"] = max_q
        engine.max_size = max_q


# --- adapter: settings facts for PGF010 and the budget ------------------------------------------


@record
class PoolMisconfiguration:
    settings_module: str
    alias: str
    pool_location: Location
    problem: str  # "conn_max_age" | "psycopg2"
    detail_location: Location | None
    detail: str


def settings_targets(project: Project, launches: list[Launch], roots: list[str]) -> list[str]:
    """DJANGO_SETTINGS_MODULE values the repo gives: launch env, env files, setdefault calls."""
    found: list[str] = []
    for launch in launches:
        value = launch.env.get("DJANGO_SETTINGS_MODULE")
        for command in launch.commands:
            value = command.env.get("DJANGO_SETTINGS_MODULE", value)
            for word in command.argv:
                if word.text.startswith("--settings="):
                    value = word.text.split("=", 1)[1]
        if value:
            found.append(value)
    for source in project.files(FileKind.ENV):
        for line in (project.text(source.rel) or "").splitlines():
            line = line.strip().removeprefix("export ").strip()
            if line.startswith("DJANGO_SETTINGS_MODULE="):
                found.append(line.split("=", 1)[1].strip().strip("'\""))
    for source in project.files(FileKind.PYTHON):
        if source.name not in ("manage.py", "wsgi.py", "asgi.py", "celery.py"):
            continue
        parsed = project.python(source.rel)
        if parsed is None:
            continue
        for node in ast.walk(parsed.tree):
            if isinstance(node, ast.Call) and dotted_name(node.func) in ("os.environ.setdefault",) and len(node.args) >= 2:
                key, value = node.args[0], node.args[1]
                if isinstance(key, ast.Constant) and key.value == "DJANGO_SETTINGS_MODULE" and isinstance(value, ast.Constant) \
                        and isinstance(value.value, str):
                    found.append(value.value)
    out = []
    for name in found:
        if name not in out and project.module_file(name, roots):
            out.append(name)
    return out


def pool_problems(project: Project, launches: list[Launch]) -> list[PoolMisconfiguration]:
    roots = project.default_module_roots()
    targets = settings_targets(project, launches, roots)
    modules = targets or _leaf_modules(project, roots, find_settings_modules(project, roots))
    requirements = read_requirements(project)
    psycopg2 = next((requirements.get(n) for n in ("psycopg2", "psycopg2-binary") if requirements.has(n)), None)
    psycopg3 = any(requirements.has(n) for n in ("psycopg", "psycopg-binary", "psycopg-c", "psycopg-pool", "psycopg3"))
    problems = []
    for module in modules:
        for alias, database in read_databases(project, module, roots).items():
            pool = database.options.get("pool")
            if pool is None or pool.conditional or not pool.value.known:
                continue
            value = pool.value.value
            if not (value is True or isinstance(value, dict) or (isinstance(value, str) and value.lower() == "true")):
                continue
            age = database.keys.get("CONN_MAX_AGE")
            if age is not None and not age.conditional and age.value.known and age.value.value != 0 \
                    and not (isinstance(age.value.value, str) and age.value.value.strip() == "0"):
                shown = "None (unlimited)" if age.value.value is None else repr(age.value.value)
                problems.append(PoolMisconfiguration(module, alias, pool.location, "conn_max_age", age.location,
                                                     f"CONN_MAX_AGE = {shown}"))
            if psycopg2 is not None and not psycopg3:
                problems.append(PoolMisconfiguration(module, alias, pool.location, "psycopg2", psycopg2.location,
                                                     f"`{psycopg2.name}` is the only PostgreSQL driver declared"))
    return problems


def adapt(project: Project, launches: list[Launch], model: DeploymentModel) -> None:
    model.facts["django_pool_problems"] = pool_problems(project, launches)


__all__ = ["adapt", "install", "django_setup", "django_engine", "read_databases", "settings_targets",
           "find_settings_modules", "QuerySetVal", "ModuleVal"]
