"""Python sources: PEP 263 encoding cookies and BOMs, parsed with the stdlib `ast` for the read-only scan.

libcst stays the tree for anything that rewrites code (see `pgforklint.fix`).
"""

from __future__ import annotations

import ast
import io
import tokenize
import warnings
from pathlib import Path

from pgforklint.errors import ReadError
from pgforklint.read.text import check_conflict_markers, read_bytes
from pgforklint.records import record


@record
class PythonSource:
    text: str
    tree: ast.Module

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()


def decode_python(data: bytes) -> str:
    if b"\x00" in data:
        raise ReadError("binary file (contains NUL bytes)")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        raise ReadError(f"bad encoding declaration: {exc.msg if hasattr(exc, 'msg') else exc}") from None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        byte = f" (byte 0x{data[exc.start]:02x})" if 0 <= exc.start < len(data) else ""
        hint = "add a PEP 263 encoding cookie" if encoding == "utf-8" else "check the PEP 263 encoding cookie"
        raise ReadError(f"cannot decode as {encoding}{byte}; {hint}", line=line) from None
    except LookupError:  # a codec that is not a text encoding (`coding: rot13`, `hex`)
        raise ReadError(f"unknown encoding {encoding!r}") from None
    except (UnicodeError, ValueError) as exc:  # codecs such as idna/punycode raise their own errors
        raise ReadError(f"cannot decode as {encoding}: {exc}") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def parse_python(text: str, filename: str = "<unknown>") -> ast.Module:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(text, filename=filename)
    except SyntaxError as exc:
        error = exc
    except (RecursionError, MemoryError):
        raise ReadError("too deeply nested to parse") from None
    except ValueError as exc:  # e.g. source code string cannot contain null bytes
        raise ReadError(f"cannot parse: {exc}") from None
    # Syntax newer than this interpreter (PEP 695, 701, 750, 758): rewritten with its lines kept. Only files
    # that `ast` rejected pay for it.
    from pgforklint.read.newer_syntax import downlevel

    rewritten = downlevel(text)
    if rewritten is None:
        raise ReadError(f"syntax error: {error.msg}", line=error.lineno or 1, column=error.offset or 1) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(rewritten, filename=filename)
    except SyntaxError as exc:  # really broken: the error of the rewritten text is on the line of the real one
        raise ReadError(f"syntax error: {exc.msg}", line=exc.lineno or 1, column=exc.offset or 1) from None
    except (RecursionError, MemoryError):
        raise ReadError("too deeply nested to parse") from None
    except ValueError as exc:  # e.g. source code string cannot contain null bytes
        raise ReadError(f"cannot parse: {exc}") from None


def parses(path: Path, filename: str) -> bool:
    """Whether a Python file decodes and parses, as `read_python` would read it; the tree is not kept.
    (The size cap, an unreadable file, bad bytes: all False; the caller reports them by reading it.)"""
    try:
        parse_python(decode_python(read_bytes(path)), filename)
    except Exception:  # noqa: BLE001 - ReadError, OSError, or whatever the bytes do
        return False
    return True


def read_python_text(path: Path) -> str:
    """The text of a Python file, decoded as Python does (PEP 263 cookie, BOM), without parsing it."""
    text = decode_python(read_bytes(path))
    check_conflict_markers(text)
    return text


def read_python(path: Path) -> PythonSource:
    text = decode_python(read_bytes(path))
    check_conflict_markers(text)
    return PythonSource(text=text, tree=parse_python(text, str(path)))


def package_of(module_name: str, is_package: bool) -> str:
    """The package a module's relative imports start from: the module itself for a package's `__init__.py`."""
    return module_name if is_package else module_name.rpartition(".")[0]


def absolute_import(package: str, module: str | None, level: int) -> str | None:
    """The module an import in `package` names: `from ..db import x` at level 2, made absolute. None when the
    dots climb above the top-level package (Python raises ImportError there)."""
    if level == 0:
        return module
    parts = package.split(".") if package else []
    if level - 1 > len(parts):
        return None
    base = ".".join(parts[: len(parts) - (level - 1)])
    if module:
        return f"{base}.{module}" if base else module
    return base or None


def deepest_node(tree: ast.AST) -> tuple[int, int]:
    """(depth, line) of the most deeply nested node, found without recursion."""
    best = (0, 1)
    stack: list[tuple[ast.AST, int, int]] = [(tree, 0, 1)]
    while stack:
        node, depth, line = stack.pop()
        line = getattr(node, "lineno", None) or line
        if depth > best[0]:
            best = (depth, line)
        stack.extend((child, depth + 1, line) for child in ast.iter_child_nodes(node))
    return best
