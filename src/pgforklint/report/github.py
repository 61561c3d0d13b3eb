"""GitHub Actions workflow commands (`::error file=...,line=...::message`).

- Escaping follows actions/toolkit `packages/core/src/command.ts`: the message (`escapeData`) escapes
  `%`, CR and LF; property values (`escapeProperty`) also escape `:` and `,`. `%` goes first. Every
  line this format prints is either such a command or starts with `pgforklint: ` and has its line
  breaks escaped, so no text from the repository (a file name with a newline, a service called
  `::add-mask::x`) can start a workflow command of its own.
- `file=` is what the runner resolves: repository-relative (it resolves from the workspace root and
  only turns absolute paths into workspace-relative ones), or absolute outside the repository.
- The runner rejects `col`/`endColumn` when `line != endLine`, and `endColumn < col`; lines are clamped
  to >= 1 (annotations at line 0 are not shown on the diff).
- GitHub shows at most 10 error, 10 warning and 10 notice annotations per step and silently drops the
  rest (actions/toolkit `docs/problem-matchers.md`). So errors come first, each kind stops at its
  limit, the findings beyond it are printed as plain log lines, and a final `::notice` says how many
  were not annotated (that notice takes one of the 10 notice slots). `step_summary` renders the full
  list as a markdown table for `$GITHUB_STEP_SUMMARY`, every repository string Markdown-escaped.
"""

from __future__ import annotations

import re
from collections import Counter

from pgforklint.diagnostics import Diagnostic, Severity
from pgforklint.report import Paths, ordered, printable, unicode_safe

_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
ANNOTATIONS_PER_KIND = 10

__all__ = ["annotation", "escape_data", "escape_property", "markdown", "ordered", "plain", "render", "step_summary"]


def escape_data(text: str) -> str:
    return unicode_safe(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _where(d: Diagnostic, paths: Paths) -> str:
    loc = d.location
    return f"{paths.github(loc.path)}:{max(1, loc.line)}:{max(1, loc.column)}"


def plain(d: Diagnostic, paths: Paths | None = None) -> str:
    """A finding as one log line that cannot be read as a workflow command."""
    paths = paths or Paths.here()
    return f"pgforklint: {printable(_where(d, paths))}: {d.code} {printable(d.message)}"


def annotation(d: Diagnostic, paths: Paths | None = None) -> str:
    paths = paths or Paths.here()
    loc = d.location
    line = max(1, loc.line)
    column = max(1, loc.column)
    props = [f"file={escape_property(printable(paths.github(loc.path)))}", f"line={line}"]
    end_line = max(line, loc.end_line or line)
    if end_line == line:
        props.append(f"col={column}")
        if loc.end_column and loc.end_column >= column:
            props.append(f"endColumn={loc.end_column}")
    else:
        props.append(f"endLine={end_line}")
    props.append(f"title={escape_property(f'pgforklint {d.code} ({d.name})')}")
    # Repository text is made one-line and control-free first (`printable`): the only line breaks in
    # the body are the ones between its parts, and those are escaped as %0A with the rest.
    body = f"{printable(_where(d, paths))}: {d.code} {printable(d.headline)}"
    if d.message != d.headline:
        body += f"\n{printable(d.message)}"
    if d.help:
        body += f"\nhelp: {printable(d.help)}"
    for related in d.related:
        body += (f"\nnote: {printable(paths.github(related.location.path))}:{max(1, related.location.line)}: "
                 f"{printable(related.message)}")
    return f"::{_COMMAND[d.severity]} {','.join(props)}::{escape_data(body)}"


def render(diagnostics: list[Diagnostic], limit: int = ANNOTATIONS_PER_KIND, summary_written: bool = False,
           paths: Paths | None = None) -> str:
    paths = paths or Paths.here()
    items = ordered(diagnostics)
    counts = Counter(d.severity for d in items)
    overflow = any(count > limit for count in counts.values())
    # The closing notice uses one notice slot when something is left over.
    budget = {Severity.ERROR: limit, Severity.WARNING: limit, Severity.INFO: limit - 1 if overflow else limit}
    annotated, rest = [], []
    used: Counter = Counter()
    for d in items:
        if used[d.severity] < budget[d.severity]:
            used[d.severity] += 1
            annotated.append(annotation(d, paths))
        else:
            rest.append(d)
    lines = annotated
    if rest:
        lines.append(f"pgforklint: {len(rest)} more finding{'s' if len(rest) != 1 else ''} (not annotated):")
        lines.extend(plain(d, paths) for d in rest)
        where = "the job summary" if summary_written else "the log above, or use --format sarif"
        text = (f"{len(rest)} more pgforklint finding{'s' if len(rest) != 1 else ''} not annotated "
                f"(GitHub shows at most {limit} errors, {limit} warnings and {limit} notices per step); see {where}")
        lines.append(f"::notice title={escape_property('pgforklint')}::{escape_data(text)}")
    return "".join(line + "\n" for line in lines)


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+!|~:])")


def markdown(text: str) -> str:
    """Repository text for a Markdown table cell: one line, every Markdown and HTML character inert
    (backticks and pipes included; `:` so that `https:` does not autolink)."""
    text = printable(text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN.sub(r"\\\1", text)


def step_summary(diagnostics: list[Diagnostic], suppressed: int = 0, paths: Paths | None = None,
                 baselined: int = 0) -> str:
    """The full list as a markdown table (for `$GITHUB_STEP_SUMMARY`)."""
    paths = paths or Paths.here()
    items = ordered(diagnostics)
    out = ["## pgforklint", ""]
    hidden = (f" {suppressed} suppressed by comments." if suppressed else "") + (
        f" {baselined} hidden by the baseline." if baselined else "")
    if not items:
        out.append("No problems found." + hidden)
        return "\n".join(out) + "\n\n"
    counts = Counter(d.severity for d in items)
    parts = [f"{counts[s]} {s.label}{'s' if counts[s] != 1 else ''}"
             for s in (Severity.ERROR, Severity.WARNING, Severity.INFO) if counts[s]]
    out.append(f"Found {len(items)} problem{'s' if len(items) != 1 else ''} ({', '.join(parts)})." + hidden)
    out += ["", "| Severity | Code | Location | Problem | Fix |", "| --- | --- | --- | --- | --- |"]
    for d in items:
        where = markdown(_where(d, paths))
        out.append(f"| {d.severity.label} | {d.code} ({d.name}) | {where} | {markdown(d.headline)} | "
                   f"{markdown(d.help)} |")
    return "\n".join(out) + "\n\n"
