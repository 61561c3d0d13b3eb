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
