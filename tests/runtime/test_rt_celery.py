"""PGF001 / PGF002 under Celery prefork: import-time query in the worker parent, and the fix.

Hazard (``rt_celery_prefork``): ``tasks.py`` runs ``SELECT 1`` at import, so the worker parent
holds a pooled connection that every prefork child inherits.  Fix (``rt_celery_prefork_fix``):
``worker_process_init`` calls ``engine.dispose(close=False)``.  Broker and result store are
kombu's filesystem transport and Celery's ``file://`` backend in a temp dir (no servers).
"""

from __future__ import annotations

import signal

import pytest

DRIVERS = ["psycopg2", "psycopg"]
TASKS = 200
CONCURRENCY = 4  # worker_concurrency in the fixtures' celeryconfig.py


def run_celery(rt, procs, pg, fixture, driver, tmp_path, *, tasks=TASKS, url=None):
    argv = rt.procfile_command(fixture, "worker")
    spool = rt.celery_spool(tmp_path)
    env = rt.base_env(DATABASE_URL=url or pg.url(driver), CELERY_SPOOL=spool)
    # SIGQUIT = cold shutdown; Celery still needs ~7 s to exit here (measured), which this suite
    # does not need to wait for: after 1 s the whole process group gets SIGKILL.
    proc = procs.start(f"celery-{fixture.name}-{driver}", argv, cwd=fixture, env=env,
                       stop_signal=signal.SIGQUIT, stop_timeout=1)
    proc.wait_for_text(r"celery@\S+ ready\.", timeout=60)
    load = rt.celery_load(spool, tasks=tasks, deadline=60)
    return load, proc


@pytest.mark.parametrize("driver", DRIVERS)
def test_prefork_children_share_parent_connection(rt, pg, procs, tmp_path, driver):
    fixture = rt.fixture_dir("rt_celery_prefork")
    load, proc = run_celery(rt, procs, pg, fixture, driver, tmp_path)
    rt.record(f"PGF001 celery prefork {driver} (hazard)", **load.as_record("tasks"))
    assert len(load.worker_pids) >= 2, (
        f"tasks did not reach several children: {load.describe()}\n{proc.tail()}")
    assert load.sharing_shown(), (
        f"expected the hazard, got {load.describe()}\n{proc.tail()}")
    rt.assert_static(fixture, ["PGF001"])


@pytest.mark.parametrize("driver", DRIVERS)
def test_worker_process_init_dispose_fixes_it(rt, pg, procs, tmp_path, driver):
    fixture = rt.fixture_dir("rt_celery_prefork_fix")
    load, proc = run_celery(rt, procs, pg, fixture, driver, tmp_path)
    rt.record(f"PGF001 celery prefork {driver} (fix)", **load.as_record("tasks"))
    assert len(load.worker_pids) >= 2, (
        f"tasks did not reach several children: {load.describe()}\n{proc.tail()}")
    assert load.failures == 0 and load.wrong_rows == 0, f"{load.describe()}\n{proc.tail()}"
    assert not load.shared_backends, load.describe()
    assert len(load.backend_pids) == len(load.worker_pids), load.describe()
    rt.assert_static(fixture, [], absent_codes=["PGF001", "PGF002", "PGF003"])
