"""Reporters: text, json, github, sarif render the same diagnostics deterministically."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from pgforklint.diagnostics import Diagnostic, Location, Related, Severity
from pgforklint.registry import RULES
from pgforklint.report import Paths, github, json_format, relocate, sarif, text


def make(code="PGF001", path="app/db.py", line=8, column=6, message="`engine.connect()` opens a connection",
         end_line=None, end_column=None, related=(), key="") -> Diagnostic:
    return Diagnostic(code, Location(path, line, column, end_line, end_column), message, related=related, key=key)


SAMPLE = [
    make(related=(Related(Location("gunicorn.conf.py", 5), "preload_app makes the parent load the app"),)),
    make("PGF002", "app/db.py", 3, 1, "no reset: 100% of workers, a:b, c\r\nnext line", end_line=3, end_column=40),
    make("PGF006", "svc,1/odd:name.py", 2, 1, "pool larger than needed", end_line=4, end_column=2),
    make("PGF100", "Procfile", 0, 0, "cannot analyse `Procfile`: not valid UTF-8"),
]


# -- text ------------------------------------------------------------------------------------

HERE = Paths(base=Path("/nonexistent/repo"), cwd=Path("/nonexistent/repo"))


def test_concise_format_and_no_colour_by_default():
    out = text.concise(SAMPLE[:1], HERE)
    assert out.splitlines()[0] == "app/db.py:8:6: PGF001 `engine.connect()` opens a connection"
    assert out.splitlines()[1] == "    gunicorn.conf.py:5: preload_app makes the parent load the app"
    assert "\x1b[" not in out
    assert "\x1b[31mPGF001" in text.concise(SAMPLE[:1], HERE, colour=True)


def test_colour_decision(monkeypatch):
    from pgforklint.cli import _use_colour

    class Tty:
        def isatty(self):
            return True

    class Pipe:
        def isatty(self):
            return False

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    assert _use_colour(Tty()) and not _use_colour(Pipe())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not _use_colour(Tty())
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert not _use_colour(Tty())  # NO_COLOR wins
    monkeypatch.setenv("NO_COLOR", "")  # no-color.org: only a non-empty value counts
    monkeypatch.delenv("FORCE_COLOR")
    assert _use_colour(Tty())


def test_summary_and_statistics():
    assert text.summary([], 0) == "No problems found.\n"
    assert text.summary(SAMPLE, 2) == "Found 4 problems (2 errors, 1 warning, 1 info). 2 suppressed by comments.\n"
    stats = text.statistics(SAMPLE + SAMPLE[:1])
    assert stats.splitlines()[0].split("\t")[:2] == ["    2", "PGF001"]
    data = json.loads(json_format.statistics(SAMPLE))
    assert data["statistics"][0] == {"code": "PGF001", "name": "connection-before-fork", "severity": "error", "count": 1}


# -- json ------------------------------------------------------------------------------------

JSON_SCHEMA = {
    "type": "object",
    "required": ["version", "diagnostics"],
    "properties": {
        "version": {"const": 1},
        "diagnostics": {"type": "array", "items": {
            "type": "object",
            "required": ["code", "name", "severity", "path", "line", "column", "end_line", "end_column",
                         "message", "related"],
            "properties": {
                "code": {"type": "string", "pattern": "^PGF[0-9]{3}$"},
                "name": {"type": "string"},
                "severity": {"enum": ["error", "warning", "info"]},
                "path": {"type": "string", "pattern": "^[^\\\\]*$"},
                "line": {"type": "integer"}, "column": {"type": "integer"},
                "end_line": {"type": "integer"}, "end_column": {"type": "integer"},
                "message": {"type": "string"},
                "related": {"type": "array", "items": {"type": "object", "required": ["path", "line", "message"]}},
            },
        }},
    },
}


def test_json_schema_of_design_md():
    import jsonschema

    document = json.loads(json_format.render(SAMPLE))
    jsonschema.validate(document, JSON_SCHEMA)
    first = document["diagnostics"][0]
    assert first["related"] == [{"path": "gunicorn.conf.py", "line": 5, "message": "preload_app makes the parent load the app"}]
    assert json.loads(json_format.render([])) == {"version": 1, "diagnostics": []}


def test_relocate_makes_paths_relative_to_cwd(tmp_path):
    moved = relocate(SAMPLE[0], tmp_path / "proj", cwd=tmp_path)
    assert moved.location.path == "proj/app/db.py"
    assert moved.related[0].location.path == "proj/gunicorn.conf.py"


# -- github ----------------------------------------------------------------------------------

def test_github_escaping_and_properties():
    out = github.render(SAMPLE, paths=HERE).splitlines()
    # Line 0 is clamped to 1 (annotations at line 0 are not shown on the diff)
    assert out[0].startswith("::error file=Procfile,line=1,col=1,")
    assert out[1].startswith("::error file=app/db.py,line=8,col=6,title=pgforklint PGF001 (connection-before-fork)::")
    assert out[1].endswith("%0Anote: gunicorn.conf.py:5: preload_app makes the parent load the app")
    warning = out[2]
    # the message escapes % but keeps ':' and ','; properties escape ':' and ',' as well; a line break from
    # the repository is written as text (`\r\n`), so only the body's own separators are %0A
    assert "::app/db.py:3:1: PGF002 no reset: 100%25 of workers, a:b, c\\r\\nnext line" in warning
    assert "endColumn=40" in warning
    notice = out[3]
    assert notice.startswith("::notice file=svc%2C1/odd%3Aname.py,line=2,endLine=4,title=")
    assert "col=" not in notice.split("::")[1]  # no col/endColumn on a multi-line span
    assert "title=pgforklint PGF006 (pool-larger-than-concurrency)" in notice


def _many(code: str, count: int) -> list[Diagnostic]:
    return [make(code, f"f{i:02d}.py", i + 1, 1, f"finding {i}") for i in range(count)]


def test_github_limits_errors_first_and_a_closing_notice():
    diagnostics = _many("PGF006", 12) + _many("PGF002", 3) + _many("PGF001", 14)
    out = github.render(diagnostics, paths=HERE).splitlines()
    commands = [line for line in out if line.startswith("::")]
    kinds = [line.split(" ", 1)[0] for line in commands]
    assert kinds[:10] == ["::error"] * 10  # errors first
    assert kinds.count("::error") == 10 and kinds.count("::warning") == 3
    assert kinds.count("::notice") == 10  # 9 findings + the closing notice: never more than 10
    # 4 errors and 3 notices over their limits
    assert commands[-1].startswith("::notice title=pgforklint::7 more pgforklint findings not annotated")
    plain = [line for line in out if not line.startswith("::")]
    assert plain[0] == "pgforklint: 7 more findings (not annotated):"
    assert len(plain) == 8 and all(re.match(r"pgforklint: f\d\d\.py:\d+:1: PGF00[16] ", line) for line in plain[1:])


def test_github_no_overflow_no_notice():
    out = github.render(_many("PGF006", 10) + _many("PGF001", 10), paths=HERE)
    assert out.count("::notice") == 10 and "not annotated" not in out


def test_github_step_summary_is_a_full_markdown_table():
    diagnostics = _many("PGF001", 12) + [SAMPLE[1]]
    summary = github.step_summary(diagnostics, suppressed=1, paths=HERE)
    assert summary.startswith("## pgforklint\n\nFound 13 problems (12 errors, 1 warning). 1 suppressed by comments.")
    rows = [line for line in summary.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == 13
    assert "no reset\\: 100% of workers, a\\:b, c\\\\r\\\\nnext line" in rows[-1]
    assert github.step_summary([], paths=HERE).startswith("## pgforklint\n\nNo problems found.")
    assert "a \\| b" in github.step_summary([make(message="a | b")], paths=HERE)


def test_github_chosen_automatically_and_summary_written(tmp_path, monkeypatch, capsys):
    import shutil

    from pgforklint.cli import main

    root = tmp_path / "proj"
    shutil.copytree(Path(__file__).parent / "fixtures" / "gunicorn_warmup_query", root)
    monkeypatch.chdir(root)
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_WORKSPACE", str(root))  # not a git checkout: paths start at the workspace
    monkeypatch.delenv("PGFORKLINT_FORMAT", raising=False)
    assert main([]) == 1
    out = capsys.readouterr().out
    assert out.startswith("::error file=app/db.py,line=8,")
    assert "| error | PGF001 (connection-before-fork) | app/db.py\\:8\\:6 |" in summary.read_text(encoding="utf-8")
    assert main(["--format", "text"]) == 1  # an explicit format wins
    assert capsys.readouterr().out.startswith("error[PGF001]: ")
    monkeypatch.setenv("PGFORKLINT_FORMAT", "json")  # so does the environment variable
    assert main([]) == 1
    assert json.loads(capsys.readouterr().out)["version"] == 1
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "no" / "such" / "dir" / "x.md"))
    monkeypatch.delenv("PGFORKLINT_FORMAT")
    assert main([]) == 1  # an unwritable summary is a warning, not a failure
    assert "cannot write GITHUB_STEP_SUMMARY" in capsys.readouterr().err


# -- sarif -----------------------------------------------------------------------------------

def _sarif(diagnostics, cwd=Path("/work/repo")) -> dict:
    return json.loads(sarif.render(sorted(diagnostics, key=Diagnostic.sort_key), cwd=cwd))


def check_github_code_scanning_requirements(document: dict) -> None:
    """What GitHub code scanning requires of an upload (linter-conventions.md §3.2, from
    github/docs `sarif-support-for-code-scanning.md` and `sarif-limits.md`)."""
    assert document["$schema"] and document["version"] == "2.1.0"
    assert isinstance(document["runs"], list) and 1 <= len(document["runs"]) <= 20
    for run in document["runs"]:
        driver = run["tool"]["driver"]
        assert driver["name"] and isinstance(driver["rules"], list) and len(driver["rules"]) <= 25000
        rules = {rule["id"]: rule for rule in driver["rules"]}
        assert len(rules) == len(driver["rules"])
        for rule in driver["rules"]:
            assert 0 < len(rule["shortDescription"]["text"]) <= 1024
            assert 0 < len(rule["fullDescription"]["text"]) <= 1024
            assert rule["help"]["text"]
            assert rule["helpUri"].startswith("https://")
            assert len(rule.get("name", "")) <= 255
            assert rule["defaultConfiguration"]["level"] in ("note", "warning", "error")
            assert len(rule["properties"]["tags"]) <= 20
        assert isinstance(run["results"], list) and len(run["results"]) <= 25000
        for result in run["results"]:
            assert result["ruleId"] in rules
            assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
            assert result["message"]["text"]
            assert result["level"] in ("note", "warning", "error")
            assert len(result["locations"]) == 1
            physical = result["locations"][0]["physicalLocation"]
            uri = physical["artifactLocation"]["uri"]
            assert uri.startswith("file:///") or not re.match(r"^[a-z]+:|/", uri)  # relative unless outside the cwd
            assert " " not in uri and "\\" not in uri
            region = physical["region"]
            assert region["startLine"] >= 1 and region.get("startColumn", 1) >= 1
            if "endLine" in region:
                assert region["endLine"] >= region["startLine"]
            assert result["partialFingerprints"] and all(isinstance(v, str) for v in result["partialFingerprints"].values())
            assert "fixes" not in result  # rejected by the upload validator (semgrep#5421)
            assert len(result.get("relatedLocations", [])) <= 1000


def test_sarif_meets_code_scanning_requirements():
    document = _sarif(SAMPLE)
    check_github_code_scanning_requirements(document)
    run = document["runs"][0]
    assert {rule["id"] for rule in run["tool"]["driver"]["rules"]} == set(RULES)
    assert run["invocations"] == [{"executionSuccessful": True}]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == "file:///work/repo/"
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in run["results"]]
    # ':' must not be read as a scheme, so reserved characters are percent-encoded
    assert uris[3] == {"uri": "svc%2C1/odd%3Aname.py", "uriBaseId": "%SRCROOT%"}
    region = run["results"][3]["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 2, "startColumn": 1, "endLine": 4, "endColumn": 2}
    assert run["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 1  # clamped


def test_sarif_with_no_results_is_a_complete_document():
    document = _sarif([])
    check_github_code_scanning_requirements(document)
    assert document["runs"][0]["results"] == []
    assert len(document["runs"][0]["tool"]["driver"]["rules"]) == len(RULES)


def test_sarif_uris_are_percent_encoded_and_outside_paths_absolute():
    assert sarif.artifact_location("deploy/my app.py") == {"uri": "deploy/my%20app.py", "uriBaseId": "%SRCROOT%"}
    assert sarif.artifact_location("../other/app.py", cwd=Path("/work/repo")) == {"uri": "file:///work/other/app.py"}


def test_sarif_fingerprints_are_stable_across_line_moves():
    a = make(key="web:engine")
    b = make(line=40, key="web:engine")
    fa = _sarif([a])["runs"][0]["results"][0]["partialFingerprints"]
    fb = _sarif([b])["runs"][0]["results"][0]["partialFingerprints"]
    assert fa == fb
    assert fa != _sarif([make(path="other.py", key="web:engine")])["runs"][0]["results"][0]["partialFingerprints"]


def test_sarif_rule_help_comes_from_the_rule_page():
    run = _sarif([])["runs"][0]
    pgf100 = next(rule for rule in run["tool"]["driver"]["rules"] if rule["id"] == "PGF100")
    assert pgf100["help"]["markdown"].startswith("# PGF100 unreadable-file")
    assert pgf100["fullDescription"]["text"].startswith("pgforklint only reads the files its analysis reaches")
    assert "Severity" not in pgf100["fullDescription"]["text"]
    assert "**" not in pgf100["help"]["text"] and pgf100["help"]["text"].startswith("PGF100 unreadable-file")
    assert pgf100["helpUri"].endswith("/rules/PGF100.md")


# The subset of the OASIS SARIF 2.1.0 schema that these documents exercise, transcribed by hand: no
# package on PyPI or Debian ships the official schema file (checked: sarif-om, sarif-tools,
# jschema-to-python, sarif-pydantic, pysarif, checkov; Debian golang-github-haya14busa-go-sarif-dev,
# python3-sarif-python-om). Set PGFORKLINT_SARIF_SCHEMA to a copy of sarif-schema-2.1.0.json to
# validate against the full schema as well.
_MESSAGE = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}
_REGION = {"type": "object", "properties": {k: {"type": "integer", "minimum": 1} for k in
                                            ("startLine", "startColumn", "endLine", "endColumn")}}
_ARTIFACT = {"type": "object", "properties": {"uri": {"type": "string", "format": "uri-reference"},
                                              "uriBaseId": {"type": "string"}}}
_PHYSICAL = {"type": "object", "properties": {"artifactLocation": _ARTIFACT, "region": _REGION}}
SARIF_SUBSET = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["version", "runs"],
    "additionalProperties": False,
    "properties": {
        "$schema": {"type": "string", "format": "uri"},
        "version": {"enum": ["2.1.0"]},
        "runs": {"type": "array", "items": {
            "type": "object", "required": ["tool"],
            "properties": {
                "tool": {"type": "object", "required": ["driver"], "properties": {"driver": {
                    "type": "object", "required": ["name"],
                    "properties": {
                        "name": {"type": "string"}, "version": {"type": "string"},
                        "semanticVersion": {"type": "string"}, "informationUri": {"type": "string", "format": "uri"},
                        "rules": {"type": "array", "uniqueItems": True, "items": {
                            "type": "object", "required": ["id"],
                            "properties": {
                                "id": {"type": "string"}, "name": {"type": "string"},
                                "shortDescription": _MESSAGE, "fullDescription": _MESSAGE,
                                "help": _MESSAGE, "helpUri": {"type": "string", "format": "uri"},
                                "defaultConfiguration": {"type": "object", "properties": {
                                    "level": {"enum": ["none", "note", "warning", "error"]}}},
                                "properties": {"type": "object"},
                            }}},
                    }}}},
                "results": {"type": "array", "items": {
                    "type": "object", "required": ["message"],
                    "properties": {
                        "ruleId": {"type": "string"}, "ruleIndex": {"type": "integer", "minimum": -1},
                        "level": {"enum": ["none", "note", "warning", "error"]},
                        "message": _MESSAGE,
                        "locations": {"type": "array", "items": {"type": "object", "properties": {
                            "physicalLocation": _PHYSICAL}}},
                        "relatedLocations": {"type": "array", "items": {"type": "object", "properties": {
                            "id": {"type": "integer", "minimum": -1}, "message": _MESSAGE,
                            "physicalLocation": _PHYSICAL}}},
                        "partialFingerprints": {"type": "object", "additionalProperties": {"type": "string"}},
                    }}},
                "automationDetails": {"type": "object", "properties": {"id": {"type": "string"}}},
                "columnKind": {"enum": ["utf16CodeUnits", "unicodeCodePoints"]},
                "originalUriBaseIds": {"type": "object", "additionalProperties": _ARTIFACT},
                "invocations": {"type": "array", "items": {"type": "object", "required": ["executionSuccessful"],
                                                            "properties": {"executionSuccessful": {"type": "boolean"}}}},
            }}},
    },
}


@pytest.mark.parametrize("diagnostics", [SAMPLE, []], ids=["findings", "empty"])
def test_sarif_validates_against_the_transcribed_subset(diagnostics):
    import jsonschema

    jsonschema.Draft7Validator(SARIF_SUBSET).validate(_sarif(diagnostics))


def _sarif_multitool() -> str:
    """Microsoft's SARIF Multitool: its `validate` checks a log against the official SARIF 2.1.0 schema (which
    it embeds) and the specification's rules. `.ci/run` installs it from the npm registry."""
    path = os.environ.get("PGFORKLINT_SARIF_MULTITOOL", "")
    if path and Path(path).is_file():
        return path
    reason = ("PGFORKLINT_SARIF_MULTITOOL does not name the SARIF Multitool (`npm pack @microsoft/sarif-multitool-linux`, "
              "unpack, point it at package/Sarif.Multitool; .ci/run does this)")
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def _validate(document: dict, folder: Path) -> list[tuple[str, object]]:
    """(rule, arguments) of every error and warning the SARIF Multitool reports for `document`."""
    import subprocess

    tool = _sarif_multitool()
    log, verdict = folder / "pgforklint.sarif", folder / "validation.sarif"
    log.write_text(json.dumps(document), encoding="utf-8")
    done = subprocess.run([tool, "validate", str(log), "--output", str(verdict)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "DOTNET_CLI_TELEMETRY_OPTOUT": "1"})
    assert verdict.exists(), done.stdout + done.stderr
    run = json.loads(verdict.read_text(encoding="utf-8-sig"))["runs"][0]
    assert run["invocations"][0]["executionSuccessful"], run["invocations"]
    # Errors are schema violations (JSON10xx) and the specification's MUST rules (SARIF1xxx); warnings its
    # SHOULD rules. Notes are style advice (SARIF2xxx) and are not reported at the default level.
    return [(r["ruleId"], r["message"].get("arguments")) for r in run.get("results", [])]


HOSTILE = [make("PGF001", "caf\udce9/\x1b[31m db\n::error::x\ud800.py", 3, 2, "`\ud800` service\r\n::add-mask::x",
                 related=(Related(Location("a b/%41.py", 1), "rel \udcff"),), key="k"),
           make("PGF001", "caf\udce9/\x1b[31m db\n::error::x\ud800.py", 9, 2, "`\ud800` service\r\n::add-mask::x", key="k")]


@pytest.mark.parametrize("diagnostics", [SAMPLE, [], HOSTILE], ids=["findings", "empty", "hostile-strings"])
def test_sarif_passes_the_official_validator(diagnostics, tmp_path):
    assert _validate(_sarif(diagnostics), tmp_path) == []


def test_the_official_validator_rejects_a_broken_log(tmp_path):
    broken = _sarif(SAMPLE)
    del broken["runs"][0]["tool"]["driver"]
    assert ("JSON1002", ["runs[0].tool", "driver"]) in _validate(broken, tmp_path)


def test_every_format_is_deterministic():
    shuffled = list(reversed(SAMPLE))
    ordered = sorted(SAMPLE, key=lambda d: d.sort_key())
    for render in (text.render, text.concise, json_format.render, github.render):
        assert render(sorted(shuffled, key=lambda d: d.sort_key()), paths=HERE) == render(ordered, paths=HERE)
    assert sarif.render(ordered, cwd=Path("/x")) == sarif.render(sorted(shuffled, key=Diagnostic.sort_key), cwd=Path("/x"))


def test_severity_mapping():
    levels = {r["ruleId"]: r["level"] for r in _sarif(SAMPLE)["runs"][0]["results"]}
    assert levels == {"PGF001": "error", "PGF002": "warning", "PGF006": "note", "PGF100": "error"}
    assert RULES["PGF006"].severity is Severity.INFO
