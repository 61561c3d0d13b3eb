"""A helper process that reads ahead on a second core while the analysis walks a large tree.

It does the two kinds of work whose answers are small and whose inputs are known early:

- the byte scan of every Python file for the needles adapters prefilter with (`Project.contains`),
  which a large tree needs in full (entry scripts, settings modules, agents);
- the parse check of each module the import-time walk defers (`prefilter.defer`): such a module is
  never walked unless something reaches it, but a syntax error in it is still reported (PGF100).

The helper is a fork of this process made right after discovery, so it already holds the file list:
requests are indices into `Discovery.files` and answers are a few numbers. It writes nothing but its
answers, touches no cache, and ends with `os._exit`. It is used only on trees with at least
`MIN_PYTHON_FILES` Python files, where `os.fork` exists and this process runs one thread; if it fails
in any way the analysis does the same work itself, so the findings never depend on it.
`PGFORKLINT_NO_READAHEAD=1` turns it off.
"""

from __future__ import annotations

import json
import os
import struct

from pgforklint.discover import Discovery, FileKind, SourceFile
from pgforklint.project import needle_mask

# Below this many Python files the scan takes less than starting the helper saves (about 2 ms).
MIN_PYTHON_FILES = 500
_HEADER = struct.Struct("!I")
_CHUNK = 128  # needle masks per message
# This process never waits on the helper without a bound: it checks every POLL_SECONDS that the helper
# still runs (a stopped one is killed), gives up after ANSWER_SECONDS without a byte, and kills it at
# the end if it has not exited CLOSE_SECONDS after its pipes closed. Giving up costs only time: the
# work is then done here.
POLL_SECONDS = 0.2
ANSWER_SECONDS = 30.0
CLOSE_SECONDS = 2.0


def enabled() -> bool:
    return os.environ.get("PGFORKLINT_NO_READAHEAD", "") in ("", "0")


class ReadAhead:
    """The parent's end: needle masks for every Python file, parse checks on request."""

    def __init__(self, pid: int, requests: int, answers: int, discovery: Discovery, python: list[int],
                 needles: tuple[bytes, ...]):
        self.pid = pid
        self._requests: int | None = requests
        self._answers: int | None = answers
        self._files = discovery.files
        self._python = python
        self.needles = needles
        self._index = {source.rel: number for number, source in enumerate(discovery.files)}
        self._needles: dict[str, int | None] | None = None
        self._asked: dict[str, int] = {}
        self.failed = False

    @classmethod
    def start(cls, discovery: Discovery, needles: tuple[bytes, ...]) -> ReadAhead | None:
        if not enabled() or not hasattr(os, "fork") or not _single_threaded():
            return None
        python = [n for n, source in enumerate(discovery.files) if source.kind is FileKind.PYTHON]
        if len(python) < MIN_PYTHON_FILES:
            return None
        request_read, request_write = os.pipe()
        answer_read, answer_write = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            for fd in (request_read, request_write, answer_read, answer_write):
                os.close(fd)
            return None
        if pid == 0:  # the helper
            try:
                os.close(request_write)
                os.close(answer_read)
                _serve(discovery.files, python, needles, request_read, answer_write)
            except BaseException:  # noqa: BLE001 - the parent notices the missing answer and does the work
                pass
            finally:
                os._exit(0)
        os.close(request_read)
        os.close(answer_write)
        # This process never waits to hand work over: a request the pipe cannot take now is done here.
        # (A blocking write could wait on a helper that waits for this process to read its answers.)
        os.set_blocking(request_write, False)
        return cls(pid, request_write, answer_read, discovery, python, needles)

    def needle_mask(self, rel: str) -> int | None:
        """Bit i set: the file contains needles[i]; None when there is no answer for this file (over the
        size cap or unreadable): the caller reads it itself."""
        if self._needles is None:
            self._needles = self._collect_needles()
        mask = self._needles.get(rel)
        return mask if isinstance(mask, int) and mask >= 0 else None

    def _collect_needles(self) -> dict[str, int]:
        """Every Python file's needle mask: the helper's chunks from the first file on, while this process
        scans from the last file back, until the two meet (then the helper is told to stop scanning)."""
        count = len(self._python)
        masks: list[int | None] = [None] * count
        frontier, own = 0, count  # the helper has sent [0, frontier); this process has done [own, count)
        while frontier < own:
            if not self.failed and (own % 8 == 0 or own - frontier <= 1) and self._answer_ready():
                message = self._receive()
                chunk = message.get("masks") if isinstance(message, dict) else None
                if _is_chunk(chunk, frontier, count):
                    start, values = chunk
                    masks[start:start + len(values)] = values
                    frontier = start + len(values)
                else:
                    self.failed = True
                continue
            own -= 1
            masks[own] = needle_mask(self._files[self._python[own]], self.needles)
        if frontier < count:
            self._tell(b"S")
        return {self._files[number].rel: mask for number, mask in zip(self._python, masks)}

    def _answer_ready(self) -> bool:
        import select

        try:
            return bool(select.select([self._answers], [], [], 0)[0])
        except (OSError, ValueError):
            self.failed = True
            return False

    def _tell(self, line: bytes) -> bool:
        if self._requests is None or self.failed:
            return False
        try:
            os.write(self._requests, line + b"\n")  # one line is below PIPE_BUF: written whole or not at all
        except BlockingIOError:
            return False
        except OSError:
            self.failed = True
            return False
        return True

    def ask_parses(self, rel: str) -> bool:
        """Queue a parse check; False when the helper cannot take it (the caller checks it itself)."""
        index = self._index.get(rel)
        if index is None or not self._tell(b"%d" % index):
            return False
        self._asked[rel] = index
        return True

    def parse_answers(self) -> dict[str, bool]:
        """Every check asked for that the helper answered (rel -> parses); ends the helper."""
        if self._requests is not None:
            os.close(self._requests)
            self._requests = None
        answers: dict[str, bool] = {}
        message = self._receive()
        while isinstance(message, dict) and "masks" in message:  # chunks nobody asked for
            message = self._receive()
        checked = message.get("parses") if isinstance(message, dict) else None
        if isinstance(checked, dict):
            for rel, index in self._asked.items():
                verdict = checked.get(str(index))
                if isinstance(verdict, bool):
                    answers[rel] = verdict
        self.close()
        return answers

    def close(self) -> None:
        """Ends the helper: its pipes closed (it exits on its own), else killed after CLOSE_SECONDS."""
        for name in ("_requests", "_answers"):
            fd = getattr(self, name)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)
        if self.pid:
            import time

            deadline = time.monotonic() + CLOSE_SECONDS
            try:
                while not os.waitpid(self.pid, os.WNOHANG)[0]:
                    if time.monotonic() > deadline:  # stopped or stuck: never waited on without a bound
                        import signal

                        os.kill(self.pid, signal.SIGKILL)
                        os.waitpid(self.pid, 0)
                        break
                    time.sleep(0.005)
            except (ChildProcessError, ProcessLookupError):
                pass
            self.pid = 0

    def _alive(self) -> bool:
        """The helper is running: not ended, not stopped (SIGSTOP, a debugger)."""
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG | os.WUNTRACED)
        except ChildProcessError:
            return False
        if pid == 0:
            return True
        if os.WIFSTOPPED(status):
            import signal

            os.kill(self.pid, signal.SIGKILL)  # it would never answer; close() reaps it
            return False
        self.pid = 0  # ended and reaped here
        return False

    def _read_exactly(self, size: int) -> bytes | None:
        """`size` bytes of answer, waiting only while the helper is alive and for at most ANSWER_SECONDS of
        silence; None when they do not come (the caller does the work itself)."""
        import select
        import time

        chunks = []
        silent_since = time.monotonic()
        while size:
            ready = select.select([self._answers], [], [], POLL_SECONDS)[0]
            if not ready:
                if not self.pid or not self._alive() or time.monotonic() - silent_since > ANSWER_SECONDS:
                    return None
                continue
            chunk = os.read(self._answers, min(size, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            size -= len(chunk)
            silent_since = time.monotonic()
        return b"".join(chunks)

    def _receive(self) -> object:
        if self._answers is None or self.failed:
            return None
        try:
            header = self._read_exactly(_HEADER.size)
            if header is None:
                raise OSError("the helper ended early, stopped or went silent")
            payload = self._read_exactly(_HEADER.unpack(header)[0])
            if payload is None:
                raise OSError("the helper ended early, stopped or went silent")
            return json.loads(payload)
        except (OSError, ValueError):
            self.failed = True
            return None


def _single_threaded() -> bool:
    import sys

    threading = sys.modules.get("threading")  # not imported: certainly one thread
    return threading is None or threading.active_count() == 1


def _send(fd: int, message: object) -> None:
    payload = json.dumps(message, separators=(",", ":")).encode()
    data = _HEADER.pack(len(payload)) + payload
    while data:
        data = data[os.write(fd, data):]


def _is_chunk(chunk: object, frontier: int, count: int) -> bool:
    return (isinstance(chunk, list) and len(chunk) == 2 and chunk[0] == frontier and isinstance(chunk[1], list)
            and 0 < len(chunk[1]) <= count - frontier)


def _serve(files: list[SourceFile], python: list[int], needles: tuple[bytes, ...], requests: int, answers: int) -> None:
    import select

    from pgforklint.read.python import parses

    checks: list[int] = []
    pending = b""
    ended = stop = False

    def take(data: bytes) -> None:
        nonlocal pending, stop
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line == b"S":
                stop = True
            elif line:
                checks.append(int(line))

    position = 0
    while position < len(python) and not stop and not ended:
        end = min(position + _CHUNK, len(python))
        _send(answers, {"masks": [position, [needle_mask(files[python[n]], needles) for n in range(position, end)]]})
        position = end
        while select.select([requests], [], [], 0)[0]:
            data = os.read(requests, 1 << 16)
            if not data:
                ended = True
                break
            take(data)
    checked: dict[int, bool] = {}
    while True:
        for number in checks:
            if number not in checked:
                checked[number] = parses(files[number].path, files[number].rel)
        checks.clear()
        if ended:
            break
        data = os.read(requests, 1 << 16)
        if not data:
            break
        take(data)
    _send(answers, {"parses": checked})
