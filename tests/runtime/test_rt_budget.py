"""PGF004 (connection budget) and PGF005 (pool smaller than threads) under gthread gunicorn.

PGF004 runs against a private cluster started with the fixture's own ``postgresql.conf`` values
(``max_connections = 20``, ``superuser_reserved_connections = 3``) and an ordinary (non-superuser)
role for the app.  The peak is sampled from a separate superuser connection (its own row
excluded) with ``SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'``.

* ``rt_budget_fits``: W=2 gthread workers, T=4 threads, pool_size=2, max_overflow=2, preload with
  an import-time query and a ``post_fork`` reset, so the master keeps one connection: expected
  peak W*min(T, P+O) + 1 = 9, no failures.
* ``rt_budget_over``: W=4, T=6, pool 3+3: expected 25 > 17 available: clients get
  ``sorry, too many clients already`` / ``remaining connection slots are reserved ...``.

PGF005 (shared server): ``rt_pool_small`` (threads=8, pool_size=1, max_overflow=0,
pool_timeout=0.5) times out under load; ``rt_pool_matched`` (pool_size=8) does not.
"""

from __future__ import annotations

import re
import signal

import pytest

BUDGET_ERRORS = ("too many clients already", "remaining connection slots are reserved")


def _settings(fixture):
    """W, T, P, O from the fixture's gunicorn.conf.py and app.py (single source of truth)."""
    conf = (fixture / "gunicorn.conf.py").read_text()
    app = (fixture / "app.py").read_text()

    def num(rx, text):
        return int(re.search(rx, text, re.MULTILINE).group(1))

    return (num(r"^workers\s*=\s*(\d+)", conf), num(r"^threads\s*=\s*(\d+)", conf),
            num(r"pool_size\s*=\s*(\d+)", app), num(r"max_overflow\s*=\s*(\d+)", app))


def _pg_conf(fixture):
    conf = {}
    for line in (fixture / "postgresql.conf").read_text().splitlines():
        m = re.match(r"\s*(\w+)\s*=\s*(\S+)", line)
        if m:
            conf[m.group(1)] = m.group(2)
    return conf


@pytest.fixture(scope="module")
def budget_pg(rt, module_procs):
    conf = _pg_conf(rt.fixture_dir("rt_budget_fits"))
    assert conf == _pg_conf(rt.fixture_dir("rt_budget_over"))
    cluster = rt.start_private_cluster(module_procs, conf, name="budget")
    cluster.query("CREATE ROLE app LOGIN")
    cluster.max_connections = int(conf["max_connections"])
    cluster.reserved = int(conf["superuser_reserved_connections"])
    return cluster


def _run_budget(rt, procs, pg, fixture, *, requests, concurrency, sleep):
    proc, port = rt.start_gunicorn(procs, fixture, pg.url("psycopg2", user="app"))
    with rt.PeakSampler(pg) as sampler:
        load = rt.http_load(port, requests=requests, concurrency=concurrency, sleep=sleep,
                            timeout=10)
    return load, sampler, proc


def test_budget_that_fits_peaks_at_expected(rt, budget_pg, procs):
    fixture = rt.fixture_dir("rt_budget_fits")
    w, t, p, o = _settings(fixture)
    expected = w * min(t, p + o) + 1  # +1: the preloading master keeps its import-time connection
    load, sampler, proc = _run_budget(rt, procs, budget_pg, fixture, requests=160,
                                      concurrency=4 * w * t, sleep=0.2)
    rt.record(f"PGF004 budget fits (W={w} T={t} P={p} O={o})", **load.as_record(),
              peak=sampler.peak, expected_peak=expected, samples=sampler.samples,
              available=budget_pg.max_connections - budget_pg.reserved)
    assert load.failures == 0 and load.wrong_rows == 0, f"{load.describe()}\n{proc.tail()}"
    assert sampler.peak == expected, (sampler.peak, expected, load.describe())
    rt.assert_static(fixture, [], absent_codes=["PGF004", "PGF005", "PGF011", "PGF001"])


def test_budget_over_the_limit_refuses_clients(rt, budget_pg, procs):
    fixture = rt.fixture_dir("rt_budget_over")
    w, t, p, o = _settings(fixture)
    expected = w * min(t, p + o) + 1
    available = budget_pg.max_connections - budget_pg.reserved
    assert expected > available
    load, sampler, proc = _run_budget(rt, procs, budget_pg, fixture, requests=200,
                                      concurrency=2 * w * t, sleep=0.3)
    rt.record(f"PGF004 budget over (W={w} T={t} P={p} O={o})", **load.as_record(),
              peak=sampler.peak, expected_peak=expected, available=available,
              samples=sampler.samples)
    budget_failures = sum(n for msg, n in load.errors.items()
                          if any(e in msg for e in BUDGET_ERRORS))
    assert budget_failures > 0, f"{load.describe()}\n{proc.tail()}"
    # The server caps what the app can hold: max_connections minus the reserved slots minus
    # the sampler's own (superuser) connection.
    assert sampler.peak <= budget_pg.max_connections - 1, sampler.peak
    assert sampler.peak < expected
    rt.assert_static(fixture, ["PGF004"])


def _static_budget(fixture) -> dict:
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(fixture.parents[2] / "src"),
                                                                    os.environ.get("PYTHONPATH")])))
    res = subprocess.run([sys.executable, "-m", "pgforklint", "budget", "--format", "json", str(fixture)],
                         env=env, capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode in (0, 1), res.stderr
    return json.loads(res.stdout)


def test_two_process_types_on_one_server_peak_at_the_tables_expected_peak(rt, budget_pg, procs, tmp_path):
    """gunicorn (gthread, preload) and a Celery prefork worker share the private cluster: the sampled peak in
    pg_stat_activity equals `pgforklint budget`'s expected peak for the fixture."""
    import threading

    fixture = rt.fixture_dir("rt_budget_two_types")
    table = _static_budget(fixture)
    url = budget_pg.url("psycopg2", user="app")
    web, port = rt.start_gunicorn(procs, fixture, url)
    spool = rt.celery_spool(tmp_path)
    worker = procs.start("celery-rt_budget_two_types", rt.procfile_command(fixture, "worker"), cwd=fixture,
                         env=rt.base_env(DATABASE_URL=url, CELERY_SPOOL=spool), stop_signal=signal.SIGQUIT,
                         stop_timeout=1)
    worker.wait_for_text(r"celery@\S+ ready\.", timeout=60)
    results = {}
    with rt.PeakSampler(budget_pg) as sampler:
        tasks = threading.Thread(target=lambda: results.setdefault(
            "tasks", rt.celery_load(spool, tasks=24, sleep=0.4, deadline=60)))
        tasks.start()
        http = rt.http_load(port, requests=120, concurrency=16, sleep=0.3, timeout=10)
        tasks.join(90)
    celery_load = results.get("tasks")
    rt.record("PGF004 two process types on one server (gunicorn + celery prefork)", **http.as_record(),
              peak=sampler.peak, expected_peak=table["expected_peak"], samples=sampler.samples,
              task_failures=celery_load.failures if celery_load else None)
    assert http.failures == 0 and http.wrong_rows == 0, f"{http.describe()}\n{web.tail()}"
    assert celery_load is not None and celery_load.failures == 0, (
        f"{celery_load.describe() if celery_load else 'tasks did not finish'}\n{worker.tail()}")
    # web: 2 workers x min(4 threads, pool 2+2) + the preloading master's connection = 9;
    # worker: 3 children x pool 1 + the worker parent's import-time connection = 4.
    assert [(r["name"], r["total_expected"]) for r in table["process_types"]] == [("web", 9), ("worker", 4)]
    assert sampler.peak == table["expected_peak"] == 13, (sampler.peak, table["expected_peak"])
    rt.assert_static(fixture, [], absent_codes=["PGF004", "PGF005", "PGF011", "PGF001", "PGF101"])


@pytest.mark.parametrize("fixture_name", ["rt_pool_small", "rt_pool_matched"])
def test_pool_smaller_than_threads_times_out(rt, pg, procs, fixture_name):
    fixture = rt.fixture_dir(fixture_name)
    w, t, p, o = _settings(fixture)
    proc, port = rt.start_gunicorn(procs, fixture, pg.url("psycopg2"))
    load = rt.http_load(port, requests=96, concurrency=2 * w * t, sleep=0.3, timeout=10)
    rt.record(f"PGF005 {fixture_name} (W={w} T={t} P={p} O={o})", **load.as_record())
    timeouts = sum(n for msg, n in load.errors.items()
                   if f"QueuePool limit of size {p} overflow {o} reached" in msg)
    if p + o < t:
        assert timeouts > 0, f"{load.describe()}\n{proc.tail()}"
        rt.assert_static(fixture, ["PGF005"])
    else:
        assert load.failures == 0 and load.wrong_rows == 0, f"{load.describe()}\n{proc.tail()}"
        rt.assert_static(fixture, [], absent_codes=["PGF005"])
