"""SARIF 2.1.0 for GitHub code scanning: every ruleId described in tool.driver.rules, URIs relative to the
repository root (`%SRCROOT%`, whatever the working folder), partialFingerprints that do not depend on how
pgforklint was invoked and are never shared, and a complete document even with no results."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote

from pgforklint import __version__
from pgforklint.diagnostics import Diagnostic, Severity
from pgforklint.docs import description, help_text, help_uri, rule_doc
from pgforklint.registry import RULES
from pgforklint.report import Paths, unicode_safe
from pgforklint.report.json_format import fingerprints

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def _clip(text: str, limit: int = 1024) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def _rule(code: str) -> dict:
    info = RULES[code]
    doc = rule_doc(code) or info.summary
    return {
        "id": code,
        "name": info.name,
        "shortDescription": {"text": _clip(info.summary)},
        "fullDescription": {"text": _clip(description(code, info.summary))},
        "help": {"text": help_text(doc), "markdown": doc},
        "helpUri": help_uri(code),
        "defaultConfiguration": {"level": _LEVEL[info.severity]},
        "properties": {"tags": ["postgresql", "reliability"], "precision": "high"},
    }


def _uri_path(path: str) -> str:
    try:
        raw = path.encode("utf-8", "surrogateescape")  # a non-UTF-8 file name: its own bytes, percent-encoded
    except UnicodeEncodeError:
        raw = path.encode("utf-8", "surrogatepass")
    return quote(raw, safe="/")


def artifact_location(path: str, cwd: Path | None = None) -> dict:
    """A relative, percent-encoded URI against %SRCROOT% (the repository root `cwd`); a path that leaves it
    becomes an absolute file URI, which code scanning relativises against the checkout."""
    if path.startswith("../") or path == ".." or os.path.isabs(path):
        absolute = Path(os.path.normpath((cwd or Path.cwd()) / path))
        return {"uri": "file://" + _uri_path(absolute.as_posix())}
    return {"uri": _uri_path(path), "uriBaseId": "%SRCROOT%"}


def _srcroot(base: Path) -> str:
    uri = "file://" + _uri_path(base.as_posix())
    return uri if uri.endswith("/") else uri + "/"


def _region(line: int, column: int, end_line: int | None, end_column: int | None) -> dict:
    region = {"startLine": max(1, line), "startColumn": max(1, column)}
    if end_line is not None and end_line >= line:
        region["endLine"] = end_line
        if end_column is not None and (end_line > line or end_column > column):
            region["endColumn"] = end_column
    return region


def render(diagnostics: list[Diagnostic], cwd: Path | None = None, paths: Paths | None = None,
           properties: dict | None = None) -> str:
    """`cwd`: the repository root the paths are relative to (default: `paths.base`, else the current folder)."""
    if paths is None:
        paths = Paths(base=cwd or Path.cwd(), cwd=cwd or Path.cwd())
    cwd = paths.base
    prints = fingerprints(diagnostics, paths)
    codes = sorted({d.code for d in diagnostics} | set(RULES))
    index = {code: i for i, code in enumerate(codes)}
    results = []
    for d, print_ in zip(diagnostics, prints):
        loc = d.location
        result = {
            "ruleId": d.code,
            "ruleIndex": index[d.code],
            "level": _LEVEL[d.severity],
            "message": {"text": unicode_safe(d.message)},
            "locations": [{"physicalLocation": {
                "artifactLocation": artifact_location(loc.path, cwd),
                "region": _region(loc.line, loc.column, loc.end_line, loc.end_column),
            }}],
            "partialFingerprints": {"pgforklint/v1": print_},
        }
        if d.related:
            result["relatedLocations"] = [
                {"id": i, "message": {"text": unicode_safe(r.message)}, "physicalLocation": {
                    "artifactLocation": artifact_location(r.location.path, cwd),
                    "region": {"startLine": max(1, r.location.line)}}}
                for i, r in enumerate(d.related, start=1)
            ]
        results.append(result)
    document = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "pgforklint",
                "semanticVersion": __version__,
                "version": __version__,
                "informationUri": "https://github.com/pgforklint/pgforklint",
                "rules": [_rule(code) for code in codes],
            }},
            "automationDetails": {"id": "pgforklint/"},
            "columnKind": "unicodeCodePoints",
            "originalUriBaseIds": {"%SRCROOT%": {"uri": _srcroot(cwd)}},
            **({"properties": properties} if properties else {}),
            "invocations": [{"executionSuccessful": True}],
            "results": results,
        }],
    }
    return json.dumps(document, indent=2) + "\n"
