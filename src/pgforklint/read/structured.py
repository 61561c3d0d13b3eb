"""YAML (safe_load only, with line numbers), TOML, INI and JSON readers."""

from __future__ import annotations

import json
import sys

from pgforklint.errors import ReadError

TYPE_CHECKING = False
if TYPE_CHECKING:  # `typing` costs 3 ms to import; annotations here are never evaluated
    from typing import Any



def tomllib_module():
    """tomllib (tomli before Python 3.11), imported on first use: most runs read no TOML file."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    return tomllib

# Aliases beyond this are refused: expanding them while walking the document could blow up (billion laughs).
MAX_YAML_ALIASES = 500
# A document whose aliases expand to more nodes than this is refused too: a few aliases nested a few
# levels deep (`b: [*a, *a, ...]`, `c: [*b, *b, ...]`) already expand to billions of nodes.
MAX_YAML_EXPANDED_NODES = 200_000
# Template engines whose syntax is not YAML (Helm/Go templates, Jinja, ERB).
_TEMPLATE_MARKERS = ("{{", "{%", "<%")


class LineDict(dict):
    """A mapping that remembers the line of each key (1-based)."""

    lines: dict[Any, int]
    line: int

    def line_of(self, key: Any, default: int | None = None) -> int | None:
        return self.lines.get(key, default if default is not None else getattr(self, "line", None))


class LineList(list):
    line: int
    item_lines: list[int]


class ComposeReset:
    """A value written `!reset` in a Compose file: the key is removed when files are merged."""

    line: int = 1


# `!override` marks a LineDict/LineList with `compose_override = True`: it replaces instead of merging.


def load_yaml_documents(text: str) -> list[Any]:
    """All documents of a YAML stream, through the safe loader only (PyYAML is imported on first use:
    most runs read no YAML file, and importing it costs a tenth of a small project's run)."""
    from pgforklint.read.yaml_safe import load_documents

    return load_documents(text)


def _template_hint(text: str) -> str:
    if any(marker in text for marker in _TEMPLATE_MARKERS):
        return " (the file contains template syntax such as `{{ ... }}`; render it first, e.g. `helm template`, and lint the output)"
    return ""


def _short(exc: BaseException | str, limit: int = 160) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_toml(text: str) -> dict:
    tomllib = tomllib_module()
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None) or _line_from_message(str(exc))
        if "end of document" in str(exc):  # tomllib names no line: the last one with text
            line = len(text.rstrip().splitlines()) or 1
        raise ReadError(f"invalid TOML: {exc}", line=line) from None
    except RecursionError:
        raise ReadError("TOML too deeply nested to parse") from None
    except (ValueError, OverflowError) as exc:  # e.g. an integer beyond Python's digit limit
        raise ReadError(f"invalid TOML value: {_short(exc)}") from None


def _line_from_message(message: str) -> int:
    import re

    match = re.search(r"line (\d+)", message)
    return int(match.group(1)) if match else 1


def load_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReadError(f"invalid JSON: {exc.msg}", line=exc.lineno, column=exc.colno) from None
    except RecursionError:
        raise ReadError("JSON too deeply nested to parse") from None
    except (ValueError, OverflowError) as exc:  # e.g. an integer beyond Python's digit limit
        raise ReadError(f"invalid JSON value: {_short(exc)}") from None


class IniFile:
    """An INI file: sections of key -> (value, line). Repeated keys keep every value (uWSGI allows repeats)."""

    def __init__(self) -> None:
        self.sections: dict[str, list[tuple[str, str, int]]] = {}

    def section(self, name: str) -> list[tuple[str, str, int]] | None:
        return self.sections.get(name)

    def get(self, section: str, key: str) -> tuple[str, int] | None:
        found = None
        for name, value, line in self.sections.get(section, []):
            if name == key:
                found = (value, line)
        return found


def load_ini(text: str) -> IniFile:
    """A small line-based INI reader with line numbers (configparser loses them and rejects repeated keys)."""
    result = IniFile()
    current: list[tuple[str, str, int]] | None = None
    last: tuple[list, int] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise ReadError(f"invalid INI: unterminated section header {line!r}", line=number)
            current = result.sections.setdefault(line[1:-1].strip(), [])
            last = None
            continue
        if raw[:1] in (" ", "\t") and last is not None:
            entries, index = last
            key, value, where = entries[index]
            entries[index] = (key, (value + "\n" + line).strip(), where)
            continue
        if current is None:
            raise ReadError("invalid INI: key outside of a [section]", line=number)
        for separator in ("=", ":"):
            if separator in line:
                key, value = line.split(separator, 1)
                break
        else:
            key, value = line, "true"
        current.append((key.strip(), value.strip(), number))
        last = (current, len(current) - 1)
    return result


__all__ = ["LineDict", "LineList", "IniFile", "load_yaml_documents", "load_toml", "load_json", "load_ini"]
