"""The text formats.

`render` (the default `text` format) follows ruff's shape, one finding in one glance:

    error[PGF001]: `engine.connect()` connects in the parent before gunicorn forks
     --> app/db.py:8:6
      |
    8 | conn = engine.connect()
      |        ^^^^^^^^^^^^^^^^
      |
    note: gunicorn.conf.py:5: preload_app makes the parent load the app
    help: reset it in the child: `def post_fork(server, worker): engine.dispose(close=False)` in gunicorn.conf.py

The headline (severity, code, what is wrong) is at most about 100 characters; the full explanation is
`--explain CODE` (and `message` in JSON/SARIF). `concise` is the one-line `path:line:col: CODE message`.
Every string from the repository goes through `printable`: no control character reaches the terminal.
"""

from __future__ import annotations

from collections import Counter

from pgforklint.diagnostics import Diagnostic, Severity
from pgforklint.report import Paths, ordered, printable

_COLOURS = {Severity.ERROR: "\x1b[31m", Severity.WARNING: "\x1b[33m", Severity.INFO: "\x1b[36m"}
_BOLD, _DIM, _BLUE, _CYAN, _RESET = "\x1b[1m", "\x1b[2m", "\x1b[34m", "\x1b[36m", "\x1b[0m"
HEADLINE_WIDTH = 110  # "about 100": a short title with a long quoted name may pass 100


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "\u2026"


def _paint(text: str, style: str, colour: bool) -> str:
    return f"{style}{text}{_RESET}" if colour and text else text


def _fixable(d: Diagnostic) -> bool:
    return d.fix is not None and d.fix.applicability == "safe"


def _excerpt(d: Diagnostic, source: str | None, colour: bool) -> list[str]:
    """The source line with a caret under the span (`end_column` is exclusive)."""
    loc = d.location
    if source is None:
        return []
    line = max(1, loc.line)
    gutter = " " * len(str(line))
    expanded = printable(source.replace("\t", "    "))
    # columns count characters of the original line: tabs and escapes widen what is shown before them
    prefix = printable(source[: max(0, loc.column - 1)].replace("\t", "    "))
    start = len(prefix)
    if loc.end_line is not None and loc.end_line == loc.line and loc.end_column and loc.end_column > loc.column:
        span = source[loc.column - 1: loc.end_column - 1]
        width = len(printable(span.replace("\t", "    ")))
    else:  # no end, or a span over several lines: underline the rest of the first line
        width = len(expanded.rstrip()) - start
    if not expanded.strip():
        return []
    width = max(1, width)
    bar = _paint("|", _BLUE, colour)
    carets = _paint("^" * width, _COLOURS[d.severity], colour)
    return [f"{gutter} {bar}",
            f"{_paint(str(line), _BLUE, colour)} {bar} {expanded}",
            f"{gutter} {bar} {' ' * start}{carets}",
            f"{gutter} {bar}"]


def render(diagnostics: list[Diagnostic], paths: Paths | None = None, colour: bool = False,
           show_related: bool = True) -> str:
    """The full format, most important first (errors, then by path). Paths are repository-relative."""
    paths = paths or Paths.here()
    blocks = []
    for d in ordered(diagnostics):
        loc = d.location
        label = f"{d.severity.label}[{d.code}]"
        head = _paint(label, _BOLD + _COLOURS[d.severity], colour)
        title = _clip(printable(d.headline), HEADLINE_WIDTH - len(label) - 2)
        lines = [f"{head}: {_paint(title, _BOLD, colour)}"]
        where = f"{printable(paths.shown(loc.path))}:{max(1, loc.line)}:{max(1, loc.column)}"
        lines.append(f" {_paint('-->', _BLUE, colour)} {where}")
        lines += _excerpt(d, paths.source_line(loc.path, max(1, loc.line)), colour)
        if show_related:
            for related in d.related:
                text = (f"{printable(paths.shown(related.location.path))}:{max(1, related.location.line)}: "
                        f"{printable(related.message)}")
                lines.append(f"{_paint('note', _BOLD, colour)}: {text}")
        if _fixable(d):
            lines.append(f"{_paint('help', _BOLD + _CYAN, colour)}: [*] {printable(d.fix.message)} (`pgforklint --fix`)")
        elif d.fix is not None:
            lines.append(f"{_paint('help', _BOLD + _CYAN, colour)}: {printable(d.fix.message)} "
                         "(`pgforklint --fix --unsafe-fixes`)")
        elif d.help:
            lines.append(f"{_paint('help', _BOLD + _CYAN, colour)}: {printable(d.help)}")
        elif not d.title and d.message != d.headline:  # no short form: the rest of the message, not lost
            rest = d.message[len(d.headline):].lstrip("; ") if d.message.startswith(d.headline) else d.message
            lines.append(f"{_paint('help', _BOLD + _CYAN, colour)}: {printable(rest)}")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks) + ("\n" if blocks else "")


def concise(diagnostics: list[Diagnostic], paths: Paths | None = None, colour: bool = False,
            show_related: bool = True) -> str:
    """`path:line:col: CODE message`, one line per finding (the related locations indented below)."""
    paths = paths or Paths.here()
    lines = []
    for d in diagnostics:
        loc = d.location
        head = f"{printable(paths.shown(loc.path))}:{loc.line}:{loc.column}:"
        code = f"{d.code}"
        if colour:
            head = f"{_BOLD}{head}{_RESET}"
            code = f"{_COLOURS[d.severity]}{code}{_RESET}"
        fixable = "[*] " if _fixable(d) else ""  # ruff's marker: --fix fixes it
        lines.append(f"{head} {code} {fixable}{printable(d.message)}")
        if show_related:
            for related in d.related:
                text = (f"    {printable(paths.shown(related.location.path))}:{related.location.line}: "
                        f"{printable(related.message)}")
                lines.append(f"{_DIM}{text}{_RESET}" if colour else text)
    return "\n".join(lines) + ("\n" if lines else "")


def summary(diagnostics: list[Diagnostic], suppressed: int, baselined: int = 0) -> str:
    if not diagnostics:
        text = "No problems found."
    else:
        by_severity = Counter(d.severity for d in diagnostics)
        parts = [f"{by_severity[s]} {s.label}{'s' if by_severity[s] != 1 else ''}" for s in
                 (Severity.ERROR, Severity.WARNING, Severity.INFO) if by_severity[s]]
        text = f"Found {len(diagnostics)} problem{'s' if len(diagnostics) != 1 else ''} ({', '.join(parts)})."
    if suppressed:
        text += f" {suppressed} suppressed by comments."
    if baselined:
        text += f" {baselined} hidden by the baseline."
    safe = sum(1 for d in diagnostics if _fixable(d))
    unsafe = sum(1 for d in diagnostics if d.fix is not None and d.fix.applicability != "safe")
    if safe:
        text += f"\n[*] {safe} fixable with `pgforklint --fix`."
    if unsafe:
        text += f"\n{unsafe} more fixable with `pgforklint --fix --unsafe-fixes`."
    return text + "\n"


def statistics(diagnostics: list[Diagnostic]) -> str:
    counts = Counter(d.code for d in diagnostics)
    lines = []
    for code, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        sample = next(d for d in diagnostics if d.code == code)
        lines.append(f"{count:5d}\t{code}\t[{sample.severity.label}] {sample.name}")
    return "\n".join(lines) + ("\n" if lines else "")
