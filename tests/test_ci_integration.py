"""CI integration (issue 18): paths the GitHub runner resolves, SARIF URIs and fingerprints that do not depend on
the working folder, `--output-file`, baselines, unused suppressions (PGF103), colours and CLI polish; and the
output side of issue 19: nothing from the repository reaches a log, a terminal or a report unescaped."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pgforklint.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
HAZARD = FIXTURES / "gunicorn_warmup_query"


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch):
    for name in ("GITHUB_ACTIONS", "PGFORKLINT_FORMAT", "NO_COLOR", "FORCE_COLOR", "GITHUB_STEP_SUMMARY",
                 "GITHUB_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--no-cache"])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def repo(tmp_path) -> Path:
    """A git repository whose app lives in `backend/` (the repository root has no deployment files)."""
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    shutil.copytree(HAZARD, root / "backend")
    (root / "README.md").write_text("# shop\n", encoding="utf-8")
    return root


# -- paths, SARIF and fingerprints --------------------------------------------------------------------------------

def _github_files(out: str) -> list[str]:
    return [line.split("file=", 1)[1].split(",", 1)[0] for line in out.splitlines() if line.startswith("::error")]


def test_github_paths_are_repository_relative_from_any_folder(repo, capsys, monkeypatch):
    monkeypatch.chdir(repo / "backend")
    code, from_inside, _ = run(capsys, "--format", "github")
    assert code == 1 and _github_files(from_inside) == ["backend/app/db.py"]
    assert "note: backend/gunicorn.conf.py:5:" in from_inside.replace("%0A", "\n")
    monkeypatch.chdir(repo)
    assert _github_files(run(capsys, "--format", "github", "backend")[1]) == ["backend/app/db.py"]
    monkeypatch.chdir(repo / "backend" / "app")
    assert _github_files(run(capsys, "--format", "github", "..")[1]) == ["backend/app/db.py"]


def test_github_paths_outside_git_use_the_workspace_or_absolute_paths(tmp_path, capsys, monkeypatch):
    project = tmp_path / "ws" / "backend"
    shutil.copytree(HAZARD, project)
    monkeypatch.chdir(project)
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path / "ws"))
    assert _github_files(run(capsys, "--format", "github")[1]) == ["backend/app/db.py"]
    monkeypatch.delenv("GITHUB_WORKSPACE")
    monkeypatch.chdir(tmp_path)  # neither git nor the workspace: absolute paths, which the runner relativises
    absolute = (tmp_path / "ws" / "backend" / "app" / "db.py").resolve().as_posix()
    assert _github_files(run(capsys, "--format", "github", "ws/backend")[1]) == [absolute]
    code, out, _ = run(capsys, "--format", "concise", "ws/backend")  # people still get short relative paths
    assert out.startswith("ws/backend/app/db.py:8:6: PGF001 ")


def _sarif_results(out: str) -> tuple[dict, list[dict]]:
    run_ = json.loads(out)["runs"][0]
    return run_, run_["results"]


def test_sarif_uris_and_fingerprints_do_not_depend_on_the_working_folder(repo, capsys, monkeypatch):
    monkeypatch.chdir(repo / "backend")
    code, inside, _ = run(capsys, "--format", "sarif")
    monkeypatch.chdir(repo)
    _, outside = run(capsys, "--format", "sarif", "backend")[:2]
    monkeypatch.chdir(repo.parent)
    _, far = run(capsys, "--format", "sarif", "repo/backend/app/..")[:2]
    documents = [_sarif_results(out) for out in (inside, outside, far)]
    for run_, results in documents:
        assert run_["originalUriBaseIds"]["%SRCROOT%"]["uri"] == repo.resolve().as_uri() + "/"
        location = results[0]["locations"][0]["physicalLocation"]["artifactLocation"]
        assert location == {"uri": "backend/app/db.py", "uriBaseId": "%SRCROOT%"}
    prints = {json.dumps(results[0]["partialFingerprints"]) for _, results in documents}
    assert len(prints) == 1
    json_prints = set()
    for folder, argv in ((repo / "backend", ()), (repo, ("backend",))):
        monkeypatch.chdir(folder)
        json_prints.add(json.loads(run(capsys, "--format", "json", *argv)[1])["diagnostics"][0]["fingerprint"])
    assert len(json_prints) == 1


def test_two_findings_never_share_a_fingerprint(repo, capsys, monkeypatch):
    db = repo / "backend" / "app" / "db.py"
    # two engines opened in one file: two causes (several opens of one engine are one finding)
    db.write_text(db.read_text(encoding="utf-8") + "\nreports = create_engine(\"postgresql://localhost/reports\")\n"
                  "with reports.connect() as conn:\n    conn.execute(text(\"SELECT 2\"))\n", encoding="utf-8")
    monkeypatch.chdir(repo)
    diagnostics = json.loads(run(capsys, "--format", "json", "backend")[1])["diagnostics"]
    opens = [d for d in diagnostics if d["code"] == "PGF001"]
    assert len(opens) == 2 and opens[0]["fingerprint"] != opens[1]["fingerprint"]
    _, results = _sarif_results(run(capsys, "--format", "sarif", "backend")[1])
    prints = [r["partialFingerprints"]["pgforklint/v1"] for r in results]
    assert len(prints) == len(set(prints)) == len(results)
    # the same file after an unrelated edit above both: the fingerprints stay
    db.write_text("# a comment\n\n" + db.read_text(encoding="utf-8"), encoding="utf-8")
    moved = json.loads(run(capsys, "--format", "json", "backend")[1])["diagnostics"]
    assert sorted(d["fingerprint"] for d in moved) == sorted(d["fingerprint"] for d in diagnostics), [(d["code"], d["line"], d["title"]) for d in moved + diagnostics]


def test_sarif_rules_describe_what_they_find(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    document = json.loads(run(capsys, "--format", "sarif")[1])
    for rule in document["runs"][0]["tool"]["driver"]["rules"]:
        full = rule["fullDescription"]["text"]
        assert not full.startswith("Severity") and len(full) > 40, rule["id"]
        assert rule["help"]["text"] and rule["help"]["markdown"]


def test_output_file_keeps_the_exit_status_and_stdout_empty(repo, capsys, monkeypatch):
    monkeypatch.chdir(repo)
    target = repo / "out" / "pgforklint.sarif"
    target.parent.mkdir()
    code, out, err = run(capsys, "--format", "sarif", "-o", str(target), "backend")
    assert code == 1 and out == "" and err == ""
    assert json.loads(target.read_text(encoding="utf-8"))["runs"][0]["results"]
    code, out, err = run(capsys, "--format", "sarif", "--output-file", str(repo / "no" / "dir" / "x.sarif"), "backend")
    assert code == 2 and "cannot write" in err


# -- baseline ----------------------------------------------------------------------------------------------------

def test_baseline_hides_recorded_findings_survives_line_moves_and_stops_when_the_cause_changes(repo, capsys, monkeypatch):
    monkeypatch.chdir(repo / "backend")
    code, out, err = run(capsys, "--write-baseline", "../.pgforklint-baseline.json")
    assert code == 0 and out == "" and "recorded 1 finding" in err
    recorded = json.loads((repo / ".pgforklint-baseline.json").read_text(encoding="utf-8"))
    assert recorded["version"] == 1 and [f["code"] for f in recorded["findings"]] == ["PGF001"]
    assert recorded["findings"][0]["path"] == "backend/app/db.py"  # repository-relative
    code, out, _ = run(capsys, "--baseline", "../.pgforklint-baseline.json")
    assert code == 0 and out.endswith("\nNo problems found. 1 hidden by the baseline.\n")
    monkeypatch.chdir(repo)  # another working folder, the same baseline
    assert run(capsys, "--baseline", ".pgforklint-baseline.json", "backend")[0] == 0
    # an unrelated edit moves the finding down: still matched
    db = repo / "backend" / "app" / "db.py"
    db.write_text("# moved\n\n\n" + db.read_text(encoding="utf-8"), encoding="utf-8")
    assert run(capsys, "--baseline", ".pgforklint-baseline.json", "backend")[0] == 0
    # the cause changes (another number of workers inherits the socket): reported again
    conf = repo / "backend" / "gunicorn.conf.py"
    conf.write_text(conf.read_text(encoding="utf-8").replace("workers = 4", "workers = 9"), encoding="utf-8")
    code, out, _ = run(capsys, "--format", "concise", "--baseline", ".pgforklint-baseline.json", "backend")
    assert code == 1 and "PGF001" in out and "9 workers" in out


def test_baseline_from_the_configuration_and_a_second_finding(repo, capsys, monkeypatch):
    monkeypatch.chdir(repo / "backend")
    assert run(capsys, "--write-baseline", "baseline.json")[0] == 0
    (repo / "backend" / "pyproject.toml").write_text('[tool.pgforklint]\nbaseline = "baseline.json"\n', encoding="utf-8")
    monkeypatch.chdir(repo)
    code, out, err = run(capsys, "backend")
    assert (code, err) == (0, "") and out.endswith("\nNo problems found. 1 hidden by the baseline.\n")
    db = repo / "backend" / "app" / "db.py"
    # a second cause (another engine opened before the fork); a second open of the same engine would be the same
    # finding with one more related location
    db.write_text(db.read_text(encoding="utf-8") + "\nreports = create_engine(\"postgresql://localhost/reports\")\n"
                  "with reports.connect() as conn:\n    pass\n", encoding="utf-8")
    code, out, _ = run(capsys, "--format", "concise", "backend")
    assert code == 1 and out.count("PGF001") == 1 and "1 hidden by the baseline" in out
    assert run(capsys, "--no-baseline", "--format", "concise", "backend")[1].count(": PGF001") == 2
    code, _, err = run(capsys, "--baseline", "missing.json", "backend")
    assert code == 2 and "baseline file not found" in err and err.count("\n") == 1
    (repo / "bad.json").write_text("[1]", encoding="utf-8")
    code, _, err = run(capsys, "--baseline", str(repo / "bad.json"), "backend")
    assert code == 2 and "not a pgforklint baseline" in err


# -- unused suppressions (PGF103) -------------------------------------------------------------------------------

def test_unused_and_unknown_suppressions_are_reported_and_fixed(repo, capsys, monkeypatch):
    db = repo / "backend" / "app" / "db.py"
    text = db.read_text(encoding="utf-8")
    text = text.replace("with engine.connect() as conn:  # expect: PGF001",
                        "with engine.connect() as conn:  # noqa: PGF001, E501")
    text = text.replace("import os\n", "import os  # noqa: PGF003, E401\n")
    text += "x = 1  # pgforklint: ignore[PGF999]\n# pgforklint: ignore[PGF002]\ny = 2\n"
    db.write_text(text, encoding="utf-8")
    procfile = repo / "backend" / "Procfile"
    procfile.write_text(procfile.read_text(encoding="utf-8") + "# noqa: PGF001\n", encoding="utf-8")  # Python only
    monkeypatch.chdir(repo)
    code, out, _ = run(capsys, "--format", "json", "backend")
    found = [(d["path"], d["line"], d["title"]) for d in json.loads(out)["diagnostics"]]
    assert found == [
        ("backend/app/db.py", 1, "unused suppression in `# noqa`: PGF003 (no such finding on this line)"),
        ("backend/app/db.py", 10, "unused suppression in `# pgforklint: ignore`: PGF999 (not a pgforklint rule code)"),
        ("backend/app/db.py", 11, "unused suppression in `# pgforklint: ignore`: PGF002 (no such finding on this line)"),
    ]
    assert code == 1
    code, out, _ = run(capsys, "--format", "concise", "backend")
    assert out.count("PGF103 [*]") == 3 and "1 suppressed by comments" in out
    assert run(capsys, "--ignore", "PGF103", "backend")[0] == 0
    code, out, _ = run(capsys, "--fix", "backend")
    assert code == 0, out
    fixed = db.read_text(encoding="utf-8")
    assert fixed.startswith("import os  # noqa: E401\n")
    assert "# noqa: PGF001, E501" in fixed  # used: kept
    assert fixed.endswith("x = 1\ny = 2\n")
    assert run(capsys, "backend")[0] == 0


def test_suppression_lines_are_numbered_as_the_parsers_number_them(repo, capsys, monkeypatch):
    db = repo / "backend" / "app" / "db.py"
    text = db.read_text(encoding="utf-8")
    # a form feed and U+2028 (in a comment) are not line breaks for Python: the noqa must stay on its line
    text = text.replace("import os\n", "import os\n\x0c\n# a note \u2028 with a separator\n")
    text = text.replace("# expect: PGF001", "# noqa: PGF001")
    db.write_text(text, encoding="utf-8")
    monkeypatch.chdir(repo)
    code, out, _ = run(capsys, "backend")
    assert code == 0 and "1 suppressed by comments" in out, out
    # and a CR-only file
    db.write_text(text.replace("\n", "\r"), encoding="utf-8")
    code, out, _ = run(capsys, "backend")
    assert code == 0 and "1 suppressed by comments" in out, out


# -- colours and CLI polish --------------------------------------------------------------------------------------

def test_colour_flags_and_environment(repo, capsys, monkeypatch):
    monkeypatch.chdir(repo / "backend")
    assert "\x1b[" not in run(capsys)[1]
    assert "\x1b[" in run(capsys, "--color", "always")[1]
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert "\x1b[" in run(capsys)[1]
    assert "\x1b[" not in run(capsys, "--color", "never")[1]
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in run(capsys)[1]
    assert "\x1b[" in run(capsys, "--color", "always")[1]


def test_list_rules_statistics_and_explain_in_json(repo, capsys, monkeypatch):
    from pgforklint.registry import RULES

    monkeypatch.chdir(repo / "backend")
    rules = json.loads(run(capsys, "--list-rules", "--format", "json")[1])["rules"]
    assert [r["code"] for r in rules] == list(RULES) and rules[0]["name"] == "connection-before-fork"
    assert "PGF103" in RULES and RULES["PGF103"].name == "unused-suppression"
    code, out, _ = run(capsys, "--statistics", "--format", "json")
    assert code == 1 and json.loads(out)["statistics"][0]["code"] == "PGF001"
    code, out, _ = run(capsys, "--explain", "connection-before-fork")
    assert code == 0 and out.startswith("# PGF001 connection-before-fork")
    assert json.loads(run(capsys, "--explain", "unused-suppression", "--format", "json")[1])["code"] == "PGF103"


def test_abbreviated_flags_are_refused(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "--stat")
    assert code == 2 and "unrecognized arguments: --stat" in err and "did you mean --statistics?" in err
    code = main(["budget", "--scal", "web=2"])
    err = capsys.readouterr().err
    assert code == 2 and "--scal: did you mean --scale?" in err


def test_text_format_is_readable_in_one_glance(repo, capsys, monkeypatch):
    monkeypatch.chdir(repo / "backend")
    out = run(capsys)[1]
    lines = out.splitlines()
    assert lines[0] == "error[PGF001]: `engine.connect()` connects in the parent before gunicorn forks"
    assert lines[1] == " --> app/db.py:8:6"
    assert lines[3] == "8 | with engine.connect() as conn:  # expect: PGF001"
    assert lines[4] == "  |      ^^^^^^^^^^^^^^^^"
    assert any(line.startswith("note: gunicorn.conf.py:5: ") for line in lines)
    assert [line for line in lines if line.startswith("help: ")] == [
        "help: [*] reset `engine` in `pre_fork` in gunicorn.conf.py: engine.dispose() (`pgforklint --fix`)"]  # SQLAlchemy unpinned
    assert max(len(line) for line in lines if not line.startswith(("note:", "help:"))) <= 110
    assert lines[-2] == "Found 1 problem (1 error)."


def test_text_orders_errors_first_then_by_path(capsys):
    from pgforklint.diagnostics import Diagnostic, Location
    from pgforklint.report import Paths, text

    here = Paths(base=Path("/nonexistent"), cwd=Path("/nonexistent"))
    diagnostics = [Diagnostic("PGF006", Location("a.py", 1), "info"), Diagnostic("PGF002", Location("b.py", 1), "warn"),
                   Diagnostic("PGF001", Location("c.py", 1), "error")]
    heads = [line for line in text.render(diagnostics, here).splitlines() if "[PGF" in line]
    assert heads == ["error[PGF001]: error", "warning[PGF002]: warn", "info[PGF006]: info"]


# -- nothing from the repository speaks through the output (issue 19) --------------------------------------------

HOSTILE = "db\n::add-mask::secret\r\n::error file=x::pwned\x1b[31m`|<b>*_\u2028\u202e\x85\ud800.py"


def _hostile_diagnostics():
    from pgforklint.diagnostics import Diagnostic, Location, Related

    return [Diagnostic("PGF001", Location(HOSTILE, 3, 1), f"service `{HOSTILE}` opens a connection",
                       related=(Related(Location(HOSTILE, 1), f"started by {HOSTILE}"),), key=HOSTILE,
                       title=f"`{HOSTILE}` connects", help=f"fix {HOSTILE}")] + [
        Diagnostic("PGF002", Location(f"f{i}{HOSTILE}", 1), f"m{i} {HOSTILE}") for i in range(12)]


def test_every_github_line_is_a_command_or_inert():
    from pgforklint.report import Paths, github

    here = Paths(base=Path("/nonexistent"), cwd=Path("/nonexistent"))
    out = github.render(_hostile_diagnostics(), paths=here)
    out.encode("utf-8")
    for line in out.split("\n")[:-1]:
        assert line.startswith(("::error ", "::warning ", "::notice ", "pgforklint: ")), line
        assert "\r" not in line and "\x1b" not in line
    assert not any(line.startswith("::add-mask") for line in out.splitlines())


def test_step_summary_escapes_markdown():
    from pgforklint.report import Paths, github

    here = Paths(base=Path("/nonexistent"), cwd=Path("/nonexistent"))
    summary = github.step_summary(_hostile_diagnostics(), paths=here)
    summary.encode("utf-8")
    table = [line for line in summary.splitlines() if line.startswith("| error")]
    assert len(table) == 1 and table[0].count(" | ") == 4  # no pipe from the repository splits a cell
    assert "`" not in table[0].replace("\\`", "") and "<b>" not in summary and "&lt;b&gt;" in summary
    assert "\x1b" not in summary and "\u2028" not in summary


def test_text_json_and_sarif_survive_hostile_strings():
    from pgforklint.report import Paths, json_format, sarif, text

    here = Paths(base=Path("/nonexistent"), cwd=Path("/nonexistent"))
    diagnostics = _hostile_diagnostics()
    for render in (text.render, text.concise):
        out = render(diagnostics, here)
        out.encode("utf-8")
        assert not any(c in out for c in ("\x1b", "\r", "\u2028", "\u202e", "\x85"))
        assert all(not line.startswith("::") for line in out.split("\n"))
    for out in (json_format.render(diagnostics, here), sarif.render(diagnostics, paths=here)):
        out.encode("utf-8")
        document = json.loads(out)
        assert document


def test_a_non_utf8_folder_name_in_every_format(tmp_path, monkeypatch):
    if os.uname().sysname == "Darwin":
        pytest.skip("macOS file systems refuse names that are not UTF-8")
    base = os.fsencode(str(tmp_path))
    project = base + b"/caf\xe9-\x1b[31m"
    os.mkdir(project)
    shutil.copytree(HAZARD, os.fsdecode(project + b"/svc"))
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "NO_COLOR": "1"}
    env.pop("GITHUB_ACTIONS", None)
    for fmt in ("text", "concise", "json", "github", "sarif"):
        proc = subprocess.run([os.sys.executable, "-m", "pgforklint", "--no-cache", "--format", fmt, project + b"/svc"],
                              capture_output=True, cwd=str(tmp_path), env=env, timeout=120)
        assert proc.returncode == 1, (fmt, proc.stderr)
        out = proc.stdout.decode("utf-8")  # valid UTF-8
        assert b"\x1b" not in proc.stdout, fmt
        if fmt == "json":
            assert json.loads(out)["diagnostics"][0]["path"].startswith("caf\\xe9-\x1b[31m/svc/")
        elif fmt == "sarif":
            result = json.loads(out)["runs"][0]["results"][0]
            uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            assert uri == "caf%E9-%1B%5B31m/svc/app/db.py", uri
        else:
            assert "caf\\xe9-\\x1b[31m/svc/app/db.py" in out, (fmt, out[:300])


def test_a_lone_surrogate_and_escape_codes_in_a_service_name_in_every_format(tmp_path, capsys, monkeypatch):
    project = tmp_path / "shop"
    shutil.copytree(Path(__file__).parent.parent / "examples" / "shop", project)
    (project / "Procfile").unlink()
    (project / "docker-compose.yml").write_text(
        'services:\n'
        '  "web\\ud800\\e[31m\\u2028x":\n'
        '    command: gunicorn shop.wsgi:app -c gunicorn.conf.py\n'
        '    deploy:\n'
        '      replicas: 3\n', encoding="utf-8")
    monkeypatch.chdir(project)
    for fmt in ("text", "concise", "json", "github", "sarif"):
        code, out, err = run(capsys, "--format", fmt)
        assert code == 1 and err == "", (fmt, err)
        out.encode("utf-8")
        assert "\x1b" not in out and "\u2028" not in out and "\ud800" not in out, fmt
        if fmt in ("json", "sarif"):
            assert "web\\\\ud800\\\\x1b[31m" in out or "web\\\\ud800\\u001b[31m" in out, fmt
            json.loads(out)
        else:
            assert "web\\ud800\\x1b[31m\\u2028x" in out, fmt


def test_every_rule_finding_has_a_short_headline_and_a_help_line(monkeypatch):
    """Over every fixture: findings of the rules carry a title of about 100 characters at most and one help line;
    the full text stays in `message` (JSON, SARIF, concise)."""
    from pgforklint.analyze import lint_project
    from pgforklint.config import Config

    monkeypatch.setenv("PGFORKLINT_NO_CACHE", "1")
    seen: set[str] = set()
    for fixture in sorted(p for p in FIXTURES.iterdir() if p.is_dir()):
        for d in lint_project(fixture, Config()).diagnostics:
            if d.code == "PGF100":
                continue  # a file's own parser message, short already
            label = f"{d.severity.label}[{d.code}]: "
            assert d.title and len(label + d.title) <= 110, (fixture.name, d.code, d.title)
            assert d.help and "\n" not in d.help, (fixture.name, d.code)
            assert len(d.message) >= len(d.title)
            seen.add(d.code)
    assert {"PGF001", "PGF002", "PGF003", "PGF004", "PGF005", "PGF006", "PGF007", "PGF009", "PGF010",
            "PGF011", "PGF101"} <= seen
