"""Reading and writing the files a fix touches, byte for byte except for the edit.

A file keeps its encoding (PEP 263 cookie or UTF-8 BOM) and its line endings (CRLF stays CRLF);
it is written atomically (a temporary file in the same folder, then `os.replace`) with its mode.
"""

from __future__ import annotations

import codecs
import io
import os
import tempfile
import tokenize
from pathlib import Path

from pgforklint.records import record


@record
class SourceText:
    """A file's text as decoded, with what is needed to write it back the same way."""

    text: str
    encoding: str = "utf-8"
    bom: bool = False
    newline: str = "\n"
    exists: bool = True

    def encode(self, text: str) -> bytes:
        data = text.encode(self.encoding)
        return (codecs.BOM_UTF8 + data) if self.bom else data


def detect_newline(text: str) -> str:
    index = text.find("\n")
    if index > 0 and text[index - 1] == "\r":
        return "\r\n"
    if index < 0 and "\r" in text:
        return "\r"
    return "\n"


def read_source(path: Path, python: bool = True) -> SourceText:
    if not path.exists():
        return SourceText("", exists=False)
    data = path.read_bytes()
    bom = data.startswith(codecs.BOM_UTF8)
    encoding = "utf-8"
    if python:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        if encoding == "utf-8-sig":
            encoding = "utf-8"
    body = data[len(codecs.BOM_UTF8):] if bom else data
    text = body.decode(encoding)
    return SourceText(text, encoding, bom, detect_newline(text), True)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder, keeping the file's mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = None
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".pgforklint-tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def python_parses(text: str) -> str | None:
    """None when `text` is valid Python (stdlib compile and libcst), else the reason."""
    from pgforklint.errors import ReadError
    from pgforklint.read.python import parse_python

    try:
        parse_python(text)  # the stdlib parser, and syntax newer than this interpreter (read/newer_syntax.py)
    except ReadError as exc:
        return f"{exc.reason} (line {exc.line})" if exc.line else exc.reason
    import libcst

    try:
        libcst.parse_module(text)
    except Exception as exc:  # noqa: BLE001 - libcst raises several kinds
        return f"cannot parse: {type(exc).__name__}"
    return None
