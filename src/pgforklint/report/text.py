"""`path:line:col: CODE message`, coloured only on a terminal and never with NO_COLOR."""

from __future__ import annotations

from collections import Counter

from pgforklint.diagnostics import Diagnostic, Severity

_COLOURS = {Severity.ERROR: "\x1b[31m", Severity.WARNING: "\x1b[33m", Severity.INFO: "\x1b[36m"}
_BOLD, _DIM, _RESET = "\x1b[1m", "\x1b[2m", "\x1b[0m"


def render(diagnostics: list[Diagnostic], colour: bool = False, show_related: bool = True) -> str:
    lines = []
    for d in diagnostics:
        loc = d.location
        head = f"{loc.path}:{loc.line}:{loc.column}:"
        code = f"{d.code}"
        if colour:
            head = f"{_BOLD}{head}{_RESET}"
            code = f"{_COLOURS[d.severity]}{code}{_RESET}"
        fixable = "[*] " if d.fix is not None and d.fix.applicability == "safe" else ""  # ruff's marker: --fix fixes it
        lines.append(f"{head} {code} {fixable}{d.message}")
        if show_related:
            for related in d.related:
                text = f"    {related.location.path}:{related.location.line}: {related.message}"
                lines.append(f"{_DIM}{text}{_RESET}" if colour else text)
    return "\n".join(lines) + ("\n" if lines else "")


def summary(diagnostics: list[Diagnostic], suppressed: int) -> str:
    if not diagnostics:
        text = "No problems found."
    else:
        by_severity = Counter(d.severity for d in diagnostics)
        parts = [f"{by_severity[s]} {s.label}{'s' if by_severity[s] != 1 else ''}" for s in
                 (Severity.ERROR, Severity.WARNING, Severity.INFO) if by_severity[s]]
        text = f"Found {len(diagnostics)} problem{'s' if len(diagnostics) != 1 else ''} ({', '.join(parts)})."
    if suppressed:
        text += f" {suppressed} suppressed by comments."
    safe = sum(1 for d in diagnostics if d.fix is not None and d.fix.applicability == "safe")
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
