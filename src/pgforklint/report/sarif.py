"""SARIF 2.1.0 for GitHub code scanning: every ruleId described in tool.driver.rules, relative URIs,
stable partialFingerprints, and a complete document even with no results."""

from __future__ import annotations

import json

from pgforklint import __version__
from pgforklint.diagnostics import Diagnostic, Severity
from pgforklint.docs import help_uri, rule_doc
from pgforklint.registry import RULES
from pgforklint.report.json_format import fingerprint

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def _rule(code: str) -> dict:
    info = RULES[code]
    doc = rule_doc(code) or info.summary
    return {
        "id": code,
        "name": info.name,
        "shortDescription": {"text": info.summary[:1024]},
        "fullDescription": {"text": info.summary[:1024]},
        "help": {"text": doc, "markdown": doc},
        "helpUri": help_uri(code),
        "defaultConfiguration": {"level": _LEVEL[info.severity]},
        "properties": {"tags": ["postgresql", "reliability"], "precision": "high"},
    }


def _region(line: int, column: int, end_line: int | None, end_column: int | None) -> dict:
    region = {"startLine": max(1, line), "startColumn": max(1, column)}
    if end_line is not None and end_line >= line:
        region["endLine"] = end_line
        if end_column is not None and (end_line > line or end_column > column):
            region["endColumn"] = end_column
    return region


def render(diagnostics: list[Diagnostic]) -> str:
    codes = sorted({d.code for d in diagnostics} | set(RULES))
    index = {code: i for i, code in enumerate(codes)}
    results = []
    for d in diagnostics:
        loc = d.location
        result = {
            "ruleId": d.code,
            "ruleIndex": index[d.code],
            "level": _LEVEL[d.severity],
            "message": {"text": d.message},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": loc.path, "uriBaseId": "%SRCROOT%"},
                "region": _region(loc.line, loc.column, loc.end_line, loc.end_column),
            }}],
            "partialFingerprints": {"pgforklint/v1": fingerprint(d)},
        }
        if d.related:
            result["relatedLocations"] = [
                {"id": i, "message": {"text": r.message}, "physicalLocation": {
                    "artifactLocation": {"uri": r.location.path, "uriBaseId": "%SRCROOT%"},
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
            "originalUriBaseIds": {"%SRCROOT%": {"uri": "./"}},
            "invocations": [{"executionSuccessful": True}],
            "results": results,
        }],
    }
    return json.dumps(document, indent=2) + "\n"
