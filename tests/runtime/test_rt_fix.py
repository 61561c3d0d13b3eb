"""`pgforklint --fix` against the real thing: a hazardous fixture, fixed by the tool, runs clean.

``rt_gunicorn_preload`` (preload in gunicorn.conf.py, SELECT 1 at import) and
``rt_gunicorn_preload_cli`` (``--preload`` in the Procfile, no configuration file) are copied,
fixed with ``pgforklint.fix.fix_project`` (the same code as ``pgforklint --fix``), and started
under load: the hazard measured in ``test_rt_gunicorn.py`` is gone (no failures, no wrong rows,
one backend per worker) and the fixed project lints clean for PGF001.
"""

from __future__ import annotations

import shutil

import pytest

from pgforklint.fix import fix_project

REQUESTS = 400
CONCURRENCY = 16


@pytest.mark.parametrize("driver", ["psycopg2", "psycopg"])
@pytest.mark.parametrize("fixture_name", ["rt_gunicorn_preload", "rt_gunicorn_preload_cli"])
def test_fixed_by_pgforklint_runs_clean(rt, pg, procs, tmp_path, fixture_name, driver):
    project = tmp_path / fixture_name
    shutil.copytree(rt.fixture_dir(fixture_name), project)
    report = fix_project(project)
    assert [d.code for d in report.fixed] == ["PGF001"], report.summary()
    assert "post_fork" in (project / "gunicorn.conf.py").read_text()
    rt.assert_static(project, [], absent_codes=["PGF001", "PGF002", "PGF003"])

    proc, port = rt.start_gunicorn(procs, project, pg.url(driver), name=f"gunicorn-fixed-{fixture_name}-{driver}")
    load = rt.http_load(port, requests=REQUESTS, concurrency=CONCURRENCY, sleep=0.005, timeout=5.0)
    rt.record(f"PGF001 gunicorn {fixture_name} fixed by --fix {driver}", **load.as_record())
    assert len(load.worker_pids) >= 2, f"load did not reach several workers: {load.describe()}"
    assert load.failures == 0 and load.wrong_rows == 0 and load.unfinished == 0, f"{load.describe()}\n{proc.tail()}"
    assert not load.shared_backends, load.describe()
    assert len(load.backend_pids) == len(load.worker_pids), load.describe()
