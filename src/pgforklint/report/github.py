"""GitHub Actions workflow-command annotations (`::error file=...,line=...::message`)."""

from __future__ import annotations

from pgforklint.diagnostics import Diagnostic, Severity

_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(d: Diagnostic) -> str:
    loc = d.location
    line = max(1, loc.line)
    props = [f"file={escape_property(loc.path)}", f"line={line}"]
    end_line = loc.end_line or line
    if end_line == line:
        props.append(f"col={max(1, loc.column)}")
        if loc.end_column and loc.end_column >= loc.column:
            props.append(f"endColumn={loc.end_column}")
    else:
        props.append(f"endLine={end_line}")
    props.append(f"title={escape_property(f'pgforklint {d.code} ({d.name})')}")
    body = f"{loc.path}:{line}:{loc.column}: {d.code} {d.message}"
    for related in d.related:
        body += f"\n  {related.location.path}:{related.location.line}: {related.message}"
    return f"::{_COMMAND[d.severity]} {','.join(props)}::{escape_data(body)}"


def render(diagnostics: list[Diagnostic]) -> str:
    ordered = sorted(diagnostics, key=lambda d: (-d.severity, d.sort_key()))
    return "".join(annotation(d) + "\n" for d in ordered)
