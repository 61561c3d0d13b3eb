"""Python syntax newer than the running interpreter, rewritten to a form the stdlib `ast` of 3.11 parses.

Runs only on a file that `ast.parse` rejected. The rewrite works on characters and keeps every line where
it was (and, except where noted, every column), so the walk's locations and a real syntax error's line stay
right:

- PEP 701 f-strings (3.12: the enclosing quote reused inside a field, backslashes, comments or line breaks in a
  field) and PEP 750 t-strings (3.14): a run of adjacent string literals that contains one becomes a tuple of
  the fields' expressions, at their own positions (`f"{"a":>5} {x!r}"` -> `(  "a",      x,   )`). Calls inside
  the fields are still walked; the literal text is dropped. Ordinary f-strings stay f-strings.
- PEP 695 type parameters (`def f[T](x: T)`, `class Repo[T]:`) are blanked; `type Row[T] = tuple[int, T]`
  becomes `Row = tuple[int, T]` (the alias name moves left; the value keeps its columns).
- PEP 758 `except A, B:` (3.14) becomes `except(A, B):` (one column added before the colon).

`except*` and `match` parse on 3.11 already. Measured on this machine, the rewrite plus the second `ast.parse`
costs about 3x one `ast.parse` of the same file, and only such files pay it; libcst's native parser (which
reads this syntax too) costs ~11x an `ast` parse, plus a conversion of its tree to `ast` for the walk.
"""

from __future__ import annotations

import re

_IDENT = re.compile(r"[^\W\d]\w*")
_SPACE = re.compile(r"[ \t\f]*")
_STRING_PREFIXES = {"r", "u", "b", "br", "rb", "f", "fr", "rf", "t", "tr", "rt"}
_KEYWORDS = {"False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def",
             "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is",
             "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield"}
_OPEN = {"(": ")", "[": "]", "{": "}"}
# Characters each loop has to look at; everything between them is skipped by the regex engine.
_PLAIN_STOPS = {d: re.compile(r"\\|\n|" + d) for d in ("'", '"', "'''", '"""')}
_FORMATTED_STOPS = {d: re.compile(r"[\\{}\n]|" + d) for d in ("'", '"', "'''", '"""')}
_FIELD_STOPS = re.compile(r"[\"'#\\\n()\[\]{}!:=]|[^\W\d]\w*")
_SCAN_STOPS = re.compile(r"[\"'#\\\n\r()\[\]{};:]|[^\W\d]\w*")


class _Unreadable(Exception):
    """The scanner met something it does not understand: leave the file to the parser's own error."""


class _Literal:
    """One string literal: its span and, for f-/t-strings, the spans of the fields' expressions."""

    __slots__ = ("start", "end", "formatted", "fields", "needs")

    def __init__(self, start: int, end: int, formatted: bool, fields: list[tuple[int, int]], needs: bool):
        self.start, self.end, self.formatted, self.fields, self.needs = start, end, formatted, fields, needs


class _Scanner:
    def __init__(self, text: str):
        self.text = text
        self.n = len(text)
        # (start, end, fields) of each run of adjacent literals to rewrite as a tuple, outermost first.
        self.runs: list[tuple[int, int, list[tuple[int, int]]]] = []
        self.edits: dict[int, str] = {}  # position -> replacement of that one character ("" deletes it)

    # -- strings ---------------------------------------------------------------------------------

    def literal(self, i: int, prefix: str) -> _Literal:
        """The literal whose prefix starts at `i` (the quote is at `i + len(prefix)`)."""
        text = self.text
        q = i + len(prefix)
        quote = text[q]
        triple = text.startswith(quote * 3, q)
        delim = quote * 3 if triple else quote
        j = q + len(delim)
        lower = prefix.lower()
        raw = "r" in lower
        if "f" not in lower and "t" not in lower:
            stop = _PLAIN_STOPS[delim]
            while True:
                match = stop.search(text, j)
                if match is None:
                    raise _Unreadable
                j = match.start()
                c = text[j]
                if c == "\\":
                    j += 2
                    continue
                if c == "\n":
                    if not triple:
                        raise _Unreadable
                    j += 1
                    continue
                return _Literal(i, j + len(delim), False, [], False)
        fields: list[tuple[int, int]] = []
        needs = "t" in lower
        j, needs_inside = self.formatted_body(j, delim, triple, raw, fields, spec=False)
        return _Literal(i, j + len(delim), True, fields, needs or needs_inside)

    def formatted_body(self, j: int, delim: str, triple: bool, raw: bool, fields: list[tuple[int, int]],
                       spec: bool) -> tuple[int, bool]:
        """Scan literal text and replacement fields up to the closing quote (or, in a format spec, to the `}`
        that ends it); returns the position of that end and whether a PEP 701 feature was used."""
        text = self.text
        needs = False
        stop = _FORMATTED_STOPS[delim]
        while True:
            match = stop.search(text, j)
            if match is None:
                raise _Unreadable
            j = match.start()
            c = text[j]
            if text.startswith(delim, j):
                if spec:
                    raise _Unreadable
                return j, needs
            if spec and c == "}":
                return j, needs
            if c == "\\" and not raw:
                if text.startswith("\\N{", j):
                    close = text.find("}", j)
                    if close < 0:
                        raise _Unreadable
                    j = close + 1
                else:
                    j += 2
                continue
            if c == "\n" and not triple:
                if not spec:
                    raise _Unreadable
                needs = True
            if c == "{":
                if text.startswith("{{", j) and not spec:
                    j += 2
                    continue
                j, inner = self.field(j + 1, delim, triple, raw, fields)
                needs = needs or inner
                continue
            if c == "}" and text.startswith("}}", j) and not spec:
                j += 2
                continue
            j += 1

    def field(self, j: int, delim: str, triple: bool, raw: bool, fields: list[tuple[int, int]]) -> tuple[int, bool]:
        """A replacement field after its `{`; returns the position after its `}`."""
        text = self.text
        start = j
        depth = 0
        needs = False
        quote = delim[0]
        while True:
            match = _FIELD_STOPS.search(text, j)
            if match is None:
                raise _Unreadable
            j = match.start()
            c = text[j]
            if c in "\"'":
                literal = self.string_at(j, "")
                inner = text[j:literal.end]
                if c == quote or "\\" in inner or ("\n" in inner and not triple):
                    needs = True  # the enclosing quote, or a backslash, reused inside a field (3.12+)
                needs = needs or literal.needs
                j = literal.end
                continue
            match = _IDENT.match(text, j)
            if match:
                word = match.group()
                if match.end() < self.n and text[match.end()] in "\"'" and word.lower() in _STRING_PREFIXES:
                    literal = self.string_at(j, word)
                    if text[match.end()] == quote or "\\" in text[j:literal.end]:
                        needs = True
                    needs = needs or literal.needs
                    j = literal.end
                    continue
                j = match.end()
                continue
            if c in "#\\":
                needs = True  # comments and backslashes inside a field (3.12+)
                if c == "#":
                    newline = text.find("\n", j)
                    if newline < 0:
                        raise _Unreadable
                    j = newline
                    continue
                j += 2
                continue
            if c == "\n" and not triple:
                needs = True
            if c in _OPEN:
                depth += 1
            elif c in ")]":
                depth -= 1
            elif depth == 0 and (c == "}" or (c == "!" and not text.startswith("!=", j)) or c == ":" or
                                 (c == "=" and not text.startswith("==", j) and text[j - 1] not in "=!<>:"
                                  and re.match(r"=\s*[}!:]", text[j:j + 64]))):
                if not text[start:j].strip():
                    raise _Unreadable
                fields.append((start, j))
                break
            elif c == "}":
                depth -= 1
            j += 1
        # after the expression: `=`, `!conversion`, `:spec`, then `}`
        if text[j] == "=":
            j += 1
            j = _SPACE.match(text, j).end()
        if text[j] == "!":
            match = _IDENT.match(text, j + 1)
            j = match.end() if match else j + 1
        if text[j] == ":":
            j, inner = self.formatted_body(j + 1, delim, triple, raw, fields, spec=True)
            needs = needs or inner
        if j >= self.n or text[j] != "}":
            raise _Unreadable
        return j + 1, needs

    def string_at(self, j: int, prefix: str) -> _Literal:
        literal = self.literal(j, prefix)
        if literal.formatted:
            self._pending.append(literal)
        return literal

    # -- the file --------------------------------------------------------------------------------

    def scan(self) -> None:
        text = self.text
        n = self.n
        i = 0
        depth = 0
        stmt_start = True
        self._pending: list[_Literal] = []
        group: list[_Literal] = []

        def close_group() -> None:
            if any(lit.formatted and lit.needs for lit in group):
                fields = [span for lit in group for span in lit.fields]
                self.runs.append((group[0].start, group[-1].end, fields))
            group.clear()

        while i < n:
            found = _SCAN_STOPS.search(text, i)
            if found is None:
                break
            if found.start() > i and text[i:found.start()].strip(" \t\f"):
                close_group()  # an operator or a number: not a statement start, not a string run
                stmt_start = False
            i = found.start()
            c = text[i]
            if c == "#":
                newline = text.find("\n", i)
                i = n if newline < 0 else newline
                continue
            if c == "\\" and text.startswith("\n", i + 1):
                i += 2
                continue
            if c == "\n" or c == "\r":
                if depth == 0:
                    close_group()
                    stmt_start = True
                i += 1
                continue
            match = _IDENT.match(text, i)
            if match:
                word = match.group()
                end = match.end()
                if end < n and text[end] in "\"'" and word.lower() in _STRING_PREFIXES:
                    self._pending = []
                    literal = self.literal(i, word)
                    self._collect_nested(literal)
                    group.append(literal)
                    i = literal.end
                    stmt_start = False
                    continue
                close_group()
                if stmt_start and word == "type":
                    self._type_alias(i, end)
                elif word in ("def", "class"):
                    self._type_params(end)
                elif stmt_start and word == "except":
                    self._except_group(end)
                stmt_start = False
                i = end
                continue
            if c in "\"'":
                self._pending = []
                literal = self.literal(i, "")
                self._collect_nested(literal)
                group.append(literal)
                i = literal.end
                stmt_start = False
                continue
            close_group()
            if c in _OPEN:
                depth += 1
            elif c in ")]}":
                depth = max(depth - 1, 0)
            elif c == ";" and depth == 0:
                stmt_start = True
                i += 1
                continue
            elif c == ":" and depth == 0 and not text.startswith(":=", i):
                stmt_start = True  # `class A: type X = int`
                i += 1
                continue
            stmt_start = False
            i += 1
        close_group()

    def _collect_nested(self, outer: _Literal) -> None:
        """f-strings nested in the fields of `outer`: each that needs it is rewritten inside its field."""
        nested = self._pending
        self._pending = []
        # Adjacent nested literals form their own runs; a nested literal is grouped with the ones right after it.
        nested.sort(key=lambda lit: lit.start)
        for lit in nested:
            if lit.needs:
                self.runs.append((lit.start, lit.end, lit.fields))

    def _after(self, j: int) -> int:
        return _SPACE.match(self.text, j).end()

    def _bracket_end(self, j: int) -> int:
        """Position after the `]` that closes the `[` at `j` (strings inside are skipped)."""
        text = self.text
        depth = 0
        while j < self.n:
            c = text[j]
            if c in "\"'":
                j = self.literal(j, "").end
                continue
            if c in _OPEN:
                depth += 1
            elif c in ")]}":
                depth -= 1
                if depth == 0:
                    return j + 1
            j += 1
        raise _Unreadable

    def _type_params(self, end: int) -> None:
        j = self._after(end)
        name = _IDENT.match(self.text, j)
        if not name:
            return
        k = self._after(name.end())
        if k < self.n and self.text[k] == "[":
            close = self._bracket_end(k)
            for p in range(k, close):
                if self.text[p] == "\n":
                    # `def f[\n    T: Ord\n](x)`: the name and `(` must stay one logical line
                    self.edits[p - 1] = "\\"
                else:
                    self.edits.setdefault(p, " ")

    def _type_alias(self, start: int, end: int) -> None:
        text = self.text
        j = self._after(end)
        if j == end:
            return
        name = _IDENT.match(text, j)
        if not name or name.group() in _KEYWORDS:
            return
        k = self._after(name.end())
        params: tuple[int, int] | None = None
        if k < self.n and text[k] == "[":
            close = self._bracket_end(k)
            params = (k, close)
            k = self._after(close)
        if not (k < self.n and text[k] == "=" and not text.startswith("==", k)):
            return
        for p in range(start, j):  # `type ` goes; the same number of spaces after `=` keeps the value's columns
            self.edits[p] = ""
        if params is not None:
            for p in range(*params):
                if text[p] != "\n":
                    self.edits[p] = " "
        self.edits[k] = "=" + " " * (j - start)

    def _except_group(self, end: int) -> None:
        """`except A, B:` (3.14) -> `except(A, B):`."""
        text = self.text
        j = end
        if text.startswith("*", j):
            j = self._after(j + 1)
        elif j < self.n and text[j] not in " \t":
            return
        first = self._after(j)
        depth = 0
        comma = False
        k = first
        while k < self.n:
            c = text[k]
            if c in "\"'\n#":
                return
            if c in _OPEN:
                depth += 1
            elif c in ")]}":
                depth -= 1
            elif depth == 0 and c == ",":
                comma = True
            elif depth == 0 and c == ":":
                break
            elif depth == 0 and _IDENT.match(text, k) and _IDENT.match(text, k).group() == "as" and text[k - 1] in " \t":
                return
            k += 1
        if not comma or k >= self.n or first == j:
            return
        self.edits[first - 1] = "("
        self.edits[k] = "):"

    def rewritten(self) -> str | None:
        if not self.runs and not self.edits:
            return None
        out = list(self.text)
        for p, replacement in self.edits.items():
            out[p] = replacement
        for start, end, fields in self.runs:
            keep = [False] * (end - start)
            for a, b in fields:
                for p in range(a, b):
                    keep[p - start] = True
            for p in range(start, end):
                if not keep[p - start] and out[p] not in "\n\r":
                    out[p] = " "
            for a, b in fields:
                if b < end:
                    out[b] = ","
            out[start] = "("
            out[end - 1] = ")"
        return "".join(out)


def downlevel(text: str) -> str | None:
    """`text` rewritten so that Python 3.11's parser reads it, lines kept; None when there is nothing newer
    to rewrite (or the scanner cannot follow the file: then the parser's own error stands)."""
    scanner = _Scanner(text)
    try:
        scanner.scan()
    except (_Unreadable, IndexError):
        return None
    return scanner.rewritten()
