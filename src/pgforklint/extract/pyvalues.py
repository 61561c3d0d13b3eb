"""Static values of Python expressions in configuration files (gunicorn.conf.py, settings.py).

Never evaluates code: literals, names assigned earlier, `os.environ.get("X", default)`,
`os.getenv`, `int(...)`, `env.int("X", default=...)` (django-environ), and arithmetic are
understood; `multiprocessing.cpu_count()` stays symbolic.
"""

from __future__ import annotations

import ast
import operator

from pgforklint.diagnostics import Location
from pgforklint.model import Flag, Origin, OriginKind, Quantity
from pgforklint.records import record
from pgforklint.safeio import bounded_arithmetic


@record(frozen=True)
class StaticValue:
    """A value known statically, or partly: `value` may be None while `symbolic` describes it."""

    value: object
    location: Location
    symbolic: str | None = None
    env_var: str | None = None
    env_default_used: bool = False  # the value is the default of an environment lookup
    known: bool = True

    def as_quantity(self, detail: str = "") -> Quantity:
        number = _to_int(self.value) if self.known else None
        if self.env_var and self.env_default_used:
            origin = Origin(OriginKind.ENV_DEFAULT, self.location, detail or f"${self.env_var} unset in the repo; default used")
        elif self.env_var and not self.known:
            origin = Origin(OriginKind.ENV_UNSET, self.location, detail or f"${self.env_var} has no value in the repo")
        else:
            origin = Origin(OriginKind.FILE, self.location, detail)
        return Quantity(number, origin, symbolic=self.symbolic, env_var=self.env_var)

    def as_flag(self, detail: str = "") -> Flag | None:
        truth = to_bool(self.value) if self.known else None
        if truth is None:
            return None
        kind = OriginKind.ENV_DEFAULT if self.env_default_used else OriginKind.FILE
        return Flag(truth, Origin(kind, self.location, detail))


def _to_int(value: object) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def to_bool(value: object) -> bool | None:
    """A setting's truth value as servers read it (`true`/`1`/`yes`/`on` ...), or None when it is not one."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on", "y", "t"):
            return True
        if lowered in ("0", "false", "no", "off", "n", "f", ""):
            return False
    return None


_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv}
_ENV_GETTERS = {"os.environ.get", "os.getenv", "environ.get", "getenv"}
_CPU_COUNTS = {"multiprocessing.cpu_count", "os.cpu_count", "cpu_count", "psutil.cpu_count", "os.process_cpu_count"}


def dotted_name(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


class StaticEvaluator:
    """Evaluates expressions against `names` (earlier module-level assignments) and `env` (known variables)."""

    def __init__(self, path: str, names: dict[str, StaticValue] | None = None, env: dict[str, str] | None = None,
                 aliases: dict[str, str] | None = None, text: str | None = None):
        self.path = path
        self.text = text  # the file's text: columns are counted in characters, not UTF-8 bytes
        self.names = names if names is not None else {}
        self.env = env or {}
        self.aliases = aliases or {}  # local name -> qualified name, from imports

    def loc(self, node: ast.AST) -> Location:
        from pgforklint.extract.positions import node_columns

        column, end_column = node_columns(self.text, node)
        return Location(self.path, getattr(node, "lineno", 1), column, getattr(node, "end_lineno", None),
                        end_column if end_column is not None else 1)

    def qualify(self, name: str | None) -> str | None:
        if name is None:
            return None
        head, _, rest = name.partition(".")
        if head in self.aliases:
            return self.aliases[head] + ("." + rest if rest else "")
        return name

    def _is_environ_env(self, name: str) -> bool:
        """A name bound to a django-environ reader (`env = environ.Env()`, `environ.FileAwareEnv()`)."""
        value = self.names.get(name)
        return value is not None and not value.known and (value.symbolic or "").startswith(_ENVIRON_CLASSES)

    def unknown(self, node: ast.AST, symbolic: str | None = None) -> StaticValue:
        return StaticValue(None, self.loc(node), symbolic=symbolic or _unparse(node), known=False)

    def evaluate(self, node: ast.AST) -> StaticValue:
        try:
            return self._evaluate(node)
        except (RecursionError, ValueError, TypeError, ZeroDivisionError, OverflowError):
            return self.unknown(node)

    def _evaluate(self, node: ast.AST) -> StaticValue:
        loc = self.loc(node)
        if isinstance(node, ast.Constant):
            return StaticValue(node.value, loc)
        if isinstance(node, ast.Name):
            if node.id in self.names:
                return self.names[node.id]
            return self.unknown(node)
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self.evaluate(e) for e in node.elts]
            if all(i.known for i in items):
                return StaticValue([i.value for i in items], loc)
            return self.unknown(node)
        if isinstance(node, ast.Dict):
            result = {}
            for key, value in zip(node.keys, node.values):
                if key is None:
                    return self.unknown(node)
                k = self.evaluate(key)
                if not k.known:
                    return self.unknown(node)
                result[k.value] = self.evaluate(value)
            return StaticValue(result, loc)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            inner = self.evaluate(node.operand)
            if inner.known and isinstance(inner.value, (int, float)):
                return StaticValue(-inner.value, loc, env_var=inner.env_var, env_default_used=inner.env_default_used)
            return self.unknown(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            inner = self.evaluate(node.operand)  # Python's truth: `not "no"` is False
            return StaticValue(not inner.value, loc) if inner.known else self.unknown(node)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left, right = self.evaluate(node.left), self.evaluate(node.right)
            env_var = left.env_var or right.env_var
            used = left.env_default_used or right.env_default_used
            if left.known and right.known and isinstance(left.value, (int, float)) and isinstance(right.value, (int, float)) \
                    and not isinstance(left.value, bool) and not isinstance(right.value, bool):
                result = bounded_arithmetic(_BINOPS[type(node.op)], left.value, right.value)
                if result is not None:
                    return StaticValue(result, loc, env_var=env_var, env_default_used=used)
            return StaticValue(None, loc, symbolic=_unparse(node), env_var=env_var, known=False)
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
            # `os.environ.get("X") or 3`
            for value in node.values:
                item = self.evaluate(value)
                if item.known and item.value not in (None, "", 0, False):
                    return item
                if not item.known and item.env_var and not item.env_default_used:
                    continue
            return self.unknown(node)
        if isinstance(node, ast.Subscript):
            target = self.qualify(dotted_name(node.value))
            key = self.evaluate(node.slice)
            if target in ("os.environ", "environ") and key.known and isinstance(key.value, str):
                return self._env_lookup(key.value, None, node)
            base = self.evaluate(node.value)
            if base.known and isinstance(base.value, dict) and key.known and key.value in base.value:
                inner = base.value[key.value]
                return inner if isinstance(inner, StaticValue) else StaticValue(inner, loc)
            return self.unknown(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.JoinedStr):
            return self.unknown(node)
        return self.unknown(node)

    def _env_lookup(self, name: str, default: ast.AST | None, node: ast.AST) -> StaticValue:
        loc = self.loc(node)
        if name in self.env:
            return StaticValue(self.env[name], loc, env_var=name)
        if default is not None:
            value = self.evaluate(default)
            if value.known:
                return StaticValue(value.value, loc, env_var=name, env_default_used=True, symbolic=value.symbolic)
            return StaticValue(None, loc, symbolic=value.symbolic, env_var=name, known=False)
        return StaticValue(None, loc, symbolic=f"${name}", env_var=name, known=False)

    def _call(self, node: ast.Call) -> StaticValue:
        func = self.qualify(dotted_name(node.func))
        loc = self.loc(node)
        if func in _ENV_GETTERS or (func and func.endswith(".environ.get")):
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                default = node.args[1] if len(node.args) > 1 else _kwarg(node, "default")
                return self._env_lookup(node.args[0].value, default, node)
        if func in _CPU_COUNTS:
            return StaticValue(None, loc, symbolic="cpu_count()", known=False)
        if func in ("int", "float", "str", "bool") and node.args:
            inner = self.evaluate(node.args[0])
            if not inner.known:
                return inner
            try:
                converted = {"int": lambda v: int(str(v).strip()) if isinstance(v, str) else int(v), "float": float,
                             "str": str, "bool": bool}[func](inner.value)  # bool("false") is True, as in Python
            except (TypeError, ValueError):
                return self.unknown(node)
            return StaticValue(converted, inner.location, inner.symbolic, inner.env_var, inner.env_default_used)
        if func in ("max", "min") and node.args and not node.keywords:
            items = [self.evaluate(a) for a in node.args]
            if all(i.known and isinstance(i.value, (int, float)) for i in items):
                picked = (max if func == "max" else min)(items, key=lambda i: i.value)
                return StaticValue(picked.value, loc, env_var=picked.env_var, env_default_used=picked.env_default_used)
            return StaticValue(None, loc, symbolic=_unparse(node), known=False,
                               env_var=next((i.env_var for i in items if i.env_var), None))
        if isinstance(node.func, ast.Name) and self._is_environ_env(node.func.id) and node.args \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            # django-environ: `env = environ.Env()` then `env("X", default=3)`
            default = _kwarg(node, "default") or (node.args[1] if len(node.args) > 1 else None)
            return self._env_lookup(node.args[0].value, default, node)
        if func and func.split(".")[-1] in ("int", "bool", "str", "get_value") and isinstance(node.func, ast.Attribute):
            # django-environ: env.int("X", default=3) / env("X", default=...)
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                default = _kwarg(node, "default") or (node.args[1] if len(node.args) > 1 else None)
                value = self._env_lookup(node.args[0].value, default, node)
                if value.known and func.endswith(".int"):
                    number = _to_int(value.value)
                    return StaticValue(number, value.location, value.symbolic, value.env_var, value.env_default_used,
                                       known=number is not None)
                if value.known and func.endswith(".bool"):
                    return StaticValue(to_bool(value.value), value.location, value.symbolic, value.env_var,
                                       value.env_default_used)
                return value
        return self.unknown(node)


_ENVIRON_CLASSES = ("Env(", "FileAwareEnv(", "environ.Env(", "environ.FileAwareEnv(")


def _kwarg(node: ast.Call, name: str) -> ast.AST | None:
    for keyword in node.keywords:
        if keyword.arg == name:
            return keyword.value
    return None


def _unparse(node: ast.AST) -> str:
    # Bounded: unparse is recursive and linear in the subtree, and `unknown()` describes every level of a
    # nested expression, so a deep one (`not not ... x`) would cost quadratic time. Big ones are not shown.
    for count, _ in enumerate(ast.walk(node)):
        if count >= 200:
            return "<expression>"
    try:
        text = ast.unparse(node)
    except Exception:  # noqa: BLE001 - unparse of odd trees must never crash the run
        return "<expression>"
    return text if len(text) <= 80 else text[:77] + "..."


def import_aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> qualified name for the module's top-level imports."""
    aliases: dict[str, str] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    aliases[head] = head
        elif isinstance(stmt, ast.ImportFrom) and stmt.module and not stmt.level:
            for alias in stmt.names:
                aliases[alias.asname or alias.name] = f"{stmt.module}.{alias.name}"
    return aliases


def module_assignments(tree: ast.Module, path: str, env: dict[str, str] | None = None, text: str | None = None
                       ) -> tuple[dict[str, StaticValue], dict[str, ast.AST]]:
    """Evaluate top-level `NAME = expr` in source order (later wins), descending into if/try blocks.

    Returns the values and, for each name, the node of the assignment that won (for locations).
    """
    evaluator = StaticEvaluator(path, {}, env, import_aliases(tree), text)
    nodes: dict[str, ast.AST] = {}

    def visit(body: list[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, ast.Assign):
                value = evaluator.evaluate(stmt.value)
                for target in stmt.targets:
                    if isinstance(target, ast.Name):
                        evaluator.names[target.id] = value
                        nodes[target.id] = stmt
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
                evaluator.names[stmt.target.id] = evaluator.evaluate(stmt.value)
                nodes[stmt.target.id] = stmt
            elif isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
                combined = ast.BinOp(left=ast.Name(stmt.target.id, ast.Load()), op=stmt.op, right=stmt.value)
                ast.copy_location(combined, stmt)
                ast.fix_missing_locations(combined)
                evaluator.names[stmt.target.id] = evaluator.evaluate(combined)
                nodes[stmt.target.id] = stmt
            elif isinstance(stmt, ast.If):
                if _is_main_guard(stmt.test):
                    continue
                visit(stmt.body)
                visit(stmt.orelse)
            elif isinstance(stmt, ast.Try):
                visit(stmt.body)
                visit(stmt.orelse)
                visit(stmt.finalbody)
    visit(tree.body)
    return evaluator.names, nodes


def _is_main_guard(test: ast.AST) -> bool:
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and len(test.comparators) == 1 and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value == "__main__")
