from __future__ import annotations

import re
from pathlib import Path

from pgforklint.discover import MAX_FILE_BYTES
from pgforklint.errors import ReadError
from pgforklint.safeio import NotRegularFile, read_regular

def read_head(path: Path | str, limit: int) -> bytes:
    """At most `limit` bytes from the start of a regular file (OSError as the system reports it, or
    `safeio.NotRegularFile`): a file swapped for a named pipe after discovery never blocks the run."""
    return read_regular(path, limit)


def read_bytes(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    try:
        data = read_head(path, limit + 1)
    except PermissionError:
        raise ReadError("permission denied") from None
    except IsADirectoryError:
        raise ReadError("is a directory") from None
    except NotRegularFile as exc:
        raise ReadError("is a directory" if "directory" in exc.strerror else exc.strerror) from None
    except OSError as exc:
        raise ReadError(f"cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise ReadError(f"file is larger than the {limit // (1024 * 1024)} MiB size cap; not analysed")
    return data


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without a BOM). Configuration formats have no encoding cookies."""
    if b"\x00" in data:
        raise ReadError("binary file (contains NUL bytes)")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ReadError(f"not valid UTF-8 (byte 0x{data[exc.start]:02x})", line=line) from None


_CONFLICT_START = re.compile(r"^<{7}(?: |$)", re.MULTILINE)
_CONFLICT_END = re.compile(r"^>{7}(?: |$)", re.MULTILINE)


def check_conflict_markers(text: str) -> None:
    """An unresolved merge (`<<<<<<<` ... `>>>>>>>` at the start of lines) makes any format unreadable."""
    if "<<<<<<<" not in text:
        return
    start = _CONFLICT_START.search(text)
    if start is not None and _CONFLICT_END.search(text, start.end()):
        line = text.count("\n", 0, start.start()) + 1 if "\n" in text else text.count("\r", 0, start.start()) + 1
        raise ReadError("unresolved merge conflict (`<<<<<<<` marker)", line=line)


def read_text(path: Path) -> str:
    text = decode_text(read_bytes(path))
    check_conflict_markers(text)
    return text
