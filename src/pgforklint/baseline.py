"""Baselines: adopt pgforklint on a repository with old findings, and block only new ones.

`pgforklint --write-baseline FILE` records today's findings; `--baseline FILE` (or `baseline = "..."`
in the configuration, relative to the configuration file) hides the findings it records.

A finding matches an entry by its rule, its repository-relative path, its semantic key (engine, process
type, setting) and its cause: the full message, with line numbers taken out. No line number takes part,
so unrelated edits that move lines keep it matched; a change of what the rule found (a budget that grows
from 120 to 140 connections, a different server, another reset) changes the message and the finding is
reported again. Entries are counted: two equal findings need two entries.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from pgforklint.diagnostics import Diagnostic
from pgforklint.errors import PgforklintError

VERSION = 1
_LINE_NUMBERS = re.compile(r"(?<=@)\d+(?=>)|\bline \d+|(?<=\.py):\d+(?::\d+)?")


def _normal(text: str) -> str:
    return _LINE_NUMBERS.sub("#", " ".join(text.split()))


def identity(d: Diagnostic) -> tuple[str, str, str, str]:
    """What a baseline entry matches on (never the line number)."""
    import hashlib

    cause = hashlib.sha256(_normal(d.message).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return (d.code, d.location.path, _normal(d.key), cause)


def write(path: Path, diagnostics: list[Diagnostic]) -> int:
    """Record `diagnostics` (paths relative to the repository root) in `path`; returns how many."""
    entries = []
    for d in sorted(diagnostics, key=Diagnostic.sort_key):
        code, rel, key, cause = identity(d)
        entries.append({"code": code, "path": rel, "key": key, "cause": cause, "line": d.location.line,
                        "title": d.headline})
    document = {"version": VERSION, "tool": "pgforklint",
                "note": "Findings recorded by `pgforklint --write-baseline`; `--baseline` hides them. "
                        "Line numbers are for people: matching ignores them.",
                "findings": entries}
    text = json.dumps(document, indent=2, ensure_ascii=True) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise PgforklintError(f"{path}: cannot write the baseline: {exc.strerror or exc}") from None
    return len(entries)


def read(path: Path) -> Counter:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PgforklintError(f"{path}: baseline file not found (create it with `pgforklint --write-baseline {path}`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PgforklintError(f"{path}: cannot read the baseline: {getattr(exc, 'strerror', None) or exc}") from None
    except ValueError as exc:
        raise PgforklintError(f"{path}: not a pgforklint baseline (invalid JSON: {exc})") from None
    if not isinstance(document, dict) or document.get("version") != VERSION or not isinstance(document.get("findings"), list):
        raise PgforklintError(f"{path}: not a pgforklint baseline (expected {{\"version\": {VERSION}, \"findings\": [...]}})")
    entries: Counter = Counter()
    for entry in document["findings"]:
        if isinstance(entry, dict) and all(isinstance(entry.get(k), str) for k in ("code", "path", "key", "cause")):
            entries[(entry["code"], entry["path"], entry["key"], entry["cause"])] += 1
    return entries


def apply(diagnostics: list[Diagnostic], entries: Counter) -> tuple[list[Diagnostic], int]:
    """(the findings the baseline does not record, how many it hid)."""
    left = Counter(entries)
    kept, hidden = [], 0
    for d in sorted(diagnostics, key=Diagnostic.sort_key):
        ident = identity(d)
        if left[ident] > 0:
            left[ident] -= 1
            hidden += 1
        else:
            kept.append(d)
    return kept, hidden
