"""`{"version": 1, "diagnostics": [...]}`: the schema in DESIGN.md. Stable and versioned.

Paths are shown relative to the current folder (as in the text format); `fingerprint` does not depend on
it (see `fingerprints`)."""

from __future__ import annotations

import json

from pgforklint.diagnostics import Diagnostic
from pgforklint.report import Paths, unicode_safe


def as_dict(d: Diagnostic, paths: Paths | None = None, fingerprint_: str | None = None) -> dict:
    paths = paths or Paths.here()
    loc = d.location
    return {
        "code": d.code,
        "name": d.name,
        "severity": d.severity.label,
        "path": unicode_safe(paths.shown(loc.path)),
        "line": loc.line,
        "column": loc.column,
        "end_line": loc.end_line if loc.end_line is not None else loc.line,
        "end_column": loc.end_column if loc.end_column is not None else loc.column,
        "title": unicode_safe(d.headline),
        "message": unicode_safe(d.message),
        "help": unicode_safe(d.help) or None,
        "related": [{"path": unicode_safe(paths.shown(r.location.path)), "line": r.location.line,
                     "message": unicode_safe(r.message)} for r in d.related],
        "fix_hint": unicode_safe(d.fix_hint) if d.fix_hint is not None else None,
        "fix": {"applicability": d.fix.applicability, "message": unicode_safe(d.fix.message)} if d.fix is not None else None,
        "fingerprint": fingerprint_ if fingerprint_ is not None else fingerprint(d),
    }


def _hash(*parts: str) -> str:
    import hashlib

    basis = "\x00".join(parts)
    return hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def fingerprint(d: Diagnostic) -> str:
    """The finding's identity: rule, repository-relative path and semantic key (never the line number)."""
    from pgforklint.baseline import _normal

    return _hash(d.code, d.location.path, _normal(d.key or d.message))


def fingerprints(diagnostics: list[Diagnostic], paths: Paths | None = None) -> list[str]:
    """One fingerprint per diagnostic, never shared: findings whose identity is the same (two opens of one
    engine in one file) are told apart by the text of their source line, then by their order."""
    base = [fingerprint(d) for d in diagnostics]
    groups: dict[str, list[int]] = {}
    for index, value in enumerate(base):
        groups.setdefault(value, []).append(index)
    out = list(base)
    for value, members in groups.items():
        if len(members) < 2:
            continue
        seen: dict[str, int] = {}
        for index in sorted(members, key=lambda i: diagnostics[i].sort_key()):
            d = diagnostics[index]
            line = paths.source_line(d.location.path, d.location.line) if paths is not None else None
            context = " ".join((line or "").split())
            occurrence = seen.get(context, 0)
            seen[context] = occurrence + 1
            out[index] = _hash(value, context, str(occurrence))
    return out


def render(diagnostics: list[Diagnostic], paths: Paths | None = None, extra: dict | None = None) -> str:
    paths = paths or Paths.here()
    prints = fingerprints(diagnostics, paths)
    document = {"version": 1, "diagnostics": [as_dict(d, paths, p) for d, p in zip(diagnostics, prints)]}
    document.update(extra or {})
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def statistics(diagnostics: list[Diagnostic]) -> str:
    """`--statistics --format json`: one object per rule, most frequent first."""
    from collections import Counter

    counts = Counter(d.code for d in diagnostics)
    rows = []
    for code, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        sample = next(d for d in diagnostics if d.code == code)
        rows.append({"code": code, "name": sample.name, "severity": sample.severity.label, "count": count})
    return json.dumps({"version": 1, "statistics": rows}, indent=2) + "\n"
