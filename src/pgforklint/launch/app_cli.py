"""Workers started through the project's own command line: `./manage.py rq worker` (a click or Flask CLI
group), `ckan -c ckan.ini jobs worker` (a console script from the package's entry points), `flask rq
worker`, `python -m shop worker` (typer), a Django management command of the project's own.

Read with `ast`, never imported. The command line is followed as click, typer and Flask dispatch it:
the entry's root group (what `if __name__ == "__main__":` calls, or the console script's `module:object`),
then one word per group level (`@group.command()`, `@group.command("name")`, `group.add_command(cmd,
"name")`, `app.add_typer(sub, name=...)`, `@app.cli.command()`; a function `run_worker` is the command
`run-worker`, as click and typer name it) to the command function. When that function (or a project
function it calls) starts a forking worker, the launch is that worker:
- an RQ `Worker` (or a project subclass, in any module) whose `.work()` forks a work horse per job:
  the launch keeps its command and carries an `AppCommand` (`launch.extra["app_cli"]`) that
  `pgforklint.extract.rq` walks (the entry and the command's module imported, the group callbacks and
  the command function called, as the process does before the first fork);
- a Celery app's `worker_main()` / `app.Worker(...).start()`, or a gunicorn `BaseApplication` `.run()`:
  the command is rewritten into the server's command line, as `python_servers` does for a script;
- a server run as a child process (`subprocess.call(["uwsgi", "--master", ...])`, `os.execvp`): the command is
  rewritten into that command line (its literal words), and what the CLI imported does not reach the server.
A command that starts no forking worker (`manage.py database create_tables`) is left alone. A command
line of the project's CLI whose subcommand cannot be followed gets the failed step (PGF102), when the
project has code that may start a worker and the command's words speak of one (`celery worker`, `jobs`).
"""

from __future__ import annotations

import ast
import re
import shlex

from pgforklint.diagnostics import Location
from pgforklint.discover import FileKind
from pgforklint.launch.base import Launch
from pgforklint.read.python import absolute_import, package_of
from pgforklint.read.command import Command, Word, parse_commands, python_module_invocation
from pgforklint.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pgforklint.project import Project

# Code that can start a forking worker: without any, a CLI command that cannot be followed cannot start one.
WORKER_NEEDLES = (b".work(", b"worker_main", b"BaseApplication", b"WSGIApplication", b"gunicorn.app", b".Worker(")
# Command words that say a worker is meant (`hypothesis celery worker`, `ckan jobs worker`): a CLI word pgforklint
# cannot name is a failed step only then, not for `flask command functional-test-fixtures`.
WORKER_WORDS = frozenset({"worker", "workers", "work", "celery", "rq", "rqworker", "jobs", "queue", "consumer"})
# A project that defines a Celery app or uses RQ may start a worker in ways the walk does not follow (`app.start(argv)`,
# commands registered by dotted name): a command word it cannot name is then a failed step, not nothing.
WORKER_APP_NEEDLES = (b"Celery(", b"flask_rq2", b"import rq", b"from rq")
RQ_FORKING = ("Worker", "HerokuWorker", "RoundRobinWorker", "RandomWorker")
RQ_NON_FORKING = ("SimpleWorker", "SpawnWorker")
GROUP_FACTORIES = ("Group", "AppGroup", "FlaskGroup", "Typer", "MultiCommand", "CommandCollection")
FLASK_BUILTIN = ("run", "shell", "routes", "db")  # `flask db` is Flask-Migrate: migrations, no worker
MAX_DEPTH = 8


@record
class AppCommand:
    """A command of the project's CLI that starts an RQ worker, for `pgforklint.extract.rq`."""

    words: str  # the command as written, for messages: `manage.py rq worker`
    entry: str | None  # the module the process runs first (`manage`, `ckan.cli.cli`)
    entry_is_main: bool  # a script run as __main__ (its main block runs)
    module: str  # the module that defines the command function
    rel: str
    function: str  # `worker`, or `Command.handle` for a Django management command
    location: Location  # the command function's definition
    callbacks: list[tuple[str, str]]  # (module, function) run before it: group callbacks, Flask's app factory
    django: bool = False  # a management command: `django.setup()` runs first
    server: str = "rq"  # "rq": the RQ adapter builds the worker from this; "celery": the command was rewritten


# --- modules read statically -----------------------------------------------------------------------


class _Module:
    """One project module: its imports and top-level names (functions, classes, assigned values)."""

    def __init__(self, name: str, rel: str, tree: ast.Module):
        self.name = name
        self.rel = rel
        self.tree = tree
        self.imports: dict[str, tuple[str, str | None]] = {}  # local name -> (module, attribute or None)
        self.defs: dict[str, list[ast.AST]] = {}  # name -> FunctionDef/ClassDef, or the expression assigned
        self.package = package_of(name, rel.endswith("__init__.py"))
        for node in _top_level(tree.body):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.imports[alias.asname] = (alias.name, None)
                    else:
                        self.imports[alias.name.split(".")[0]] = (alias.name.split(".")[0], None)
            elif isinstance(node, ast.ImportFrom):
                base = absolute_import(self.package, node.module, node.level)
                for alias in node.names if base is not None else ():
                    if alias.name != "*":
                        self.imports[alias.asname or alias.name] = (base, alias.name)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.defs.setdefault(node.name, []).append(node)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.defs.setdefault(target.id, []).append(node.value)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
                self.defs.setdefault(node.target.id, []).append(node.value)
        self._inner: dict[str, tuple[str, str]] | None = None

    def inner_import(self, name: str) -> tuple[str, str] | None:
        """An import inside a function (`def create_app(): from app.commands import jobs_cli`), for a name the
        module level does not bind (the whole tree is read for them once, when first asked)."""
        if self._inner is None:
            self._inner = {}
            for node in ast.walk(self.tree):
                base = absolute_import(self.package, node.module, node.level) if isinstance(node, ast.ImportFrom) else None
                for alias in node.names if base is not None else ():
                    if alias.name != "*":
                        self._inner.setdefault(alias.asname or alias.name, (base, alias.name))
        return self._inner.get(name)


def _top_level(body: list[ast.stmt]):
    """Module-level statements, including those under `if`/`try` (conditional imports and definitions)."""
    for node in body:
        if isinstance(node, ast.If) and not _is_main_guard(node.test):
            yield from _top_level(node.body)
            yield from _top_level(node.orelse)
        elif isinstance(node, ast.Try):
            yield from _top_level(node.body)
            for handler in node.handlers:
                yield from _top_level(handler.body)
            yield from _top_level(node.orelse)
        else:
            yield node


def _is_main_guard(test: ast.AST | None) -> bool:
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and len(test.comparators) == 1 and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value == "__main__")


def _dotted(node: ast.AST | None) -> str:
    """`a.b.c` for a name or an attribute chain on a name, else "" (a loop: chains can be long)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ""
    return ".".join([node.id, *reversed(parts)])


def _const_str(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


@record(eq=False)
class _Obj:
    """What a name resolves to: a project object (`module` + `name`), a module, or an external name."""

    module: _Module | None = None
    name: str | None = None
    external: str | None = None  # `rq.worker.HerokuWorker`

    def nodes(self) -> list[ast.AST]:
        return list(self.module.defs.get(self.name, [])) if self.module is not None and self.name else []


class _Reader:
    def __init__(self, project: Project, roots: list[str]):
        self.project = project
        self.roots = roots
        self.modules: dict[str, _Module | None] = {}
        self.by_rel: dict[str, _Module | None] = {}
        self.children: dict[tuple[str, str, bool], dict] = {}  # (module file, group name, everywhere) -> commands
        self.scripts: dict[str, tuple] = {}  # script file -> (module, root, django), as `_script_entry` found them

    def module(self, name: str) -> _Module | None:
        if name in self.modules:
            return self.modules[name]
        rel = self.project.module_file(name, self.roots) if name else None
        found = self.module_at(rel, name) if rel else None
        self.modules[name] = found
        return found

    def module_at(self, rel: str, name: str) -> _Module | None:
        if rel in self.by_rel:
            return self.by_rel[rel]
        key = ("app-cli-module", rel, name)  # shared by the readers of every set of module roots
        if key not in self.project._cache:
            source = self.project.python(rel)
            self.project._cache[key] = _Module(name, rel, source.tree) if source is not None else None
        found = self.project._cache[key]
        self.by_rel[rel] = found
        if found is not None:
            self.modules.setdefault(name, found)
        return found

    def module_name(self, rel: str) -> str:
        for root in sorted(self.roots, key=len, reverse=True):
            prefix = f"{root}/" if root else ""
            if rel.startswith(prefix) and rel.endswith(".py"):
                return rel[len(prefix):-3].replace("/", ".").removesuffix(".__init__")
        return rel.rsplit("/", 1)[-1].removesuffix(".py")

    def resolve(self, module: _Module, node: ast.AST, depth: int = 0) -> _Obj | None:
        """The object an expression names, following imports, aliases (`Worker = RedashWorker`) and attributes."""
        if depth > MAX_DEPTH:
            return None
        if isinstance(node, ast.Name):
            return self.lookup(module, node.id, depth)
        if isinstance(node, ast.Attribute):
            base = self.resolve(module, node.value, depth + 1)
            if base is None:
                return None
            if base.external is not None:
                return _Obj(external=f"{base.external}.{node.attr}")
            if base.name is None and base.module is not None:  # a module's attribute, or a submodule
                found = self.lookup(base.module, node.attr, depth + 1)
                submodule = self.module(f"{base.module.name}.{node.attr}") if found is None else None
                return found or (_Obj(submodule) if submodule is not None else None)
            return _Obj(base.module, f"{base.name}.{node.attr}")  # `app.cli`: an attribute of a project object
        return None

    def lookup(self, module: _Module, name: str, depth: int = 0) -> _Obj | None:
        if depth > MAX_DEPTH:
            return None
        values = module.defs.get(name)
        if values:
            value = values[-1]
            if isinstance(value, (ast.Name, ast.Attribute)):  # an alias
                return self.resolve(module, value, depth + 1) or _Obj(module, name)
            return _Obj(module, name)
        imported = module.imports.get(name) or module.inner_import(name)
        if imported is not None:
            source, attribute = imported
            if attribute is None:
                found = self.module(source)
                return _Obj(found) if found is not None else _Obj(external=source)
            owner = self.module(source)
            if owner is None:
                return _Obj(external=f"{source}.{attribute}")
            submodule = self.module(f"{source}.{attribute}") if owner.rel.endswith("__init__.py") else None
            if submodule is not None and attribute not in owner.defs \
                    and owner.imports.get(attribute) in (None, (source, attribute)):
                return _Obj(submodule)  # `from pkg import sub` (also in pkg/__init__.py itself)
            return self.lookup(owner, attribute, depth + 1) or (_Obj(submodule) if submodule is not None else None)
        return None


# --- CLI objects -----------------------------------------------------------------------------------


@record(eq=False)
class _Cli:
    """A click/typer/Flask group or command, as the project defines it."""

    kind: str  # "group" | "command" | "function" | "flask"
    module: _Module
    name: str  # the local name (or `app.cli`)
    node: ast.AST | None  # the FunctionDef (for a decorated group or command), or the assigned call
    label: str  # for messages: "the click group `rq`"
    create_app: ast.AST | None = None  # FlaskGroup(create_app=...)


def _decorator_kind(decorator: ast.AST) -> str | None:
    call = decorator.func if isinstance(decorator, ast.Call) else decorator
    name = _dotted(call)
    last = name.rsplit(".", 1)[-1]
    if last == "group" and name != "group":
        return "group"
    if last == "command" and "." in name:
        return "command"
    if name in ("group", "command"):  # `from click import group, command`
        return name
    return None


def _declared_name(node: ast.AST | None) -> str | None:
    """`@click.group(name="jobs")`, `@group.command("list")`, `AppGroup("rq")`, `typer.Typer(name="x")`."""
    calls = []
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        calls = [d for d in node.decorator_list if isinstance(d, ast.Call) and _decorator_kind(d)]
    elif isinstance(node, ast.Call):
        calls = [node]
    for call in calls:
        explicit = next((_const_str(k.value) for k in call.keywords if k.arg == "name"), None)
        if explicit is None and call.args:
            explicit = _const_str(call.args[0])
        if explicit:
            return explicit
    return None


def _word_matches(word: str, function: str) -> bool:
    """click 7+/typer name a command after its function, `_` turned into `-` (click 8.2 also drops a
    `_command`/`_cmd`/`_group`/`_grp` suffix); older click kept the function name."""
    names = {function, function.lower().replace("_", "-")}
    for suffix in ("_command", "_cmd", "_group", "_grp"):
        if function.endswith(suffix) and len(function) > len(suffix):
            names.add(function[: -len(suffix)].lower().replace("_", "-"))
    return word in names


class _Walker:
    def __init__(self, reader: _Reader):
        self.reader = reader

    def cli_of(self, obj: _Obj | None, depth: int = 0) -> _Cli | None:
        """The CLI object a name is: a decorated group/command function, a group made by a call, or a plain
        function (`def main(): cli()`) whose body calls one."""
        if obj is None or obj.module is None or obj.name is None or depth > 3:
            return None
        module, name = obj.module, obj.name
        if name.endswith(".cli"):  # `app.cli`: the Flask app's command group
            return _Cli("flask", module, name, None, f"the Flask CLI `{name}` in {module.rel}")
        for node in reversed(obj.nodes()):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                kinds = [_decorator_kind(d) for d in node.decorator_list]
                if "group" in kinds:
                    create_app = None
                    for decorator in node.decorator_list:
                        if isinstance(decorator, ast.Call):
                            create_app = next((k.value for k in decorator.keywords if k.arg == "create_app"), create_app)
                    return _Cli("group", module, name, node, f"the click group `{name}` in {module.rel}", create_app)
                if "command" in kinds:
                    return _Cli("command", module, name, node, f"the command `{name}` in {module.rel}")
                for call in ast.walk(node):  # `def main(): cli(obj={})`, `cli.main()`, `app()`
                    if isinstance(call, ast.Call):
                        target = call.func.value if isinstance(call.func, ast.Attribute) and call.func.attr == "main" \
                            else call.func
                        if isinstance(target, (ast.Name, ast.Attribute)) and _dotted(target) != name:
                            found = self.cli_of(self.reader.resolve(module, target), depth + 1)
                            if found is not None and found.kind != "function":
                                return found
                return _Cli("function", module, name, node, f"`{name}()` in {module.rel}")
            if isinstance(node, ast.Call) and _dotted(node.func).rsplit(".", 1)[-1] in GROUP_FACTORIES:
                create_app = next((k.value for k in node.keywords if k.arg == "create_app"), None)
                factory = _dotted(node.func).rsplit(".", 1)[-1]
                what = {"Typer": "typer app", "Group": "click group"}.get(factory, factory)
                return _Cli("group", module, name, node, f"the {what} `{name}` in {module.rel}", create_app)
        return None

    def children(self, group: _Cli, everywhere: bool = False) -> dict[str, _Cli | _Obj]:
        """The group's commands by name: decorated in its module, added with `add_command`/`add_typer` there or,
        with `everywhere`, in any module that imports it (read once per group and run)."""
        key = (group.module.rel, group.name, everywhere)
        if key not in self.reader.children:
            self.reader.children[key] = self._children(group, everywhere)
        return self.reader.children[key]

    def _children(self, group: _Cli, everywhere: bool) -> dict[str, _Cli | _Obj]:
        found: dict[str, _Cli | _Obj] = {}
        modules = [(group.module, group.name)]
        needles = [f"{group.name.rsplit('.', 1)[-1]}.{verb}".encode() for verb in ("command", "add_command", "group",
                                                                                   "add_typer")]
        for source in self.reader.project.files(FileKind.PYTHON) if everywhere else ():
            if source.rel == group.module.rel or not self.reader.project.contains(source.rel, *needles):
                continue
            other = self.reader.module_at(source.rel, self.reader.module_name(source.rel))
            if other is None:
                continue
            for local in _local_names(other, group):
                modules.append((other, local))
        for module, local in modules:
            self._collect(module, local, group, found)
        return found

    def _collect(self, module: _Module, local: str, group: _Cli, found: dict) -> None:
        flask = group.kind == "flask"
        for node in ast.walk(module.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for decorator in node.decorator_list:
                    call = decorator.func if isinstance(decorator, ast.Call) else decorator
                    target = _dotted(call)
                    owner, _, verb = target.rpartition(".")
                    if verb not in ("command", "group") or not _same_group(owner, local, flask):
                        continue
                    name = _declared_name(node) if isinstance(decorator, ast.Call) else None
                    kind = "group" if verb == "group" else "command"
                    cli = _Cli(kind, module, node.name, node, f"the click {kind} `{node.name}` in {module.rel}")
                    found[name or node.name] = cli
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in ("add_command", "add_typer") and node.args \
                    and _same_group(_dotted(node.func.value), local, flask):
                name = _const_str(node.args[1]) if len(node.args) > 1 else None
                name = name or next((_const_str(k.value) for k in node.keywords if k.arg == "name"), None)
                obj = self.reader.resolve(module, node.args[0])
                if obj is None:
                    if name:
                        found[name] = _Obj(module, _dotted(node.args[0]) or None)
                    continue
                cli = self.cli_of(obj)
                if name is None and cli is not None:
                    name = _declared_name(cli.node) or (cli.name if cli.kind != "group" or isinstance(
                        cli.node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None)
                if name:
                    found[name] = cli if cli is not None else obj
        for name, obj in self._by_dotted_name(module, local, flask):
            found.setdefault(name, obj)

    def _by_dotted_name(self, module: _Module, local: str, flask: bool):
        """Commands registered by dotted name in a loop (`for cmd in SUBCOMMANDS:
        cli.add_command(resolver.resolve(cmd))`, SUBCOMMANDS a tuple of "pkg.module.command" strings)."""
        for loop in ast.walk(module.tree):
            if not isinstance(loop, ast.For) or not isinstance(loop.target, ast.Name):
                continue
            registers = any(isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                            and node.func.attr == "add_command" and _same_group(_dotted(node.func.value), local, flask)
                            and node.args and isinstance(node.args[0], ast.Call)
                            and any(isinstance(a, ast.Name) and a.id == loop.target.id for a in node.args[0].args)
                            for statement in loop.body for node in ast.walk(statement))
            if not registers:
                continue
            listed = loop.iter
            if isinstance(listed, ast.Name) and module.defs.get(listed.id):
                listed = module.defs[listed.id][-1]
            for element in listed.elts if isinstance(listed, (ast.Tuple, ast.List)) else ():
                dotted = _const_str(element)
                if not dotted or "." not in dotted:
                    continue
                owner, _, attribute = dotted.replace(":", ".").rpartition(".")
                target = self.reader.module(owner)
                obj = self.reader.lookup(target, attribute) if target is not None else None
                cli = self.cli_of(obj) if obj is not None else None
                if cli is not None:
                    yield _declared_name(cli.node) or cli.name, cli


def _flask_group(group: _Cli) -> bool:
    """A group made by `FlaskGroup(...)` or `@click.group(cls=FlaskGroup)`: it has Flask's own commands."""
    node = group.node
    calls = [node] if isinstance(node, ast.Call) else [d for d in getattr(node, "decorator_list", [])
                                                        if isinstance(d, ast.Call)]
    return any(_dotted(call.func).endswith("FlaskGroup") or any(
        k.arg == "cls" and _dotted(k.value).endswith("FlaskGroup") for k in call.keywords) for call in calls)


def _match(children: dict[str, _Cli | _Obj], word: str) -> _Cli | _Obj | None:
    """The child a command word names: its declared name, or its function's name as click and typer spell it."""
    found = children.get(word)
    if found is None:
        found = next((c for key, c in children.items() if isinstance(c, _Cli)
                      and getattr(c.node, "name", None) == key and _word_matches(word, key)), None)
    return found


def _typer(group: _Cli) -> bool:
    return isinstance(group.node, ast.Call) and _dotted(group.node.func).rsplit(".", 1)[-1] == "Typer"


def _same_group(written: str, local: str, flask: bool) -> bool:
    return written == local or (flask and written.endswith(".cli"))


def _local_names(module: _Module, group: _Cli) -> list[str]:
    """The names under which `module` imports `group` (`from shop.cli import cli`, `from shop import cli as c`)."""
    if group.kind == "flask":
        return ["app.cli"]
    out = []
    for local, (source, attribute) in module.imports.items():
        if attribute == group.name and source == group.module.name:
            out.append(local)
        elif attribute is None and source == group.module.name:
            out.append(f"{local}.{group.name}")
    return out


# --- what a command function starts ------------------------------------------------------------------


@record
class _Start:
    server: str  # "rq" | "celery" | "gunicorn" | "child" | "none"
    location: Location
    command: str | None = None  # the server command line it amounts to (celery, gunicorn)
    failed: str | None = None


class _Starts:
    """Whether a function (or a project function it calls) starts a forking worker."""

    def __init__(self, project: Project, launch: Launch, reader: _Reader):
        self.project = project
        self.launch = launch
        self.reader = reader

    def of(self, module: _Module, function: ast.AST, depth: int = 0, seen: set | None = None) -> _Start | None:
        seen = seen if seen is not None else set()
        if depth > 2 or id(function) in seen:
            return None
        seen.add(id(function))
        assigned: dict[str, ast.AST] = {}
        for node in ast.walk(function):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        assigned[target.id] = node.value
        for node in ast.walk(function):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            method, receiver = node.func.attr, node.func.value
            where = Location(module.rel, node.lineno)
            if isinstance(receiver, ast.Name) and receiver.id in assigned:
                receiver = assigned[receiver.id]
            if method == "work" and isinstance(receiver, ast.Call):
                kind = self.rq_class(module, receiver.func)
                if kind == "forks":
                    return _Start("rq", where)
                if kind == "no-fork":
                    return _Start("none", where)
            if method == "worker_main":
                return _Start("celery", where, self._celery(module, node.func.value, node))
            if method == "start" and isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Attribute) \
                    and receiver.func.attr == "Worker":
                return _Start("celery", where, self._celery(module, receiver.func.value, None, receiver))
            if method == "start" and isinstance(node.func.value, (ast.Name, ast.Attribute)) \
                    and self._celery_app(module, node.func.value) and self._words_say("worker"):
                # `app.start(argv)`: the Celery command line, with the words the launch passes on (`celery worker`)
                return _Start("celery", where, self._celery(module, node.func.value, None, passed=self._words_from("worker")))
            if method == "run" and isinstance(receiver, ast.Call) and self._gunicorn_class(module, receiver.func):
                return _Start("gunicorn", where)
            if _dotted(node.func) in SUBPROCESS_CALLS and node.args:
                line = _server_argv(function, node.args[-1] if _dotted(node.func).startswith("os.exec") else node.args[0])
                if line is not None:
                    return _Start("child", where, line)
        for node in ast.walk(function):  # project functions it calls, in modules that can start a worker
            if isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute)):
                obj = self.reader.resolve(module, node.func)
                if obj is None or obj.module is None \
                        or not self.project.contains(obj.module.rel, *WORKER_NEEDLES, b"Celery("):
                    continue
                for target in obj.nodes():
                    if isinstance(target, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        found = self.of(obj.module, target, depth + 1, seen)
                        if found is not None:
                            return found
        return None

    def _celery_app(self, module: _Module, node: ast.AST) -> bool:
        """A name for the project's Celery app (`celery = Celery("h")`)."""
        obj = self.reader.resolve(module, node)
        return obj is not None and obj.module is not None and any(
            isinstance(value, ast.Call) and _dotted(value.func).rsplit(".", 1)[-1] == "Celery" for value in obj.nodes())

    def _words_say(self, word: str) -> bool:
        return any(word in (w.text for w in command.argv) for command in self.launch.commands)

    def _words_from(self, word: str) -> list[str]:
        """The launch's words from `word` on (`... celery worker --concurrency 2` -> `worker --concurrency 2`)."""
        for command in self.launch.commands:
            texts = [w.text for w in command.argv]
            if word in texts:
                return texts[texts.index(word):]
        return [word]

    def rq_class(self, module: _Module, node: ast.AST, depth: int = 0) -> str | None:
        """"forks", "no-fork" or None (not an RQ worker class) for the class a call constructs."""
        obj = self.reader.resolve(module, node)
        if obj is None:
            return None
        if obj.external is not None:
            return _rq_external(obj.external)
        if depth > MAX_DEPTH:
            return None
        for value in obj.nodes():
            if isinstance(value, ast.ClassDef):
                kinds = [self.rq_class(obj.module, base, depth + 1) for base in value.bases]
                if "no-fork" in kinds:
                    return "no-fork"
                if "forks" in kinds:
                    return "forks"
        return None

    def _gunicorn_class(self, module: _Module, node: ast.AST, depth: int = 0) -> bool:
        obj = self.reader.resolve(module, node)
        if obj is None or depth > MAX_DEPTH:
            return False
        if obj.external is not None:
            return obj.external.startswith("gunicorn.") and obj.external.rsplit(".", 1)[-1] in (
                "BaseApplication", "WSGIApplication", "Application")
        return any(isinstance(value, ast.ClassDef) and any(self._gunicorn_class(obj.module, b, depth + 1)
                                                           for b in value.bases) for value in obj.nodes())

    def _celery(self, module: _Module, app: ast.AST, worker_main: ast.Call | None,
                worker: ast.Call | None = None, passed: list[str] | None = None) -> str | None:
        """`celery -A module:app worker ...` for `app.worker_main([...])` / `app.Worker(concurrency=4).start()`."""
        from pgforklint.launch.python_servers import _literal_list

        obj = self.reader.resolve(module, app)
        if obj is None or obj.module is None or obj.name is None:
            return None
        words = list(passed or ["worker"])
        if worker_main is not None:
            argv = worker_main.args[0] if worker_main.args else next(
                (k.value for k in worker_main.keywords if k.arg == "argv"), None)
            listed = _literal_list(argv)
            if listed:
                listed = listed[1:] if listed[0] == "celery" else listed
                words = listed if "worker" in listed else ["worker", *listed]
        for keyword in worker.keywords if worker is not None else []:
            flag = {"concurrency": "--concurrency", "pool": "--pool", "pool_cls": "--pool"}.get(keyword.arg or "")
            if flag and isinstance(keyword.value, ast.Constant):
                words.extend([flag, str(keyword.value.value)])
        return "celery -A " + shlex.quote(f"{obj.module.name}:{obj.name}") + " " + " ".join(shlex.quote(w) for w in words)


# A command that runs the server as a child process: the server starts fresh (exec), so what the CLI imported
# before does not reach it; the server's own command line is the launch.
SUBPROCESS_CALLS = frozenset({"subprocess.call", "subprocess.run", "subprocess.Popen", "subprocess.check_call",
                              "subprocess.check_output", "os.execvp", "os.execv", "os.execvpe", "os.execve"})
SUBPROCESS_SERVERS = frozenset({"gunicorn", "uwsgi", "celery", "rq", "rqworker"})


def _server_argv(function: ast.AST, argv: ast.AST) -> str | None:
    """The command line of a list of words that starts a forking server (`["uwsgi", "--master", ...]`, or a name
    the function assigns such a list to): the words written as literals, the computed ones (`"--port={}".format(p)`)
    left out, as their values are not in the repository."""
    if isinstance(argv, ast.Name):
        lists = [n.value for n in ast.walk(function) if isinstance(n, ast.Assign) and isinstance(n.value, ast.List)
                 and any(isinstance(t, ast.Name) and t.id == argv.id for t in n.targets)]
        argv = lists[0] if len(lists) == 1 else None
    if not isinstance(argv, ast.List) or not argv.elts:
        return None
    words = [e.value for e in argv.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    if not words or words[0].rsplit("/", 1)[-1] not in SUBPROCESS_SERVERS or not isinstance(argv.elts[0], ast.Constant):
        return None
    return " ".join(shlex.quote(word) for word in words)


def _rq_external(qualname: str) -> str | None:
    parts = qualname.split(".")
    if parts[0] == "django_rq" and parts[-1] == "get_worker":
        return "forks"
    if parts[0] not in ("rq", "django_rq"):
        return None
    if parts[-1] in RQ_NON_FORKING:
        return "no-fork"
    return "forks" if parts[-1] in RQ_FORKING else None


# --- entries ---------------------------------------------------------------------------------------


@record(eq=False)
class _Entry:
    label: str  # `manage.py`, `ckan`, `flask`
    module: _Module  # the module the process runs first
    is_main: bool
    root: _Cli | None
    words: list[Word]  # the command's words after the entry
    django: bool = False
    flask_rq2: bool = False  # `flask rq worker` of Flask-RQ2, unless the project defines an `rq` command


def console_scripts(project: Project) -> dict[str, str]:
    """Console scripts the project installs: `[project.scripts]`, Poetry's scripts, setup.cfg's and setup.py's
    `console_scripts` entry points (name -> `module:object`)."""
    cached = project._cache.get(("console-scripts",))
    if cached is not None:
        return cached
    found: dict[str, str] = {}
    for source in project.files(FileKind.TOML):
        if source.name != "pyproject.toml":
            continue
        data = project.toml(source.rel) or {}
        for table in ((data.get("project") or {}).get("scripts"),
                      ((data.get("tool") or {}).get("poetry") or {}).get("scripts")):
            if isinstance(table, dict):
                found.update({k: v for k, v in table.items() if isinstance(k, str) and isinstance(v, str)})
    for source in project.files(FileKind.INI):
        if source.name == "setup.cfg":
            found.update(_setup_cfg_scripts(project.text(source.rel) or ""))
    for source in project.files(FileKind.PYTHON):
        if source.name == "setup.py" and project.contains(source.rel, b"console_scripts"):
            parsed = project.python(source.rel, keep=False)
            if parsed is not None:
                found.update(_setup_py_scripts(parsed.tree))
    found = {name: target for name, target in found.items() if re.fullmatch(r"[\w.]+:[\w.]+", target.replace(" ", ""))}
    project._cache[("console-scripts",)] = found
    return found


def _setup_cfg_scripts(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    section, inside = "", False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section, inside = line[1:-1].strip(), False
            continue
        if section != "options.entry_points" or not line or line.startswith(("#", ";")):
            continue
        if raw[:1] not in (" ", "\t"):
            key, _, value = line.partition("=")
            inside = key.strip() == "console_scripts"
            line = value.strip()
            if not line:
                continue
        if inside and "=" in line:
            name, _, target = line.partition("=")
            out[name.strip()] = target.strip().split("[", 1)[0].strip()
    return out


def _setup_py_scripts(tree: ast.Module) -> dict[str, str]:
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if _const_str(key) == "console_scripts" and isinstance(value, (ast.List, ast.Tuple)):
                    for item in value.elts:
                        text = _const_str(item)
                        if text and "=" in text:
                            name, _, target = text.partition("=")
                            out[name.strip()] = target.strip().split("[", 1)[0].strip()
    return out


def _entry(project: Project, launch: Launch, command: Command, reader: _Reader) -> _Entry | str | None:
    from pgforklint.launch.paths import repo_file

    if not command.argv:
        return None
    first = command.argv[0].text
    program = command.program
    if program.endswith(".py"):  # `./manage.py rq worker`, `/app/manage.py ...`
        rel = repo_file(project, launch, first)
        return _script_entry(reader, rel, program, command.argv[1:]) if rel else None
    if re.fullmatch(r"python(\d(\.\d+)?)?", program):
        invoked = python_module_invocation(command)
        if invoked is not None:
            name, rest = invoked
            rel = reader.project.module_file(f"{name}.__main__", reader.roots) or reader.project.module_file(name, reader.roots)
            if rel is None or (rel.endswith("__init__.py") and not name.endswith("__main__")):
                return None
            return _script_entry(reader, rel, f"python -m {name}", rest)
        words = command.argv[1:]
        while words and words[0].text.startswith("-"):
            words = words[1:]
        if words and words[0].text.endswith(".py"):
            rel = repo_file(project, launch, words[0].text)
            return _script_entry(reader, rel, words[0].text.rsplit("/", 1)[-1], words[1:]) if rel else None
        return None
    if program == "flask":
        return _flask_entry(project, launch, command, reader)
    target = console_scripts(project).get(program)
    if target is None:
        return None
    module_name, _, attribute = target.replace(" ", "").partition(":")
    module = reader.module(module_name)
    if module is None:
        return None
    obj = reader.lookup(module, attribute.split(".")[0]) if attribute else None
    return _Entry(program, module, False, _Walker(reader).cli_of(obj), command.argv[1:])


def _script_entry(reader: _Reader, rel: str, label: str, words: list[Word]) -> _Entry | None:
    if rel not in reader.scripts:
        reader.scripts[rel] = _script_root(reader, rel)
    module, root, django = reader.scripts[rel]
    if module is None or (root is None and not django):
        return None
    return _Entry(label, module, True, root, words, django=django)


def _script_root(reader: _Reader, rel: str) -> tuple[_Module | None, _Cli | None, bool]:
    """(module, root group, runs Django's `execute_from_command_line`) of a script run as `__main__`."""
    module = reader.module_at(rel, reader.module_name(rel))
    if module is None:
        return None, None, False
    walker = _Walker(reader)
    statements = [inner for stmt in module.tree.body if isinstance(stmt, ast.If) and _is_main_guard(stmt.test)
                  for inner in stmt.body]
    if rel.endswith("__main__.py"):
        statements += module.tree.body
    main_calls = []  # what the main block calls as a statement: `cli()`, `sys.exit(main())`, `manager.main(obj={})`
    for stmt in statements:
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        if isinstance(call, ast.Call) and _dotted(call.func) in ("sys.exit", "exit", "SystemExit") and call.args:
            call = call.args[0]
        if isinstance(call, ast.Call):
            main_calls.append(call)
    if any(_dotted(node.func).rsplit(".", 1)[-1] == "execute_from_command_line" for stmt in statements
           for node in ast.walk(stmt) if isinstance(node, ast.Call)):
        return module, None, True
    for call in main_calls:
        target = call.func.value if isinstance(call.func, ast.Attribute) and call.func.attr == "main" else call.func
        if not isinstance(target, (ast.Name, ast.Attribute)):
            continue
        cli = walker.cli_of(reader.resolve(module, target))
        if cli is not None and cli.kind != "function":
            return module, cli, False
    return module, None, False


def _flask_entry(project: Project, launch: Launch, command: Command, reader: _Reader) -> _Entry | str | None:
    """`flask [--app X] group command`: the Flask app's CLI (`app.cli.add_command`, `@app.cli.command()`)."""
    words = command.argv[1:]
    app = {**launch.env, **command.env}.get("FLASK_APP")
    rest: list[Word] = []
    index = 0
    while index < len(words):
        text = words[index].text
        if text in ("--app", "-A") and index + 1 < len(words):
            app, index = words[index + 1].text, index + 2
            continue
        if text.startswith("--app="):
            app = text.split("=", 1)[1]
        elif text in ("--env-file", "-e"):
            index += 1
        elif not text.startswith("-"):
            rest.append(words[index])
        index += 1
    if rest and rest[0].text in FLASK_BUILTIN:
        return None
    rq2 = [w.text for w in rest[:2]] in (["rq", "worker"], ["rq", "worker-pool"]) and _uses_flask_rq2(project)
    module = None
    for candidate in ([app.split(":", 1)[0].removesuffix(".py").replace("/", ".")] if app else ["wsgi", "app"]):
        module = reader.module(candidate)
        if module is not None:
            break
    if module is None:
        if rq2:
            name = app.split(":", 1)[0].removesuffix(".py").replace("/", ".") if app else ""
            if app and project.module_file(name, reader.roots):
                where = f"`FLASK_APP`/`--app` = `{app}`: {project.module_file(name, reader.roots)} could not be read (PGF100)"
            elif app:
                where = f"`FLASK_APP`/`--app` = `{app}`: no such module"
            else:
                where = "no `FLASK_APP` or `--app` in the repository, and no `wsgi.py` or `app.py` where the process runs"
            return f"`flask rq worker` (Flask-RQ2) loads the Flask app first: {where}"
        return None
    root = _Cli("flask", module, "app.cli", None, f"the Flask CLI of `{module.name}` (`app.cli`)")
    factory = app.split(":", 1)[1].split("(", 1)[0] if app and ":" in app else None
    if factory is None:  # Flask looks for `create_app` or `make_app` when the module has no `app`
        factory = next((n for n in ("create_app", "make_app") if n in module.defs and "app" not in module.defs), None)
    if factory and any(isinstance(n, ast.FunctionDef) for n in module.defs.get(factory, [])):
        root.create_app = ast.Name(factory)
    return _Entry("flask", module, False, root, rest, flask_rq2=rq2)


def _uses_flask_rq2(project: Project) -> bool:
    """Flask-RQ2's `flask rq worker` (an `rq.Worker` unless `RQ_WORKER_CLASS` names a non-forking one)."""
    cached = project._cache.get(("app-cli-flask-rq2",))
    if cached is None:
        files = [s.rel for s in project.files(FileKind.PYTHON) if project.contains(s.rel, b"flask_rq2")]
        cached = bool(files) and not any(project.contains(s.rel, b"RQ_WORKER_CLASS") and project.contains(
            s.rel, *(name.encode() for name in RQ_NON_FORKING)) for s in project.files(FileKind.PYTHON))
        project._cache[("app-cli-flask-rq2",)] = cached
    return cached


# --- following the words -------------------------------------------------------------------------------


def _declared_options(node: ast.AST | None) -> tuple[set[str], set[str]]:
    """(options that take a value, flags) a click command/group declares (`@click.option("-c", "--config")`)."""
    values: set[str] = set()
    flags: set[str] = set()
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return values, flags
    for decorator in node.decorator_list:
        kind = _dotted(decorator.func).rsplit(".", 1)[-1] if isinstance(decorator, ast.Call) else ""
        if kind not in ("option", "help_option", "version_option"):
            continue
        written = [n for n in (_const_str(a) for a in decorator.args) if n]
        names = {part for n in written for part in n.split("/")}  # `--shout/--no-shout`: a boolean flag
        flag = kind != "option" or any("/" in n for n in written) or any(
            k.arg in ("is_flag", "count") and not (isinstance(k.value, ast.Constant) and k.value.value is False)
            for k in decorator.keywords)
        (flags if flag else values).update(n for n in names if n.startswith("-"))
    return values, flags


def _follow(entry: _Entry, walker: _Walker) -> tuple[_Cli | None, list[_Cli], str, str | None]:
    """(the command reached, the groups passed on the way, the command words as written, the step that failed)."""
    current = entry.root
    path: list[_Cli] = []
    words = [w.text for w in entry.words if w.text]
    written = entry.label
    while current is not None and current.kind in ("group", "flask"):
        path.append(current)
        takes_value, flags = _declared_options(current.node)
        if current.kind == "flask":
            takes_value |= {"--app", "-A", "--env-file", "-e"}
        own = walker.children(current)

        def children(group: _Cli = current) -> dict[str, _Cli | _Obj]:
            """Other modules are read only when the group's own has no match (once: the walker keeps them)."""
            return walker.children(group, everywhere=True)

        word = None
        undeclared = False  # the word before was an option the group does not declare: maybe its value
        while words:
            text = words.pop(0)
            if text == "--":
                continue
            if text.startswith("-"):
                if text in takes_value and words:
                    words.pop(0)
                undeclared = "=" not in text and text not in takes_value and text not in flags
                continue
            if undeclared and _match(own, text) is None and _match(children(), text) is None:
                undeclared = False
                continue
            word = text
            break
        single = _typer(current) and len(children()) == 1  # typer runs a lone command without a command word
        if word is None:
            if single:
                current = next(iter(children().values()))
                if isinstance(current, _Cli):
                    continue
            return None, path, written, None  # the group alone prints its help
        written += f" {word}"
        child = _match(own, word) or _match(children(), word)
        if child is None and single:
            words.insert(0, word)
            child = next(iter(children().values()))
        if child is None and current.kind == "flask":
            return None, path, written, None  # a command an installed extension adds (`flask rq`, `flask digest`)
        if child is None and word in FLASK_BUILTIN and _flask_group(current):
            return None, path, written, None  # `zeus run`: the development server a FlaskGroup brings along
        if child is None:
            known = ", ".join(f"`{name}`" for name in sorted(children()))
            return None, path, written, (f"`{written}`: no command `{word}` under {current.label}"
                                         + (f" (its commands: {known})" if known else ""))
        if isinstance(child, _Obj):
            cli = walker.cli_of(child)
            if cli is None:
                where = child.module.rel if child.module is not None else "an installed package"
                return None, path, written, (f"`{written}`: the command `{word}` ({child.name or child.external}, {where}) "
                                             "could not be read")
            child = cli
        current = child
    return current, path, written, None


# --- the launch stage's entry point --------------------------------------------------------------------


def rewrite(project: Project, launch: Launch) -> None:
    """Mark or rewrite each command of `launch` that runs a command of the project's CLI starting a worker."""
    from pgforklint.launch.paths import module_roots

    scripts = None
    reader = None
    commands: list[Command] = []
    changed = False
    for position, command in enumerate(launch.commands):
        program = command.program
        if not (program.endswith(".py") or program == "flask" or program.startswith("python")):
            scripts = console_scripts(project) if scripts is None else scripts
            if program not in scripts:
                commands.append(command)
                continue
        if reader is None:  # one per set of module roots: modules are read once per run, not once per command
            roots = module_roots(project, launch)
            reader = project._cache.setdefault(("app-cli-reader", tuple(roots)), _Reader(project, roots))
        entry = _entry(project, launch, command, reader)
        if entry is None:
            commands.append(command)
            continue
        found = _resolve(project, launch, entry, reader) if isinstance(entry, _Entry) else entry
        if isinstance(found, str):
            # A word the CLI cannot name may start a worker only if the project has code that starts one; a
            # failed entry (Flask-RQ2's worker with no app found) is a worker already.
            if position == len(launch.commands) - 1 and (isinstance(entry, str) or (
                    _could_fork(project) and WORKER_WORDS & {w.text.lower() for w in command.argv[1:]})):
                launch.failed.append(found)
            commands.append(command)
        elif isinstance(found, AppCommand):
            launch.extra["app_cli"] = found
            launch.via.append(found.location)
            commands.append(command)
        elif isinstance(found, tuple):
            text, where, prelude = found
            commands.extend(parse_commands(text, {**launch.env, **command.env}))
            launch.via.append(where)
            if prelude is not None:  # the Celery adapter runs the CLI's part of the parent first
                launch.extra["app_cli"] = prelude
            changed = True
        else:
            commands.append(command)
    if changed:
        launch.commands = commands


def _could_fork(project: Project) -> bool:
    cached = project._cache.get(("app-cli-could-fork",))
    if cached is None:
        cached = any(project.contains(source.rel, *WORKER_NEEDLES, *WORKER_APP_NEEDLES)
                     for source in project.files(FileKind.PYTHON))
        project._cache[("app-cli-could-fork",)] = cached
    return cached


def _resolve(project: Project, launch: Launch, entry: _Entry, reader: _Reader):
    """An AppCommand (RQ); (command line, where, the AppCommand or None) for Celery/gunicorn; a failed step; or None."""
    walker = _Walker(reader)
    starts = _Starts(project, launch, reader)
    if entry.django:
        return _django_command(project, entry, reader, starts)
    target, path, written, failed = _follow(entry, walker)
    if failed is not None:
        return failed
    if target is None and entry.flask_rq2 and path and path[-1] is entry.root:
        # Flask-RQ2's worker: the app is loaded (the factory called), then `rq.Worker(...).work()`
        callbacks = [(entry.module.name, entry.root.create_app.id)] if isinstance(entry.root.create_app, ast.Name) else []
        return AppCommand(" ".join(["flask", *(w.text for w in entry.words[:2])]), entry.module.name, False,
                          entry.module.name, entry.module.rel, "", launch.location, callbacks)
    if target is None or not isinstance(target.node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    start = starts.of(target.module, target.node)
    if start is None or start.server == "none":
        return None
    if start.server == "child":  # a server run as a child process of the command
        return start.command, start.location, None
    if start.server in ("rq", "celery"):
        callbacks = []
        for group in path:
            if group.create_app is not None:
                obj = reader.resolve(group.module, group.create_app)
                if obj is not None and obj.module is not None and obj.name:
                    callbacks.append((obj.module.name, obj.name))
            if isinstance(group.node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                callbacks.extend(_option_callbacks(reader, group))
                callbacks.append((group.module.name, group.node.name))
            elif _typer(group):  # `@app.callback()`: typer runs it before the command
                callbacks.extend((group.module.name, node.name) for node in group.module.tree.body
                                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                                 and any(_dotted(d.func if isinstance(d, ast.Call) else d) == f"{group.name}.callback"
                                         for d in node.decorator_list))
        command = AppCommand(written, entry.module.name, entry.is_main, target.module.name, target.module.rel,
                             target.node.name, Location(target.module.rel, target.node.lineno), callbacks,
                             server=start.server)
        if start.server == "rq":
            return command
        if start.command is None:
            return f"`{written}`: the Celery app that `{target.node.name}()` starts could not be resolved"
        return start.command, start.location, command
    from pgforklint.launch.python_servers import _servers

    texts = _servers(project, launch, target.module.rel, [target.node.name], only=target.node.name)
    if not texts:
        return f"`{written}`: the gunicorn application `{target.node.name}()` runs could not be read"
    return texts[0], start.location, None


def _option_callbacks(reader: _Reader, group: _Cli) -> list[tuple[str, str]]:
    """`@click.option("-c", callback=load_config)`: click calls an option's callback while it parses the group's
    options (given or not), before the group's own callback."""
    out = []
    for decorator in group.node.decorator_list if isinstance(group.node, ast.FunctionDef) else []:
        if isinstance(decorator, ast.Call) and _dotted(decorator.func).rsplit(".", 1)[-1] == "option":
            for keyword in decorator.keywords:
                if keyword.arg == "callback":
                    obj = reader.resolve(group.module, keyword.value)
                    if obj is not None and obj.module is not None and obj.name and "." not in obj.name:
                        out.append((obj.module.name, obj.name))
    return out


def _django_command(project: Project, entry: _Entry, reader: _Reader, starts: _Starts):
    """A management command of the project's own (`<app>/management/commands/NAME.py`, `Command.handle`)."""
    words = [w.text for w in entry.words if w.text and not w.text.startswith("-")]
    if not words:
        return None
    suffix = f"/management/commands/{words[0]}.py"
    for source in project.files(FileKind.PYTHON):
        if not source.rel.endswith(suffix):
            continue
        if not project.contains(source.rel, *WORKER_NEEDLES):
            return None  # the project's command starts no worker itself (`migrate`-like commands: most of them)
        module = reader.module_at(source.rel, reader.module_name(source.rel))
        command = next((n for n in module.defs.get("Command", []) if isinstance(n, ast.ClassDef)), None) if module else None
        handle = next((n for n in command.body if isinstance(n, ast.FunctionDef) and n.name == "handle"), None) \
            if command is not None else None
        if handle is None:
            continue
        start = starts.of(module, handle)
        if start is None or start.server == "none":
            return None
        written = f"{entry.label} {words[0]}"
        command = AppCommand(written, entry.module.name, True, module.name, module.rel, "Command.handle",
                             Location(module.rel, handle.lineno), [], django=True, server=start.server)
        if start.server == "rq":
            return command
        if start.server == "celery" and start.command is not None:
            return start.command, start.location, command
        return None
    return None  # a command of Django or an installed app: not the project's code


__all__ = ["AppCommand", "console_scripts", "rewrite"]
