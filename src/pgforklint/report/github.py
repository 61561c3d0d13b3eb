"""GitHub Actions workflow commands (`::error file=...,line=...::message`).

- Escaping follows actions/toolkit `packages/core/src/command.ts`: the message (`escapeData`) escapes
  `%`, CR and LF; property values (`escapeProperty`) also escape `:` and `,`. `%` goes first.
- The runner rejects `col`/`endColumn` when `line != endLine`, and `endColumn < col`; lines are clamped
  to >= 1 (annotations at line 0 are not shown on the diff).
- GitHub shows at most 10 error, 10 warning and 10 notice annotations per step and silently drops the
  rest (actions/toolkit `docs/problem-matchers.md`). So errors come first, each kind stops at its
  limit, the findings beyond it are printed as plain log lines, and a final `::notice` says how many
  were not annotated (that notice takes one of the 10 notice slots). `step_summary` renders the full
  list as a markdown table for `$GITHUB_STEP_SUMMARY`.
"""

from __future__ import annotations

from collections import Counter

from pgforklint.diagnostics import Diagnostic, Severity

_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
ANNOTATIONS_PER_KIND = 10


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def plain(d: Diagnostic) -> str:
    loc = d.location
    return f"{loc.path}:{max(1, loc.line)}:{max(1, loc.column)}: {d.code} {d.message}"


def annotation(d: Diagnostic) -> str:
    loc = d.location
    line = max(1, loc.line)
    column = max(1, loc.column)
    props = [f"file={escape_property(loc.path)}", f"line={line}"]
    end_line = max(line, loc.end_line or line)
    if end_line == line:
        props.append(f"col={column}")
        if loc.end_column and loc.end_column >= column:
            props.append(f"endColumn={loc.end_column}")
    else:
        props.append(f"endLine={end_line}")
    props.append(f"title={escape_property(f'pgforklint {d.code} ({d.name})')}")
    body = plain(d)
    for related in d.related:
        body += f"\n  {related.location.path}:{max(1, related.location.line)}: {related.message}"
    return f"::{_COMMAND[d.severity]} {','.join(props)}::{escape_data(body)}"


def ordered(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Errors first, then warnings, then notices; stable within each."""
    return sorted(diagnostics, key=lambda d: (-d.severity, d.sort_key()))


def render(diagnostics: list[Diagnostic], limit: int = ANNOTATIONS_PER_KIND, summary_written: bool = False) -> str:
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
            annotated.append(annotation(d))
        else:
            rest.append(d)
    lines = annotated
    if rest:
        lines.append(f"pgforklint: {len(rest)} more finding{'s' if len(rest) != 1 else ''} (not annotated):")
        lines.extend(plain(d) for d in rest)
        where = "the job summary" if summary_written else "the log above, or use --format sarif"
        text = (f"{len(rest)} more pgforklint finding{'s' if len(rest) != 1 else ''} not annotated "
                f"(GitHub shows at most {limit} errors, {limit} warnings and {limit} notices per step); see {where}")
        lines.append(f"::notice title={escape_property('pgforklint')}::{escape_data(text)}")
    return "".join(line + "\n" for line in lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\r\n", "<br>").replace("\r", "<br>").replace("\n", "<br>")


def step_summary(diagnostics: list[Diagnostic], suppressed: int = 0) -> str:
    """The full list as a markdown table (for `$GITHUB_STEP_SUMMARY`)."""
    items = ordered(diagnostics)
    out = ["## pgforklint", ""]
    if not items:
        out.append("No problems found." + (f" {suppressed} suppressed by comments." if suppressed else ""))
        return "\n".join(out) + "\n\n"
    counts = Counter(d.severity for d in items)
    parts = [f"{counts[s]} {s.label}{'s' if counts[s] != 1 else ''}"
             for s in (Severity.ERROR, Severity.WARNING, Severity.INFO) if counts[s]]
    out.append(f"Found {len(items)} problem{'s' if len(items) != 1 else ''} ({', '.join(parts)})."
               + (f" {suppressed} suppressed by comments." if suppressed else ""))
    out += ["", "| Severity | Code | Location | Message |", "| --- | --- | --- | --- |"]
    for d in items:
        loc = d.location
        where = f"`{loc.path}:{max(1, loc.line)}:{max(1, loc.column)}`".replace("|", "\\|")
        out.append(f"| {d.severity.label} | {d.code} ({d.name}) | {where} | {_cell(d.message)} |")
    return "\n".join(out) + "\n\n"
