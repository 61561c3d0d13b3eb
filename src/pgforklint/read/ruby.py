"""Ruby without Ruby: tree-sitter-ruby syntax trees and a small evaluator for configuration values.

Never runs the code. `tree_sitter` and the grammar are imported on the first Ruby file read (a Python-only
run never pays for them). Broken Ruby still gives a tree: tree-sitter recovers, the statements before the
damage are normal nodes, and `RubySource.error_line` says where the damage is (a PGF100 at that line).

The evaluator knows what configuration files compute (`ENV.fetch("X") { 5 }`, `ENV.fetch("X", 5)`,
`ENV["X"] || 2`, `.presence || x`, `Integer(...)`, `.to_i`, locals, arithmetic) and keeps the name of the
environment variable a value depends on, as Python values do (`Quantity.env_var`, `OriginKind.ENV_DEFAULT`).
`if ENV["RAILS_ENV"] == "production"` (and RACK_ENV/APP_ENV, `Rails.env.production?`) is taken as true; other
conditions take both branches.
"""

from __future__ import annotations

from dataclasses import field

from pgforklint.errors import ReadError
from pgforklint.records import record
from pgforklint.read.text import read_text

_PARSERS: dict = {}
MAX_EVAL_DEPTH = 40
# A deployment is linted as it runs in production.
ENV_NAMES = ("RAILS_ENV", "RACK_ENV", "APP_ENV")


def tree_sitter_parser(grammar: str):
    """A tree-sitter parser for "ruby" or "embedded_template" (ERB), made once."""
    if grammar not in _PARSERS:
        import tree_sitter

        if grammar == "ruby":
            import tree_sitter_ruby as module
        else:
            import tree_sitter_embedded_template as module
        _PARSERS[grammar] = tree_sitter.Parser(tree_sitter.Language(module.language()))
    return _PARSERS[grammar]


def parser():
    return tree_sitter_parser("ruby")


@record(eq=False)
class RubySource:
    text: str
    data: bytes
    tree: object
    error_line: int | None = None
    error_reason: str = ""

    @property
    def root(self):
        return self.tree.root_node


def parse_ruby(text: str) -> RubySource:
    data = text.encode("utf-8", errors="surrogateescape")
    tree = parser().parse(data)
    source = RubySource(text, data, tree)
    if tree.root_node.has_error:
        node = _first_damage(tree.root_node)
        if node is not None:
            source.error_line = node.start_point[0] + 1
            what = f"missing `{node.type}`" if node.is_missing else "a syntax error"
            source.error_reason = (f"Ruby syntax error ({what} at line {source.error_line}); "
                                   "only what the parser could recover was read")
    return source


def _first_damage(root):
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            return node
        if node.has_error:
            stack.extend(reversed(node.children))
    return None


def read_ruby(path) -> RubySource:
    text = read_text(path)
    try:
        return parse_ruby(text)
    except (ValueError, RecursionError) as exc:  # pragma: no cover - tree-sitter does not raise on bad input
        raise ReadError(f"cannot parse Ruby: {exc}") from None


# --- nodes ----------------------------------------------------------------------------------------


def text_of(node) -> str:
    return node.text.decode("utf-8", errors="replace") if node is not None else ""


def line_of(node) -> int:
    return node.start_point[0] + 1


def string_value(node) -> str | None:
    """A plain string or symbol literal (no interpolation)."""
    if node is None:
        return None
    if node.type in ("string", "string_content"):
        parts = [c for c in node.children if c.type not in ('"', "'")]
        if all(c.type == "string_content" for c in parts):
            return "".join(text_of(c) for c in parts)
        return None
    if node.type == "simple_symbol":
        return text_of(node)[1:]
    if node.type == "hash_key_symbol":
        return text_of(node)
    return None


@record(eq=False)
class Call:
    """A method call: `receiver.method(args) { block }`, or a bare `method args`."""

    node: object
    receiver: object | None
    method: str
    args: list
    block: object | None

    @property
    def receiver_text(self) -> str:
        return text_of(self.receiver) if self.receiver is not None else ""

    @property
    def line(self) -> int:
        return line_of(self.node)

    def block_body(self) -> list:
        if self.block is None:
            return []
        for child in self.block.children:
            if child.type in ("body_statement", "block_body"):
                return list(child.named_children)
        return []


def as_call(node) -> Call | None:
    if node is None:
        return None
    if node.type == "identifier" or node.type == "constant":
        return Call(node, None, text_of(node), [], None)
    if node.type != "call":
        return None
    method = node.child_by_field_name("method")
    receiver = node.child_by_field_name("receiver")
    arguments = node.child_by_field_name("arguments")
    block = node.child_by_field_name("block")
    args = [c for c in arguments.named_children if c.type != "comment"] if arguments is not None else []
    if method is None:
        return None
    return Call(node, receiver, text_of(method), args, block)


def calls_in(node):
    """Every call under `node` (itself included), in source order."""
    stack = [node]
    while stack:
        current = stack.pop()
        if current.type == "call":
            call = as_call(current)
            if call is not None:
                yield call
        stack.extend(reversed(current.named_children))


def keyword_args(call: Call) -> dict[str, object]:
    out = {}
    for arg in call.args:
        if arg.type == "pair":
            key = arg.child_by_field_name("key")
            value = arg.child_by_field_name("value")
            name = string_value(key) if key is not None else None
            if name is None and key is not None:
                name = text_of(key).rstrip(":").lstrip(":")
            if name:
                out[name] = value
    return out


# --- values -------------------------------------------------------------------------------------------


@record(frozen=True)
class RValue:
    """A value a configuration line computes. `value` None: unknown. `env_var`: the variable it depends on;
    `from_default`: the variable has no value in the repository and the written default is used."""

    value: object = None
    env_var: str | None = None
    from_default: bool = False
    symbolic: str | None = None

    @property
    def known(self) -> bool:
        return self.value is not None


UNKNOWN = RValue()


@record
class Scope:
    env: dict[str, str] = field(default_factory=dict)  # values the repository gives (Procfile, app.json, Compose)
    locals: dict[str, RValue] = field(default_factory=dict)


def _env_lookup(name: str, scope: Scope) -> RValue:
    if name in scope.env:
        return RValue(scope.env[name], name)
    if name in ENV_NAMES:
        return RValue("production", name, True)
    return RValue(None, name, False, f"ENV[{name!r}]")


def _int_of(value: RValue, strict: bool) -> RValue:
    raw = value.value
    if isinstance(raw, bool):
        return RValue(None, value.env_var, value.from_default, value.symbolic)
    if isinstance(raw, int):
        return value
    if isinstance(raw, str):
        text = raw.strip()
        if text.lstrip("-").isdigit():
            return RValue(int(text), value.env_var, value.from_default)
        if not strict:  # "abc".to_i is 0 in Ruby; an unknown string stays unknown
            digits = ""
            for ch in text:
                if ch.isdigit():
                    digits += ch
                else:
                    break
            if digits:
                return RValue(int(digits), value.env_var, value.from_default)
    return RValue(None, value.env_var, value.from_default, value.symbolic)


def evaluate(node, scope: Scope | None = None, depth: int = 0) -> RValue:
    scope = scope or Scope()
    if node is None or depth > MAX_EVAL_DEPTH:
        return UNKNOWN
    kind = node.type
    if kind == "integer":
        try:
            return RValue(int(text_of(node).replace("_", ""), 0))
        except ValueError:
            return UNKNOWN
    if kind in ("string", "simple_symbol"):
        value = string_value(node)
        return RValue(value) if value is not None else RValue(None, symbolic=text_of(node))
    if kind == "true":
        return RValue(True)
    if kind == "false":
        return RValue(False)
    if kind == "nil":
        return RValue(None, symbolic="nil")
    if kind == "identifier":
        return scope.locals.get(text_of(node), RValue(None, symbolic=text_of(node)))
    if kind in ("parenthesized_statements", "begin_block"):
        children = node.named_children
        return evaluate(children[-1], scope, depth + 1) if children else UNKNOWN
    if kind == "element_reference":
        obj = node.child_by_field_name("object") or (node.named_children[0] if node.named_children else None)
        if obj is not None and text_of(obj) in ("ENV", "::ENV"):
            keys = [c for c in node.named_children[1:]]
            name = string_value(keys[0]) if keys else None
            if name:
                return _env_lookup(name, scope)
        return RValue(None, symbolic=text_of(node))
    if kind == "binary":
        return _binary(node, scope, depth)
    if kind in ("if", "unless"):  # `x = if RAILS_ENV == "production" then 10 else 3 end`
        decided = condition_value(node.child_by_field_name("condition"), scope)
        if kind == "unless" and decided is not None:
            decided = not decided
        branch = node.child_by_field_name("consequence" if decided is not False else "alternative")
        children = [c for c in branch.named_children if c.type != "comment"] if branch is not None else []
        result = evaluate(children[-1], scope, depth + 1) if children else UNKNOWN
        return result if decided is not None else RValue(None, result.env_var, result.from_default, text_of(node)[:80])
    if kind == "conditional":  # a ? b : c
        then = evaluate(node.child_by_field_name("consequence"), scope, depth + 1)
        return then if then.known else evaluate(node.child_by_field_name("alternative"), scope, depth + 1)
    if kind == "call":
        return _call_value(node, scope, depth)
    return RValue(None, symbolic=text_of(node)[:80])


def _binary(node, scope: Scope, depth: int) -> RValue:
    operator = text_of(node.child_by_field_name("operator"))
    left = evaluate(node.child_by_field_name("left"), scope, depth + 1)
    right_node = node.child_by_field_name("right")
    if operator in ("||", "or"):
        if left.known and left.value not in ("", False):
            return left
        right = evaluate(right_node, scope, depth + 1)
        if left.env_var and not left.known:
            return RValue(right.value, left.env_var, True, None if right.known else text_of(node))
        return right
    right = evaluate(right_node, scope, depth + 1)
    env_var = left.env_var or right.env_var
    from_default = left.from_default or right.from_default
    if operator in ("==", "!=") and left.known and right.known:
        same = left.value == right.value
        return RValue(same if operator == "==" else not same, env_var, from_default)
    if operator in ("+", "-", "*") and isinstance(left.value, int) and isinstance(right.value, int) \
            and not isinstance(left.value, bool) and not isinstance(right.value, bool):
        result = {"+": left.value + right.value, "-": left.value - right.value, "*": left.value * right.value}[operator]
        return RValue(result, env_var, from_default)
    return RValue(None, env_var, from_default, text_of(node)[:80])


def _call_value(node, scope: Scope, depth: int) -> RValue:
    call = as_call(node)
    if call is None:
        return UNKNOWN
    receiver = call.receiver_text
    method = call.method
    if receiver in ("ENV", "::ENV") and method == "fetch" and call.args:
        name = string_value(call.args[0])
        if name is None:
            return RValue(None, symbolic=text_of(node))
        if name in scope.env:
            return RValue(scope.env[name], name)
        if name in ENV_NAMES:
            return RValue("production", name, True)
        default_node = call.args[1] if len(call.args) > 1 else None
        if default_node is None and call.block is not None:
            body = call.block_body()
            default_node = body[-1] if body else None
        default = evaluate(default_node, scope, depth + 1) if default_node is not None else UNKNOWN
        return RValue(default.value, name, True, None if default.known else text_of(node)[:80])
    if receiver == "" and method in ("Integer", "Float") and call.args:
        return _int_of(evaluate(call.args[0], scope, depth + 1), strict=True)
    if call.receiver is not None:
        inner = evaluate(call.receiver, scope, depth + 1)
        if method in ("to_i", "to_int"):
            return _int_of(inner, strict=False)
        if method in ("presence", "to_s", "strip", "freeze", "to_sym"):
            if method == "presence" and inner.value == "":
                return RValue(None, inner.env_var, inner.from_default, inner.symbolic)
            return inner
        if method in ("production?",) and text_of(call.receiver) in ("Rails.env", "::Rails.env"):
            return RValue(True, "RAILS_ENV", True)
        if method.endswith("?") and text_of(call.receiver) in ("Rails.env", "::Rails.env"):
            return RValue(False, "RAILS_ENV", True)
    return RValue(None, symbolic=text_of(node)[:80])


# --- statements ---------------------------------------------------------------------------------------

_CONTAINERS = ("program", "body_statement", "block_body", "then", "else", "begin", "ERROR", "do_block", "block")


def condition_value(node, scope: Scope) -> bool | None:
    """True/False when the condition is decided by the production environment; None: take both branches."""
    value = evaluate(node, scope)
    if isinstance(value.value, bool) and value.env_var in ENV_NAMES:
        return value.value
    return None


def statements(node, scope: Scope, depth: int = 0):
    """The statements of a body in order, with `if`/`unless` branches chosen the way production runs them,
    assignments to locals recorded in `scope` as they are met."""
    if node is None or depth > 60:
        return
    for child in node.named_children:
        kind = child.type
        if kind == "comment":
            continue
        if kind in ("if", "unless"):
            decided = condition_value(child.child_by_field_name("condition"), scope)
            if kind == "unless" and decided is not None:
                decided = not decided
            consequence = child.child_by_field_name("consequence")
            alternative = child.child_by_field_name("alternative")
            if decided is not False:
                yield from statements(consequence, scope, depth + 1)
            if decided is not True and alternative is not None:
                if alternative.type == "elsif":
                    yield from statements_of_elsif(alternative, scope, depth + 1)
                else:
                    yield from statements(alternative, scope, depth + 1)
            continue
        if kind in ("if_modifier", "unless_modifier"):
            decided = condition_value(child.child_by_field_name("condition"), scope)
            if kind == "unless_modifier" and decided is not None:
                decided = not decided
            if decided is not False:
                body = child.child_by_field_name("body")
                if body is not None:
                    yield from _one(body, scope, depth)
            continue
        if kind == "case":  # every `when` may be the one that runs
            value = child.child_by_field_name("value")
            if value is not None and value.type in ("assignment", "operator_assignment"):
                yield from _one(value, scope, depth)
            for branch in child.named_children:
                if branch.type == "when":
                    yield from statements(branch.child_by_field_name("body"), scope, depth + 1)
                elif branch.type == "else":
                    yield from statements(branch, scope, depth + 1)
            continue
        if kind in ("ERROR", "begin", "parenthesized_statements"):
            yield from statements(child, scope, depth + 1)
            continue
        yield from _one(child, scope, depth)


def statements_of_elsif(node, scope: Scope, depth: int):
    decided = condition_value(node.child_by_field_name("condition"), scope)
    if decided is not False:
        yield from statements(node.child_by_field_name("consequence"), scope, depth + 1)
    alternative = node.child_by_field_name("alternative")
    if decided is not True and alternative is not None:
        if alternative.type == "elsif":
            yield from statements_of_elsif(alternative, scope, depth + 1)
        else:
            yield from statements(alternative, scope, depth + 1)


def _one(child, scope: Scope, depth: int):
    if child.type in ("assignment", "operator_assignment"):
        left = child.child_by_field_name("left")
        right = child.child_by_field_name("right")
        if left is not None and left.type in ("identifier", "constant"):
            value = evaluate(right, scope)
            name = text_of(left)
            if child.type == "operator_assignment":  # x ||= 5
                current = scope.locals.get(name)
                if current is None or not current.known:
                    scope.locals[name] = value if not (current and current.env_var) else RValue(
                        value.value, current.env_var, True, value.symbolic)
            else:
                scope.locals[name] = value
    yield child
