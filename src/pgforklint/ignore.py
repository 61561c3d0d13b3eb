"""Gitignore patterns, matched the way git matches them (`man gitignore`, git's dir.c and wildmatch.c).

It replaces the `pathspec` dependency: that package cost about 10 ms of import time on every run, and
matching every path against one regular expression per pattern was a large part of the walk on big
trees. Here each pattern file is compiled once, and a file without negations becomes a set of literal
names plus at most one alternation for names and one for paths.

Semantics, per line of a pattern file:

- blank lines and lines starting with `#` match nothing; trailing spaces are trimmed unless escaped
  (`foo\\ `); a backslash makes the next character literal (`\\#`, `\\!`, `\\*`);
- `!pattern` re-includes what an earlier line excluded: within a file the last matching line decides
  (deeper files override shallower ones: the caller's concern);
- a trailing `/` restricts the pattern to folders;
- a pattern with a `/` at the start or in the middle is anchored: it is matched against the path relative
  to the folder of the pattern file. Otherwise it is matched against the last path component, at any depth;
- `*` matches anything but `/`, `?` one character but `/`, `[...]` one character of a class (`[!...]`
  or `[^...]` negated, ranges, `[:alpha:]` and the other POSIX names; never `/`);
- `**` bounded by `/` or the ends of the pattern: a leading `**/` matches any number of folders, a
  trailing `/**` everything inside, `/**/` zero or more folders; other runs of stars are one `*`.

Like git: an unterminated `[` or an unknown `[:class:]` makes the pattern match nothing, as does a
trailing lone backslash; and in an anchored pattern the literal text before the first wildcard is
compared first, so a `**` right after it counts as bounded (`a/b**` matches `a/bc/d`).
"""

from __future__ import annotations

import re

_WILDCARDS = "*?[\\"

# POSIX class names inside brackets, with git's ASCII-only meaning (not the `string` module: its import
# costs more than this whole module's).
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_UPPER = _LOWER.upper()
_DIGITS = "0123456789"
_NAMED_CLASSES = {
    "alnum": _LOWER + _UPPER + _DIGITS,
    "alpha": _LOWER + _UPPER,
    "blank": " \t",
    "cntrl": "".join(map(chr, range(32))) + "\x7f",
    "digit": _DIGITS,
    "graph": "".join(map(chr, range(33, 127))),
    "lower": _LOWER,
    "print": "".join(map(chr, range(32, 127))),
    "punct": "".join(c for c in map(chr, range(33, 127)) if not c.isalnum()),
    "space": " \t\n\r",
    "upper": _UPPER,
    "xdigit": _DIGITS + "abcdefABCDEF",
}


class _NeverMatches(Exception):
    """The pattern is malformed in a way that makes git's wildmatch give up: it matches nothing."""


def _bracket(pattern: str, start: int) -> tuple[str, int]:
    """The regular expression for the class opening at `pattern[start] == '['`, and the index after its
    closing `]`. Follows wildmatch's reading: a `]` right after `[` or `[!` is literal, `a-z` is a range
    unless `-` comes first or last, a backslash escapes, `[:name:]` is a named class."""
    end = len(pattern)
    index = start + 1
    if index >= end:
        raise _NeverMatches
    negated = pattern[index] in "!^"
    if negated:
        index += 1
    members: list[str] = []
    previous = ""  # the last single character, which a following `-` turns into a range start
    first = True
    while True:
        if index >= end:
            raise _NeverMatches
        char = pattern[index]
        if char == "]" and not first:
            break
        first = False
        if char == "\\":
            index += 1
            if index >= end:
                raise _NeverMatches
            char = pattern[index]
            members.append(re.escape(char))
            previous = char
        elif char == "-" and previous and index + 1 < end and pattern[index + 1] != "]":
            index += 1
            high = pattern[index]
            if high == "\\":
                index += 1
                if index >= end:
                    raise _NeverMatches
                high = pattern[index]
            if previous <= high:
                members.append(f"{re.escape(previous)}-{re.escape(high)}")
            previous = ""
        elif char == "[" and index + 1 < end and pattern[index + 1] == ":":
            close = pattern.find("]", index + 2)
            if close < 0:
                raise _NeverMatches
            if close - (index + 2) - 1 < 0 or pattern[close - 1] != ":":
                # no `:]`: the `[` is an ordinary member and the text after it is read as members too
                members.append(re.escape("["))
                previous = "["
            else:
                name = pattern[index + 2:close - 1]
                if name not in _NAMED_CLASSES:
                    raise _NeverMatches
                members.extend(re.escape(c) for c in _NAMED_CLASSES[name])
                previous = ""
                index = close
        else:
            members.append(re.escape(char))
            previous = char
        index += 1
    body = "".join(members)
    if negated:
        return f"[^/{body}]", index + 1
    if not body:
        return "(?!)", index + 1
    return f"(?!/)[{body}]", index + 1


# The kinds of unbounded run a pattern's stars become: within one path component, anything, and "zero
# or more whole folders" (a bounded `**/`).
_IN_NAME, _ANY, _FOLDERS = "[^/]*", ".*", "(?:.*/)?"
_LAZY = {_IN_NAME: "[^/]*?", _ANY: ".*?", _FOLDERS: "(?:.*?/)??"}
_group_numbers = iter(range(1 << 62))


def _wildmatch_tokens(pattern: str) -> list[str]:
    """A wildmatch pattern (matched with git's WM_PATHNAME) as a list of regular expressions: each is
    one of the runs `_IN_NAME`, `_ANY`, `_FOLDERS`, or one character (a literal or a class)."""
    parts: list[str] = []
    index, end = 0, len(pattern)
    while index < end:
        char = pattern[index]
        if char == "*":
            run_start = index
            while index < end and pattern[index] == "*":
                index += 1
            bounded_before = run_start == 0 or pattern[run_start - 1] == "/"
            following = pattern[index:index + 2]
            if index - run_start >= 2 and bounded_before and (index == end or following[:1] == "/"
                                                                or following == "\\/"):
                if index == end:
                    parts.append(_ANY)
                elif following[:1] == "/":
                    parts.append(_FOLDERS)  # zero or more folders
                    index += 1
                else:
                    parts.append(_ANY)
            else:
                parts.append(_IN_NAME)
            continue
        if char == "?":
            parts.append("[^/]")
        elif char == "[":
            regex, index = _bracket(pattern, index)
            parts.append(regex)
            continue
        elif char == "\\":
            index += 1
            if index >= end:
                raise _NeverMatches
            parts.append(re.escape(pattern[index]))
        else:
            parts.append(re.escape(char))
        index += 1
    return parts


def _linear_regex(tokens: list[str]) -> str:
    """The tokens as one regular expression whose matching time stays linear in the text for a fixed
    pattern (Python's engine backtracks: `*a*a*a*a*a*a*a*a*b` against a long name would take hours).

    Between two runs, the run and the characters after it are matched at their earliest place and
    never revisited (a lookahead that captures, then a backreference: an atomic group that Python 3.10
    can write). That is exact when the next run could also absorb whatever a later place would have
    left over: the next run matches anything (`_ANY`); or it is `_FOLDERS` and the characters end with
    `/`; or both runs stay within a name and the characters hold no `/`. Other runs, and the last one,
    are left as they are (they backtrack over at most one stretch)."""
    runs = [i for i, token in enumerate(tokens) if token in _LAZY]
    if len(runs) < 2:
        return "".join(tokens)
    out: list[str] = []
    position = 0
    for number, run in enumerate(runs[:-1]):
        following = runs[number + 1]
        segment = tokens[run + 1:following]
        out.extend(tokens[position:run])
        position = run
        if not segment:
            continue
        gap, next_gap = tokens[run], tokens[following]
        exact = (next_gap == _ANY or (next_gap == _FOLDERS and segment[-1] == "/")
                 or (next_gap == _IN_NAME and gap == _IN_NAME and "/" not in segment))
        if exact:
            name = f"g{next(_group_numbers)}"
            out.append(f"(?=(?P<{name}>{_LAZY[gap]}{''.join(segment)}))(?P={name})")
            position = following
    out.extend(tokens[position:])
    return "".join(out)


def _wildmatch_regex(pattern: str) -> str:
    """Translate a wildmatch pattern (matched with git's WM_PATHNAME) into a regular expression."""
    return _linear_regex(_wildmatch_tokens(pattern))


def _trim_trailing_spaces(line: str) -> str:
    """Git's trim: drop the trailing run of unescaped spaces (tabs are kept); a trailing lone backslash
    stops the trim."""
    last_space = -1
    index, end = 0, len(line)
    while index < end:
        char = line[index]
        if char == " ":
            if last_space < 0:
                last_space = index
        elif char == "\\":
            index += 1
            if index >= end:
                return line
            last_space = -1
        else:
            last_space = -1
        index += 1
    return line[:last_space] if last_space >= 0 else line


class Pattern:
    """One parsed line. `on_name`: matched against the last path component; otherwise against the
    path relative to the pattern file's folder. `literal` is set when the line has no wildcard, `regex`
    otherwise matters (compiled by the pattern file, mostly as part of one alternation)."""

    __slots__ = ("text", "negated", "folders_only", "on_name", "literal", "regex")

    def __init__(self, text: str, negated: bool, folders_only: bool, on_name: bool, literal: str | None,
                 regex: str):
        self.text = text
        self.negated, self.folders_only, self.on_name = negated, folders_only, on_name
        self.literal = literal
        self.regex = regex

    def __repr__(self) -> str:
        return f"Pattern({self.text!r})"


def compile_line(line: str) -> Pattern | None:
    """The pattern on one line of a pattern file, or None when the line can match nothing."""
    line = line.removesuffix("\r")  # CRLF files: git drops the carriage return before the newline
    if not line or line.startswith("#"):
        return None
    text = line
    line = _trim_trailing_spaces(line)
    negated = line.startswith("!")
    if negated:
        line = line[1:]
    folders_only = line.endswith("/")
    if folders_only:
        line = line[:-1]
    if not line:
        return None
    on_name = "/" not in line
    if not on_name and line.startswith("/"):
        line = line[1:]
    try:
        if on_name:
            regex = _wildmatch_regex(line)
        else:
            # Git compares the literal text before the first wildcard, then wildmatches the rest as a
            # pattern of its own (which is where a `**` right after that text counts as bounded).
            cut = next((i for i, c in enumerate(line) if c in _WILDCARDS), len(line))
            regex = re.escape(line[:cut]) + _wildmatch_regex(line[cut:])
    except _NeverMatches:
        return None
    literal = line if not any(c in _WILDCARDS for c in line) else None
    return Pattern(text, negated, folders_only, on_name, literal, regex)


def _full_match(regex: str):
    return re.compile(regex, re.DOTALL).fullmatch


# Patterns whose regular expression captures (the atomic steps of `_linear_regex`) are alternated a few at
# a time: Python's engine saves every group of an alternation at each branch, so one alternation of
# thousands of them costs groups x branches per match.
_CAPTURING_PER_ALTERNATION = 16


def _alternation(patterns: list[Pattern]):
    if not patterns:
        return None
    if len(patterns) == 1:
        return _full_match(patterns[0].regex)
    return _full_match("|".join(f"(?:{p.regex})" for p in patterns))


def _matchers(patterns: list[Pattern]) -> list:
    """Functions that together match what any of `patterns` matches (literals by a set lookup)."""
    literals = frozenset(p.literal for p in patterns if p.literal is not None)
    plain = [p for p in patterns if p.literal is None and "(?P<" not in p.regex]
    capturing = [p for p in patterns if p.literal is None and "(?P<" in p.regex]
    found = [literals.__contains__] if literals else []
    if plain:
        found.append(_alternation(plain))
    for start in range(0, len(capturing), _CAPTURING_PER_ALTERNATION):
        found.append(_alternation(capturing[start:start + _CAPTURING_PER_ALTERNATION]))
    return found


def _any_of(matchers: list):
    if not matchers:
        return None
    if len(matchers) == 1:
        return matchers[0]
    return lambda text: any(matches(text) for matches in matchers)


class _AnyOf:
    """Patterns without negation, for one kind of entry: does any of them match? (`uses_folder`: some
    pattern needs the entry's folder, not only its name.)"""

    __slots__ = ("names", "name_matches", "path_matches", "paths", "uses_folder")

    def __init__(self, patterns: list[Pattern]):
        on_name = [p for p in patterns if p.on_name]
        on_path = [p for p in patterns if not p.on_name]
        self.names = frozenset(p.literal for p in on_name if p.literal is not None)
        self.name_matches = _any_of(_matchers([p for p in on_name if p.literal is None]))
        self.paths = frozenset(p.literal for p in on_path if p.literal is not None)
        self.path_matches = _any_of(_matchers([p for p in on_path if p.literal is None]))
        self.uses_folder = bool(on_path)

    def __bool__(self) -> bool:
        return bool(self.names or self.name_matches or self.paths or self.path_matches)

    def match(self, folder: str, name: str) -> bool | None:
        if name in self.names or (self.name_matches is not None and self.name_matches(name)):
            return True
        if self.paths or self.path_matches is not None:
            path = folder + name
            if path in self.paths or (self.path_matches is not None and self.path_matches(path)):
                return True
        return None


class _LastMatch:
    """Patterns with negations, for one kind of entry: the last matching line decides.

    Consecutive lines with the same verdict form a run, and a run is matched with one alternation (for
    names, one for paths): the last run with a match decides, so a large file costs one regular
    expression call per run and entry, not a Python loop over its lines."""

    __slots__ = ("runs", "uses_folder")

    def __init__(self, patterns: list[Pattern]):
        runs: list[tuple[bool, list[Pattern]]] = []
        for pattern in patterns:
            verdict = not pattern.negated
            if runs and runs[-1][0] == verdict:
                runs[-1][1].append(pattern)
            else:
                runs.append((verdict, [pattern]))
        # last run first: (verdict, name matchers, path matchers)
        self.runs = [(verdict, _matchers([p for p in run if p.on_name]), _matchers([p for p in run if not p.on_name]))
                     for verdict, run in reversed(runs)]
        self.uses_folder = not all(p.on_name for p in patterns)

    def __bool__(self) -> bool:
        return bool(self.runs)

    def match(self, folder: str, name: str) -> bool | None:
        path = None
        for verdict, on_name, on_path in self.runs:
            for matches in on_name:
                if matches(name):
                    return verdict
            if on_path:
                if path is None:
                    path = folder + name
                for matches in on_path:
                    if matches(path):
                        return verdict
        return None


# A pattern file's wildcard lines are compiled into regular expressions and tried on every entry of
# the tree: past this many (real files have tens), the rest are not applied and the caller says so.
# Lines without wildcards are set lookups and have no limit.
MAX_WILDCARD_PATTERNS = 1000


class PatternFile:
    """The compiled lines of one `.gitignore`-style file (or an `exclude` list).

    `match(folder, name, is_dir)`: True when the entry is excluded, False when a negation re-includes it,
    None when no line matches. `folder` is the entry's folder relative to the pattern file's folder,
    with a trailing `/` ("" for the folder itself); `name` is the entry's name.

    Folder-only lines are left out of the rules for files: a file never matches them (the walk never
    enters an excluded folder, so nothing else needs them)."""

    __slots__ = ("patterns", "for_files", "for_folders", "dropped")

    def __init__(self, lines: list[str]):
        self.patterns = []
        self.dropped = 0  # wildcard lines past MAX_WILDCARD_PATTERNS, not applied (the caller reports it)
        wildcards = 0
        for pattern in map(compile_line, lines):
            if pattern is None:
                continue
            if pattern.literal is None:
                wildcards += 1
                if wildcards > MAX_WILDCARD_PATTERNS:
                    self.dropped += 1
                    continue
            self.patterns.append(pattern)
        kind = _LastMatch if any(p.negated for p in self.patterns) else _AnyOf
        self.for_folders = kind(self.patterns)
        if any(p.folders_only for p in self.patterns):
            self.for_files = kind([p for p in self.patterns if not p.folders_only])
        else:
            self.for_files = self.for_folders  # the same lines: compiled once

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def match(self, folder: str, name: str, is_dir: bool) -> bool | None:
        return (self.for_folders if is_dir else self.for_files).match(folder, name)

    def match_path(self, path: str, is_dir: bool) -> bool | None:
        """`match` for a '/'-separated path relative to the pattern file's folder."""
        folder, _, name = path.rpartition("/")
        return self.match(folder + "/" if folder else "", name, is_dir)

    def excludes(self, path: str) -> bool:
        """Git's verdict for a file at `path` (relative to the pattern file's folder): excluded when the
        file, or a folder on the way to it, is excluded (a negation cannot re-include a file below an
        excluded folder). For callers that match one path at a time rather than walk."""
        parts = path.split("/")
        folder = ""
        for name in parts[:-1]:
            if self.for_folders.match(folder, name):
                return True
            folder += name + "/"
        return bool(self.for_files.match(folder, parts[-1]))
