"""A static reader of POSIX sh / bash start scripts: which commands a script runs, under which conditions.

Nothing is executed. The script is tokenised and parsed (quotes, `$VAR`/`${VAR:-x}`/arrays, `if`/`case`/
loops/functions, `&&`/`||`, heredocs, `sh -c`, `eval` of a known string, `. file`), then walked with the
variables known at each point. A branch whose condition cannot be decided (a variable the repository
does not set, a file test, an external command) is followed both ways: each way is a variant carrying the
condition as written. Loop bodies are read once. Every limit (input size, nesting, function depth,
sourcing depth, branches, commands, steps) ends in a `problems` entry, never an exception.

Words are expanded as the shell would: unquoted expansions are split on blanks (`exec $WORKER_CMD`),
`"$@"`/`"${arr[@]}"` give one word per element, a variable with no known value stays an empty word that
names it (`Word.refs`, source "unset"), `$(...)` stays as written.
"""

from __future__ import annotations

import posixpath
import re
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import field
from fnmatch import fnmatchcase

from pgforklint.read.command import SHELLS, Command, EnvRef, Word, peel
from pgforklint.records import record

MAX_TEXT = 100_000  # characters of one script read (real start scripts are a few kB)
MAX_NESTING = 48  # compound commands inside each other
MAX_FUNCTION_DEPTH = 12
MAX_READ_DEPTH = 6  # `. file`, `sh -c`, `eval` inside each other
MAX_STATES = 16  # undecided branches followed at once
MAX_COMMANDS = 1000
MAX_STEPS = 100_000


@record
class ShellCommand:
    command: Command  # wrappers peeled, words expanded with the env known at that point
    line: int  # 1-based line in the script where this simple command starts
    conditions: tuple[str, ...]  # undecided branch conditions leading here, as written, outermost first
    env: dict[str, str]  # variables known at that point (input env, script assignments, exports, sourced files)
    cwd: str | None = None  # the last `cd DIR` (expanded) before it
    exec_name: str | None = None  # NAME of `exec -a NAME`
    runs_script: str | None = None  # the script file the command runs, as written (`bash x.sh` -> "x.sh")
    exported: frozenset[str] = frozenset()  # names in `env` the process inherits (input env, `export`, `set -a`)
    is_exec: bool = False  # run through `exec`: it replaces the script's process
    background: bool = False  # started with `&`
    written_at: tuple[str, int] | None = None  # (file, line there) when written in a file the script sources
    forwards_arguments: bool = False  # passes on arguments it was given (`"$@"`, `$*`), whatever they are


@record
class UnknownSource:
    """`. "/container/commands/$command"` where the variable has no known value: the folder the file is taken
    from (as the script sees it, before the unknown part) and the variables that pick it."""
    line: int
    written: str
    folder: str
    variables: tuple[str, ...]


@record
class ShellScript:
    commands: list[ShellCommand]
    problems: list[tuple[int, str]]  # (line, reason) for constructs it could not follow
    sourced: list[str] = field(default_factory=list)  # files read through `.`/`source`
    unknown_sources: list[UnknownSource] = field(default_factory=list)


_SHEBANG = re.compile(r"#!\s*(\S+)[ \t]*(.*)")


def is_shell_script(text: str) -> bool:
    """A shebang naming a POSIX shell: `#!/bin/sh -e`, `#!/usr/bin/env bash`, `#!/bin/busybox sh`."""
    match = _SHEBANG.match(text[:256].lstrip("\ufeff"))
    if not match:
        return False
    program = match.group(1).rsplit("/", 1)[-1]
    words = match.group(2).split()
    if program in ("env", "busybox"):
        words = [w for w in words if not w.startswith("-") and "=" not in w]
        program = words[0].rsplit("/", 1)[-1] if words else ""
    return program in SHELLS and program != "busybox"


def read_script(text: str, env: dict[str, str] | None = None, *, args: Sequence[str] = (),
                read_file: Callable[[str], str | None] | None = None, args_known: bool | None = None,
                script_path: str | None = None) -> ShellScript:
    """The commands `text` runs. `env`: the environment the script starts with (known values, exported).
    `args`: its positional parameters when known (empty: unknown, so `case "$1"` gives every branch, unless
    `args_known=True`: the script is known to get no argument, an ENTRYPOINT without CMD).
    `read_file(path)`: the text of a sourced file, path as the script would resolve it (joined to the last
    `cd` when relative and known), or None. `script_path`: the path the script is run by (its `$0`), which gives
    `$(dirname "$0")`."""
    reader = _Reader(read_file)
    if script_path:
        reader.script_dir = posixpath.dirname(script_path) or "."
    if not isinstance(text, str):
        return ShellScript([], [(1, "not text")])
    if len(text) > MAX_TEXT:
        reader.problem(1, f"script longer than {MAX_TEXT} characters: only the start is read")
        text = text[:MAX_TEXT]
    state = _State()
    for name, value in (env or {}).items():
        state.vars[str(name)] = _Val(str(value), True, (EnvRef(str(name), None, str(value), "env"),))
        state.exported.add(str(name))
    if args or args_known:
        state.args = [_Val(str(a), True) for a in args]
    try:
        program = reader.parse(text, None)
        reader.run_seq(program, [state])
    except _Stop as stop:
        reader.problem(stop.line, stop.reason)
    except RecursionError:
        reader.problem(1, "script nested too deeply to follow")
    return ShellScript(reader.commands, reader.problems, reader.sourced, reader.unknown_sources)


# --- values ---------------------------------------------------------------------------------------------


class _Val:
    __slots__ = ("text", "known", "refs", "raw", "set")

    def __init__(self, text: str, known: bool, refs: tuple[EnvRef, ...] = (), raw: str | None = None,
                 set: bool = True) -> None:
        self.text = text
        self.known = known  # False: the value is decided outside the repository (or computed at run time)
        self.refs = refs
        self.raw = raw
        self.set = set  # False after `unset`

    def key(self) -> tuple:
        return (self.text, self.known, self.set)


_PRINTS_A_COMMAND = frozenset({"cat", "echo", "printf", "head", "tail", "sed", "awk", "grep", "jq", "tr", "cut",
                               "envsubst", "dirname", "basename", "realpath", "readlink", "which", "type"})


def _substitution_body(word: _Field) -> str | None:
    """The commands of a word that is one command substitution, `` `...` `` or `$(...)`, else None."""
    raw = (word.raw or "").strip()
    if word.known or word.pieces != 1:
        return None
    if len(raw) > 2 and raw[0] == raw[-1] == "`" and "`" not in raw[1:-1]:
        return raw[1:-1].replace("\\$", "$").replace("\\\\", "\\")
    if raw.startswith("$(") and raw.endswith(")") and not raw.startswith("$(("):
        return raw[2:-1]
    return None


class _Field:
    __slots__ = ("text", "known", "refs", "raw", "quoted", "pieces")

    def __init__(self) -> None:
        self.text = ""
        self.known = True
        self.refs: list[EnvRef] = []
        self.raw: str | None = None
        self.quoted = False
        self.pieces = 0

    def add(self, text: str, known: bool = True, refs: Sequence[EnvRef] = (), raw: str | None = None) -> None:
        self.text += text
        self.known = self.known and known
        self.refs.extend(refs)
        self.pieces += 1
        self.raw = raw if self.pieces == 1 else None


class _Fields:
    """Builds the fields one word expands to (field splitting of unquoted expansions on blanks)."""

    __slots__ = ("fields", "current", "started", "only_quotes")

    def __init__(self) -> None:
        self.fields: list[_Field] = []
        self.current = _Field()
        self.started = False
        self.only_quotes = False  # the field so far is just `"` marks: `"$@"` with no arguments is no word

    def close(self) -> None:
        if self.started:
            self.fields.append(self.current)
        self.current = _Field()
        self.started = False
        self.only_quotes = False

    def add(self, text: str, known: bool = True, refs: Sequence[EnvRef] = (), raw: str | None = None,
            quoted: bool = False) -> None:
        if not text and quoted and known and (not self.started or self.only_quotes):
            self.only_quotes = True
            self.current.quoted = True
            self.started = True
            return
        self.current.add(text, known, refs, raw)
        self.current.quoted = self.current.quoted or quoted
        self.started = True
        self.only_quotes = False

    def no_values(self) -> None:
        """A list expansion with no element: `"$@"` alone is no word at all."""
        if self.only_quotes:
            self.current = _Field()
            self.started = False
            self.only_quotes = False

    def value(self, value: _Val, quoted: bool) -> None:
        if quoted or not value.known:
            self.add(value.text, value.known, value.refs, value.raw, quoted=quoted or not value.known)
            return
        text = value.text
        pieces = text.split()
        if not pieces:
            if text:
                self.close()
            return
        if text[0].isspace():
            self.close()
        for index, piece in enumerate(pieces):
            if index:
                self.close()
            self.add(piece, True, value.refs, piece if len(pieces) > 1 else value.raw)
        if text[-1].isspace():
            self.close()

    def finish(self) -> list[_Field]:
        self.close()
        return self.fields


class _State:
    __slots__ = ("vars", "arrays", "exported", "funcs", "cwd", "args", "conds", "flow", "status", "tested",
                 "allexport")

    def __init__(self) -> None:
        self.vars: dict[str, _Val] = {}
        self.arrays: dict[str, list[_Val]] = {}
        self.exported: set[str] = set()
        self.funcs: dict[str, object] = {}
        self.cwd: str | None = None
        self.args: list[_Val] | None = None  # None: unknown
        self.conds: tuple[str, ...] = ()
        self.flow: str | None = None  # "exit", "exec", "return", "break", "continue"
        self.status: bool | None = True
        self.tested = False  # status is an undecided test, not an external command's
        self.allexport = False

    def copy(self) -> _State:
        other = _State.__new__(_State)
        other.vars = dict(self.vars)
        other.arrays = {k: list(v) for k, v in self.arrays.items()}
        other.exported = set(self.exported)
        other.funcs = dict(self.funcs)
        other.cwd = self.cwd
        other.args = None if self.args is None else list(self.args)
        other.conds = self.conds
        other.flow = self.flow
        other.status = self.status
        other.tested = self.tested
        other.allexport = self.allexport
        return other

    def key(self) -> tuple:
        return (tuple(sorted((k, v.key()) for k, v in self.vars.items())),
                tuple(sorted((k, tuple(v.key() for v in vs)) for k, vs in self.arrays.items())),
                tuple(sorted(self.exported)), tuple(sorted((k, id(v)) for k, v in self.funcs.items())), self.cwd,
                None if self.args is None else tuple(a.key() for a in self.args), self.flow, self.allexport)


class _Stop(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


# --- lexer ----------------------------------------------------------------------------------------------

_OPERATORS = (";;&", "<<-", "&>>", "<<<", ";;", ";&", "&&", "||", "|&", "<<", ">>", "<&", ">&", "<>", ">|", "&>",
              ";", "&", "|", "<", ">", "(", ")")
_SCRIPT_DIR = re.compile(r"""\$\(\s*dirname\s+(?:--\s+)?(["']?)(?:\$0|\$\{0\}|\$BASH_SOURCE|\$\{BASH_SOURCE(?:\[0\])?\})\1\s*\)""")
_WHICH = re.compile(r"(?:\$\(|`)\s*(?:which|command -v|type -p)\s+([A-Za-z0-9_.+-]+)\s*(?:\)|`)")
_OPERATOR = re.compile("|".join(re.escape(o) for o in _OPERATORS))
_REDIRECTS = frozenset({"<", ">", ">>", "<<", "<<-", "<<<", "<&", ">&", "<>", ">|", "&>", "&>>"})
_META = frozenset(" \t\r\n;&|<>()")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(\[[^\]]*\])?(\+?)=")

class _Tok:
    __slots__ = ("kind", "value", "parts", "start", "end", "elements")

    def __init__(self, kind: str, value: str, start: int, end: int, parts: list | None = None,
                 elements: list | None = None) -> None:
        self.kind = kind  # "word", "op", "nl", "array", "eof"
        self.value = value  # the operator, or the word as written
        self.parts = parts or []
        self.start = start
        self.end = end
        self.elements = elements  # for "array": [(parts, raw)]

    @property
    def plain(self) -> str | None:
        """The word when it is one unquoted literal (how reserved words must be written)."""
        if self.kind == "word" and len(self.parts) == 1 and self.parts[0][0] == "lit" and not self.parts[0][2]:
            return self.parts[0][1]
        return None


class _Lexer:
    def __init__(self, text: str, problem: Callable[[int, str], None], line_of: Callable[[int], int]) -> None:
        self.text = text
        self.problem = problem
        self.line_of = line_of
        self.depth = 0

    def tokens(self) -> list[_Tok]:
        text, n = self.text, len(self.text)
        out: list[_Tok] = []
        heredocs: list[tuple[str, bool]] = []
        want_delimiter: bool | None = None
        i = 0
        while i < n:
            c = text[i]
            if c == "\\" and text.startswith("\n", i + 1):
                i += 2
                continue
            if c in " \t\r":
                i += 1
                continue
            if c == "#":
                j = text.find("\n", i)
                i = n if j < 0 else j
                continue
            if c == "\n":
                out.append(_Tok("nl", "\n", i, i + 1))
                i += 1
                for delimiter, strip in heredocs:
                    i = self._heredoc(i, delimiter, strip)
                heredocs.clear()
                continue
            if c in "<>" and text.startswith("(", i + 1):
                pass  # process substitution: a word
            elif c in ";&|<>()":
                op = _OPERATOR.match(text, i).group()
                out.append(_Tok("op", op, i, i + len(op)))
                i += len(op)
                if op in ("<<", "<<-"):
                    want_delimiter = op == "<<-"
                continue
            token, i = self._word(i)
            out.append(token)
            if want_delimiter is not None and token.kind == "word":
                heredocs.append(("".join(p[1] for p in token.parts if p[0] == "lit"), want_delimiter))
                want_delimiter = None
        out.append(_Tok("eof", "", n, n))
        return out

    def _heredoc(self, i: int, delimiter: str, strip: bool) -> int:
        text, n = self.text, len(self.text)
        start = i
        while i < n:
            j = text.find("\n", i)
            line = text[i:n if j < 0 else j]
            if (line.lstrip("\t") if strip else line).rstrip("\r") == delimiter:
                return n if j < 0 else j + 1
            i = n if j < 0 else j + 1
        self.problem(self.line_of(start), f"heredoc without its closing `{delimiter}` line")
        return n

    def _word(self, i: int) -> tuple[_Tok, int]:
        start = i
        parts, i = self.scan(i, len(self.text), "word")
        text = self.text
        if i < len(text) and text[i] == "(" and len(parts) == 1 and parts[0][0] == "lit" and not parts[0][2]:
            match = _ASSIGN.fullmatch(parts[0][1])
            if match:
                elements, i = self._array(i + 1)
                return _Tok("array", text[start:i], start, i, parts, elements), i
        return _Tok("word", text[start:i], start, i, parts), i

    def _array(self, i: int) -> tuple[list, int]:
        text, n = self.text, len(self.text)
        elements = []
        while i < n:
            c = text[i]
            if c in " \t\r\n":
                i += 1
            elif c == "\\" and text.startswith("\n", i + 1):
                i += 2
            elif c == "#":
                j = text.find("\n", i)
                i = n if j < 0 else j
            elif c == ")":
                return elements, i + 1
            elif c in ";&|<>(":
                self.problem(self.line_of(i), f"unexpected `{c}` in an array")
                i += 1
            else:
                start = i
                parts, i = self.scan(i, n, "word")
                elements.append((parts, text[start:i]))
        self.problem(self.line_of(n), "array without its closing `)`")
        return elements, n

    def _match(self, i: int, end: int, opener: str, closer: str) -> int:
        """Index of the `closer` that balances the `opener` just before `i` (quotes and escapes skipped)."""
        text = self.text
        depth = 1
        while i < end:
            c = text[i]
            if c == "\\":
                i += 2
                continue
            if c == "'" and closer != "}":
                j = text.find("'", i + 1, end)
                i = end if j < 0 else j + 1
                continue
            if c == '"':
                i = self._skip_double_quoted(i + 1, end)
                continue
            if c == "`":
                j = text.find("`", i + 1, end)
                i = end if j < 0 else j + 1
                continue
            if c == opener:
                depth += 1
            elif c == closer:
                depth -= 1
                if depth == 0:
                    return i
            i += 1
        return -1

    def _skip_double_quoted(self, i: int, end: int) -> int:
        """Index after the `"` closing a string that starts at `i` (`$(...)` inside may hold quotes)."""
        text = self.text
        while i < end:
            c = text[i]
            if c == '"':
                return i + 1
            if c == "\\":
                i += 2
            elif c == "$" and text.startswith("(", i + 1):
                close = self._match(i + 2, end, "(", ")")
                i = end if close < 0 else close + 1
            else:
                i += 1
        return end

    def scan(self, i: int, end: int, mode: str) -> tuple[list, int]:
        """Word parts from `i`: mode "word" stops at an unquoted blank or operator, "dq" at the closing `"`,
        "free" at `end`. Parts: ("lit", text, quoted), ("param", name, op, arg parts, quoted),
        ("cmd", raw, quoted) for `$(...)`/backticks/process substitution, ("arith", raw, expr, quoted)."""
        self.depth += 1
        if self.depth > 40:
            self.depth -= 1
            raise _Stop(self.line_of(i), "expansions nested too deeply")
        text = self.text
        parts: list = []
        buf: list[str] = []
        dq = mode == "dq"

        def flush() -> None:
            if buf:
                parts.append(("lit", "".join(buf), dq))
                buf.clear()

        while i < end:
            c = text[i]
            if dq and c == '"':
                break
            if mode == "word" and c in _META:
                if c == "(" and buf and buf[-1] in "@!+*?":  # extglob @(a|b)
                    close = self._match(i + 1, end, "(", ")")
                    close = end - 1 if close < 0 else close
                    buf.append(text[i:close + 1])
                    i = close + 1
                    continue
                if c in "<>" and text.startswith("(", i + 1) and not buf and not parts:
                    close = self._match(i + 2, end, "(", ")")
                    close = end - 1 if close < 0 else close
                    parts.append(("cmd", text[i:close + 1], False))
                    i = close + 1
                    continue
                break
            if c == "\\":
                nxt = text[i + 1:i + 2]
                if nxt == "\n":
                    i += 2
                    continue
                if dq:
                    if nxt and nxt in '$`"\\':
                        buf.append(nxt)
                        i += 2
                    else:
                        buf.append("\\")
                        i += 1
                    continue
                flush()
                parts.append(("lit", nxt, True))
                i += 2
                continue
            if c == "'" and not dq:
                j = text.find("'", i + 1, end)
                if j < 0:
                    self.problem(self.line_of(i), "unterminated single quote")
                    j = end
                flush()
                parts.append(("lit", text[i + 1:j], True))
                i = j + 1
                continue
            if c == '"' and not dq:
                flush()
                inner, j = self.scan(i + 1, end, "dq")
                if j >= end:
                    self.problem(self.line_of(i), "unterminated double quote")
                parts.append(("lit", "", True))  # "" is a word even when empty
                parts.extend(inner)
                i = j + 1
                continue
            if c == "`":
                j = i + 1
                while j < end and text[j] != "`":
                    j += 2 if text[j] == "\\" else 1
                if j >= end:
                    self.problem(self.line_of(i), "unterminated backquote")
                flush()
                parts.append(("cmd", text[i:j + 1], dq))
                i = j + 1
                continue
            if c == "$":
                part, j = self._dollar(i, end, dq)
                if part is not None:
                    flush()
                    parts.extend(part)
                    i = j
                    continue
            buf.append(c)
            i += 1
        flush()
        self.depth -= 1
        return parts, i

    def _dollar(self, i: int, end: int, dq: bool) -> tuple[list | None, int]:
        text = self.text
        nxt = text[i + 1:i + 2]
        if nxt == "'" and not dq:
            j = i + 2
            out = []
            while j < end and text[j] != "'":
                if text[j] == "\\" and j + 1 < end:
                    out.append({"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"', "e": "\x1b"}.get(text[j + 1],
                                                                                                  "\\" + text[j + 1]))
                    j += 2
                else:
                    out.append(text[j])
                    j += 1
            if j >= end:
                self.problem(self.line_of(i), "unterminated $'...' quote")
            return [("lit", "".join(out), True)], j + 1
        if nxt == '"' and not dq:
            inner, j = self.scan(i + 2, end, "dq")
            return [("lit", "", True), *inner], j + 1
        if text.startswith("((", i + 1):
            close = self._match(i + 3, end, "(", ")")
            if close >= 0 and text.startswith(")", close + 1):
                return [("arith", text[i:close + 2], text[i + 3:close], dq)], close + 2
        if nxt == "(":
            close = self._match(i + 2, end, "(", ")")
            if close < 0:
                self.problem(self.line_of(i), "unterminated $(")
                close = end - 1
            return [("cmd", text[i:close + 1], dq)], close + 1
        if nxt == "{":
            close = self._match(i + 2, end, "{", "}")
            if close < 0:
                self.problem(self.line_of(i), "unterminated ${")
                return [("cmd", text[i:end], dq)], end
            return [self._braced(i + 2, close, dq)], close + 1
        match = _NAME.match(text, i + 1, end)
        if match:
            return [("param", match.group(), None, None, dq)], match.end()
        if nxt and (nxt.isdigit() or nxt in "@*#?$!-"):
            return [("param", nxt, None, None, dq)], i + 2
        return None, i + 1

    def _braced(self, i: int, close: int, dq: bool) -> tuple:
        text = self.text
        inner = text[i:close]
        if inner.startswith("#") and len(inner) > 1 and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\[[@*]\])?|[0-9]+|[@*]",
                                                                     inner[1:]):
            return ("param", inner[1:], "len", None, dq)
        indirect = inner.startswith("!")
        j = i + 1 if indirect else i
        match = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?|[0-9]+|[@*#?$!-]").match(text, j, close)
        if not match:
            return ("cmd", text[i - 2:close + 1], dq)
        name = match.group()
        j = match.end()
        if indirect:
            return ("param", name, "!", None, dq) if j == close else ("cmd", text[i - 2:close + 1], dq)
        if j == close:
            return ("param", name, None, None, dq)
        for op in (":-", ":=", ":+", ":?", "-", "=", "+", "?", "%%", "%", "##", "#", "//", "/", ",,", "^^", ",",
                   "^", ":"):
            if text.startswith(op, j):
                begin = j + len(op)
                if op in ("/", "//"):  # ${X/pattern/replacement}: split before quotes and escapes are taken off
                    cut = begin
                    while cut < close and text[cut] != "/":
                        cut += 2 if text[cut] == "\\" else 1
                    find, _ = self.scan(begin, min(cut, close), "free")
                    replace, _ = self.scan(min(cut + 1, close), close, "dq" if dq else "free")
                    return ("param", name, op, (find, replace), dq)
                arg, _ = self.scan(begin, close, "dq" if dq else "free")
                return ("param", name, op, arg, dq)
        return ("cmd", text[i - 2:close + 1], dq)


# --- parser ---------------------------------------------------------------------------------------------


class _Node:
    __slots__ = ("kind", "line", "a", "b", "c", "text")

    def __init__(self, kind: str, line: int, a=None, b=None, c=None, text: str = "") -> None:
        self.kind = kind
        self.line = line
        self.a = a
        self.b = b
        self.c = c
        self.text = text


# node kinds and fields:
#   seq: a = [(node, background)]
#   simple: a = assignments [(name, append, parts | None, elements | None)], b = words [(parts, raw) | ("array", tok)]
#   andor: a = first node, b = [(op, node, left text)]
#   pipe: a = [node], b = negated
#   if: a = [(condition seq, body seq, condition text)], b = else seq | None
#   case: a = (parts, raw), b = [(patterns [(parts, raw)], body seq, pattern text)]
#   for: a = variable, b = words | None, c = body;  while/until: a = condition seq, c = body
#   group / subshell: a = body;  func: a = name, b = body node;  test: a = words [(parts, raw)];  nop


class _SourcedLine(int):
    """The script's line of a `. file` (what commands read from that file are reported on), knowing the file
    and the line there where the command is written."""

    file: str
    file_line: int

    def __new__(cls, line: int, file: str, file_line: int) -> _SourcedLine:
        value = super().__new__(cls, line)
        value.file, value.file_line = file, file_line
        return value


class _Parser:
    def __init__(self, reader: _Reader, text: str, fixed_line: int | None, origin: str | None = None) -> None:
        self.reader = reader
        self.text = text
        self.fixed_line = fixed_line
        self.origin = origin if fixed_line is not None else None
        self.newlines = [m.start() for m in re.finditer("\n", text)] if fixed_line is None or origin else []
        lexer = _Lexer(text, self.problem_at, self.line_of)
        self.toks = lexer.tokens()
        self.pos = 0
        self.depth = 0

    def line_of(self, offset: int) -> int:
        if self.origin is not None:
            return _SourcedLine(self.fixed_line, self.origin, bisect_right(self.newlines, offset - 1) + 1)
        return self.fixed_line if self.fixed_line is not None else bisect_right(self.newlines, offset - 1) + 1

    def problem_at(self, line: int, reason: str) -> None:
        self.reader.problem(line, reason)

    def peek(self) -> _Tok:
        return self.toks[self.pos]

    def take(self) -> _Tok:
        tok = self.toks[self.pos]
        if tok.kind != "eof":
            self.pos += 1
        return tok

    def skip_newlines(self) -> None:
        while self.peek().kind == "nl":
            self.pos += 1

    def at_word(self, *words: str) -> bool:
        return self.peek().plain in words

    def expect(self, word: str, what: str, line: int) -> bool:
        self.skip_newlines()
        if self.peek().plain == word:
            self.take()
            return True
        self.problem_at(line, f"{what} without `{word}`")
        return False

    def program(self) -> _Node:
        items: list = []
        while True:
            seq = self.seq(frozenset())
            items.extend(seq.a)
            tok = self.peek()
            if tok.kind == "eof":
                return _Node("seq", 1, items)
            self.problem_at(self.line_of(tok.start), f"unexpected `{tok.value[:20]}`")
            self.take()

    def seq(self, stops: frozenset[str]) -> _Node:
        items: list = []
        line = self.line_of(self.peek().start)
        while True:
            tok = self.peek()
            while tok.kind == "nl" or (tok.kind == "op" and tok.value == ";"):
                self.take()
                tok = self.peek()
            if tok.kind == "eof" or (tok.kind == "op" and tok.value in stops) or (tok.plain in stops):
                break
            if tok.kind == "op" and tok.value not in ("(",) and tok.value not in _REDIRECTS:
                break
            if tok.plain in ("then", "elif", "else", "fi", "do", "done", "esac", "}", "in"):
                break
            before = self.pos
            node = self.and_or()
            if self.pos == before:
                break
            background = False
            tok = self.peek()
            if tok.kind == "op" and tok.value == "&":
                background = True
                self.take()
            items.append((node, background))
        return _Node("seq", line, items)

    def and_or(self) -> _Node:
        start = self.peek().start
        first = self.pipeline()
        rest = []
        while self.peek().kind == "op" and self.peek().value in ("&&", "||"):
            op = self.take().value
            left = " ".join(self.text[start:self.toks[self.pos - 1].start].split())
            self.skip_newlines()
            rest.append((op, self.pipeline(), left))
        return first if not rest else _Node("andor", first.line, first, rest)

    def pipeline(self) -> _Node:
        negated = False
        while self.at_word("!", "time"):
            negated ^= self.take().plain == "!"
        first = self.command()
        commands = [first]
        while self.peek().kind == "op" and self.peek().value in ("|", "|&"):
            self.take()
            self.skip_newlines()
            commands.append(self.command())
        if len(commands) == 1 and not negated:
            return first
        return _Node("pipe", first.line, commands, negated)

    def command(self) -> _Node:
        self.depth += 1
        try:
            if self.depth > MAX_NESTING:
                tok = self.peek()
                self.pos = len(self.toks) - 1
                raise _Stop(self.line_of(tok.start), f"commands nested more than {MAX_NESTING} deep")
            node = self._command()
            self.redirections()
            return node
        finally:
            self.depth -= 1

    def redirections(self) -> None:
        while True:
            tok = self.peek()
            if tok.kind == "op" and tok.value in _REDIRECTS:
                self.take()
                if self.peek().kind == "word":
                    self.take()
            elif tok.kind == "word" and tok.value.isdigit() and self._redirect_follows():
                self.take()
            else:
                return

    def _redirect_follows(self) -> bool:
        tok, nxt = self.toks[self.pos], self.toks[self.pos + 1] if self.pos + 1 < len(self.toks) else None
        return nxt is not None and nxt.kind == "op" and nxt.value in _REDIRECTS and nxt.start == tok.end

    def _command(self) -> _Node:
        tok = self.peek()
        line = self.line_of(tok.start)
        word = tok.plain
        if word == "if":
            return self.if_clause(line)
        if word == "case":
            return self.case_clause(line)
        if word in ("while", "until"):
            self.take()
            condition = self.seq(frozenset({"do"}))
            self.expect("do", f"`{word}`", line)
            body = self.seq(frozenset({"done"}))
            self.expect("done", f"`{word}`", line)
            return _Node(word, line, condition, None, body)
        if word in ("for", "select"):
            return self.for_clause(line)
        if word == "{":
            self.take()
            body = self.seq(frozenset({"}"}))
            self.expect("}", "`{`", line)
            return _Node("group", line, body)
        if word == "[[":
            return self.double_bracket(line)
        if word == "function":
            self.take()
            name = self.take().value
            if self.peek().kind == "op" and self.peek().value == "(":
                self.take()
                if self.peek().kind == "op" and self.peek().value == ")":
                    self.take()
            self.skip_newlines()
            return _Node("func", line, name, self.command())
        if tok.kind == "op" and tok.value == "(":
            nxt = self.toks[self.pos + 1]
            if nxt.kind == "op" and nxt.value == "(" and nxt.start == tok.end:
                return self.arithmetic(line)
            self.take()
            body = self.seq(frozenset({")"}))
            if self.peek().kind == "op" and self.peek().value == ")":
                self.take()
            else:
                self.problem_at(line, "`(` without `)`")
            return _Node("subshell", line, body)
        nxt = self.toks[self.pos + 1] if self.pos + 1 < len(self.toks) else None
        if (tok.kind == "word" and word is not None and nxt is not None and nxt.kind == "op" and nxt.value == "("
                and self.pos + 2 < len(self.toks) and self.toks[self.pos + 2].kind == "op"
                and self.toks[self.pos + 2].value == ")"):
            self.pos += 3
            self.skip_newlines()
            return _Node("func", line, word, self.command())
        return self.simple(line)

    def arithmetic(self, line: int) -> _Node:
        """`(( expression ))`: its status is the expression's value (true when not 0)."""
        depth = 0
        start = end = self.peek().end
        while self.peek().kind != "eof":
            tok = self.take()
            if tok.kind == "op" and tok.value == "(":
                depth += 1
                if depth == 2:
                    start = tok.end
            elif tok.kind == "op" and tok.value == ")":
                depth -= 1
                if depth == 1:
                    end = tok.start  # the first `)` of the closing `))`
                if depth <= 0:
                    if self.peek().kind == "op" and self.peek().value == ")":
                        self.take()
                    break
        return _Node("arith", line, self.text[start:end])

    def simple(self, line: int) -> _Node:
        assignments: list = []
        words: list = []
        while True:
            tok = self.peek()
            if tok.kind == "word":
                if tok.value.isdigit() and self._redirect_follows():
                    self.take()
                    continue
                self.take()
                match = _ASSIGN.match(tok.parts[0][1]) if (not words and tok.parts and tok.parts[0][0] == "lit"
                                                           and not tok.parts[0][2]) else None
                if match:
                    rest_parts = [("lit", tok.parts[0][1][match.end():], False), *tok.parts[1:]]
                    assignments.append((match.group(1), bool(match.group(3)), rest_parts, None))
                else:
                    words.append((tok.parts, tok.value))
            elif tok.kind == "array":
                self.take()
                match = _ASSIGN.fullmatch(tok.parts[0][1])
                if not words:
                    assignments.append((match.group(1), bool(match.group(3)), None, tok.elements))
                else:
                    words.append(("array", tok))
            elif tok.kind == "op" and tok.value in _REDIRECTS:
                self.take()
                if self.peek().kind in ("word", "array"):
                    self.take()
            else:
                break
        return _Node("simple", line, assignments, words)

    def double_bracket(self, line: int) -> _Node:
        start = self.take().start
        words: list = []
        while True:
            tok = self.peek()
            if tok.kind in ("eof", "nl"):
                self.problem_at(line, "`[[` without `]]`")
                break
            self.take()
            if tok.plain == "]]":
                break
            if tok.kind == "op":
                words.append(([("lit", tok.value, False)], tok.value))
            else:
                words.append((tok.parts, tok.value))
        text = " ".join(self.text[start:self.toks[self.pos - 1].end].split())
        return _Node("test", line, words, None, None, text)

    def if_clause(self, line: int) -> _Node:
        clauses = []
        else_body = None
        keyword = "if"
        while True:
            self.take()  # if / elif
            start = self.peek().start
            condition = self.seq(frozenset({"then"}))
            text = " ".join(self.text[start:self.peek().start].split()).rstrip("; ").strip()
            if not self.expect("then", f"`{keyword}`", line):
                clauses.append((condition, _Node("seq", line, []), f"{keyword} {text}"))
                return _Node("if", line, clauses, None)
            body = self.seq(frozenset({"elif", "else", "fi"}))
            clauses.append((condition, body, f"{keyword} {text}"))
            if self.at_word("elif"):
                keyword = "elif"
                continue
            if self.at_word("else"):
                self.take()
                else_body = self.seq(frozenset({"fi"}))
            self.expect("fi", "`if`", line)
            return _Node("if", line, clauses, else_body)

    def case_clause(self, line: int) -> _Node:
        self.take()
        subject = self.take()
        self.skip_newlines()
        if not self.at_word("in"):
            self.problem_at(line, "`case` without `in`")
            return _Node("nop", line)
        self.take()
        items = []
        while True:
            self.skip_newlines()
            tok = self.peek()
            if tok.plain == "esac":
                self.take()
                break
            if tok.kind == "eof":
                self.problem_at(line, "`case` without `esac`")
                break
            if tok.kind == "op" and tok.value == "(":
                self.take()
            start = self.peek().start
            patterns = []
            while self.peek().kind == "word":
                pattern = self.take()
                patterns.append((pattern.parts, pattern.value))
                if self.peek().kind == "op" and self.peek().value == "|":
                    self.take()
                    continue
                break
            if not (self.peek().kind == "op" and self.peek().value == ")") or not patterns:
                self.problem_at(self.line_of(self.peek().start), "unreadable `case` pattern")
                self.pos = len(self.toks) - 1
                break
            pattern_text = " ".join(self.text[start:self.peek().start].split())
            self.take()
            body = self.seq(frozenset({";;", ";&", ";;&", "esac"}))
            items.append((patterns, body, f"case {subject.value} in {pattern_text}"))
            if self.peek().kind == "op" and self.peek().value in (";;", ";&", ";;&"):
                self.take()
        return _Node("case", line, (subject.parts, subject.value), items)

    def for_clause(self, line: int) -> _Node:
        keyword = self.take().plain
        if self.peek().kind == "op" and self.peek().value == "(":  # for ((i = 0; ...))
            self.arithmetic(line)
            variable, words = "", []
        else:
            variable = self.take().value
            words = None
            self.skip_newlines()
            if self.at_word("in"):
                self.take()
                words = []
                while self.peek().kind == "word":
                    tok = self.take()
                    words.append((tok.parts, tok.value))
        if self.peek().kind == "op" and self.peek().value == ";":
            self.take()
        self.skip_newlines()
        if not self.expect("do", f"`{keyword}`", line):
            return _Node("nop", line)
        body = self.seq(frozenset({"done"}))
        self.expect("done", f"`{keyword}`", line)
        return _Node("for", line, variable, words, body)


# --- the walk -------------------------------------------------------------------------------------------

_NOT_RECORDED = frozenset({
    ":", "true", "false", "echo", "printf", "read", "readarray", "mapfile", "wait", "trap", "umask", "ulimit",
    "alias", "unalias", "getopts", "hash", "type", "shopt", "let", "sleep", "exit", "return", "break", "continue",
    "cd", "pushd", "popd", "export", "readonly", "declare", "typeset", "local", "unset", "set", "shift", ".",
    "source", "eval", "exec", "test", "[", "[[", "command", "builtin", "times", "jobs", "disown", "kill", "logger",
})


class _Reader:
    def __init__(self, read_file: Callable[[str], str | None] | None) -> None:
        self.read_file = read_file
        self.commands: list[ShellCommand] = []
        self.problems: list[tuple[int, str]] = []
        self.sourced: list[str] = []
        self.unknown_sources: list[UnknownSource] = []
        self.steps = 0
        self.function_depth = 0
        self.read_depth = 0
        self.line = 1
        self.script_dir: str | None = None  # `$(dirname "$0")`, when the caller's path to the script is known

    def exists(self, path: str) -> bool:
        return self.read_file is not None and bool(path) and self.read_file(path) is not None

    def problem(self, line: int, reason: str) -> None:
        if len(self.problems) < 100 and (line, reason) not in self.problems:
            self.problems.append((line, reason))

    def parse(self, text: str, fixed_line: int | None, origin: str | None = None) -> _Node:
        parser = _Parser(self, text, fixed_line, origin)
        try:
            return parser.program()
        except _Stop as stop:
            self.problem(stop.line, stop.reason)
            return _Node("seq", 1, [])

    # -- control flow over several states

    def limit(self, states: list[_State], line: int) -> list[_State]:
        if len(states) <= MAX_STATES:
            return states
        self.problem(line, f"more than {MAX_STATES} undecided branches at once: the rest are not followed")
        return states[:MAX_STATES]

    def run_seq(self, seq: _Node, states: list[_State]) -> list[_State]:
        for node, background in seq.a:
            active = [s for s in states if s.flow is None]
            if not active:
                break
            done = [s for s in states if s.flow is not None]
            if background:
                self.detached(node, active, background=True)
                for s in active:
                    s.status = True
                new = active
            else:
                new = self.run(node, active)
            states = self.limit(done + new, node.line)
        return states

    def detached(self, node: _Node, states: list[_State], background: bool = False) -> None:
        """Commands of a subshell, a pipeline stage or a background job: they run, the script's state stays."""
        copies = [s.copy() for s in states]
        self.run(node, copies, background)

    def run(self, node: _Node, states: list[_State], background: bool = False) -> list[_State]:
        self.steps += 1
        self.line = node.line
        if self.steps > MAX_STEPS:
            raise _Stop(node.line, f"script too long to follow (more than {MAX_STEPS} steps)")
        kind = node.kind
        if kind == "simple":
            out: list[_State] = []
            for s in states:
                out.extend(self.simple(node, s, background))
            return out
        if kind == "seq":
            return self.run_seq(node, states)
        if kind == "group":
            return self.run_seq(node.a, states)
        if kind == "subshell":
            self.detached(node.a, states, background)
            for s in states:
                s.status = None
                s.tested = False
            return states
        if kind == "andor":
            return self.and_or(node, states, background)
        if kind == "pipe":
            if len(node.a) == 1:
                states = self.run(node.a[0], states, background)
            else:
                for part in node.a:
                    self.detached(part, states, background)
                for s in states:
                    s.status, s.tested = None, False
            if node.b:
                for s in states:
                    s.status = None if s.status is None else not s.status
            return states
        if kind == "if":
            return self.if_clause(node, states)
        if kind == "case":
            return self.case_clause(node, states)
        if kind in ("while", "until"):
            states = self.run_seq(node.a, states)
            go, stay = [], []
            for s in states:
                skip = s.flow is not None or (s.status is False if kind == "while" else s.status is True)
                (stay if skip else go).append(s)
            states = stay + self.run_seq(node.c, go)
            return self.end_loop(states)
        if kind == "for":
            for s in states:
                if node.a:
                    values = [f for parts, raw in (node.b or []) for f in self.expand(parts, raw, s)]
                    if len(values) == 1:
                        s.vars[node.a] = _Val(values[0].text, values[0].known, tuple(values[0].refs))
                    else:
                        s.vars.pop(node.a, None)
            return self.end_loop(self.run_seq(node.c, states))
        if kind == "func":
            for s in states:
                s.funcs[node.a] = node.b
                s.status = True
            return states
        if kind == "test":
            for s in states:
                fields = [self.expand(parts, raw, s, split=False) for parts, raw in node.a]
                value = _test([f[0] if f else _empty_field() for f in fields], double=True, exists=self.exists)
                s.status, s.tested = value, value is None
            return states
        if kind == "arith":
            for s in states:
                value = self.condition_value(node.a, s)
                s.status, s.tested = (None if value is None else value != 0), value is None
            return states
        for s in states:  # nop
            s.status, s.tested = True, False
        return states

    @staticmethod
    def end_loop(states: list[_State]) -> list[_State]:
        for s in states:
            if s.flow in ("break", "continue"):
                s.flow = None
        return states

    def and_or(self, node: _Node, states: list[_State], background: bool) -> list[_State]:
        states = self.run(node.a, states, background)
        for op, right, left in node.b:
            out = []
            for s in states:
                if s.flow is not None:
                    out.append(s)
                    continue
                status = s.status
                runs = status if op == "&&" else (None if status is None else not status)
                if runs is True:
                    out.extend(self.run(right, [s], background))
                elif runs is False:
                    out.append(s)
                elif s.tested:  # an undecided test: both ways, each a variant
                    taken = s.copy()
                    base = s.conds
                    taken.conds = base + (f"{left} {op}",)
                    s.conds = base + ((f"! {left}" if op == "&&" else left),)
                    out.extend(self.merge(base, self.run(right, [taken], background) + [s]))
                elif op == "&&":  # after an external command: assume it succeeded
                    out.extend(self.run(right, [s], background))
                else:  # `cmd || exit 1`: read what the failure path runs, go on as if it succeeded
                    self.detached(right, [s], background)
                    s.status = True
                    out.append(s)
            states = out
        return states

    def merge(self, base: tuple[str, ...], results: list[_State]) -> list[_State]:
        """After a branch: ways that end the same are one again, without their conditions, unless another way
        ended in an `exec` (then what goes on is a variant of its own)."""
        ended_in_exec = any(s.flow == "exec" for s in results)
        keep = [s for s in results if s.flow in ("return", "break", "continue")]
        groups: dict[tuple, list[_State]] = {}
        for s in results:
            if s.flow is None:
                groups.setdefault(s.key(), []).append(s)
        merged = []
        for members in groups.values():
            first = members[0]
            if len(groups) == 1 and not ended_in_exec:
                first.conds = base
            else:
                common = first.conds
                for other in members[1:]:
                    n = 0
                    while n < min(len(common), len(other.conds)) and common[n] == other.conds[n]:
                        n += 1
                    common = common[:n]
                first.conds = common
            first.status, first.tested = None, False
            merged.append(first)
        return merged + keep

    def if_clause(self, node: _Node, states: list[_State]) -> list[_State]:
        merged: list[_State] = []
        for state in states:
            results: list[_State] = []
            base = state.conds
            pending: list[tuple[_State, tuple[str, ...]]] = [(state, ())]
            for condition, body, text in node.a:
                following: list[tuple[_State, tuple[str, ...]]] = []
                for s, labels in pending:
                    for c in self.run_seq(condition, [s]):
                        if c.flow is not None:
                            results.append(c)
                            continue
                        status = c.status
                        if status is True:
                            c.conds = base + labels + (("else",) if labels else ())
                            results.extend(self.run_seq(body, [c]))
                        elif status is False:
                            following.append((c, labels))
                        else:
                            taken = c.copy()
                            taken.conds = base + labels + (text,)
                            results.extend(self.run_seq(body, [taken]))
                            following.append((c, labels + (text,)))
                pending = self.limit_pairs(following, node.line)
            for s, labels in pending:
                s.conds = base + labels + (("else",) if labels else ())
                results.extend(self.run_seq(node.b, [s]) if node.b is not None else [s])
            merged.extend(self.merge(base, results))
        return self.limit(merged, node.line)

    def limit_pairs(self, pairs: list, line: int) -> list:
        if len(pairs) > MAX_STATES:
            self.problem(line, f"more than {MAX_STATES} undecided branches at once: the rest are not followed")
            return pairs[:MAX_STATES]
        return pairs

    def case_clause(self, node: _Node, states: list[_State]) -> list[_State]:
        merged: list[_State] = []
        parts, raw = node.a
        for state in states:
            results: list[_State] = []
            base = state.conds
            subject = self.expand(parts, raw, state, split=False)
            subject_field = subject[0] if subject else _empty_field()
            undecided: list[str] = []
            matched = False
            for patterns, body, text in node.b:
                verdict: bool | None = False
                for pattern_parts, pattern_raw in patterns:
                    one = self.pattern_matches(subject_field, pattern_parts, pattern_raw, state)
                    if one is True:
                        verdict = True
                        break
                    if one is None:
                        verdict = None
                if verdict is False:
                    continue
                branch = state.copy()
                branch.conds = base + ((text,) if verdict is None or undecided else ())
                results.extend(self.run_seq(body, [branch]))
                if verdict is True:
                    matched = True
                    break
                undecided.append(text.split(" in ", 1)[1] if " in " in text else text)
            if not matched:
                state.conds = base + ((f"case {raw} in {'|'.join(undecided)}", "else") if undecided else ())
                results.append(state)
            merged.extend(self.merge(base, results))
        return self.limit(merged, node.line)

    def pattern_matches(self, subject: _Field, parts: list, raw: str, state: _State) -> bool | None:
        if not subject.known:
            return None
        pattern = []
        for part in parts:
            if part[0] == "lit":
                pattern.append(_glob_escape(part[1]) if part[2] else part[1])
            else:
                fields = self.expand([part], raw, state, split=False)
                if not fields or not fields[0].known:
                    return None
                pattern.append(fields[0].text)
        return fnmatchcase(subject.text, "".join(pattern))

    # -- one simple command

    def simple(self, node: _Node, s: _State, background: bool) -> list[_State]:
        fields: list[_Field] = []
        array_words: list = []
        for word in node.b:
            if word[0] == "array":
                array_words.append(word[1])
                continue
            parts, raw = word
            fields.extend(self.expand(parts, raw, s))
        if not fields:
            for name, append, parts, elements in node.a:
                self.assign(s, name, append, parts, elements)
            s.status, s.tested = True, False
            return [s]
        prefix: dict[str, _Val] = {}
        for name, append, parts, elements in node.a:
            if parts is not None:
                values = self.expand(parts, name, s, split=False)
                prefix[name] = _as_val(values[0] if values else _empty_field())
        while fields and fields[0].text in ("command", "builtin", "time") and fields[0].known:
            if len(fields) > 1 and fields[1].text.startswith("-"):
                s.status, s.tested = None, False
                return [s]
            fields = fields[1:]
        if not fields:
            return [s]
        name = fields[0].text
        if len(fields) == 1 and self.substitution_runs(node, s, fields[0]):
            s.status, s.tested = None, False
            return [s]
        if not fields[0].known:
            self.unknown_command(node, fields[0])
            s.status, s.tested = None, False
            return [s]
        s.tested = False
        if name in s.funcs and fields[0].known:
            return self.call(node, s, name, fields[1:])
        handler = _BUILTINS.get(name) if fields[0].known else None
        if handler is not None:
            return handler(self, node, s, fields, array_words)
        s.status = None
        self.record(node, s, fields, prefix, background, is_exec=False)
        return [s]

    def substitution_runs(self, node: _Node, s: _State, word: _Field) -> bool:
        """``exec `bash -c "celery ... & gunicorn ..."` ``: a command word that is one command substitution runs
        it (in a subshell) first; a server started there never returns, so its commands are what the script
        starts. False (nothing read) when the substitution records no command (`$(echo gunicorn app:app)`)."""
        body = _substitution_body(word)
        if body is None:
            return False
        before = len(self.commands)
        self.nested(body, node.line, [s.copy()])
        if all(c.command.program in _PRINTS_A_COMMAND for c in self.commands[before:]):
            del self.commands[before:]  # `exec $(cat /etc/cmd)`: the command is the output, not known here
            return False
        return True

    def unknown_command(self, node: _Node, word: _Field) -> None:
        if word.refs:
            held = ", ".join(dict.fromkeys(f"${r.name}" for r in word.refs))
            self.problem(node.line, f"the command is held in {held}, which has no known value here")
        else:
            self.problem(node.line, f"the command `{word.raw or word.text}` is computed when the script runs")

    def record(self, node: _Node, s: _State, fields: list[_Field], prefix: dict[str, _Val], background: bool,
               is_exec: bool) -> None:
        words = [Word(f.text, f.raw if f.raw is not None else f.text, tuple(f.refs)) for f in fields
                 if not _unknown_arguments(f)]
        peeled = peel(words)
        command = peeled.command
        if peeled.shell_c is not None:
            text, rest = peeled.shell_c
            inner = _State()
            for key in s.exported:
                if key in s.vars:
                    inner.vars[key] = s.vars[key]
                    inner.exported.add(key)
            for key, value in prefix.items():
                inner.vars[key] = value
                inner.exported.add(key)
            for key, value in command.env.items():
                inner.vars[key] = _Val(value, True)
                inner.exported.add(key)
            inner.cwd = s.cwd
            inner.conds = s.conds
            inner.args = [_Val(w.text, not w.is_symbolic, w.refs) for w in rest[1:]]
            if any(not f.known and _unknown_arguments(f) for f in fields):
                inner.args = None
            if any(not f.known and f.text == text for f in fields):
                self.problem(node.line, "`sh -c` with a string that is not known here")
                return
            self.nested(text, node.line, [inner])
            return
        if not command.argv:
            return
        if command.program in _NOT_RECORDED and not command.wrappers and "/" not in command.argv[0].text:
            return  # a builtin; a path (`bin/jobs`, Solid Queue's binstub) is a file, never the builtin `jobs`
        if len(self.commands) >= MAX_COMMANDS:
            raise _Stop(node.line, f"more than {MAX_COMMANDS} commands: the rest are not read")
        env = {k: v.text for k, v in s.vars.items() if v.known and v.set}
        exported = {k for k in s.exported if k in env}
        for key, value in prefix.items():
            if value.known:
                env[key] = value.text
                exported.add(key)
        command.env = {**{k: v.text for k, v in prefix.items() if v.known}, **command.env}
        for key, value in command.env.items():
            env[key] = value
            exported.add(key)
        written_at = (node.line.file, node.line.file_line) if isinstance(node.line, _SourcedLine) else None
        forwards = any(word[0] != "array" and _FORWARDED.search(word[1]) for word in node.b)
        self.commands.append(ShellCommand(command, int(node.line), s.conds, env, s.cwd, command.exec_name,
                                          command.runs_script, frozenset(exported), is_exec, background,
                                          written_at, bool(forwards)))

    def nested(self, text: str, line: int, states: list[_State], origin: str | None = None) -> list[_State]:
        """Read `text` (a sourced file `origin`, `sh -c`/`eval` string) as shell, its commands on `line`."""
        if self.read_depth >= MAX_READ_DEPTH:
            self.problem(line, f"`.`/`sh -c`/`eval` nested more than {MAX_READ_DEPTH} deep")
            return states
        self.read_depth += 1
        try:
            return self.run_seq(self.parse(text[:MAX_TEXT], line, origin), states)
        finally:
            self.read_depth -= 1

    def call(self, node: _Node, s: _State, name: str, arguments: list[_Field]) -> list[_State]:
        if self.function_depth >= MAX_FUNCTION_DEPTH:
            self.problem(node.line, f"function `{name}` called more than {MAX_FUNCTION_DEPTH} deep")
            s.status = None
            return [s]
        saved = s.args
        s.args = _positional(arguments)
        body = s.funcs[name]
        self.function_depth += 1
        try:
            out = self.run(body, [s]) if body.kind != "subshell" else self.run(body.a, [s])
        finally:
            self.function_depth -= 1
        for state in out:
            state.args = saved
            if state.flow == "return":
                state.flow = None
            state.status, state.tested = None, False
        return self.same_again(out)

    @staticmethod
    def same_again(states: list[_State]) -> list[_State]:
        """States that ended the same (a `return` inside a branch, and the way past it) are one again,
        under the conditions they share."""
        if len(states) < 2:
            return states
        groups: dict[tuple, list[_State]] = {}
        for s in states:
            groups.setdefault(s.key(), []).append(s)
        out = []
        for members in groups.values():
            first = members[0]
            for other in members[1:]:
                n = 0
                while n < min(len(first.conds), len(other.conds)) and first.conds[n] == other.conds[n]:
                    n += 1
                first.conds = first.conds[:n]
            out.append(first)
        return out

    # -- variables and words

    def assign(self, s: _State, name: str, append: bool, parts: list | None, elements: list | None,
               exported: bool = False) -> None:
        if elements is not None:
            values = [_as_val(f) for parts_, raw in elements for f in self.expand(parts_, raw, s)]
            s.arrays[name] = (s.arrays.get(name, []) if append else []) + values
            s.vars.pop(name, None)
        else:
            fields = self.expand(parts or [], name, s, split=False)
            value = _as_val(fields[0] if fields else _empty_field())
            if name in s.arrays and not append:
                s.arrays[name] = [value, *s.arrays[name][1:]]
                return
            if name in s.arrays and append:
                s.arrays[name] = s.arrays[name] + [value]
                return
            if append:
                old = s.vars.get(name)
                if old is None:
                    value = _Val(value.text, False, value.refs)
                else:
                    value = _Val(old.text + value.text, old.known and value.known, old.refs + value.refs)
            s.vars[name] = value
        if exported or s.allexport:
            s.exported.add(name)

    def expand(self, parts: list, raw: str, s: _State, split: bool = True) -> list[_Field]:
        out = _Fields()
        for part in parts:
            kind = part[0]
            if kind == "lit":
                out.add(part[1], quoted=part[2])
                continue
            if kind == "cmd":
                found = _WHICH.fullmatch(part[1])  # "$(which gunicorn)": the program's name is what matters
                if found:
                    out.add(found.group(1), quoted=True)
                elif self.script_dir is not None and _SCRIPT_DIR.fullmatch(part[1]):
                    out.add(self.script_dir, quoted=True)
                else:
                    out.add(part[1], known=False, quoted=True)
                continue
            if kind == "arith":
                value = self.arithmetic(part[2], s)
                out.add(part[1] if value is None else str(value), known=value is not None, quoted=True)
                continue
            quoted = part[4]
            values = self.param(part, s)
            if isinstance(values, list):  # "$@", "${arr[@]}"
                if not values:
                    out.no_values()
                for index, value in enumerate(values):
                    if index:
                        out.close()
                    out.value(value, quoted or not split)
                continue
            out.value(values, quoted or not split)
        fields = out.finish()
        if split:
            fields = [f for f in fields if f.text or f.quoted or not f.known]
        elif not fields:
            fields = [_empty_field()]
        for f in fields:
            if f.raw is None:
                f.raw = raw if len(fields) == 1 else f.text
        return fields

    def param(self, part: tuple, s: _State) -> _Val | list[_Val] | None:
        _, name, op, arg, quoted = part
        index = None
        if "[" in name:
            name, _, index = name.partition("[")
            index = index.rstrip("]")
        if name in ("@", "*") or (name in s.arrays and index in ("@", "*")):
            if op == "len":
                values = s.args if name in ("@", "*") else s.arrays.get(name)
                return None if values is None else _Val(str(len(values)), True)
            if name in ("@", "*") and s.args is None:  # the script's arguments, not given: one unknown word
                return _Val("", False, (EnvRef(name, None, None, "unset"),))
            values = (s.args or []) if name in ("@", "*") else s.arrays.get(name, [])
            if (name == "*" or index == "*") and quoted:
                return _Val(" ".join(v.text for v in values), all(v.known for v in values),
                            tuple(r for v in values for r in v.refs))
            return list(values)
        value = self.lookup(s, name, index)
        if op is None:
            return value
        if op == "len":
            return _Val(str(len(value.text)), True) if value.known else _Val("", False, value.refs)
        if op == "!":
            if value.known and _NAME.fullmatch(value.text):
                return self.lookup(s, value.text, None)
            return _Val("", False, value.refs)
        if isinstance(arg, tuple):  # ${X/find/replace}
            find = self.expand(arg[0], "", s, split=False)[0]
            replace = self.expand(arg[1], "", s, split=False)[0]
            if not (value.known and find.known and replace.known) or any(c in find.text for c in "*?["):
                return _Val("", False, value.refs)
            if not find.text:
                return value
            count = -1 if op == "//" else 1
            return _Val(value.text.replace(find.text, replace.text, count), True, value.refs)
        argument = self.expand(arg or [], "", s, split=False)[0]
        arg_val = _as_val(argument)
        empty_counts = op.startswith(":")
        if op in (":-", "-", ":=", "="):
            if not value.known:
                # a variable the repository never sets takes the default; an argument not given, or a value
                # computed at run time, decides nothing
                known = arg_val.known and _unset_in_repo(name, value)
                used = _Val(arg_val.text, known, (EnvRef(name, argument.text, argument.text, "default"), *arg_val.refs))
                if op in (":=", "="):
                    s.vars[name] = used
                return used
            if not value.set or (empty_counts and not value.text):
                if op in (":=", "="):
                    s.vars[name] = arg_val
                return arg_val
            return value
        if op in (":+", "+"):
            if not value.known:
                return _Val("", _unset_in_repo(name, value), value.refs)
            return arg_val if value.set and (value.text or not empty_counts) else _Val("", True)
        if op in (":?", "?"):
            return value
        if not value.known or not arg_val.known:
            return _Val("", False, value.refs)
        text = value.text
        pattern = arg_val.text
        if op in ("%", "%%"):
            cuts = [n for n in range(len(text) + 1) if fnmatchcase(text[n:], pattern)]
            if cuts:
                text = text[:max(cuts) if op == "%" else min(cuts)]
        elif op in ("#", "##"):
            cuts = [n for n in range(len(text) + 1) if fnmatchcase(text[:n], pattern)]
            if cuts:
                text = text[(min(cuts) if op == "#" else max(cuts)):]
        elif op in (",,", ","):
            text = text.lower() if op == ",," else text[:1].lower() + text[1:]
        elif op in ("^^", "^"):
            text = text.upper() if op == "^^" else text[:1].upper() + text[1:]
        elif op == ":":
            offset, _, length = pattern.partition(":")
            try:
                begin = int(offset.strip())
                text = text[begin:] if not length else text[begin:begin + int(length.strip())]
            except ValueError:
                return _Val("", False, value.refs)
        return _Val(text, True, value.refs)

    def lookup(self, s: _State, name: str, index: str | None) -> _Val:
        if name.isdigit():
            number = int(name)
            if number == 0 or s.args is None:
                return _Val("", False, (EnvRef(name, None, None, "unset"),))
            return s.args[number - 1] if number <= len(s.args) else _Val("", True, set=False)
        if name == "#":
            return _Val(str(len(s.args)), True) if s.args is not None else _Val("", False)
        if name in ("?", "$", "!", "-"):
            return _Val("$" + name, False)
        if name in s.arrays:
            values = s.arrays[name]
            try:
                position = int(index) if index not in (None, "") else 0
            except ValueError:
                return _Val("", False)
            if 0 <= position < len(values):
                return values[position]
            return _Val("", True, set=False)
        value = s.vars.get(name)
        if value is None:
            return _Val("", False, (EnvRef(name, None, None, "unset"),))
        return value

    def condition_value(self, expression: str, s: _State) -> int | None:
        """An arithmetic command's value: one comparison (`$# < 1`, `n == 0`) or an expression; None if unknown."""
        match = re.fullmatch(r"(.*?)(<=|>=|==|!=|<|>)(.*)", expression.strip(), re.DOTALL)
        if match is None:
            return self.arithmetic(expression, s)
        if any(op in match.group(3) for op in ("<", ">", "=", "&", "|", "!")):
            return None
        left, right = self.arithmetic(match.group(1), s), self.arithmetic(match.group(3), s)
        if left is None or right is None:
            return None
        return int({"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right,
                    "==": left == right, "!=": left != right}[match.group(2)])

    def arithmetic(self, expression: str, s: _State) -> int | None:
        def substitute(match: re.Match) -> str:
            value = self.lookup(s, match.group(1) or match.group(2), None)
            if not value.known:
                raise ValueError
            return value.text.strip() or "0"

        try:
            text = re.sub(r"\$\{?([#0-9]|[A-Za-z_][A-Za-z0-9_]*)\}?|\b([A-Za-z_][A-Za-z0-9_]*)\b", substitute, expression)
        except ValueError:
            return None
        if len(text) > 200 or not re.fullmatch(r"[0-9+\-*/%() \t]*", text) or "**" in text:
            return None
        return _arith(text)


def _unset_in_repo(name: str, value: _Val) -> bool:
    """An environment variable nothing in the repository sets (the caller gave the environment it knows)."""
    return not name.isdigit() and any(r.source == "unset" and r.name == name for r in value.refs)


def _unknown_arguments(f: _Field) -> bool:
    """The word `"$@"` stands for when the script's arguments are not known."""
    return not f.known and not f.text and bool(f.refs) and all(r.name in ("@", "*") for r in f.refs)


def _positional(fields: list[_Field]) -> list[_Val] | None:
    return None if any(_unknown_arguments(f) for f in fields) else [_as_val(f) for f in fields]


def _as_val(f: _Field) -> _Val:
    return _Val(f.text, f.known, tuple(f.refs), f.raw)


def _empty_field() -> _Field:
    f = _Field()
    f.quoted = True
    f.raw = ""
    return f


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _arith(text: str) -> int | None:
    """Integer arithmetic of digits, + - * / % and parentheses (the caller checked the characters)."""
    tokens = re.findall(r"\d+|[-+*/%()]", text)
    position = 0

    def atom() -> int:
        nonlocal position
        if position >= len(tokens):
            raise ValueError
        tok = tokens[position]
        position += 1
        if tok == "(":
            value = expr()
            if position >= len(tokens) or tokens[position] != ")":
                raise ValueError
            position += 1
            return value
        if tok in "+-":
            return atom() if tok == "+" else -atom()
        if tok.isdigit():
            return int(tok)
        raise ValueError

    def level(depth: int) -> int:  # depth 0: + -, depth 1: * / %
        nonlocal position
        value = level(depth + 1) if depth == 0 else atom()
        while position < len(tokens) and tokens[position] in ("+-" if depth == 0 else "*/%"):
            op = tokens[position]
            position += 1
            right = level(depth + 1) if depth == 0 else atom()
            if op in "+-*":
                value = value + right if op == "+" else value - right if op == "-" else value * right
            elif right == 0:
                raise ValueError
            else:
                value = int(value / right) if op == "/" else value - right * int(value / right)
        return value

    def expr() -> int:
        return level(0)

    try:
        value = expr()
    except (ValueError, RecursionError):
        return None
    if position != len(tokens) or abs(value) > 10 ** 18:
        return None
    return value


# --- test / [ / [[ ---------------------------------------------------------------------------------------

_UNARY = frozenset({"-n", "-z", "-e", "-f", "-d", "-x", "-s", "-r", "-w", "-L", "-h", "-p", "-S", "-b", "-c", "-g",
                    "-u", "-k", "-O", "-G", "-N", "-t", "-v", "-a", "-o"})
_BINARY = frozenset({"=", "==", "!=", "<", ">", "-eq", "-ne", "-lt", "-le", "-gt", "-ge", "=~", "-nt", "-ot", "-ef"})


def _test(args: list[_Field], double: bool = False,
          exists: Callable[[str], bool] | None = None) -> bool | None:
    """`test`/`[`/`[[` on expanded words: True, False, or None when a side is not known."""
    if len(args) > 64:
        return None
    position = 0

    def primary() -> bool | None:
        nonlocal position
        rest = len(args) - position
        if rest <= 0:
            return False
        word = args[position]
        if word.text == "!" and word.known and rest > 1:
            position += 1
            value = primary()
            return None if value is None else not value
        if word.text == "(" and word.known and not word.quoted:
            position += 1
            value = disjunction()
            if position < len(args) and args[position].text == ")":
                position += 1
            return value
        if rest >= 3 and args[position + 1].text in _BINARY and not args[position + 1].quoted:
            left, op, right = args[position], args[position + 1].text, args[position + 2]
            position += 3
            return _binary(left, op, right, double)
        if rest >= 2 and word.text in _UNARY and not word.quoted and word.text not in ("-a", "-o"):
            operand = args[position + 1]
            position += 2
            if word.text in ("-n", "-z"):
                if not operand.known:
                    return None
                return bool(operand.text) if word.text == "-n" else not operand.text
            if word.text in ("-f", "-e", "-r", "-s") and operand.known and exists is not None and exists(operand.text):
                return True  # a file the caller has (absent from the repository, it may still be in the image)
            return None  # files, terminals, variables: decided where it runs
        position += 1
        return None if not word.known else bool(word.text)

    def connected(conjunction: bool) -> bool | None:  # -a / && binds tighter than -o / ||
        nonlocal position
        operators, absorbing = (("-a", "&&"), False) if conjunction else (("-o", "||"), True)
        value = primary() if conjunction else connected(True)
        while position < len(args) and args[position].text in operators and not args[position].quoted:
            position += 1
            right = primary() if conjunction else connected(True)
            if value is absorbing or right is absorbing:
                value = absorbing
            elif value is None or right is None:
                value = None
            else:
                value = not absorbing
        return value

    def disjunction() -> bool | None:
        return connected(False)

    try:
        value = disjunction()
    except RecursionError:
        return None
    return value if position >= len(args) else None


def _binary(left: _Field, op: str, right: _Field, double: bool) -> bool | None:
    if not left.known or not right.known:
        return None
    if op in ("=", "==", "!="):
        if double and not right.quoted:
            same = fnmatchcase(left.text, right.text)
        else:
            same = left.text == right.text
        return same if op != "!=" else not same
    if op in ("<", ">"):
        return left.text < right.text if op == "<" else left.text > right.text
    if op in ("-eq", "-ne", "-lt", "-le", "-gt", "-ge"):
        try:
            a, b = int(left.text.strip()), int(right.text.strip())
        except ValueError:
            return None
        return {"-eq": a == b, "-ne": a != b, "-lt": a < b, "-le": a <= b, "-gt": a > b, "-ge": a >= b}[op]
    return None


# --- builtins -------------------------------------------------------------------------------------------


def _b_status(value: bool | None):
    def handler(reader: _Reader, node: _Node, s: _State, fields: list[_Field], arrays: list) -> list[_State]:
        s.status, s.tested = value, False
        return [s]
    return handler


def _b_test(reader: _Reader, node: _Node, s: _State, fields: list[_Field], arrays: list) -> list[_State]:
    args = fields[1:]
    if fields[0].text == "[":
        if args and args[-1].text == "]":
            args = args[:-1]
        else:
            reader.problem(node.line, "`[` without `]`")
    value = _test(args, exists=reader.exists)
    s.status, s.tested = value, value is None
    return [s]


def _b_declare(reader: _Reader, node: _Node, s: _State, fields: list[_Field], arrays: list) -> list[_State]:
    exporting = fields[0].text == "export"
    for f in fields[1:]:
        text = f.text
        if text.startswith(("-", "+")) and not _ASSIGN.match(text):
            exporting = exporting or (text.startswith("-") and "x" in text)
            continue
        match = _ASSIGN.match(text)
        if match:
            value = _Val(text[match.end():], f.known, tuple(f.refs), f.raw)
            name = match.group(1)
            if match.group(3) and name in s.vars:
                old = s.vars[name]
                value = _Val(old.text + value.text, old.known and value.known, old.refs + value.refs)
            s.vars[name] = value
            s.arrays.pop(name, None)
            if exporting or s.allexport:
                s.exported.add(name)
        elif _NAME.fullmatch(text) and exporting:
            s.exported.add(text)
    for tok in arrays:
        match = _ASSIGN.fullmatch(tok.parts[0][1])
        reader.assign(s, match.group(1), bool(match.group(3)), None, tok.elements, exported=exporting)
    s.status, s.tested = True, False
    return [s]


def _b_unset(reader: _Reader, node: _Node, s: _State, fields: list[_Field], arrays: list) -> list[_State]:
    for f in fields[1:]:
        if f.text.startswith("-"):
            continue
        s.vars[f.text] = _Val("", True, set=False)
        s.arrays.pop(f.text, None)
        s.exported.discard(f.text)
    s.status = True
    return [s]


def _b_set(reader: _Reader, node: _Node, s: _State, fields: list[_Field], arrays: list) -> list[_State]:
    args = fields[1:]
    index = 0
    while index < len(args):
        text = args[index].text
        if text in ("--", "-"):
            s.args = _positional(args[index + 1:])
            break
        if not text.startswith(("-", "+")) or text.startswith("--"):
            s.args = _positional(args[index:])
            break
        on = text.startswith("-")
        if "a" in text[1:]:
            s.allexport = on
        if "o" in text[1:]:  # -o NAME / -euo pipefail
            index += 1
            if index < len(args) and args[index].text == "allexport":
                s.allexport = on
        index += 1
    s.status = True
    return [s]


def _b_shift(reader: _Reader, node: _Node, s: _State, fields: list[_Field], arrays: list) -> list[_State]:
    count = 1
    if len(fields) > 1:
        try:
            count = int(fields[1].text)
        except ValueError:
            s.args = None
            return [s]
    if s.args is not None:
        s.args = s.args[count:]
    s.status = True
    return [s]


def _b_cd(reader: _Reader, node: _Node, s: _State, fields: list[_Field], arrays: list) -> list[_State]:
    targets = [f for f in fields[1:] if not (f.text.startswith("-") and f.known and f.text != "-")]
    if fields[0].text == "popd" or not targets or not targets[0].known or targets[0].text in ("-", "~") \
            or targets[0].text.startswith("~"):
        s.cwd = None
    else:
        target = targets[0].text
        s.cwd = posixpath.normpath(posixpath.join(s.cwd, target) if s.cwd and not target.startswith("/") else target)
    s.status = True
    return [s]


_FORWARDED = re.compile(r"\$(?:[@*]|\{[@*]\})")


def _b_source(reader: _Reader, node: _Node, s: _State, fields: list[_Field], arrays: list) -> list[_State]:
    if len(fields) < 2:
        return [s]
    target = fields[1]
    if not target.known:
        reader.problem(node.line, f"sourced file `{target.raw or target.text}` is not known here")
        names = tuple(dict.fromkeys(ref.name for ref in target.refs if ref.source == "unset"))
        folder = posixpath.dirname(target.text) if "/" in target.text else None
        if names and folder and len(reader.unknown_sources) < 20:
            if s.cwd and not folder.startswith("/"):
                folder = posixpath.normpath(posixpath.join(s.cwd, folder))
            reader.unknown_sources.append(UnknownSource(int(node.line), target.raw or target.text, folder, names))
        return [s]
    path = target.text
    if s.cwd and not path.startswith("/"):
        path = posixpath.normpath(posixpath.join(s.cwd, path))
    text = reader.read_file(path) if reader.read_file is not None else None
    if text is None:
        if not path.endswith("bin/activate"):  # a virtualenv's: not the repository's to hold
            reader.problem(node.line, f"sourced file `{path}` not read")
        return [s]
    if path not in reader.sourced:
        reader.sourced.append(path)
    saved = s.args
    if len(fields) > 2:
        s.args = [_as_val(f) for f in fields[2:]]
    out = reader.nested(text, node.line, [s], origin=path)
    for state in out:
        if len(fields) > 2:
            state.args = saved
        if state.flow == "return":
            state.flow = None
    return reader.same_again(out)


def _b_eval(reader: _Reader, node: _Node, s: _State, fields: list[_Field], arrays: list) -> list[_State]:
    if not all(f.known for f in fields[1:]):
        reader.problem(node.line, "`eval` of a string that is not known here")
        s.status = None
        return [s]
    return reader.nested(" ".join(f.text for f in fields[1:]), node.line, [s])


def _b_exec(reader: _Reader, node: _Node, s: _State, fields: list[_Field], arrays: list) -> list[_State]:
    rest = fields[1:]
    index = 0
    while index < len(rest) and rest[index].text.startswith("-") and rest[index].known:
        index += 2 if rest[index].text == "-a" else 1
    if index >= len(rest):
        s.status = True
        return [s]  # `exec >log 2>&1`: redirections only
    program = rest[index].text
    if program in s.funcs and rest[index].known:
        out = reader.call(node, s, program, rest[index + 1:])
        for state in out:
            if state.flow is None:
                state.flow = "exec"
        return out
    prefix = {}
    for name, append, parts, elements in node.a:
        if parts is not None:
            values = reader.expand(parts, name, s, split=False)
            prefix[name] = _as_val(values[0] if values else _empty_field())
    if index == len(rest) - 1 and reader.substitution_runs(node, s, rest[index]):
        pass
    elif not rest[index].known:
        reader.unknown_command(node, rest[index])
    else:
        reader.record(node, s, fields, prefix, False, is_exec=True)
    s.flow = "exec"
    return [s]


def _b_flow(flow: str):
    def handler(reader: _Reader, node: _Node, s: _State, fields: list[_Field], arrays: list) -> list[_State]:
        s.flow = flow
        return [s]
    return handler


def _b_read(reader: _Reader, node: _Node, s: _State, fields: list[_Field], arrays: list) -> list[_State]:
    skip_next = False
    for f in fields[1:]:
        if skip_next:
            skip_next = False
        elif f.text.startswith("-"):
            skip_next = f.text in ("-a", "-d", "-n", "-N", "-p", "-t", "-u", "-i")
            if f.text == "-a":
                skip_next = False
        elif _NAME.fullmatch(f.text):
            s.vars.pop(f.text, None)
            s.arrays.pop(f.text, None)
    s.status, s.tested = None, False
    return [s]


_BUILTINS: dict[str, Callable] = {
    ":": _b_status(True), "true": _b_status(True), "false": _b_status(False), "[": _b_test, "test": _b_test,
    "export": _b_declare, "readonly": _b_declare, "declare": _b_declare, "typeset": _b_declare, "local": _b_declare,
    "unset": _b_unset, "set": _b_set, "shift": _b_shift, "cd": _b_cd, "pushd": _b_cd, "popd": _b_cd,
    ".": _b_source, "source": _b_source, "eval": _b_eval, "exec": _b_exec, "exit": _b_flow("exit"),
    "return": _b_flow("return"), "break": _b_flow("break"), "continue": _b_flow("continue"), "read": _b_read,
    "mapfile": _b_read, "readarray": _b_read,
}
for _name in ("echo", "printf", "wait", "trap", "umask", "ulimit", "alias", "unalias", "getopts", "hash", "type",
              "shopt", "let", "times", "jobs", "disown"):
    _BUILTINS[_name] = _b_status(None)
