"""Columns of Python locations in characters (Unicode code points), not UTF-8 bytes.

The stdlib `ast` gives `col_offset` as a 0-based UTF-8 byte offset into the line; pgforklint's
locations are 1-based character columns (SARIF declares `columnKind: unicodeCodePoints`, and the
text report counts characters). Lines that are pure ASCII need no conversion, and neither do
files that are pure ASCII, which is the common case: those are detected once per file.
"""

from __future__ import annotations

import re
from functools import lru_cache

# The line ends the Python tokenizer knows (str.splitlines also splits on \f, \x1c, \u2028 ...).
_NEWLINE = re.compile(r"\r\n|\r|\n")


@lru_cache(maxsize=64)
def _lines(text: str) -> list[str] | None:
    if text.isascii():
        return None
    return _NEWLINE.split(text)


def char_column(text: str | None, line: int | None, col_offset: int | None) -> int | None:
    """The 1-based character column of the 0-based UTF-8 byte offset `col_offset` on 1-based `line`."""
    if col_offset is None:
        return None
    if not col_offset or not text or line is None:
        return col_offset + 1
    lines = _lines(text)
    if lines is None or not 1 <= line <= len(lines):
        return col_offset + 1
    current = lines[line - 1]
    if current.isascii():
        return col_offset + 1
    return len(current.encode("utf-8")[:col_offset].decode("utf-8", errors="ignore")) + 1


def node_columns(text: str | None, node: object) -> tuple[int, int | None]:
    """(column, end_column), 1-based characters, of an `ast` node."""
    line = getattr(node, "lineno", 1)
    column = char_column(text, line, getattr(node, "col_offset", 0) or 0) or 1
    end_column = char_column(text, getattr(node, "end_lineno", None) or line, getattr(node, "end_col_offset", None))
    return column, end_column
