"""PGF003: a child-side ``engine.dispose()`` (default ``close=True``) closes the parent's socket.

Measured against a private cluster that logs connections and disconnections, so the server's
view of the parent's backend is on record:

* gunicorn (``rt_pgf003_gunicorn``): preload + import-time ``SELECT 1`` + ``post_fork`` calling
  ``engine.dispose()``.  Compared with ``rt_gunicorn_postfork`` (``dispose(close=False)``).
* multiprocessing (``rt_pgf003_multiprocessing``): a batch job whose parent keeps using its
  engine after a ``Pool(initializer=...)`` that calls ``engine.dispose()``.  Compared with
  ``rt_pgf003_multiprocessing_fix`` (``dispose(close=False)``).

Findings are written up in ``rules/runtime/PGF003.md``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import uuid

import pytest

DRIVERS = ["psycopg2", "psycopg"]
SSLMODES = ["disable", "require"]  # plain TCP and TLS, same cluster
SERVER_PROBLEMS = r"ERROR|FATAL|WARNING|could not receive|unexpected EOF"
LOG_SETTINGS = {
    "log_connections": "on",
    "log_disconnections": "on",
    "log_line_prefix": "%m [%p] app=%a ",
}


@pytest.fixture(scope="module")
def logpg(rt, module_procs):
    # ssl=on so the same cluster serves both transports; clients choose with sslmode.
    return rt.start_private_cluster(module_procs, LOG_SETTINGS, ssl=True, name="pgf003")


def _app_backends(pg, app_name):
    return [r[0] for r in pg.query(
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s ORDER BY backend_start",
        (app_name,))]


def _server_log_for(pg, app_name, pid):
    """Server log lines of one backend (connection, authorization, errors, disconnection)."""
    pat = re.compile(rf"\[{pid}\] ")
    return [line for line in pg.log_text().splitlines() if pat.search(line)]


def _first_backend_of(pg, app_name):
    """PID of the first backend that authorized with this application_name (the master's)."""
    for line in pg.log_text().splitlines():
        if f"application_name={app_name}" in line and "connection authorized" in line:
            return int(re.search(r"\[(\d+)\]", line).group(1))
    return None


def _gunicorn_measure(rt, procs, pg, fixture, driver, sslmode):
    app_name = f"orders-{uuid.uuid4().hex[:8]}"
    url = pg.url(driver, application_name=app_name, sslmode=sslmode)
    proc, port = rt.start_gunicorn(procs, fixture, url,
                                   name=f"gunicorn-{fixture.name}-{driver}-{sslmode}")
    master_backend = _first_backend_of(pg, app_name)
    assert master_backend, "the import-time SELECT 1 did not show up in the server log"
    # post_fork runs right after "Booting worker": give the server up to 2 s to end the
    # master's backend (it does within milliseconds when it happens at all).
    deadline = time.monotonic() + 2.0
    while master_backend in _app_backends(pg, app_name) and time.monotonic() < deadline:
        time.sleep(0.05)
    after_boot = _app_backends(pg, app_name)
    load = rt.http_load(port, requests=200, concurrency=8)
    after_load = _app_backends(pg, app_name)
    master_lines = _server_log_for(pg, app_name, master_backend)
    disconnect = [ln for ln in master_lines if "disconnection:" in ln]
    session = re.search(r"session time: ([0-9:.]+)", disconnect[0]).group(1) if disconnect else None
    app_log = [ln for ln in pg.log_text().splitlines() if f"app={app_name} " in ln]
    server_problems = [ln.split(" app=", 1)[-1] for ln in app_log
                       if re.search(SERVER_PROBLEMS, ln)]
    worker_tracebacks = proc.text().count("Traceback")
    data = dict(
        load.as_record(),
        master_backend=master_backend,
        master_alive_after_boot=master_backend in after_boot,
        master_alive_after_load=master_backend in after_load,
        app_backends_after_boot=len(after_boot),
        app_backends_after_load=len(after_load),
        master_disconnect_logged=len(disconnect),
        master_session_time=session,
        server_log_problems=server_problems[:10],
        worker_tracebacks=worker_tracebacks,
    )
    return data, load, proc


@pytest.mark.parametrize("sslmode", SSLMODES)
@pytest.mark.parametrize("driver", DRIVERS)
def test_gunicorn_post_fork_dispose_close_true_kills_master_connection(rt, logpg, procs, driver,
                                                                       sslmode):
    fixture = rt.fixture_dir("rt_pgf003_gunicorn")
    data, load, proc = _gunicorn_measure(rt, procs, logpg, fixture, driver, sslmode)
    rt.record(f"PGF003 gunicorn post_fork dispose() {driver} sslmode={sslmode}", **data)
    # The first worker's dispose() sends Terminate on the inherited socket: the server ends the
    # master's backend (a clean disconnection, no error on either side).
    assert not data["master_alive_after_boot"], data
    assert data["master_disconnect_logged"] == 1, data
    # The workers themselves are fine: each opened its own connection after the reset.
    assert load.failures == 0 and load.wrong_rows == 0, f"{load.describe()}\n{proc.tail()}"
    assert not load.shared_backends and len(load.backend_pids) == len(load.worker_pids), data
    assert data["worker_tracebacks"] == 0, proc.tail()
    rt.assert_static(fixture, ["PGF003"], absent_codes=["PGF001"])


@pytest.mark.parametrize("sslmode", SSLMODES)
@pytest.mark.parametrize("driver", DRIVERS)
def test_gunicorn_post_fork_dispose_close_false_keeps_master_connection(rt, logpg, procs, driver,
                                                                        sslmode):
    fixture = rt.fixture_dir("rt_gunicorn_postfork")
    data, load, proc = _gunicorn_measure(rt, procs, logpg, fixture, driver, sslmode)
    rt.record(f"PGF003 gunicorn post_fork dispose(close=False) {driver} sslmode={sslmode}",
              **data)
    assert data["master_alive_after_boot"] and data["master_alive_after_load"], data
    assert data["master_disconnect_logged"] == 0, data
    assert load.failures == 0 and load.wrong_rows == 0, f"{load.describe()}\n{proc.tail()}"
    assert not load.shared_backends and len(load.backend_pids) == len(load.worker_pids), data
    rt.assert_static(fixture, [], absent_codes=["PGF003", "PGF001"])


def _run_job(rt, pg, fixture, driver, sslmode, tmp_path):
    app_name = f"recon-{uuid.uuid4().hex[:8]}"
    argv = rt.procfile_command(fixture, "job")
    env = rt.base_env(DATABASE_URL=pg.url(driver, application_name=app_name, sslmode=sslmode),
                      LOOKUPS="200")
    log = tmp_path / "job.stderr"
    started = time.monotonic()
    with open(log, "wb") as err:
        # start_new_session + timeout: the pool children die with the job's group if it hangs.
        proc = subprocess.Popen(argv, cwd=fixture, env=env, stdout=subprocess.PIPE, stderr=err,
                                start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
    assert proc.returncode == 0, log.read_text()
    result = json.loads(out.decode().strip().splitlines()[-1])
    rows = result.pop("rows")
    workers = {r[1] for r in rows}
    backends = {r[0] for r in rows}
    before = result["parent_before"].get("backend_pid")
    lines = _server_log_for(pg, app_name, before) if before else []
    # Server-log order: was the parent's backend ended before the first pool child connected
    # (a child terminated it) or only at the end (the parent exited)?
    log = pg.log_text().splitlines()
    first_child = next((i for i, ln in enumerate(log)
                        if f"application_name={app_name}" in ln and "connection authorized" in ln
                        and f"[{before}] " not in ln), None)
    parent_end = next((i for i, ln in enumerate(log)
                       if f"[{before}] " in ln and "disconnection:" in ln), None)
    result.update(
        workers=len(workers), backends=len(backends),
        parent_disconnect_logged=sum("disconnection:" in ln for ln in lines),
        parent_ended_before_children_connected=(
            parent_end is not None and first_child is not None and parent_end < first_child),
        parent_server_log_problems=[ln.split(" app=", 1)[-1] for ln in lines
                                    if re.search(SERVER_PROBLEMS, ln)],
        duration_s=round(time.monotonic() - started, 2),
    )
    return result


@pytest.mark.parametrize("sslmode", SSLMODES)
@pytest.mark.parametrize("driver", DRIVERS)
def test_multiprocessing_initializer_dispose_close_true_breaks_parent(rt, logpg, tmp_path, driver,
                                                                      sslmode):
    fixture = rt.fixture_dir("rt_pgf003_multiprocessing")
    result = _run_job(rt, logpg, fixture, driver, sslmode, tmp_path)
    rt.record(f"PGF003 multiprocessing initializer dispose() {driver} sslmode={sslmode}", **result)
    assert result["wrong_rows"] == 0 and result["lookups"] == 200, result
    # The parent's pooled connection was terminated by a child: its next query fails ...
    assert "error" in result["parent_after"], result
    # (TCP: "server closed the connection unexpectedly"; the TLS wording is recorded.)
    assert "OperationalError" in result["parent_after"]["error"], result
    assert result["parent_disconnect_logged"] == 1, result
    assert result["parent_ended_before_children_connected"], result
    # ... after which SQLAlchemy has invalidated the pool and the one after that reconnects.
    assert result["parent_again"].get("backend_pid") not in (None, result["parent_before"].get(
        "backend_pid")), result
    rt.assert_static(fixture, ["PGF003"], absent_codes=["PGF001"])


@pytest.mark.parametrize("sslmode", SSLMODES)
@pytest.mark.parametrize("driver", DRIVERS)
def test_multiprocessing_initializer_dispose_close_false_keeps_parent(rt, logpg, tmp_path, driver,
                                                                      sslmode):
    fixture = rt.fixture_dir("rt_pgf003_multiprocessing_fix")
    result = _run_job(rt, logpg, fixture, driver, sslmode, tmp_path)
    rt.record(f"PGF003 multiprocessing initializer dispose(close=False) {driver} "
              f"sslmode={sslmode}", **result)
    assert result["wrong_rows"] == 0 and result["lookups"] == 200, result
    assert result["parent_after"] == result["parent_before"] == result["parent_again"], result
    # Its backend ends only when the job exits, after the children did their work.
    assert not result["parent_ended_before_children_connected"], result
    rt.assert_static(fixture, [], absent_codes=["PGF003", "PGF001"])
