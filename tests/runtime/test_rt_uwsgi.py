"""PGF001 / PGF002 under uWSGI: the default (app loaded in the master, then fork) vs lazy-apps.

Hazard (``rt_uwsgi_prefork``): ``master = true``, ``processes = 4``, no ``lazy-apps``; the app
runs ``SELECT 1`` at import, so the master's pooled connection is inherited by every worker.
Fix (``rt_uwsgi_lazy``): ``lazy-apps = true``, each worker imports the app after the fork.
"""

from __future__ import annotations

import signal

import pytest

DRIVERS = ["psycopg2", "psycopg"]
REQUESTS = 400
CONCURRENCY = 16
PROCESSES = 4  # processes in the fixtures' uwsgi.ini


def run_uwsgi(rt, procs, pg, fixture, driver, timeout=5.0):
    rt.require_module("flask")
    argv = rt.procfile_command(fixture, "web")
    port = rt.free_port()
    env = rt.base_env(DATABASE_URL=pg.url(driver))
    # SIGINT: uWSGI's immediate shutdown (SIGTERM means "reload" without die-on-term).
    proc = procs.start(f"uwsgi-{fixture.name}-{driver}",
                       argv + ["--http-socket", f"127.0.0.1:{port}"], cwd=fixture, env=env,
                       stop_signal=signal.SIGINT, stop_timeout=5)
    proc.wait_for_port(port)
    proc.wait_for_text(r"spawned uWSGI worker", count=PROCESSES)
    if "lazy-apps = true" in (fixture / "uwsgi.ini").read_text():
        proc.wait_for_text(r"WSGI app 0 \(mountpoint=''\) ready", count=PROCESSES)
    load = rt.http_load(port, requests=REQUESTS, concurrency=CONCURRENCY, timeout=timeout)
    return load, proc


@pytest.mark.parametrize("driver", DRIVERS)
def test_default_prefork_shares_master_connection(rt, pg, procs, driver):
    fixture = rt.fixture_dir("rt_uwsgi_prefork")
    load, proc = run_uwsgi(rt, procs, pg, fixture, driver, timeout=3.0)  # stuck workers
    rt.record(f"PGF001 uwsgi prefork {driver} (hazard)", **load.as_record())
    assert len(load.worker_pids) >= 2, f"load did not reach several workers: {load.describe()}"
    assert load.sharing_shown(), f"expected the hazard, got {load.describe()}\n{proc.tail()}"
    rt.assert_static(fixture, ["PGF001"])


@pytest.mark.parametrize("driver", DRIVERS)
def test_lazy_apps_gives_each_worker_its_own_connection(rt, pg, procs, driver):
    fixture = rt.fixture_dir("rt_uwsgi_lazy")
    load, proc = run_uwsgi(rt, procs, pg, fixture, driver)
    rt.record(f"PGF001 uwsgi lazy-apps {driver} (fix)", **load.as_record())
    assert len(load.worker_pids) >= 2, f"load did not reach several workers: {load.describe()}"
    assert load.failures == 0 and load.wrong_rows == 0 and load.unfinished == 0, (
        f"{load.describe()}\n{proc.tail()}")
    assert not load.shared_backends, load.describe()
    assert len(load.backend_pids) == len(load.worker_pids), load.describe()
    rt.assert_static(fixture, [], absent_codes=["PGF001", "PGF002", "PGF003"])
