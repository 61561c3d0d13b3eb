"""The command line: exit codes 0/1/2, options, and no traceback for any input or configuration problem."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pgforklint import __version__
from pgforklint.cli import main
from pgforklint.registry import RULES

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def hazard(tmp_path, monkeypatch):
    """A copy of a fixture with one PGF001 (error), as the current directory."""
    root = tmp_path / "hazard"
    shutil.copytree(FIXTURES / "gunicorn_warmup_query", root)
    monkeypatch.chdir(root)
    for name in ("GITHUB_ACTIONS", "PGFORKLINT_FORMAT", "NO_COLOR", "FORCE_COLOR", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)
    return root


@pytest.fixture
def clean(tmp_path, monkeypatch):
    root = tmp_path / "clean"
    shutil.copytree(FIXTURES / "ok_post_fork_reset", root)
    monkeypatch.chdir(root)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("PGFORKLINT_FORMAT", raising=False)
    return root


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_exit_1_on_findings_0_when_clean(hazard, capsys):
    code, out, err = run(capsys)
    assert code == 1 and err == ""
    assert out.startswith("error[PGF001]: ") and "\n --> app/db.py:8:6\n" in out
    assert out.endswith("\nFound 1 problem (1 error).\n[*] 1 fixable with `pgforklint --fix`.\n")
    assert "\x1b[" not in out  # captured output is not a terminal


def test_clean_project(clean, capsys):
    assert run(capsys) == (0, "Checked 1 process type: gunicorn (gunicorn, preloads app.main:app, 1 engine).\n"
                              "No problems found.\n", "")


def test_exit_zero_and_fail_on(hazard, capsys):
    assert run(capsys, "--exit-zero")[0] == 0
    assert run(capsys, "--fail-on", "error")[0] == 1
    assert run(capsys, "--ignore", "PGF001")[0] == 0
    assert run(capsys, "--select", "PGF002,PGF003")[0] == 0
    assert run(capsys, "--select", "PGF002", "--extend-select", "PGF0")[0] == 1
    assert run(capsys, "--select", "pgf0")[0] == 1  # codes are case-insensitive prefixes


def test_fail_on_from_config_and_severity_threshold(tmp_path, monkeypatch, capsys):
    # PGF003 is a warning: fails by default, passes with fail-on = "error"
    root = tmp_path / "p"
    shutil.copytree(FIXTURES / "post_fork_dispose_closes", root)
    monkeypatch.chdir(root)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    code, out, _ = run(capsys, "--format", "json")
    severities = {d["severity"] for d in json.loads(out)["diagnostics"]}
    assert severities == {"warning"} and code == 1
    assert run(capsys, "--fail-on", "error")[0] == 0
    (root / "pyproject.toml").write_text('[tool.pgforklint]\nfail-on = "error"\n', encoding="utf-8")
    assert run(capsys)[0] == 0
    assert run(capsys, "--fail-on", "warning")[0] == 1  # the command line wins


def test_json_paths_relative_to_cwd(hazard, capsys):
    code, out, _ = run(capsys, "--format", "json", str(hazard))
    [d] = json.loads(out)["diagnostics"]
    assert d["path"] == "app/db.py" and d["code"] == "PGF001" and d["severity"] == "error"
    (hazard / "sub").mkdir()
    import os

    os.chdir(hazard / "sub")
    code, out, _ = run(capsys, "--format", "json", "..")
    assert json.loads(out)["diagnostics"][0]["path"] == "../app/db.py"
    assert json.loads(out)["diagnostics"][0]["related"][0]["path"].startswith("../")


def test_a_file_path_lints_its_project_and_reports_that_file(hazard, capsys):
    assert run(capsys, "app/db.py")[0] == 1
    # the finding's related locations include the Procfile and gunicorn.conf.py: a change there shows it
    assert run(capsys, "Procfile")[0] == 1
    assert run(capsys, "gunicorn.conf.py", "Procfile")[0] == 1
    assert run(capsys, "app/__init__.py")[0] == 0


def test_statistics(hazard, capsys):
    code, out, _ = run(capsys, "--statistics")
    assert code == 1 and out == "    1\tPGF001\t[error] connection-before-fork\n"


def test_formats_and_env_format(hazard, capsys, monkeypatch):
    assert json.loads(run(capsys, "--format", "sarif")[1])["version"] == "2.1.0"
    assert run(capsys, "--format", "github")[1].startswith("::error ")
    monkeypatch.setenv("PGFORKLINT_FORMAT", "json")
    assert json.loads(run(capsys)[1])["version"] == 1
    assert run(capsys, "--format", "text")[1].startswith("error[PGF001]: ")
    assert run(capsys, "--format", "concise")[1].startswith("app/db.py:8:6: PGF001 [*] `engine.connect()` opens")
    monkeypatch.setenv("PGFORKLINT_FORMAT", "yaml")
    code, out, err = run(capsys)
    assert code == 2 and out == "" and err == "pgforklint: error: PGFORKLINT_FORMAT='yaml': expected one of text, concise, json, github, sarif\n"


def test_explain(capsys):
    code, out, _ = run(capsys, "--explain", "pgf100")
    assert code == 0 and out.startswith("# PGF100 unreadable-file")
    for rule in RULES:  # every code explains, with its page or at least its summary
        code, out, _ = run(capsys, "--explain", rule)
        assert code == 0 and rule in out


def test_list_rules(capsys):
    code, out, _ = run(capsys, "--list-rules")
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == list(RULES)
    assert lines[0].split()[:3] == ["PGF001", "error", "connection-before-fork"]


def test_version_and_help(capsys):
    assert run(capsys, "--version") == (0, f"pgforklint {__version__}\n", "")
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "--format" in out and "--explain" in out


@pytest.mark.parametrize("argv, message", [
    (["--bogus"], "pgforklint: error: usage: unrecognized arguments: --bogus (see `pgforklint --help`)\n"),
    (["--format", "xml"], "argument --format: invalid choice: 'xml'"),
    (["--fail-on", "fatal"], "argument --fail-on: invalid choice: 'fatal'"),
    (["--explain", "PGF999"], "pgforklint: error: --explain: unknown rule 'PGF999' (see `pgforklint --list-rules`)\n"),
    (["--explain", "conection-before-fork"], "--explain: unknown rule 'conection-before-fork'; did you mean "
                                              "connection-before-fork (PGF001)?"),
    (["--statistic"], "unrecognized arguments: --statistic; --statistic: did you mean --statistics?"),
    (["--form", "json"], "unrecognized arguments: --form; --form: did you mean --format?"),
    (["--exit-zer"], "--exit-zer: did you mean --exit-zero?"),
    (["--select", "E501"], "pgforklint: error: --select: unknown rule code(s) E501\n"),
    (["--ignore", "PGF9"], "pgforklint: error: --ignore: unknown rule code(s) PGF9\n"),
    (["no/such/path"], "pgforklint: error: no/such/path: no such file or directory\n"),
    (["--config", "nope.toml"], "pgforklint: error: nope.toml: configuration file not found\n"),
])
def test_usage_errors_exit_2_with_one_line(hazard, capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert message in err and err.count("\n") == 1 and err.startswith("pgforklint: error: ")


def test_internal_error_is_one_line_without_debug(hazard, capsys, monkeypatch):
    import pgforklint.analyze

    def boom(*args, **kwargs):
        raise KeyError("surprise")

    monkeypatch.setattr(pgforklint.analyze, "lint_project", boom)
    code, out, err = run(capsys)
    assert code == 2 and out == ""
    assert err == "pgforklint: internal error: KeyError: 'surprise' (run with --debug for details)\n"
    code, out, err = run(capsys, "--debug")
    assert code == 2 and "Traceback (most recent call last)" in err and "KeyError" in err


def test_broken_config_through_a_real_process(tmp_path):
    (tmp_path / ".pgforklint.toml").write_text("select = [\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "pgforklint", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "invalid TOML" in proc.stderr and "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


def test_unknown_option_through_a_real_process(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pgforklint", "--no-such-flag", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


def test_output_is_stable(hazard, capsys):
    first = run(capsys, "--format", "json")
    assert all(run(capsys, "--format", "json") == first for _ in range(3))


def test_multiple_paths_are_merged_and_deduplicated(hazard, clean, capsys):
    code, out, _ = run(capsys, "--format", "json", str(hazard), str(hazard), str(clean))
    assert code == 1 and len(json.loads(out)["diagnostics"]) == 1


def test_debug_names_the_settings_file(hazard, capsys):
    (hazard / ".pgforklint.toml").write_text("max-connections = 50\n", encoding="utf-8")
    code, _, err = run(capsys, "--debug")
    assert code == 1 and ".pgforklint.toml" in err
