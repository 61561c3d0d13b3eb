"""Exact Python edits with libcst: every byte outside the edit stays (comments, quotes, CRLF, tabs).

Each function takes a module's text and returns the new text, or raises `EditError` when the edit
cannot be made safely. They are idempotent: applied to their own output they return it unchanged.
New code follows the module's own newline and indentation (libcst renders new nodes with the
module's defaults).
"""

from __future__ import annotations

from typing import Sequence

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider


class EditError(Exception):
    """The edit cannot be made safely; the message says why."""


# --- dispose() -> dispose(close=False) -------------------------------------------------------------


class _DisposeKeep(cst.CSTTransformer):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, line: int, column: int):
        super().__init__()
        self.line = line
        self.column = column
        self.found = 0
        self.already = False

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        position = self.get_metadata(PositionProvider, original).start
        if (position.line, position.column) != (self.line, self.column):
            return updated
        func = updated.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == "dispose"):
            return updated
        self.found += 1
        args = list(updated.args)
        false = cst.Name("False")
        if not args:
            return updated.with_changes(args=[cst.Arg(
                keyword=cst.Name("close"), value=false,
                equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")),
            )])
        if len(args) == 1 and not args[0].star and (args[0].keyword is None or args[0].keyword.value == "close"):
            value = args[0].value
            if isinstance(value, cst.Name) and value.value == "False":
                self.already = True
                return updated
            if isinstance(value, cst.Name) and value.value == "True":
                return updated.with_changes(args=[args[0].with_changes(value=false)])
        raise EditError("`dispose(...)` has arguments pgforklint does not rewrite")


def dispose_keep(text: str, line: int, column: int) -> str:
    """Rewrite the `X.dispose()` call that starts at (line, 0-based character column) to `X.dispose(close=False)`.

    pgforklint's locations count characters (see `pgforklint.extract.positions`), as libcst's positions do.
    """
    module = cst.parse_module(text)
    transformer = _DisposeKeep(line, column)
    new = MetadataWrapper(module, unsafe_skip_copy=True).visit(transformer)
    if transformer.found != 1:
        if transformer.found == 0:
            raise EditError(f"no `.dispose()` call at line {line}")
        raise EditError(f"more than one `.dispose()` call at line {line}")
    return new.code


# --- hooks: functions that must contain some statements -------------------------------------------


def _stmt_code(module: cst.Module, node: cst.CSTNode) -> str:
    if hasattr(node, "leading_lines"):
        node = node.with_changes(leading_lines=())
    return module.code_for_node(node).strip()


def _has_return_or_yield(node: cst.CSTNode) -> bool:
    class Finder(cst.CSTVisitor):
        found = False

        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return False

        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            return False

        def visit_Lambda(self, node: cst.Lambda) -> bool:
            return False

        def visit_Return(self, node: cst.Return) -> None:
            self.found = True

        def visit_Yield(self, node: cst.Yield) -> None:
            self.found = True

    finder = Finder()
    for statement in getattr(node.body, "body", ()):
        statement.visit(finder)
    return finder.found


def _decorator_names(function: cst.FunctionDef, module: cst.Module) -> list[str]:
    return [module.code_for_node(d.decorator).strip() for d in function.decorators]


def _binds(statement: cst.CSTNode, name: str) -> bool:
    """A top-level statement that (re)binds `name`."""
    if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
        return statement.name.value == name
    if isinstance(statement, cst.SimpleStatementLine):
        for small in statement.body:
            if isinstance(small, (cst.Assign,)):
                for target in small.targets:
                    if isinstance(target.target, cst.Name) and target.target.value == name:
                        return True
            if isinstance(small, (cst.AnnAssign, cst.AugAssign)) and isinstance(small.target, cst.Name) \
                    and small.target.value == name:
                return True
            if isinstance(small, (cst.Import, cst.ImportFrom)) and not isinstance(small.names, cst.ImportStar):
                for alias in small.names:
                    bound = alias.asname.name if alias.asname else alias.name
                    if isinstance(bound, cst.Name) and bound.value == name:
                        return True
                    if isinstance(bound, cst.Attribute) and alias.asname is None:
                        root = bound
                        while isinstance(root, cst.Attribute):
                            root = root.value
                        if isinstance(root, cst.Name) and root.value == name:
                            return True
    return False


def _is_main_guard(statement: cst.CSTNode) -> bool:
    if not isinstance(statement, cst.If):
        return False
    test = statement.test
    return isinstance(test, cst.Comparison) and "__name__" in cst.Module([]).code_for_node(test) \
        and "__main__" in cst.Module([]).code_for_node(test)


def _insert_before_main_guard(body: list, node: cst.CSTNode) -> list:
    index = len(body)
    while index > 0 and _is_main_guard(body[index - 1]):
        index -= 1
    return [*body[:index], node, *body[index:]]


def _comment_lines(comment: str | None) -> list[cst.EmptyLine]:
    if not comment:
        return []
    return [cst.EmptyLine(comment=cst.Comment(f"# {line}".rstrip())) for line in comment.splitlines()]


def ensure_function(text: str, name: str, signature: str, statements: Sequence[str], *, decorator: str | None = None,
                    comment: str | None = None, header: str | None = None) -> str:
    """Make sure the module's top-level function `name` ends with `statements`.

    An existing `def name(...)` (the last top-level one, not rebound afterwards) keeps its parameter
    names and gets the missing statements appended at the end of its body (or at its start, after a
    docstring, when it returns early). Without one, `def name(signature):` is added at the end of
    the module (before a trailing `if __name__ == "__main__":`). `header` starts a new, empty file.
    """
    module = cst.parse_module(text)
    body = list(module.body)
    index = None
    for position, statement in enumerate(body):
        if _binds(statement, name):
            index = position
    if index is not None:
        function = body[index]
        if not isinstance(function, cst.FunctionDef) or function.asynchronous is not None:
            raise EditError(f"`{name}` is not a plain `def` at module level")
        if decorator is not None and decorator not in _decorator_names(function, module):
            raise EditError(f"`{name}` exists without `@{decorator}`")
        if not isinstance(function.body, cst.IndentedBlock):
            function = function.with_changes(body=cst.IndentedBlock(body=list(function.body.body)))
        existing = {_stmt_code(module, s) for s in function.body.body}
        new_nodes = [cst.parse_statement(code + "\n") for code in statements]
        missing = [n for n in new_nodes if _stmt_code(module, n) not in existing]
        if not missing:
            return text
        for number in range(1, len(missing)):
            if _is_import(missing[number - 1]) and not _is_import(missing[number]):
                missing[number] = missing[number].with_changes(leading_lines=[cst.EmptyLine(indent=False)])
        inner = list(function.body.body)
        if _has_return_or_yield(function):
            start = 1 if inner and _is_docstring(inner[0]) else 0
            inner = [*inner[:start], *missing, *inner[start:]]
        else:
            lead = _comment_lines(comment)
            if len(inner) == 1 and _is_pass(inner[0]):
                inner = []
            if inner:
                lead = [cst.EmptyLine(indent=False), *lead]
            missing[0] = missing[0].with_changes(leading_lines=lead)
            inner = inner + missing
        body[index] = function.with_changes(body=function.body.with_changes(body=inner))
        return module.with_changes(body=body).code
    lines = []
    if decorator:
        lines.append(f"@{decorator}")
    lines.append(f"def {name}({signature}):")
    for comment_line in (comment or "").splitlines():
        lines.append(f"    # {comment_line}".rstrip())
    for number, code in enumerate(statements):
        if number and statements[number - 1].startswith(("from ", "import ")) and not code.startswith(("from ", "import ")):
            lines.append("")
        lines.extend(f"    {part}" if part.strip() else "" for part in code.splitlines())
    function_source = "\n".join(lines) + "\n"
    if not body and not module.header and not text.strip():
        prefix = "".join(f"# {line}\n" for line in (header or "").splitlines())
        return (prefix + "\n\n" if prefix else "") + function_source
    new_function = cst.parse_module(function_source).body[0]
    new_function = new_function.with_changes(leading_lines=[cst.EmptyLine(indent=False), cst.EmptyLine(indent=False)])
    body = _insert_before_main_guard(body, new_function)
    return module.with_changes(body=body).code


def _is_docstring(statement: cst.CSTNode) -> bool:
    return (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
            and isinstance(statement.body[0], cst.Expr) and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def _is_import(statement: cst.CSTNode) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and all(isinstance(s, (cst.Import, cst.ImportFrom)) for s in statement.body)


def _is_pass(statement: cst.CSTNode) -> bool:
    return (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
            and isinstance(statement.body[0], cst.Pass) and not statement.leading_lines)


def ensure_import_block(text: str, block: str, present: str | None = None, group: str | None = None) -> str:
    """Insert `block` (one or more top-level statements) after the module's leading imports.

    Nothing happens when the block is already there, or when `present` (a statement's code) is.
    """
    module = cst.parse_module(text)
    body = list(module.body)
    new_nodes = list(cst.parse_module(block.rstrip("\n") + "\n").body)
    existing = {_stmt_code(module, s) for s in body}
    if all(_stmt_code(module, n) in existing for n in new_nodes):
        return text
    if present is not None and present in existing:
        return text
    index = 1 if body and _is_docstring(body[0]) else 0
    last_import = None
    for position in range(index, len(body)):
        statement = body[position]
        if _is_import(statement) or _is_import_try(statement):
            last_import = position
            continue
        break
    compound = any(not isinstance(n, cst.SimpleStatementLine) for n in new_nodes)
    at = last_import + 1 if last_import is not None else index
    if group is not None and last_import is not None and not compound:
        for position in range(index, last_import + 1):  # next to the imports of the same package (isort order)
            statement = body[position]
            if isinstance(statement, cst.SimpleStatementLine) and any(
                    _import_root(s) == group for s in statement.body):
                at = position + 1
    blank = cst.EmptyLine(indent=False)
    if (compound and last_import is not None) or (last_import is None and index == 1):
        new_nodes[0] = new_nodes[0].with_changes(leading_lines=[blank])
    else:
        new_nodes[0] = new_nodes[0].with_changes(leading_lines=[])
    if at < len(body) and (compound or last_import is None):
        following = body[at]
        if not following.leading_lines:
            body[at] = following.with_changes(leading_lines=[blank])
    body = [*body[:at], *new_nodes, *body[at:]]
    return module.with_changes(body=body).code


def _import_root(statement: cst.CSTNode) -> str | None:
    if isinstance(statement, cst.ImportFrom) and statement.module is not None and not statement.relative:
        node = statement.module
    elif isinstance(statement, cst.Import) and len(statement.names) == 1:
        node = statement.names[0].name
    else:
        return None
    while isinstance(node, cst.Attribute):
        node = node.value
    return node.value if isinstance(node, cst.Name) else None


def _is_import_try(statement: cst.CSTNode) -> bool:
    if not isinstance(statement, cst.Try):
        return False
    for part in [statement.body, *[h.body for h in statement.handlers]]:
        for inner in part.body:
            if not isinstance(inner, (cst.SimpleStatementLine, cst.FunctionDef)):
                return False
    return True
