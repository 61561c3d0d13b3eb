"""`[tool.pgforklint]` in pyproject.toml, or `.pgforklint.toml` / `pgforklint.toml` (same keys at top level).

Found from the linted path upwards, stopping at the repository top: the closest file that has
pgforklint settings wins (Ruff's model, no merging); a `pyproject.toml` without `[tool.pgforklint]` is
skipped; `--config FILE` overrides. Unknown keys, wrong types and unparseable files are errors: one
line naming the file, the key and what was expected (exit 2).
"""

from __future__ import annotations

import os
from dataclasses import field
from pathlib import Path

from pgforklint.diagnostics import Severity
from pgforklint.discover import DEFAULT_EXCLUDE, MAX_FILE_BYTES, git_top
from pgforklint.errors import ConfigError
from pgforklint.read.structured import tomllib_module
from pgforklint.records import record
from pgforklint.registry import unknown_selectors
from pgforklint.safeio import owner_of, read_regular, trusted_file

CONFIG_NAMES = (".pgforklint.toml", "pgforklint.toml", "pyproject.toml")

KEYS = (
    "select", "extend-select", "ignore", "exclude", "extend-exclude", "per-file-ignores", "fail-on",
    "respect-gitignore", "max-connections", "reserved-connections", "scale", "cache-dir", "processes",
    "development-files", "baseline",
)
PROCESS_KEYS = ("command", "instances", "workdir")


@record(frozen=True)
class DeclaredProcess:
    """A process the repository cannot show (a base image's CMD, a platform's settings), declared in
    `[tool.pgforklint.processes]`: analysed like a Procfile line run from `workdir`."""

    name: str
    command: str
    instances: int | None = None
    workdir: str = ""


@record
class Config:
    path: Path | None = None  # the file the settings came from
    select: list[str] | None = None
    extend_select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    # gitignore-style patterns relative to the config file's folder; `exclude` replaces the defaults
    exclude: list[str] = field(default_factory=lambda: list(DEFAULT_EXCLUDE))
    extend_exclude: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    fail_on: Severity = Severity.WARNING
    respect_gitignore: bool = True
    max_connections: int | None = None
    reserved_connections: int | None = None
    scale: dict[str, int] = field(default_factory=dict)  # process type -> instances
    cache_dir: str | None = None
    # gitignore-style patterns of the launch files that are development setups, left out of the budget;
    # None: guessed from names and commands (`extract/deployments.py`)
    development_files: list[str] | None = None
    processes: list[DeclaredProcess] = field(default_factory=list)
    baseline: str | None = None  # a baseline file, relative to the configuration file's folder

    @property
    def base_dir(self) -> Path | None:
        return self.path.parent if self.path else None


def shown(file: Path) -> str:
    """A path for messages: relative to the current directory when below it."""
    try:
        rel = os.path.relpath(file)
    except ValueError:
        return str(file)
    return str(file) if rel.startswith("..") else rel


def _type_name(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
             dict: "a table"}
    return names.get(type(value), type(value).__name__)


def _describe(value: object) -> str:
    if isinstance(value, (dict, list)):
        return _type_name(value)
    return f"{_type_name(value)} ({value!r})" if not isinstance(value, bool) else f"a boolean ({str(value).lower()})"


class _Reader:
    def __init__(self, file: Path, table_name: str):
        self.file = file
        self.table_name = table_name

    def error(self, key: str, expected: str, value: object = ..., note: str = "") -> ConfigError:
        where = f"{self.table_name} " if self.table_name else ""
        got = "" if value is ... else f", got {_describe(value)}"
        return ConfigError(f"{shown(self.file)}: {where}`{key}`: expected {expected}{got}{note}")

    def str_list(self, key: str, value: object) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(key, "an array of strings", value)
        return list(value)

    def selectors(self, key: str, value: object) -> list[str]:
        items = self.str_list(key, value)
        bad = unknown_selectors(items)
        if bad:
            raise self.error(key, "rule codes or prefixes such as \"PGF001\" or \"PGF\"",
                             note=f", got unknown {', '.join(repr(b) for b in bad)} (see `pgforklint --list-rules`)")
        return [s.strip().upper() for s in items]

    def integer(self, key: str, value: object, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.error(key, f"an integer >= {minimum}", value)
        return value


def parse_settings(file: Path, table: object, table_name: str = "") -> Config:
    reader = _Reader(file, table_name)
    if not isinstance(table, dict):
        raise ConfigError(f"{shown(file)}: `{table_name or 'settings'}`: expected a table, got {_describe(table)}")
    config = Config(path=file)
    for key, value in table.items():
        if key == "select":
            config.select = reader.selectors(key, value)
        elif key == "extend-select":
            config.extend_select = reader.selectors(key, value)
        elif key == "ignore":
            config.ignore = reader.selectors(key, value)
        elif key == "exclude":
            config.exclude = reader.str_list(key, value)
        elif key == "extend-exclude":
            config.extend_exclude = reader.str_list(key, value)
        elif key == "per-file-ignores":
            if not isinstance(value, dict):
                raise reader.error(key, "a table of \"glob\" = [codes]", value)
            config.per_file_ignores = {
                pattern: reader.selectors(f"per-file-ignores.\"{pattern}\"", codes) for pattern, codes in value.items()
            }
        elif key == "fail-on":
            if not isinstance(value, str) or value.strip().lower() not in ("info", "warning", "error"):
                raise reader.error(key, "one of \"info\", \"warning\", \"error\"", value)
            config.fail_on = Severity.parse(value)
        elif key == "respect-gitignore":
            if not isinstance(value, bool):
                raise reader.error(key, "a boolean (true or false)", value)
            config.respect_gitignore = value
        elif key == "max-connections":
            config.max_connections = reader.integer(key, value, minimum=1)
        elif key == "reserved-connections":
            config.reserved_connections = reader.integer(key, value, minimum=0)
        elif key == "scale":
            if not isinstance(value, dict):
                raise reader.error(key, "a table of process type = instances, e.g. `web = 3`", value)
            config.scale = {name: reader.integer(f"scale.{name}", count, minimum=0) for name, count in value.items()}
        elif key == "processes":
            config.processes = _processes(reader, value)
        elif key == "cache-dir":
            if not isinstance(value, str) or not value.strip():
                raise reader.error(key, "a folder path (a non-empty string)", value)
            config.cache_dir = value
        elif key == "development-files":
            config.development_files = reader.str_list(key, value)
        elif key == "baseline":
            if not isinstance(value, str) or not value.strip():
                raise reader.error(key, "a file path (a non-empty string)", value)
            config.baseline = value
        else:
            raise reader.error(key, f"one of the known keys ({', '.join(KEYS)})", note=_unknown_key_note(key, table_name))
    return config


def _processes(reader: _Reader, value: object) -> list[DeclaredProcess]:
    if not isinstance(value, dict):
        raise reader.error("processes", "a table of process type = \"command\" or {command = \"...\", instances = N, "
                           "workdir = \"folder\"}", value)
    out = []
    for name, entry in value.items():
        key = f"processes.{name}"
        if isinstance(entry, str):
            entry = {"command": entry}
        if not isinstance(entry, dict):
            raise reader.error(key, "a command string or a table with `command`", entry)
        for option in entry:
            if option not in PROCESS_KEYS:
                raise reader.error(f"{key}.{option}", f"one of {', '.join(PROCESS_KEYS)}", note=": unknown key")
        command = entry.get("command")
        if not isinstance(command, str) or not command.strip():
            raise reader.error(f"{key}.command", "the command line that starts the process (a non-empty string)",
                               entry.get("command", ...))
        instances = reader.integer(f"{key}.instances", entry["instances"], minimum=1) if "instances" in entry else None
        workdir = entry.get("workdir", "")
        if not isinstance(workdir, str):
            raise reader.error(f"{key}.workdir", "a folder of the repository (a string)", workdir)
        out.append(DeclaredProcess(str(name), command.strip(), instances, workdir.strip().strip("/").removeprefix("./")))
    return out


def _unknown_key_note(key: str, table_name: str) -> str:
    note = ": unknown key"
    dashed = key.replace("_", "-").lower()
    if dashed in KEYS:
        return f"{note} (did you mean `{dashed}`?)"
    import difflib

    close = difflib.get_close_matches(dashed, KEYS, n=1)
    if close:
        return f"{note} (did you mean `{close[0]}`?)"
    if key == "tool" and not table_name:
        return f"{note} (in this file the settings go at top level, without [tool.pgforklint])"
    return note


def _load_toml(file: Path) -> dict:
    try:
        data = read_regular(file, MAX_FILE_BYTES + 1)  # never a FIFO or device, never unbounded
    except OSError as exc:
        raise ConfigError(f"{shown(file)}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"{shown(file)}: larger than the {MAX_FILE_BYTES // (1024 * 1024)} MiB size cap")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{shown(file)}: not valid UTF-8 (line {line}); TOML files must be UTF-8") from None
    tomllib = tomllib_module()
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{shown(file)}: invalid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{shown(file)}: invalid TOML: nested too deeply") from None
    except (ValueError, OverflowError) as exc:  # an integer beyond Python's 4,300-digit limit
        raise ConfigError(f"{shown(file)}: invalid TOML: {exc}") from None


def _settings_table(file: Path) -> tuple[object | None, str]:
    """The pgforklint settings of a file (None when a pyproject.toml has none) and how to name them."""
    data = _load_toml(file)
    if file.name != "pyproject.toml":
        return data, ""
    tool = data.get("tool")
    if tool is None:
        return None, "[tool.pgforklint]"
    if not isinstance(tool, dict):
        raise ConfigError(f"{shown(file)}: `tool`: expected a table, got {_describe(tool)}")
    return tool.get("pgforklint"), "[tool.pgforklint]"


def load_config_file(file: Path) -> Config:
    """Settings from one file given with `--config`: a pyproject.toml without the table gives the defaults."""
    table, name = _settings_table(file)
    if table is None:
        return Config(path=file)
    return parse_settings(file, table, name)


def find_config(start: Path) -> Config:
    """The closest `.pgforklint.toml`, `pgforklint.toml`, or `pyproject.toml` with `[tool.pgforklint]`,
    from `start` upwards to the repository top (or the filesystem root outside a repository).

    Files above the linted folder are trusted the way git trusts them: the search stops at the
    repository top (`git_top`: a `.git` owned by another user is no top), and a file or folder owned by
    another user (a `.pgforklint.toml` planted in `/tmp`) is passed over."""
    start = start.resolve()
    directory = start if start.is_dir() else start.parent
    top = git_top(directory)
    project_owner = owner_of(directory)
    for folder in (directory, *directory.parents):
        for name in CONFIG_NAMES:
            candidate = folder / name
            if candidate.is_file() and (folder == directory or trusted_file(candidate, project_owner)):
                table, table_name = _settings_table(candidate)
                if table is not None:
                    return parse_settings(candidate, table, table_name)
        if folder == top:
            break
    return Config()
