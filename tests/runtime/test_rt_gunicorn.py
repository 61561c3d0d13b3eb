"""PGF001 / PGF002 under gunicorn: preload + import-time query, and the two fixes.

Hazard (``rt_gunicorn_preload``): ``preload_app = True`` and a ``SELECT 1`` at import, so the
master holds a pooled connection that every sync worker inherits.  Fixes: the same app with
``post_fork`` calling ``engine.dispose(close=False)`` (``rt_gunicorn_postfork``) and with
preload off (``rt_gunicorn_nopreload``).  A fourth project (``rt_gunicorn_preload_cli``) turns
preload on with ``--preload`` in the Procfile instead of the config file.
"""

from __future__ import annotations

import pytest

DRIVERS = ["psycopg2", "psycopg"]
REQUESTS = 400
CONCURRENCY = 16
SLEEP = 0.005
HAZARD_TIMEOUT = 3.0


def run_gunicorn(rt, procs, pg, fixture, driver, *, timeout=5.0):
    proc, port = rt.start_gunicorn(procs, fixture, pg.url(driver),
                                   name=f"gunicorn-{fixture.name}-{driver}")
    load = rt.http_load(port, requests=REQUESTS, concurrency=CONCURRENCY, sleep=SLEEP,
                        timeout=timeout)
    return load, proc


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("fixture_name", ["rt_gunicorn_preload", "rt_gunicorn_preload_cli"])
def test_preload_import_query_shares_connection(rt, pg, procs, fixture_name, driver):
    fixture = rt.fixture_dir(fixture_name)
    # A worker can block for good in recv() on the shared socket: a short client timeout
    # keeps the run bounded (such a request counts as a failure).
    load, proc = run_gunicorn(rt, procs, pg, fixture, driver, timeout=HAZARD_TIMEOUT)
    rt.record(f"PGF001 gunicorn {fixture_name} {driver} (hazard)", **load.as_record())
    assert len(load.worker_pids) >= 2, f"load did not reach several workers: {load.describe()}"
    assert load.sharing_shown(), (
        "expected the hazard (failures, wrong rows, or workers sharing one backend), got "
        f"{load.describe()}\n{proc.tail()}"
    )
    rt.assert_static(fixture, ["PGF001"])


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("fixture_name", ["rt_gunicorn_postfork", "rt_gunicorn_nopreload"])
def test_fix_gives_each_worker_its_own_connection(rt, pg, procs, fixture_name, driver):
    fixture = rt.fixture_dir(fixture_name)
    load, proc = run_gunicorn(rt, procs, pg, fixture, driver)
    rt.record(f"PGF001 gunicorn {fixture_name} {driver} (fix)", **load.as_record())
    assert len(load.worker_pids) >= 2, f"load did not reach several workers: {load.describe()}"
    assert load.failures == 0 and load.wrong_rows == 0 and load.unfinished == 0, (
        f"{load.describe()}\n{proc.tail()}")
    assert not load.shared_backends, load.describe()
    assert len(load.backend_pids) == len(load.worker_pids), load.describe()
    rt.assert_static(fixture, [], absent_codes=["PGF001", "PGF002", "PGF003"])
