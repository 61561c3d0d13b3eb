"""Harness for the runtime evidence suite (marker ``runtime``).

Every test in this directory starts the real server (gunicorn, Celery prefork, uWSGI) on a
fixture project from ``tests/fixtures/rt_*``, drives bounded load against a real PostgreSQL and
checks that the hazard fails and the fix holds.  Each test then runs the linter on the same
fixture (:func:`assert_static`).

Conventions:

* Tools are looked up next to ``sys.executable`` (the virtualenv's ``bin``).  A missing tool,
  driver or PostgreSQL server skips the test, except when ``CI=true``: then it fails.
* The shared server comes from the libpq variables ``PGHOST``/``PGPORT``/``PGUSER``/
  ``PGDATABASE`` (default ``127.0.0.1:5432``, user and database ``postgres``, trust auth).
  Private throwaway clusters (budget, TLS, server-log measurements) are created with ``initdb``
  in a temporary directory, on a free port of 127.0.0.1, as the ``postgres`` OS user when the
  suite runs as root.
* Every process is started in its own session (process group) and stopped by PID at teardown:
  first the polite signal, then ``SIGKILL`` to the whole group.
* Helpers are module-level functions here; test modules reach them through the session fixture
  ``rt`` (this module), which works whatever pytest import mode the project uses.

Set ``PGF_RT_RESULTS=/path/file.json`` to also write every measurement as JSON.  The measured
numbers are written up in ``rules/runtime/``.

Packages the fixtures and this harness need (beyond pytest), installed into the interpreter that
runs pytest: ``gunicorn``, ``celery``, ``uwsgi`` (built from source: needs a C compiler and the
Python headers), ``flask``, ``sqlalchemy>=2.0`` (``dispose(close=False)`` needs >= 1.4.33),
``psycopg2-binary``, ``psycopg[binary]``.  Server side: PostgreSQL server binaries (``initdb``,
``postgres``) and ``openssl`` for the private clusters.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterable
from pathlib import Path

import pytest

RUNTIME_DIR = Path(__file__).resolve().parent
REPO = RUNTIME_DIR.parents[1]
FIXTURES = REPO / "tests" / "fixtures"
IN_CI = os.environ.get("CI", "").strip().lower() == "true"
# Debian/Ubuntu layout; the newest installed major version first.
PG_BIN_CANDIDATES = sorted(
    Path("/usr/lib/postgresql").glob("*/bin"),
    key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True,
)

# --------------------------------------------------------------------------------------------
# pytest wiring


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "runtime: runs real forking servers (gunicorn, Celery, uWSGI) against a real PostgreSQL; "
        "slow; needs the test extra and a PostgreSQL server (see tests/runtime/conftest.py)",
    )


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = Path(str(getattr(item, "path", item.fspath))).resolve()
        if RUNTIME_DIR in path.parents:
            item.add_marker(pytest.mark.runtime)


_RESULTS: list[dict] = []


def record(name: str, **data) -> None:
    """Keep one measurement for the end-of-session table (and PGF_RT_RESULTS)."""
    entry = {"name": name, **data}
    _RESULTS.append(entry)
    print(f"[runtime] {name}: " + json.dumps(data, default=str, sort_keys=True))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _RESULTS:
        return
    tr = terminalreporter
    tr.section("runtime evidence (measured)")
    for entry in _RESULTS:
        data = {k: v for k, v in entry.items() if k != "name"}
        first = ("requests", "tasks", "failures", "wrong_rows", "workers", "backends",
                 "shared_backends", "peak", "expected_peak", "duration_s")
        parts = [f"{key}={data[key]}" for key in first if key in data]
        parts += [f"{key}={value}" for key, value in data.items()
                  if key not in first and key != "top_errors" and value != 0
                  and isinstance(value, (int, float, str, bool))]
        top = data.get("top_errors") or []
        if top:
            parts.append(f"top_error={top[0][0]!r} x{top[0][1]}")
        tr.write_line(f"{entry['name']}: " + ", ".join(parts))
    out = os.environ.get("PGF_RT_RESULTS")
    if out:
        Path(out).write_text(json.dumps(_RESULTS, indent=2, default=str) + "\n")


@pytest.fixture(scope="session")
def rt():
    """This module: the helpers below, reachable from test modules in any import mode."""
    return sys.modules[__name__]


# --------------------------------------------------------------------------------------------
# availability


def unavailable(reason: str):
    """Skip locally; fail under CI=true (a missing tool there is a broken pipeline)."""
    if IN_CI:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def tool(name: str) -> Path:
    path = Path(sys.executable).parent / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        unavailable(f"{name} is not installed next to {sys.executable} (install the test extra)")
    return path


def require_module(name: str):
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        unavailable(f"Python module {name!r} is not importable ({exc}); install the test extra")


def pg_bin(name: str) -> Path:
    for directory in PG_BIN_CANDIDATES:
        if (directory / name).is_file():
            return directory / name
    found = shutil.which(name)
    if found:
        return Path(found)
    unavailable(f"PostgreSQL server binary {name!r} not found "
                "(looked in /usr/lib/postgresql/*/bin and PATH)")


# --------------------------------------------------------------------------------------------
# PostgreSQL


@dataclasses.dataclass
class PgServer:
    host: str
    port: int
    user: str = "postgres"
    dbname: str = "postgres"
    datadir: Path | None = None
    log: Path | None = None
    ssl: bool = False

    def url(self, driver: str = "psycopg2", user: str | None = None, **query: str) -> str:
        """SQLAlchemy URL; ``driver`` is ``psycopg2`` or ``psycopg`` (psycopg 3).

        The fixture apps need SQLAlchemy and the driver: check both are installed here (the
        servers run with this same interpreter).
        """
        require_module("sqlalchemy")
        require_module(driver)
        q = ("?" + urllib.parse.urlencode(query)) if query else ""
        return f"postgresql+{driver}://{user or self.user}@{self.host}:{self.port}/{self.dbname}{q}"

    def dsn(self, **extra) -> str:
        parts = {"host": self.host, "port": self.port, "user": self.user, "dbname": self.dbname,
                 "connect_timeout": 5, **extra}
        return " ".join(f"{k}={v}" for k, v in parts.items())

    def connect(self, **extra):
        """An autocommit admin connection (psycopg2)."""
        psycopg2 = require_module("psycopg2")
        conn = psycopg2.connect(self.dsn(**extra))
        conn.autocommit = True
        return conn

    def query(self, sql: str, params=None, **extra):
        conn = self.connect(**extra)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    def log_text(self) -> str:
        if self.log and self.log.exists():
            return self.log.read_text(errors="replace")
        return ""


@pytest.fixture(scope="session")
def pg() -> PgServer:
    """The machine's PostgreSQL (libpq env vars, default 127.0.0.1:5432 postgres/postgres)."""
    require_module("psycopg2")
    server = PgServer(
        host=os.environ.get("PGHOST", "127.0.0.1"),
        port=int(os.environ.get("PGPORT", "5432")),
        user=os.environ.get("PGUSER", "postgres"),
        dbname=os.environ.get("PGDATABASE", "postgres"),
    )
    try:
        server.query("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "no server"
        unavailable(f"PostgreSQL at {server.host}:{server.port} is not reachable: {exc}")
    return server


def _pg_user_kwargs() -> dict:
    """Run PostgreSQL binaries as the postgres OS user when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return {}
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        unavailable("running as root and there is no 'postgres' OS user to run initdb/postgres as")
    return {"user": "postgres", "group": "postgres"}


def _chown_for_pg(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


@dataclasses.dataclass
class PrivateCluster(PgServer):
    proc: Proc | None = None

    def stop(self) -> None:
        if self.proc is not None:
            # SIGQUIT = immediate shutdown (the cluster is thrown away anyway).
            self.proc.stop(sig=signal.SIGQUIT, timeout=10)


def start_private_cluster(procs: Procs, settings: dict | None = None, *, ssl: bool = False,
                          name: str = "pg") -> PrivateCluster:
    """initdb a throwaway cluster in a temp dir and start it on a free port of 127.0.0.1."""
    initdb, postgres = pg_bin("initdb"), pg_bin("postgres")
    kwargs = _pg_user_kwargs()
    base = Path(tempfile.mkdtemp(prefix=f"pgforklint-rt-{name}-", dir="/tmp"))
    procs.cleanup_paths.append(base)
    base.chmod(0o755)
    _chown_for_pg(base)
    datadir = base / "data"
    res = subprocess.run(
        [str(initdb), "-D", str(datadir), "-U", "postgres", "-A", "trust", "-E", "UTF8", "-N",
         "--no-instructions"],
        cwd=base, capture_output=True, text=True, timeout=120, check=False, **kwargs,
    )
    if res.returncode != 0:
        pytest.fail(f"initdb failed ({res.returncode}): {res.stdout}\n{res.stderr}")
    port = free_port()
    options = {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": str(base),
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "shared_buffers": "16MB",
        "max_wal_senders": "0",
        "wal_level": "minimal",
    }
    if ssl:
        _make_self_signed_cert(base, kwargs)
        options.update(ssl="on", ssl_cert_file=str(base / "server.crt"),
                       ssl_key_file=str(base / "server.key"))
    options.update({k: str(v) for k, v in (settings or {}).items()})
    argv = [str(postgres), "-D", str(datadir)]
    for key, value in options.items():
        argv += ["-c", f"{key}={value}"]
    log = base / "server.log"
    proc = procs.start(name, argv, cwd=base, log=log, **kwargs)
    cluster = PrivateCluster(host="127.0.0.1", port=port, datadir=datadir, log=log, ssl=ssl,
                             proc=proc)
    deadline = time.monotonic() + 30
    while True:
        try:
            cluster.query("SELECT 1")
            break
        except Exception as exc:  # noqa: BLE001
            if not proc.alive() or time.monotonic() > deadline:
                pytest.fail(f"private PostgreSQL did not start: {exc}\n{proc.tail()}")
            time.sleep(0.1)
    return cluster


def _make_self_signed_cert(base: Path, kwargs: dict) -> None:
    openssl = shutil.which("openssl")
    if not openssl:
        unavailable("openssl is not installed (needed for the TLS cluster)")
    res = subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-keyout", str(base / "server.key"),
         "-out", str(base / "server.crt")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    if res.returncode != 0:
        pytest.fail(f"openssl failed: {res.stderr}")
    (base / "server.key").chmod(0o600)
    for name in ("server.key", "server.crt"):
        _chown_for_pg(base / name)


def client_backends(conn) -> int:
    """Client backends in pg_stat_activity, excluding the sampling connection itself."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        return cur.fetchone()[0]


def user_backends(conn) -> int:
    """The seed article's count: the same user's backends, excluding the sampling connection."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND usename = current_user"
        )
        return cur.fetchone()[0]


class PeakSampler:
    """Samples the number of client backends from a separate connection (own row excluded).

    With ``user`` the sampler connects as that role and counts that role's backends only
    (:func:`user_backends`); it then takes an ordinary slot, not a reserved one.
    """

    def __init__(self, server: PgServer, interval: float = 0.02, *, user: str | None = None):
        self.server, self.interval = server, interval
        self.peak, self.samples = 0, 0
        self._stop = threading.Event()
        self._count = user_backends if user else client_backends
        # Without ``user``: a superuser connection, which uses a reserved slot.
        self._conn = server.connect(user=user) if user else server.connect()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                n = self._count(self._conn)
            except Exception:  # noqa: BLE001 - keep sampling
                n = 0
            self.peak = max(self.peak, n)
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)
        self._conn.close()


# --------------------------------------------------------------------------------------------
# processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A process started in its own session; ``stop()`` signals its whole group by PID."""

    def __init__(self, name: str, argv: list[str], *, cwd: Path, env: dict | None, log: Path,
                 **popen_kwargs):
        self.name, self.argv, self.log = name, argv, log
        self._fh = open(log, "ab")  # noqa: SIM115 - the child writes to it until stop()
        self.popen = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=self._fh,
            stderr=subprocess.STDOUT, start_new_session=True, **popen_kwargs,
        )
        self.pid = self.popen.pid  # == its process group id (start_new_session)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, n: int = 60) -> str:
        return f"--- {self.name} log ({self.log}) ---\n" + "\n".join(self.text().splitlines()[-n:])

    def signal_group(self, sig) -> None:
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, sig=signal.SIGTERM, timeout: float = 10.0) -> None:
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        # Whatever is left of the group (workers that outlived their master): SIGKILL.
        self.signal_group(signal.SIGKILL)
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self._fh.close()

    def wait_for_text(self, pattern: str, timeout: float = 30.0, count: int = 1) -> None:
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while len(rx.findall(self.text())) < count:
            if not self.alive():
                pytest.fail(f"{self.name} exited ({self.popen.returncode}) before "
                            f"{pattern!r} appeared\n{self.tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"{self.name}: {pattern!r} did not appear within {timeout}s\n"
                            f"{self.tail()}")
            time.sleep(0.05)

    def wait_for_port(self, port: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            except OSError:
                pass
            if not self.alive():
                pytest.fail(f"{self.name} exited ({self.popen.returncode}) before listening on "
                            f"{port}\n{self.tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"{self.name} not listening on {port} after {timeout}s\n{self.tail()}")
            time.sleep(0.05)


class Procs:
    """Per-test process registry; everything is stopped (newest first) at teardown."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.items: list[tuple[Proc, int, float]] = []
        self.cleanup_paths: list[Path] = []

    def start(self, name: str, argv: list[str], *, cwd: Path, env: dict | None = None,
              log: Path | None = None, stop_signal=signal.SIGTERM, stop_timeout: float = 10.0,
              **popen_kwargs) -> Proc:
        """Start ``argv``; at teardown send ``stop_signal``, wait ``stop_timeout``, SIGKILL."""
        proc = Proc(name, [str(a) for a in argv], cwd=cwd, env=env,
                    log=log or self.workdir / f"{name}.log", **popen_kwargs)
        self.items.append((proc, stop_signal, stop_timeout))
        return proc

    def stop_all(self) -> None:
        while self.items:
            proc, sig, timeout = self.items.pop()
            proc.stop(sig=sig, timeout=timeout)
        for path in self.cleanup_paths:
            shutil.rmtree(path, ignore_errors=True)
        self.cleanup_paths.clear()


@pytest.fixture
def procs(tmp_path):
    registry = Procs(tmp_path)
    try:
        yield registry
    finally:
        registry.stop_all()


@pytest.fixture(scope="module")
def module_procs(tmp_path_factory):
    registry = Procs(tmp_path_factory.mktemp("procs"))
    try:
        yield registry
    finally:
        registry.stop_all()


def base_env(**extra: str) -> dict:
    """Environment for a server under test: ours, minus anything that would redirect it."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PG", "GUNICORN_", "UWSGI_", "CELERY_", "DATABASE_URL",
                                "WEB_CONCURRENCY"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # keep the fixture trees clean
    env.update({k: str(v) for k, v in extra.items()})
    return env


def fixture_dir(name: str) -> Path:
    path = FIXTURES / name
    assert path.is_dir(), f"missing fixture project {path}"
    return path


def procfile_command(fixture: Path, process: str) -> list[str]:
    """The fixture's own launch command (its Procfile), with the tool resolved in our venv."""
    for line in (fixture / "Procfile").read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() == process:
            argv = shlex.split(command)
            return [str(tool(argv[0]))] + argv[1:]
    raise AssertionError(f"no {process!r} entry in {fixture / 'Procfile'}")


def gunicorn_workers(fixture: Path) -> int:
    """``workers = N`` in the fixture's gunicorn.conf.py, or ``-w/--workers N`` in its Procfile."""
    conf = fixture / "gunicorn.conf.py"
    text = conf.read_text() if conf.exists() else ""
    m = re.search(r"^workers\s*=\s*(\d+)", text, re.MULTILINE) or re.search(
        r"(?:-w|--workers)[ =](\d+)", (fixture / "Procfile").read_text())
    return int(m.group(1)) if m else 1


def start_gunicorn(procs: Procs, fixture: Path, database_url: str, *, name: str | None = None):
    """Start the fixture's ``web`` process on a free port; wait for every worker to boot."""
    require_module("flask")
    port = free_port()
    # SIGQUIT: gunicorn's quick shutdown (SIGTERM waits up to graceful_timeout for workers that
    # may be stuck on a broken socket).
    proc = procs.start(name or f"gunicorn-{fixture.name}",
                       procfile_command(fixture, "web") + ["--bind", f"127.0.0.1:{port}"],
                       cwd=fixture, env=base_env(DATABASE_URL=database_url),
                       stop_signal=signal.SIGQUIT, stop_timeout=5)
    proc.wait_for_port(port)
    proc.wait_for_text(r"Booting worker with pid", count=gunicorn_workers(fixture))
    return proc, port


# --------------------------------------------------------------------------------------------
# load


@dataclasses.dataclass
class Load:
    """What a bounded load run saw.  ``backend_workers`` maps pg_backend_pid() -> worker PIDs."""

    requests: int = 0
    ok: int = 0
    failures: int = 0
    wrong_rows: int = 0
    errors: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    backend_workers: dict = dataclasses.field(default_factory=lambda: collections.defaultdict(set))
    worker_pids: set = dataclasses.field(default_factory=set)
    failed_workers: set = dataclasses.field(default_factory=set)  # when the error names one
    duration_s: float = 0.0
    unfinished: int = 0

    def add(self, token: str, ok: bool, payload, worker=None) -> None:
        self.requests += 1
        if not ok:
            self.failures += 1
            self.errors[_first_line(payload)] += 1
            if worker is not None:
                self.failed_workers.add(worker)
                self.worker_pids.add(worker)
            return
        try:
            got, backend, worker = payload
        except (TypeError, ValueError):
            self.failures += 1
            self.errors[f"malformed response: {payload!r}"[:200]] += 1
            return
        self.worker_pids.add(worker)
        self.backend_workers[backend].add(worker)
        if got != token:
            self.wrong_rows += 1
        else:
            self.ok += 1

    @property
    def backend_pids(self) -> set:
        return set(self.backend_workers)

    @property
    def shared_backends(self) -> dict:
        return {b: sorted(w) for b, w in self.backend_workers.items() if len(w) > 1}

    def top_errors(self, n: int = 5) -> list:
        return self.errors.most_common(n)

    def sharing_shown(self) -> bool:
        return bool(self.failures or self.wrong_rows or self.shared_backends)

    def as_record(self, unit: str = "requests") -> dict:
        return {
            unit: self.requests, "failures": self.failures, "wrong_rows": self.wrong_rows,
            "workers": len(self.worker_pids), "backends": len(self.backend_pids),
            "shared_backends": len(self.shared_backends),
            "failed_workers": len(self.failed_workers), "top_errors": self.top_errors(),
            "duration_s": round(self.duration_s, 2), "unfinished": self.unfinished,
        }

    def describe(self) -> str:
        return json.dumps(self.as_record(), default=str)


def _first_line(payload) -> str:
    text = str(payload).strip()
    line = text.splitlines()[0] if text else "<empty>"
    # Make counts comparable: strip the varying numbers of PIDs, lengths, tokens.
    line = re.sub(r"[0-9a-f]{32}", "<token>", line)
    line = re.sub(r"port \d+", "port <port>", line)
    return line[:240]


def http_load(port: int, *, requests: int, concurrency: int, sleep: float = 0.005,
              timeout: float = 5.0, deadline: float = 60.0, path: str = "/query") -> Load:
    """``requests`` GETs from ``concurrency`` threads, each with a unique token.

    The fixture apps answer ``{"token", "backend_pid", "worker_pid"}`` or, on error,
    ``{"error": "Type: message", "worker_pid"}`` with status 500.
    """
    load = Load()
    lock = threading.Lock()
    counter = iter(range(requests))
    stop_at = time.monotonic() + deadline

    def one() -> None:
        token = uuid.uuid4().hex
        url = f"http://127.0.0.1:{port}{path}?" + urllib.parse.urlencode({"token": token,
                                                                           "s": sleep})
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                body = json.loads(resp.read())
            result = (True, (body.get("token"), body.get("backend_pid"), body.get("worker_pid")))
        except urllib.error.HTTPError as exc:
            try:
                body = json.loads(exc.read())
                result = (False, body.get("error") or f"HTTP {exc.code}", body.get("worker_pid"))
            except Exception:  # noqa: BLE001
                result = (False, f"HTTP {exc.code}")
        except Exception as exc:  # noqa: BLE001 - resets, timeouts: all count as failures
            result = (False, f"client: {type(exc).__name__}: {exc}")
        with lock:
            load.add(token, *result)

    def worker() -> None:
        while time.monotonic() < stop_at:
            with lock:
                nxt = next(counter, None)
            if nxt is None:
                return
            one()

    started = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, stop_at - time.monotonic()) + timeout + 5)
    load.duration_s = time.monotonic() - started
    load.unfinished = requests - load.requests
    return load


def celery_spool(tmp: Path) -> Path:
    """The directories the fixtures' celeryconfig derives from CELERY_SPOOL."""
    spool = tmp / "spool"
    for sub in ("queue", "control", "results", "processed", "outbox"):
        (spool / sub).mkdir(parents=True, exist_ok=True)
    return spool


def celery_load(spool: Path, *, tasks: int, sleep: float = 0.01, deadline: float = 60.0,
                task_name: str = "tasks.lookup") -> Load:
    """Send ``tasks`` lookups (unique tokens) through the filesystem broker; collect results.

    The client has its own Celery app with the same broker/result settings as the fixtures'
    ``celeryconfig.py``; it never imports fixture code.

    kombu's filesystem transport creates a message file before writing it, and a consumer that
    lists the folder in between reads an empty file and dies (``Unrecoverable error:
    JSONDecodeError``; seen here under CPU load).  So the client writes into ``outbox`` and then
    renames each complete file into the queue folder (atomic on one file system).
    """
    celery = require_module("celery")
    client = celery.Celery("pgforklint-rt-client", broker="filesystem://",
                           backend=f"file://{spool}/results")
    client.conf.broker_transport_options = {
        "data_folder_in": f"{spool}/outbox", "data_folder_out": f"{spool}/outbox",
        "control_folder": f"{spool}/control", "polling_interval": 0.05,
    }
    load = Load()
    sent = []
    for _ in range(tasks):
        token = uuid.uuid4().hex
        sent.append((token, client.send_task(task_name, args=[token, sleep])))
    started = time.monotonic()
    for name in sorted(os.listdir(spool / "outbox")):
        os.rename(spool / "outbox" / name, spool / "queue" / name)
    stop_at = started + deadline
    for token, result in sent:
        remaining = stop_at - time.monotonic()
        try:
            if remaining <= 0:
                raise TimeoutError("deadline")
            value = result.get(timeout=remaining, interval=0.05, propagate=False)
        except Exception as exc:  # noqa: BLE001 - celery.exceptions.TimeoutError and friends
            load.unfinished += 1
            load.failures += 1
            load.errors[f"client: {type(exc).__name__}: {exc}"[:240]] += 1
            continue
        if result.state == "SUCCESS":
            load.add(token, True, tuple(value) if isinstance(value, list) else value)
        else:
            load.add(token, False, _task_error(result, value))
    load.duration_s = time.monotonic() - started
    load.requests = tasks
    return load


_EXC_LINE = re.compile(
    r"^(?:[A-Za-z_]\w*\.)*([A-Za-z_]\w*(?:Error|Exception|Exceeded|Timeout)\w*): (.*)$")


def _task_error(result, value) -> str:
    """``Type: message`` of a failed task, from the worker's traceback when there is one.

    (Celery rebuilds third-party exceptions on the client as a plain ``Exception`` wrapping the
    repr; the traceback text keeps the original type and message.)
    """
    for line in reversed((getattr(result, "traceback", None) or "").splitlines()):
        m = _EXC_LINE.match(line)
        if m:
            return f"{m.group(1)}: {m.group(2)}"
    return f"{type(value).__name__}: {value}"


# --------------------------------------------------------------------------------------------
# static side


EXPECT_RX = re.compile(r"#\s*expect:\s*((?:PGF\d{3}[\s,]*)+)")


def expected_anchors(fixture: Path) -> dict[str, set[tuple[str, int]]]:
    """``# expect: PGF001`` comments in the fixture: code -> {(relative path, line)}."""
    anchors: dict[str, set[tuple[str, int]]] = collections.defaultdict(set)
    for path in sorted(fixture.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        try:
            lines = path.read_text().splitlines()
        except UnicodeDecodeError:
            continue
        for lineno, line in enumerate(lines, 1):
            m = EXPECT_RX.search(line)
            if m:
                for code in re.findall(r"PGF\d{3}", m.group(1)):
                    anchors[code].add((path.relative_to(fixture).as_posix(), lineno))
    return anchors


def run_linter(fixture: Path) -> dict:
    env = dict(os.environ)
    src = REPO / "src"
    if src.is_dir():
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    env.pop("GITHUB_ACTIONS", None)
    res = subprocess.run(
        [sys.executable, "-m", "pgforklint", "--format", "json", str(fixture)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert res.returncode in (0, 1), (
        f"STATIC: pgforklint exited {res.returncode} on {fixture.name}\n"
        f"stdout: {res.stdout[-2000:]}\nstderr: {res.stderr[-2000:]}"
    )
    try:
        report = json.loads(res.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(
            f"STATIC: pgforklint output is not JSON ({exc}), exit {res.returncode}\n"
            f"stdout: {res.stdout[:2000]}\nstderr: {res.stderr[-2000:]}") from exc
    assert report.get("version") == 1, f"STATIC: unexpected JSON version: {report!r}"[:2000]
    return report


def _relative_to_fixture(path: str, fixture: Path) -> str:
    p = Path(path)
    if not p.is_absolute():
        p = REPO / p
    try:
        return p.resolve().relative_to(fixture.resolve()).as_posix()
    except ValueError:
        return path


def assert_static(fixture: Path | str, expected_codes: Iterable[str],
                  absent_codes: Iterable[str] = ()) -> list[dict]:
    """Run ``python -m pgforklint --format json <fixture>`` and check its findings.

    * every code in ``expected_codes`` is reported; when the fixture marks lines with
      ``# expect: CODE``, at least one diagnostic of that code is anchored on a marked line;
    * no code in ``absent_codes`` is reported (the fix fixtures).
    """
    fixture = fixture_dir(fixture) if isinstance(fixture, str) else fixture
    report = run_linter(fixture)
    diags = report.get("diagnostics", [])
    found = collections.defaultdict(set)
    for d in diags:
        found[d["code"]].add((_relative_to_fixture(d["path"], fixture), d["line"]))
    anchors = expected_anchors(fixture)
    summary = sorted(f"{c}@{p}:{ln}" for c, locs in found.items() for p, ln in locs)
    problems = []
    for code in expected_codes:
        if not found.get(code):
            problems.append(f"expected {code}, not reported")
        elif anchors.get(code) and not found[code] & anchors[code]:
            problems.append(f"{code} reported at {sorted(found[code])}, expected at one of the "
                            f"'# expect: {code}' lines {sorted(anchors[code])}")
    for code in absent_codes:
        if found.get(code):
            problems.append(f"{code} must not be reported, got {sorted(found[code])}")
    if problems:
        raise AssertionError(f"STATIC: {fixture.name}: " + "; ".join(problems)
                             + f" (linter reported: {summary or 'nothing'})")
    return diags
