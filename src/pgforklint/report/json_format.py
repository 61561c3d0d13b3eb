"""`{"version": 1, "diagnostics": [...]}`: the schema in DESIGN.md. Stable and versioned."""

from __future__ import annotations

import json

from pgforklint.diagnostics import Diagnostic


def as_dict(d: Diagnostic) -> dict:
    loc = d.location
    return {
        "code": d.code,
        "name": d.name,
        "severity": d.severity.label,
        "path": loc.path,
        "line": loc.line,
        "column": loc.column,
        "end_line": loc.end_line if loc.end_line is not None else loc.line,
        "end_column": loc.end_column if loc.end_column is not None else loc.column,
        "message": d.message,
        "related": [{"path": r.location.path, "line": r.location.line, "message": r.message} for r in d.related],
        "fix_hint": d.fix_hint,
        "fix": {"applicability": d.fix.applicability, "message": d.fix.message} if d.fix is not None else None,
        "fingerprint": fingerprint(d),
    }


def fingerprint(d: Diagnostic) -> str:
    import hashlib

    basis = f"{d.code}\x00{d.location.path}\x00{d.key or d.message}"
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]


def render(diagnostics: list[Diagnostic]) -> str:
    return json.dumps({"version": 1, "diagnostics": [as_dict(d) for d in diagnostics]}, indent=2, sort_keys=False) + "\n"


def statistics(diagnostics: list[Diagnostic]) -> str:
    """`--statistics --format json`: one object per rule, most frequent first."""
    from collections import Counter

    counts = Counter(d.code for d in diagnostics)
    rows = []
    for code, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        sample = next(d for d in diagnostics if d.code == code)
        rows.append({"code": code, "name": sample.name, "severity": sample.severity.label, "count": count})
    return json.dumps({"version": 1, "statistics": rows}, indent=2) + "\n"
