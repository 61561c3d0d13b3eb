"""multiprocessing / concurrent.futures / os.fork in scripts that hold a live connection.

Facts (https://docs.python.org/3/library/multiprocessing.html#contexts-and-start-methods,
https://docs.python.org/3.14/whatsnew/3.14.html#multiprocessing):
- The default start method on Linux is `fork` up to Python 3.13; 3.14 changed it to `forkserver`.
  `spawn` and `forkserver` start fresh interpreters: nothing is inherited.
- `multiprocessing.Pool(..., initializer=f)` and `ProcessPoolExecutor(initializer=f)` run `f` in each
  child first: the documented place for `engine.dispose(close=False)` (SQLAlchemy pooling docs,
  "Using Connection Pools with Multiprocessing or os.fork()").

A script is an entry when a launch line runs it (`python job.py`, `python -m pkg.job`) or when it has
an `if __name__ == "__main__":` block and mentions a fork API. Its body and main block are walked
in order; each fork point becomes a `Server(kind=MULTIPROCESSING)` whose parent effects are what
happened before that point.
"""

from __future__ import annotations

import re
import ast
from dataclasses import field

from pgforklint.diagnostics import Location
from pgforklint.discover import FileKind
from pgforklint.extract.forking import call_hook, make_interpreter, python_entry, registered_hooks, run_phase
from pgforklint.extract.importtime import (
    UNKNOWN,
    AdapterVal,
    BoundMethod,
    ConstVal,
    FunctionVal,
    Hooks,
    Interpreter,
    Value,
)
from pgforklint.launch import Launch
from pgforklint.launch.paths import module_roots
from pgforklint.extract.positions import char_column
from pgforklint.extract.pyvalues import _is_main_guard
from pgforklint.model import DeploymentModel, Flag, Hook, Origin, OriginKind, ProcessEffects, Quantity, Server, ServerKind
from pgforklint.project import Project
from pgforklint.records import record
from pgforklint.safeio import parse_count

POOLS = {"multiprocessing.Pool", "multiprocessing.pool.Pool", "multiprocessing.pool.ThreadPool"}
PROCESSES = {"multiprocessing.Process", "multiprocessing.context.Process", "multiprocessing.process.BaseProcess"}
EXECUTORS = {"concurrent.futures.ProcessPoolExecutor", "concurrent.futures.process.ProcessPoolExecutor"}
FORKS = {"os.fork", "os.forkpty"}
FORK_NEEDLES = (b"multiprocessing", b"ProcessPoolExecutor", b"os.fork", b"fork(")


@record
class ForkPoint:
    kind: str  # "Pool", "Process", "ProcessPoolExecutor", "os.fork", "rq"
    method: str | None  # explicit start method, or None for the default
    location: Location
    seq: int
    effects: ProcessEffects
    processes: Quantity | None = None
    child_entry: list[tuple[str, Value]] = field(default_factory=list)  # (hook name, function run first in the child)
    chain: tuple[Location, ...] = ()
    extra: dict = field(default_factory=dict)


def record_fork(interp: Interpreter, kind: str, method: str | None, location: Location,
                processes: Quantity | None = None, child_entry: list[tuple[str, Value]] | None = None,
                **extra) -> ForkPoint:
    point = ForkPoint(kind, method, location, interp.next_seq(), interp.effects, processes, child_entry or [],
                      tuple(interp.chain), dict(extra))
    interp.state.setdefault("fork_points", []).append(point)  # type: ignore[union-attr]
    return point


def _method_of(value: Value | None) -> str | None:
    if isinstance(value, _Context):
        return value.method
    return None


def _processes(interp: Interpreter, node, args: list[Value], kwargs: dict[str, Value], name: str, loc: Location
               ) -> Quantity:
    value = kwargs.get(name, args[0] if args else None)
    if isinstance(value, ConstVal) and isinstance(value.value, int) and not isinstance(value.value, bool):
        return Quantity.from_file(value.value, loc, name)
    return Quantity(None, Origin(OriginKind.DEFAULT, None, "os.cpu_count() (multiprocessing's default)"),
                    symbolic="cpu_count()")


def _child_entry(kwargs: dict[str, Value], args: list[Value], names: tuple[str, ...], position: int | None
                 ) -> list[tuple[str, Value]]:
    out = []
    for name in names:
        value = kwargs.get(name)
        if value is None and position is not None and len(args) > position and name == names[0]:
            value = args[position]
        if isinstance(value, (FunctionVal, BoundMethod)):
            out.append((f"{name}=", value))
    return out


def _fork_call(interp: Interpreter, kind: str, method: str | None, node, args, kwargs, frame) -> Value:
    loc = interp.loc(frame.module, node)
    if kind == "Pool":
        record_fork(interp, "Pool", method, loc, _processes(interp, node, args, kwargs, "processes", loc),
                    _child_entry(kwargs, args, ("initializer",), 1))
        return UNKNOWN
    if kind == "ProcessPoolExecutor":
        method = _method_of(kwargs.get("mp_context")) or method
        record_fork(interp, "ProcessPoolExecutor", method, loc, _processes(interp, node, args, kwargs, "max_workers", loc),
                    _child_entry(kwargs, args, ("initializer",), 2))
        return UNKNOWN
    if kind == "Process":
        return _ProcessVal(method, _child_entry(kwargs, args, ("target",), 1), loc)
    return UNKNOWN


@record(eq=False)
class _ProcessVal(AdapterVal):
    method: str | None
    child: list[tuple[str, Value]]
    location: Location

    def call_method(self, interp, name, node, args, kwargs, frame, loc):
        if name == "start":
            record_fork(interp, "Process", self.method, loc, Quantity.from_file(1, loc, "one Process"), self.child)
            return UNKNOWN
        return None


@record(eq=False)
class _Context(AdapterVal):
    method: str | None

    def attribute(self, interp, attr, node, frame):
        if attr in ("Pool", "Process"):
            return _ContextCallable(self.method, attr)
        return None


@record(eq=False)
class _ContextCallable(AdapterVal):
    method: str | None
    kind: str

    def call(self, interp, node, args, kwargs, frame, loc):
        return _fork_call(interp, self.kind, self.method, node, args, kwargs, frame)


def _const_str(value: Value | None) -> str | None:
    return value.value if isinstance(value, ConstVal) and isinstance(value.value, str) else None


def _on_call(interp: Interpreter, qualname: str, node, args, kwargs, frame) -> Value | None:
    if qualname in ("multiprocessing.get_context", "multiprocessing.context.get_context"):
        return _Context(_const_str(args[0] if args else kwargs.get("method")))
    if qualname in ("multiprocessing.set_start_method",):
        method = _const_str(args[0] if args else kwargs.get("method"))
        if method:
            interp.state["mp_start_method"] = method
        return UNKNOWN
    if qualname in POOLS:
        if qualname.endswith("ThreadPool"):
            return None
        return _fork_call(interp, "Pool", interp.state.get("mp_start_method"), node, args, kwargs, frame)  # type: ignore[arg-type]
    if qualname in EXECUTORS:
        return _fork_call(interp, "ProcessPoolExecutor", interp.state.get("mp_start_method"), node, args, kwargs, frame)  # type: ignore[arg-type]
    if qualname in PROCESSES:
        return _fork_call(interp, "Process", interp.state.get("mp_start_method"), node, args, kwargs, frame)  # type: ignore[arg-type]
    if qualname in FORKS:
        record_fork(interp, "os.fork", "fork", interp.loc(frame.module, node), Quantity.from_file(1, interp.loc(frame.module, node), "os.fork()"))
        return _ForkPid()
    return None


class _ForkPid(AdapterVal):
    """The value `os.fork()` returns: 0 in the child."""


def _child_branch(interp: Interpreter, stmt: ast.If, frame) -> bool:
    """`if os.fork() == 0:` / `if pid == 0:` / `if not pid:`: that branch runs in the child, the other in the
    parent. The child's opens are its own (walked into a separate record, not the parent's)."""
    test = stmt.test
    negated = False
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        test, negated = test.operand, True
    compared = None
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.comparators[0], ast.Constant) \
            and test.comparators[0].value == 0 and isinstance(test.ops[0], (ast.Eq, ast.NotEq, ast.Gt)):
        compared = test.left
        child_is_body = isinstance(test.ops[0], ast.Eq)
    elif isinstance(test, (ast.Name, ast.Call)):
        compared, child_is_body = test, False  # `if pid:` is the parent
    else:
        return False
    is_fork_call = isinstance(compared, ast.Call) and (
        (isinstance(compared.func, ast.Attribute) and compared.func.attr in ("fork", "forkpty"))
        or (isinstance(compared.func, ast.Name) and compared.func.id in ("fork", "forkpty")))
    if not (isinstance(compared, ast.Name) or is_fork_call):
        return False  # evaluated once, by the generic walk
    if not isinstance(interp.eval(compared, frame), _ForkPid):
        if is_fork_call:  # evaluated here already: walk both branches as the generic walk would
            interp.walk_body(stmt.body, frame)
            interp.walk_body(stmt.orelse, frame)
            return True
        return False
    if negated:
        child_is_body = not child_is_body
    child, parent = (stmt.body, stmt.orelse) if child_is_body else (stmt.orelse, stmt.body)
    run_phase(interp, ProcessEffects(), lambda: interp.walk_body(child, frame))
    interp.walk_body(parent, frame)
    return True


def _loop_end(interp: Interpreter, start: int, stmt, frame) -> None:
    """A fork inside a loop runs again in the next iteration: what the parent opened after the first fork of
    this iteration is inherited by the next one. Recorded as a second fork point after those opens."""
    points = [p for p in interp.state.get("fork_points") or []
              if p.seq > start and p.effects is interp.effects and p.kind != "rq" and not p.extra.get("again")]
    if not points:
        return
    first = min(p.seq for p in points)
    if not any(seq > first for seq in interp.effects.open_seq):
        return  # nothing opened after the fork in the loop: the next iteration forks a clean parent
    for point in points:
        record_fork(interp, point.kind, point.method, point.location, point.processes, point.child_entry,
                    again=True, loop_line=getattr(stmt, "lineno", None))


def install(hooks: Hooks) -> None:
    hooks.on_call.append(_on_call)
    hooks.on_if.append(_child_branch)
    hooks.on_loop_end.append(_loop_end)


# --- default start method ------------------------------------------------------------------


def default_start_method(project: Project) -> tuple[str, str]:
    """("fork" | "forkserver", why). Linux default: fork through 3.13, forkserver from 3.14."""
    found = python_version(project)
    if found is None:
        return "fork", "the default start method on Linux before Python 3.14 is fork"
    minor, where = found
    if minor >= 14:
        return "forkserver", f"{where}: Python 3.14+ defaults to forkserver on Linux"
    return "fork", f"{where}: before Python 3.14, Linux defaults to fork"


_DOCKER_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(?:[\w.-]+(?::\d+)?/)*(?:library/)?python:3\.(\d+)", re.IGNORECASE | re.MULTILINE)


def python_version(project: Project) -> tuple[int, int | str] | None:
    """(minor, where) of the Python 3 the project runs on: the deployed interpreter first (a Dockerfile's
    `FROM python:3.X`, Heroku's `runtime.txt`, `.python-version`), else the lowest `requires-python` allows."""
    cached = project._cache.get(("python-version",))
    if cached is not None:
        return cached or None
    found: tuple[int, str] | None = None
    for source in sorted(project.files(FileKind.DOCKERFILE), key=lambda f: (f.rel.count("/"), f.rel)):
        match = _DOCKER_FROM.search(project.text(source.rel) or "")
        if match:
            found = (int(match.group(1)), f"`{match.group(0).strip()}` in {source.rel}")
            break
    if found is None:
        for source in sorted(project.files(FileKind.PYTHON_VERSION), key=lambda f: (f.rel.count("/"), f.name != "runtime.txt")):
            match = re.search(r"(?:python-)?3\.(\d+)", (project.text(source.rel) or "").strip())
            if match:
                found = (int(match.group(1)), f"`{match.group(0)}` in {source.rel}")
                break
    if found is None:
        for source in project.files(FileKind.TOML):
            if source.name != "pyproject.toml" or "/" in source.rel:
                continue
            data = project.toml(source.rel) or {}
            table = data.get("project") if isinstance(data.get("project"), dict) else {}
            spec = table.get("requires-python") if isinstance(table, dict) else None
            if isinstance(spec, str):
                minimum = _minimum_minor(spec)
                found = (minimum if minimum is not None else 0, f"requires-python = \"{spec}\"")
                break
    project._cache[("python-version",)] = found or ()
    return found


def _minimum_minor(spec: str) -> int | None:
    lowest = None
    for clause in spec.split(","):
        match = re.match(r"\s*(>=|~=|==|>)\s*3\.(\d+)", clause)
        if match:
            minor = (parse_count(match.group(2)) or 0) + (1 if match.group(1) == ">" else 0)
            lowest = minor if lowest is None else max(lowest, minor)
    return lowest


# --- entries ------------------------------------------------------------------------------


def entry_modules(project: Project, launches: list[Launch], roots: list[str]) -> list[tuple[str, Location | None, dict]]:
    """Scripts run as __main__: launch lines first, then files with a main block that mention a fork API."""
    found: dict[str, tuple[str, Location | None, dict]] = {}
    for launch in launches:
        launch_roots = module_roots(project, launch)
        for command in launch.commands:
            name = python_entry(command, project, launch_roots, launch)
            if name and name not in found:
                found[name] = (name, launch.location, {**launch.env, **command.env})
                project._cache[("entry-launch", name)] = launch
                project._cache[("entry-roots", name)] = launch_roots
    from pgforklint.extract.django import _module_name

    for source in project.files(FileKind.PYTHON):
        if not project.contains(source.rel, b"__main__") or not project.contains(source.rel, *FORK_NEEDLES):
            continue
        parsed = project.python(source.rel, keep=False)
        if parsed is None or not any(_is_main_guard(getattr(s, "test", None)) for s in parsed.tree.body if hasattr(s, "test")):
            continue
        name = _module_name(source.rel, roots)
        if name and name not in found:
            found[name] = (name, None, {})
    return list(found.values())


def walk_entry(project: Project, name: str, location: Location | None, env: dict, roots: list[str]
               ) -> tuple[Interpreter, ProcessEffects]:
    """Walk a script run as `__main__` once per run: the multiprocessing and RQ adapters both read its
    fork points from the same walk."""
    key = ("entry-walk", name, location, tuple(sorted(env.items())), tuple(roots))
    cached = project._cache.get(key)
    if cached is not None:
        return cached
    interp = make_interpreter(project, roots, env)
    interp.main_modules.add(name)
    effects = ProcessEffects()
    run_phase(interp, effects, lambda: interp.import_module(name, location))
    project._cache[key] = (interp, effects)
    return interp, effects


def snapshot(effects: ProcessEffects, seq: int) -> ProcessEffects:
    """What the parent holds at a fork point: opens and resets that happened before it."""
    before = ProcessEffects()
    before.engines = list(effects.engines)
    for open_, open_seq in zip(effects.opens, effects.open_seq):
        if open_seq < seq:
            before.opens.append(open_)
            before.open_seq.append(open_seq)
    before.resets = [(s, r) for s, r in effects.resets if s < seq]
    before.pid_guards = list(effects.pid_guards)
    return before


def fork_server(interp: Interpreter, point: ForkPoint, kind: ServerKind, worker_class: str, reason: str) -> Server:
    server = Server(kind, point.location, forks=True,
                    loads_app_in_parent=Flag(True, Origin(OriginKind.FILE, point.location, reason)),
                    processes=point.processes or Quantity.default(1, "one child"),
                    threads=Quantity.default(1, "one task at a time per child"), worker_class=worker_class)
    server.parent_effects = snapshot(point.effects, point.seq)
    for name, function in point.child_entry:
        server.hooks.append(Hook(name, _function_location(function, point.location, interp), True,
                                 call_hook(interp, function, point.location)))
    server.hooks.extend(registered_hooks(interp, {"at_fork_child": "os.register_at_fork"}))
    return server


def _function_location(function: Value, default: Location, interp: Interpreter) -> Location:
    node = getattr(function, "node", None) or getattr(getattr(function, "obj", None), "node", None)
    module = getattr(function, "module", None) or getattr(getattr(function, "obj", None), "module", None)
    if node is None or module is None:
        return default
    line = getattr(node, "lineno", 1)
    return Location(module.path or module.name, line,
                    char_column(interp.source_text(module.path), line, getattr(node, "col_offset", 0)) or 1)


def adapt(project: Project, launches: list[Launch], model: DeploymentModel) -> None:
    roots = project.default_module_roots()
    default_method, why = default_start_method(project)
    for name, location, env in entry_modules(project, launches, roots):
        interp, effects = walk_entry(project, name, location, env, project._cache.get(("entry-roots", name), roots))
        model.facts.setdefault("entry_scripts", []).append(name)  # walked: the coverage counts it as checked
        for point in interp.state.get("fork_points") or []:
            if point.kind == "rq" or point.effects is not effects:
                continue
            method = point.method or default_method
            if method != "fork":
                continue
            reason = f"`{point.kind}` forks with the `fork` start method" + ("" if point.method else f" ({why})")
            if point.extra.get("again"):
                reason += (f", and it forks again in the next iteration of the loop (line {point.extra['loop_line']}), "
                           "after this connection was opened")
            server = fork_server(interp, point, ServerKind.MULTIPROCESSING, point.kind, reason)
            server.settings["start_method"] = method
            model.servers.append(server)
            launch = project._cache.get(("entry-launch", name))
            if launch is not None:
                from pgforklint.launch import attach_process_type

                attach_process_type(model, launch, server)


__all__ = ["adapt", "install", "ForkPoint", "record_fork", "walk_entry", "entry_modules", "fork_server", "snapshot"]
