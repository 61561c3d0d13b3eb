"""Configuration: discovery from the linted path upwards, every key, and one-line errors (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgforklint.cli import main
from pgforklint.config import Config, find_config, load_config_file
from pgforklint.diagnostics import Severity
from pgforklint.discover import DEFAULT_EXCLUDE
from pgforklint.errors import ConfigError

FULL = """
[tool.pgforklint]
select = ["PGF0"]
extend-select = ["PGF100"]
ignore = ["PGF006"]
exclude = ["migrations/"]
extend-exclude = ["vendor/"]
fail-on = "error"
respect-gitignore = false
max-connections = 100
reserved-connections = 5
cache-dir = ".cache/pgforklint"

[tool.pgforklint.per-file-ignores]
"tests/**" = ["PGF001"]

[tool.pgforklint.scale]
web = 3
worker = 2
"""


def test_every_key(tmp_path):
    (tmp_path / "pyproject.toml").write_text(FULL, encoding="utf-8")
    config = find_config(tmp_path)
    assert config.path == tmp_path / "pyproject.toml"
    assert config.select == ["PGF0"] and config.extend_select == ["PGF100"] and config.ignore == ["PGF006"]
    assert config.exclude == ["migrations/"] and config.extend_exclude == ["vendor/"]
    assert config.fail_on is Severity.ERROR and config.respect_gitignore is False
    assert (config.max_connections, config.reserved_connections) == (100, 5)
    assert config.scale == {"web": 3, "worker": 2}
    assert config.per_file_ignores == {"tests/**": ["PGF001"]}
    assert config.cache_dir == ".cache/pgforklint"


def test_defaults():
    config = Config()
    assert config.exclude == DEFAULT_EXCLUDE and config.fail_on is Severity.WARNING and config.select is None


def test_found_upwards_closest_wins_and_pyproject_without_table_is_skipped(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.pgforklint]\nmax-connections = 50\n", encoding="utf-8")
    sub = tmp_path / "svc" / "api"
    sub.mkdir(parents=True)
    (tmp_path / "svc" / "pyproject.toml").write_text("[project]\nname = 'svc'\n", encoding="utf-8")
    assert find_config(sub).max_connections == 50
    (tmp_path / "svc" / ".pgforklint.toml").write_text("max-connections = 20\n", encoding="utf-8")
    assert find_config(sub).max_connections == 20
    assert find_config(sub).path == tmp_path / "svc" / ".pgforklint.toml"


def test_dot_file_wins_over_pyproject_in_the_same_folder(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.pgforklint]\nmax-connections = 50\n", encoding="utf-8")
    (tmp_path / ".pgforklint.toml").write_text("max-connections = 7\n", encoding="utf-8")
    assert find_config(tmp_path).max_connections == 7


def test_search_stops_at_the_repository_top(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.pgforklint]\nmax-connections = 50\n", encoding="utf-8")
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    assert find_config(repo).path is None


def test_explicit_pyproject_without_table_gives_defaults(tmp_path):
    file = tmp_path / "pyproject.toml"
    file.write_text("[project]\nname = 'x'\n", encoding="utf-8")
    assert load_config_file(file).max_connections is None


BAD = [
    ("max-connections = \"100\"", "`max-connections`: expected an integer >= 1, got a string ('100')"),
    ("max-connections = 0", "`max-connections`: expected an integer >= 1, got an integer (0)"),
    ("reserved-connections = -1", "`reserved-connections`: expected an integer >= 0"),
    ("reserved-connections = true", "`reserved-connections`: expected an integer >= 0, got a boolean (true)"),
    ("select = \"PGF001\"", "`select`: expected an array of strings, got a string ('PGF001')"),
    ("ignore = [1]", "`ignore`: expected an array of strings, got an array"),
    ("select = [\"PGF999\"]", "`select`: expected rule codes or prefixes"),
    ("extend-select = [\"E501\"]", "unknown 'E501'"),
    ("exclude = \"build\"", "`exclude`: expected an array of strings"),
    ("extend-exclude = [true]", "`extend-exclude`: expected an array of strings"),
    ("fail-on = \"fatal\"", "`fail-on`: expected one of \"info\", \"warning\", \"error\", got a string ('fatal')"),
    ("respect-gitignore = \"yes\"", "`respect-gitignore`: expected a boolean"),
    ("cache-dir = 3", "`cache-dir`: expected a folder path"),
    ("per-file-ignores = [\"x\"]", "`per-file-ignores`: expected a table"),
    ("[tool.pgforklint.per-file-ignores]\n\"tests/*\" = \"PGF001\"", "`per-file-ignores.\"tests/*\"`: expected an array"),
    ("scale = 3", "`scale`: expected a table of process type = instances"),
    ("[tool.pgforklint.scale]\nweb = \"3\"", "`scale.web`: expected an integer >= 0"),
    ("max_connections = 10", "`max_connections`: expected one of the known keys"),
    ("selcet = []", "(did you mean `select`?)"),
]


@pytest.mark.parametrize("body, expected", BAD, ids=[b for b, _ in BAD])
def test_bad_values_are_one_line_errors_naming_file_and_key(tmp_path, monkeypatch, capsys, body, expected):
    monkeypatch.chdir(tmp_path)
    header = "" if body.startswith("[tool.") else "[tool.pgforklint]\n"
    (tmp_path / "pyproject.toml").write_text(header + body + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        find_config(tmp_path)
    message = str(info.value)
    assert message.startswith("pyproject.toml: [tool.pgforklint] `") and "\n" not in message
    assert expected in message
    # and through the command line: exit 2, one line on stderr, nothing on stdout, no traceback
    assert main([str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and expected in err and "Traceback" not in err


def test_snake_case_key_hint(tmp_path):
    (tmp_path / ".pgforklint.toml").write_text("max_connections = 10\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\.pgforklint\.toml: `max_connections`: .*did you mean `max-connections`"):
        find_config(tmp_path)


def test_tool_table_in_dot_file_is_explained(tmp_path):
    (tmp_path / ".pgforklint.toml").write_text("[tool.pgforklint]\nmax-connections = 10\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="without \\[tool.pgforklint\\]"):
        find_config(tmp_path)


@pytest.mark.parametrize("data, expected", [
    (b"[tool.pgforklint\nselect = []\n", "invalid TOML"),
    (b"[tool.pgforklint]\nselect = [\n", "invalid TOML"),
    (b"[tool.pgforklint]\nmax-connections = 1\nmax-connections = 2\n", "invalid TOML"),
    (b"[tool.pgforklint]\n# caf\xe9\n", "not valid UTF-8 (line 2)"),
    (b"tool = 3\n", "`tool`: expected a table"),
    (b"[tool]\npgforklint = 3\n", "`[tool.pgforklint]`: expected a table"),
])
def test_unparseable_files(tmp_path, monkeypatch, capsys, data, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_bytes(data)
    assert main(["."]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pgforklint: error: pyproject.toml: ") and expected in err
    assert err.count("\n") == 1


def test_unparseable_pyproject_on_the_way_up_is_an_error(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[oops\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    with pytest.raises(ConfigError, match="invalid TOML"):
        find_config(tmp_path / "sub")


def test_config_option(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["--config", "missing.toml", "."]) == 2
    assert "missing.toml: configuration file not found" in capsys.readouterr().err
    (tmp_path / "bad.toml").write_text("fail-on = 1\n", encoding="utf-8")
    assert main(["--config", "bad.toml", "."]) == 2
    assert "bad.toml: `fail-on`: expected one of" in capsys.readouterr().err


def _fixture_copy(tmp_path: Path, name: str) -> Path:
    import shutil

    target = tmp_path / name
    shutil.copytree(Path(__file__).parent / "fixtures" / name, target)
    return target


def test_settings_change_the_run(tmp_path, monkeypatch, capsys):
    root = _fixture_copy(tmp_path, "gunicorn_warmup_query")
    monkeypatch.chdir(root)
    assert main(["--format", "json"]) == 1
    (root / "pyproject.toml").write_text("[tool.pgforklint]\nignore = [\"PGF001\"]\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["--format", "json"]) == 0
    (root / "pyproject.toml").write_text("[tool.pgforklint.per-file-ignores]\n\"app/*.py\" = [\"PGF0\"]\n",
                                         encoding="utf-8")
    assert main(["--format", "json"]) == 0
    (root / "pyproject.toml").write_text("[tool.pgforklint]\nextend-exclude = [\"app/\"]\n", encoding="utf-8")
    assert "PGF001" not in (capsys.readouterr(), main(["--format", "json"]), capsys.readouterr().out)[2]
