"""Opening files a hostile repository controls: never block, never read without a bound, never write
where the repository points.

Every read of a repository file goes through `read_regular`: the open is non-blocking (a named pipe
opened for reading would otherwise wait for a writer forever), the descriptor is checked with `fstat`
before any read (only regular files are read: a `.git` that is `/dev/zero` or a socket is refused), and
at most `limit` bytes are read. Writes of the tool's own files (the cache) go through `write_private`:
a new file with a random name created exclusively (`O_EXCL`, `O_NOFOLLOW`) in a folder the user owns,
then renamed into place, so a symlink planted under the final name is replaced, never followed.

Also here, because they guard the same boundary (issue 19): trust of files above the project
(`trusted_file`: git's ownership rule), counts parsed from repository text (`parse_count`), the
static evaluator's and the import-time walk's budgets (`bounded_arithmetic`, `bounded_items`,
`spend_walk`), output errors (`open_output_streams`, `output_error`), and what `--fix`/`--diff` may
read and write (`fix_refusal`, `fixed_text_refusal`, `write_project_files`).
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


def owned_by_user(status: os.stat_result, project_owner: int | None = None) -> bool:
    """Owned by this user, by root, or by whoever owns the linted project (a checkout mounted into a
    container runs as root on files of another uid): git's idea of a trustworthy repository, minus
    `safe.directory`. A file another user planted in a shared folder such as `/tmp` is none of these."""
    getuid = getattr(os, "getuid", None)
    if getuid is None:  # pragma: no cover - Windows: no owners to compare
        return True
    return status.st_uid in (getuid(), 0) or status.st_uid == project_owner


def owner_of(path) -> int | None:
    try:
        return os.stat(path).st_uid
    except OSError:
        return None


def trusted_file(path, project_owner: int | None = None) -> bool:
    """A regular file (followed through links) and the folder holding it both owned as `owned_by_user` asks."""
    try:
        status = os.stat(path)
        folder = os.stat(os.path.dirname(os.path.abspath(path)) or ".")
    except (OSError, ValueError):
        return False
    return (stat.S_ISREG(status.st_mode) and owned_by_user(status, project_owner)
            and owned_by_user(folder, project_owner))


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
            _write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(temporary, os.path.join(folder, name))
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def parse_count(text: object, max_digits: int = 12) -> int | None:
    """A non-negative integer written in ASCII digits (`" 4 "`), else None: `'²'.isdigit()` is true but
    `int('²')` raises, and `int()` of more than 4,300 digits raises too; a count that long is not real."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    if not text or len(text) > max_digits or not text.isascii() or not text.isdigit():
        return None
    return int(text)


# Values the static evaluator computes from repository code stay this small: `workers *= workers` forty
# times would otherwise need 2**40 bits, and `x += x` on a list doubles it per line.
MAX_EVALUATED_BITS = 256
MAX_EVALUATED_ITEMS = 10_000


def bounded_arithmetic(operation, left, right):
    """`operation(left, right)` on numbers the evaluator knows, or None (unknown) when an operand or the
    result is too large to be a real setting, or the operation fails (`1 // 0`, a float overflow)."""
    for operand in (left, right):
        if isinstance(operand, int) and operand.bit_length() > MAX_EVALUATED_BITS:
            return None
    try:
        result = operation(left, right)
    except (ArithmeticError, ValueError):
        return None
    if isinstance(result, int) and result.bit_length() > MAX_EVALUATED_BITS:
        return None
    if isinstance(result, float) and (result != result or result in (float("inf"), float("-inf"))):
        return None  # NaN or an overflow
    return result


# The import-time walk follows function calls into their bodies: `f0` calling `f1` ten times, `f1`
# calling `f2` ten times ... is 10**depth walks. Each body is walked at most MAX_WALKS_PER_FUNCTION
# times and all bodies MAX_FUNCTION_WALKS times in a run; past that a call's value is unknown and a
# notice says so (findings already made are kept).
MAX_WALKS_PER_FUNCTION = 1000
MAX_FUNCTION_WALKS = 50_000


def spend_walk(walker, key) -> str | None:
    """Count one walk of the function body `key`; the bound reached (for the notice), or None."""
    counts = walker.__dict__.setdefault("_walks_per_function", {})
    total = counts.get(None, 0) + 1
    counts[None] = total
    walks = counts.get(key, 0) + 1
    counts[key] = walks
    if total > MAX_FUNCTION_WALKS:
        return f"more than {MAX_FUNCTION_WALKS} function calls followed in one run"
    if walks > MAX_WALKS_PER_FUNCTION:
        return f"a function called more than {MAX_WALKS_PER_FUNCTION} times on the way (each call walks it again)"
    return None


def bounded_items(items: list) -> list:
    """A list the evaluator builds (`x += x`), cut to MAX_EVALUATED_ITEMS."""
    return items if len(items) <= MAX_EVALUATED_ITEMS else items[:MAX_EVALUATED_ITEMS]


# --- output --------------------------------------------------------------------------------------


def open_output_streams() -> None:
    """A closed stdout or stderr (`pgforklint >&-`) is None in Python: give it a stream that fails on
    write like a closed descriptor, so that the run ends with an output error, not an AttributeError."""
    import sys

    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, _ClosedStream())


class _ClosedStream:
    def write(self, text: str) -> int:
        raise OSError(9, "standard output is closed")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


_OUTPUT_ERRNOS = {"ENOSPC", "EDQUOT", "EIO", "EPIPE", "EBADF", "EFBIG", "EROFS"}


def output_error(exc: BaseException) -> str | None:
    """One line for an error writing the output (a full disk, a closed stdout), else None."""
    import errno

    if not isinstance(exc, OSError) or isinstance(exc, NotRegularFile) or exc.filename is not None:
        return None
    if errno.errorcode.get(exc.errno or 0) not in _OUTPUT_ERRNOS:
        return None
    return f"pgforklint: error: cannot write the output: {exc.strerror or exc}\n"


# --- `--fix` and `--diff` ---------------------------------------------------------------------------

# libcst's native parser recurses once per operand of a boolean or binary chain and per nesting level:
# a valid 10,000-term `a or b or ...` overflows its stack (SIGSEGV, not an exception). 3,000 parse.
MAX_FIX_NESTING = 1000


def fix_nesting(text: str) -> int:
    """How deep libcst's parser would recurse on `text`, about: nesting levels plus the operands of
    boolean, binary and comparison chains along one path (counted without recursion)."""
    import ast
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return 0  # the fix's own parse check reports it
    deepest = 0
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, ast.BoolOp):
            depth += len(node.values)
        elif isinstance(node, ast.Compare):
            depth += len(node.ops) + 1
        else:
            depth += 1
        if depth > deepest:
            deepest = depth
            if deepest > MAX_FIX_NESTING:
                return deepest
        stack.extend((child, depth) for child in ast.iter_child_nodes(node))
    return deepest


_analysis = None  # the pgforklint.project.Project the findings being fixed came from


def remember_analysis(project) -> None:
    """The analysis a round of fixes is based on: a file whose text differs from what it read is left alone."""
    global _analysis
    _analysis = project


def _changed_since_analysis(root, rel: str, text: str) -> bool:
    cache = getattr(_analysis, "_cache", None)
    analysed = getattr(_analysis, "root", None)
    if not isinstance(cache, dict) or analysed is None or os.path.realpath(root) != os.path.realpath(analysed):
        return False
    seen = cache.get((rel, "python")) or cache.get((rel, "text"))
    seen = getattr(seen, "text", seen)
    return isinstance(seen, str) and seen.replace("\r\n", "\n").replace("\r", "\n") != \
        text.replace("\r\n", "\n").replace("\r", "\n")


def fix_refusal(root, rel: str, source, python: bool) -> str | None:
    """Why `--fix`/`--diff` must leave `rel` alone (None: it may be edited). `source` is the
    `fix.source.SourceText` the fixer read. Checked before any edit is computed:

    - the path, through every symlink, stays inside the project (a `gunicorn.conf.py` link to a file
      outside is never read into the repository nor written through), and names a regular file;
    - the text round-trips through its encoding exactly (`coding: unicode_escape` or `idna` would turn
      the file into something else when written back);
    - libcst can parse it without overflowing its stack."""
    root_real = os.path.realpath(root)
    path = os.path.join(root, rel)
    real = os.path.realpath(path)
    if real != root_real and not real.startswith(root_real.rstrip(os.sep) + os.sep):
        return "it is a symbolic link to a file outside the project; not followed"
    if os.path.lexists(path):
        try:
            status = os.stat(path)
        except OSError as exc:
            return f"cannot read: {exc.strerror or exc}"
        if not stat.S_ISREG(status.st_mode):
            return f"{kind_of_special(status.st_mode)}, not a regular file"
    if getattr(source, "exists", False):
        try:
            data = read_regular(path, 64 * 1024 * 1024)
            body = data[3:] if getattr(source, "bom", False) else data
            if body.decode(source.encoding) != source.text or source.encode(source.text) != data:
                raise ValueError
        except (OSError, ValueError, LookupError, UnicodeError):
            return f"its encoding ({source.encoding}) does not give back the same bytes; edit it by hand"
        if _changed_since_analysis(root, rel, source.text):
            return "changed since the analysis; not edited (run pgforklint again)"
        if python and fix_nesting(source.text) > MAX_FIX_NESTING:
            return "nested too deeply for the fixer's parser (libcst); edit it by hand"
    return None


def fixed_text_refusal(source, text: str) -> str | None:
    """Why the fixed `text` cannot be written back in the file's encoding (None: it can, exactly)."""
    try:
        data = source.encode(text)
        body = data[3:] if getattr(source, "bom", False) else data
        if body.decode(source.encoding) == text:
            return None
    except (ValueError, LookupError, UnicodeError):
        pass
    return f"the fixed text cannot be written in the file's encoding ({source.encoding}) exactly; edit it by hand"


def content_digest(data: bytes) -> str:
    try:
        from _blake2 import blake2b
    except ImportError:  # pragma: no cover
        from hashlib import blake2b
    return blake2b(data, digest_size=16).hexdigest()


def write_project_files(root, changes: list[tuple[str, bytes, bytes | None]]) -> tuple[list[str], list[tuple[str, str]]]:
    """Write `(rel, new bytes, bytes the edit was computed from or None for a new file)` all together or
    not at all. Returns (files written, [(file, reason)] problems).

    Every target is checked first: still the content the edit was computed from (its digest: an editor or
    a `git checkout` since the analysis makes it refuse), still inside the project through every symlink.
    An in-tree symlink is written at its target (it stays a link); a file with hard links is rewritten in
    place (the links stay one file); others through a temporary file created exclusively in the same
    folder, renamed into place. If any write fails, the files already written get their old bytes back;
    what could not be restored is named in the problems."""
    problems: list[tuple[str, str]] = []
    root_real = os.path.realpath(root)
    targets = []
    for rel, new, old in changes:
        real = os.path.realpath(os.path.join(root, rel))
        if real != root_real and not real.startswith(root_real.rstrip(os.sep) + os.sep):
            problems.append((rel, "it is a symbolic link to a file outside the project; not written"))
            continue
        try:
            current = read_regular(real, 64 * 1024 * 1024) if os.path.lexists(real) else None
        except OSError as exc:
            problems.append((rel, f"cannot read it again: {exc.strerror or exc}"))
            continue
        if (current is None) != (old is None) or (current is not None and content_digest(current) != content_digest(old)):
            problems.append((rel, "changed since the analysis; not written (run --fix again)"))
            continue
        targets.append((rel, real, new, current))
    if problems:
        return [], problems
    prepared = []  # (rel, real, temporary or None for in-place, new, old)
    try:
        for rel, real, new, old in targets:
            folder = os.path.dirname(real)
            os.makedirs(folder, exist_ok=True)
            links = os.stat(real).st_nlink if old is not None else 1
            if links > 1:
                prepared.append((rel, real, None, new, old))
                continue
            temporary = os.path.join(folder, f".{os.path.basename(real)}.{os.urandom(6).hex()}.pgforklint-tmp")
            mode = (os.stat(real).st_mode & 0o7777) if old is not None else 0o666
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, mode)
            try:
                _write_all(fd, new)
                os.fsync(fd)
            finally:
                os.close(fd)
            if old is not None:
                os.chmod(temporary, mode)
            prepared.append((rel, real, temporary, new, old))
    except OSError as exc:
        for _, _, temporary, _, _ in prepared:
            if temporary:
                _unlink_quietly(temporary)
        return [], [("(all files)", f"nothing written: {exc.strerror or exc}")]
    written: list[tuple[str, str, bytes | None]] = []
    try:
        for rel, real, temporary, new, old in prepared:
            if temporary is None:
                _rewrite_in_place(real, new)
            else:
                os.replace(temporary, real)
            written.append((rel, real, old))
    except OSError as exc:
        problems.append(("(all files)", f"a write failed ({exc.strerror or exc}); the files written before it "
                                        "were restored"))
        for _, _, temporary, _, _ in prepared:
            if temporary and os.path.lexists(temporary):
                _unlink_quietly(temporary)
        for rel, real, old in written:
            try:
                if old is None:
                    os.unlink(real)
                else:
                    _rewrite_in_place(real, old)
            except OSError as restore:
                problems.append((rel, f"changed, and could not be restored: {restore.strerror or restore}"))
        return [rel for rel, _, _ in written if any(p[0] == rel for p in problems)], problems
    return [rel for rel, _, _ in written], []


def _rewrite_in_place(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | _NOFOLLOW)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    """Every byte of `data` to `fd` (a write may take only part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
