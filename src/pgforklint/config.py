"""`[tool.pgforklint]` in pyproject.toml or `.pgforklint.toml`: found from the linted path upwards.

The closest file that has pgforklint settings wins (Ruff's model); `--config FILE` overrides.
Unknown keys and wrong types are errors that name the file, the key and what was expected.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from pgforklint.diagnostics import Severity
from pgforklint.errors import ConfigError
from pgforklint.registry import unknown_selectors

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass
class Config:
    path: Path | None = None  # the file the settings came from
    select: list[str] | None = None
    extend_select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    extend_exclude: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    fail_on: Severity = Severity.WARNING
    respect_gitignore: bool = True
    max_connections: int | None = None
    reserved_connections: int | None = None
    scale: dict[str, int] = field(default_factory=dict)
    cache_dir: str | None = None

    @property
    def base_dir(self) -> Path | None:
        return self.path.parent if self.path else None


def _str_list(file: Path, key: str, value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{file}: `{key}` must be a list of strings, got {_type_name(value)}")
    return list(value)


def _type_name(value: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a table"}.get(
        type(value), type(value).__name__
    )


def _int(file: Path, key: str, value: object, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{file}: `{key}` must be an integer >= {minimum}, got {value!r}")
    return value


def _selectors(file: Path, key: str, value: object) -> list[str]:
    items = _str_list(file, key, value)
    bad = unknown_selectors(items)
    if bad:
        raise ConfigError(f"{file}: `{key}` names unknown rule code(s) {', '.join(bad)} (see `pgforklint --list-rules`)")
    return items


def parse_settings(file: Path, table: object) -> Config:
    if not isinstance(table, dict):
        raise ConfigError(f"{file}: [tool.pgforklint] must be a table")
    config = Config(path=file)
    for key, value in table.items():
        if key == "select":
            config.select = _selectors(file, key, value)
        elif key == "extend-select":
            config.extend_select = _selectors(file, key, value)
        elif key == "ignore":
            config.ignore = _selectors(file, key, value)
        elif key == "exclude":
            config.exclude = _str_list(file, key, value)
        elif key == "extend-exclude":
            config.extend_exclude = _str_list(file, key, value)
        elif key == "per-file-ignores":
            if not isinstance(value, dict):
                raise ConfigError(f"{file}: `per-file-ignores` must be a table of pattern = [codes], got {_type_name(value)}")
            config.per_file_ignores = {
                pattern: _selectors(file, f"per-file-ignores.{pattern}", codes) for pattern, codes in value.items()
            }
        elif key == "fail-on":
            if not isinstance(value, str) or value.lower() not in ("info", "warning", "error"):
                raise ConfigError(f"{file}: `fail-on` must be one of \"info\", \"warning\", \"error\", got {value!r}")
            config.fail_on = Severity.parse(value)
        elif key == "respect-gitignore":
            if not isinstance(value, bool):
                raise ConfigError(f"{file}: `respect-gitignore` must be a boolean, got {value!r}")
            config.respect_gitignore = value
        elif key == "max-connections":
            config.max_connections = _int(file, key, value, minimum=1)
        elif key == "reserved-connections":
            config.reserved_connections = _int(file, key, value)
        elif key == "scale":
            if not isinstance(value, dict):
                raise ConfigError(f"{file}: `scale` must be a table of process type = instances, got {_type_name(value)}")
            config.scale = {name: _int(file, f"scale.{name}", count) for name, count in value.items()}
        elif key == "cache-dir":
            if not isinstance(value, str):
                raise ConfigError(f"{file}: `cache-dir` must be a string, got {value!r}")
            config.cache_dir = value
        else:
            raise ConfigError(f"{file}: unknown key `{key}` in pgforklint settings")
    return config


def _load_table(file: Path) -> object | None:
    try:
        data = tomllib.loads(file.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{file}: not valid UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
    if file.name == "pyproject.toml":
        tool = data.get("tool", {})
        return tool.get("pgforklint") if isinstance(tool, dict) else None
    return data


def load_config_file(file: Path) -> Config:
    table = _load_table(file)
    if table is None:
        if file.name == "pyproject.toml":
            return Config(path=file)
        raise ConfigError(f"{file}: no pgforklint settings")
    return parse_settings(file, table)


def find_config(start: Path) -> Config:
    """The closest `.pgforklint.toml`, or `pyproject.toml` with a [tool.pgforklint] table, from `start` upwards."""
    start = start.resolve()
    directory = start if start.is_dir() else start.parent
    for folder in (directory, *directory.parents):
        for name in (".pgforklint.toml", "pgforklint.toml", "pyproject.toml"):
            candidate = folder / name
            if candidate.is_file():
                table = _load_table(candidate)
                if table is not None:
                    return parse_settings(candidate, table)
        if (folder / ".git").exists():
            break
    return Config()
