"""Opening files a hostile repository controls: never block, never read without a bound, never write
where the repository points.

Every read of a repository file goes through `read_regular`: the open is non-blocking (a named pipe
opened for reading would otherwise wait for a writer forever), the descriptor is checked with `fstat`
before any read (only regular files are read: a `.git` that is `/dev/zero` or a socket is refused), and
at most `limit` bytes are read. Writes of the tool's own files (the cache) go through `write_private`:
a new file with a random name created exclusively (`O_EXCL`, `O_NOFOLLOW`) in a folder the user owns,
then renamed into place, so a symlink planted under the final name is replaced, never followed.
"""

from __future__ import annotations

import os
import stat

_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | _NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class NotRegularFile(OSError):
    """The path names something other than a regular file (a FIFO, socket, device or folder)."""

    def __init__(self, mode: int):
        super().__init__(f"{kind_of_special(mode)}, not a regular file; not read")
        self.strerror = str(self)


def kind_of_special(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device file"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def open_regular(path, follow_symlinks: bool = True) -> tuple[int, os.stat_result]:
    """A read-only descriptor on a regular file, with its `fstat` (OSError otherwise; nothing left open)."""
    fd = os.open(path, _READ_FLAGS | (0 if follow_symlinks else _NOFOLLOW))
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise NotRegularFile(status.st_mode)
    except BaseException:
        os.close(fd)
        raise
    return fd, status


def read_fd(fd: int, limit: int) -> bytes:
    """At most `limit` bytes from an open descriptor (short reads continued until the end or the limit)."""
    data = os.read(fd, limit)
    if not data or len(data) >= limit:
        return data
    chunks = [data]
    total = len(data)
    while total < limit:
        try:
            data = os.read(fd, limit - total)
        except BlockingIOError:  # cannot happen on a regular file; never wait for it
            break
        if not data:
            break
        chunks.append(data)
        total += len(data)
    return b"".join(chunks)


def read_regular(path, limit: int, follow_symlinks: bool = True) -> bytes:
    """At most `limit` bytes from the start of a regular file (OSError, including `NotRegularFile`).

    Unbuffered system calls: a buffered `open()` costs about twice as much per file, which counts when
    every Python file of a large tree is scanned."""
    fd, _ = open_regular(path, follow_symlinks)
    try:
        return read_fd(fd, limit)
    finally:
        os.close(fd)


def read_chunks(path, size: int = 1024 * 1024):
    """A regular file's bytes in chunks of at most `size` (for scans of files over the size cap)."""
    fd, _ = open_regular(path)
    try:
        while True:
            chunk = read_fd(fd, size)
            if not chunk:
                return
            yield chunk
    finally:
        os.close(fd)


def owned_by_user(status: os.stat_result) -> bool:
    """Owned by this user or by root: git's rule for trusting a repository's files (`safe.directory`)."""
    getuid = getattr(os, "getuid", None)
    if getuid is None:  # pragma: no cover - Windows: no owners to compare
        return True
    return status.st_uid in (getuid(), 0)


def trusted_file(path) -> bool:
    """A regular file (followed through links) and the folder holding it both owned by this user or root."""
    try:
        status = os.stat(path)
        folder = os.stat(os.path.dirname(os.path.abspath(path)) or ".")
    except (OSError, ValueError):
        return False
    return stat.S_ISREG(status.st_mode) and owned_by_user(status) and owned_by_user(folder)


def private_folder(folder) -> bool:
    """A real folder (not a symlink) owned by this user and not writable by others: safe to write in."""
    try:
        status = os.lstat(folder)
    except OSError:
        return False
    getuid = getattr(os, "getuid", None)
    if getuid is None:  # pragma: no cover
        return stat.S_ISDIR(status.st_mode)
    return stat.S_ISDIR(status.st_mode) and status.st_uid == getuid() and not status.st_mode & 0o022


def make_private_folder(folder) -> bool:
    """Create `folder` (and missing parents) for this user only; True when it is then safe to write in."""
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError:
        return False
    return private_folder(folder)


def write_private(folder, name: str, data: bytes) -> None:
    """Replace `folder/name` with `data`: a temporary file with a random name, created exclusively and
    never through a symlink, then renamed over the name (OSError when it cannot be done)."""
    temporary = os.path.join(folder, f".{name}.{os.urandom(8).hex()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(temporary, os.path.join(folder, name))
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
