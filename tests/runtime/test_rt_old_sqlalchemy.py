"""`--fix` on a project that pins SQLAlchemy 1.3.24 (no `Engine.dispose(close=False)`, added in 1.4.33).

The fixture ``rt_gunicorn_preload_sqlalchemy13`` connects at import under gunicorn preload. SQLAlchemy 1.3.24 is
installed from PyPI into a temporary folder put first on the servers' PYTHONPATH (pure Python, no C extension:
about 20 s; with CI=true a failed install fails the test).

- The fix pgforklint writes for that pin (``engine.dispose()`` in ``pre_fork``, SQLAlchemy's documented reset
  before 1.4.33) boots every worker, and the load runs clean: one backend per worker, none shared.
- The reset recommended from 1.4.33 on (``engine.dispose(close=False)`` in ``post_fork``) stops every worker from
  booting on the pinned version (``TypeError``): why pgforklint never writes it as a safe fix there.
"""

from __future__ import annotations

import json
import signal
import os
import shutil
import subprocess
import sys
import urllib.request

import pytest

from pgforklint.fix import fix_project

FIXTURE = "rt_gunicorn_preload_sqlalchemy13"
PIN = "SQLAlchemy==1.3.24"


@pytest.fixture(scope="module")
def old_sqlalchemy(rt, tmp_path_factory):
    target = tmp_path_factory.mktemp("sqlalchemy13")
    env = {**os.environ, "DISABLE_SQLALCHEMY_CEXT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    try:
        done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-cache-dir",
                               "--target", str(target), PIN], env=env, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        rt.unavailable(f"installing {PIN} took more than 300 s")
    if done.returncode != 0:
        rt.unavailable(f"cannot install {PIN}: {done.stderr.strip()[-400:]}")
    return target


def _start(rt, procs, project, pg, target, name):
    port = rt.free_port()
    env = rt.base_env(DATABASE_URL=pg.url("psycopg2"), PYTHONPATH=str(target))
    proc = procs.start(name, rt.procfile_command(project, "web") + ["--bind", f"127.0.0.1:{port}"], cwd=project,
                       env=env, stop_signal=signal.SIGQUIT, stop_timeout=5)
    return proc, port


def test_fix_for_the_pinned_version_boots_and_runs_clean(rt, pg, procs, tmp_path, old_sqlalchemy):
    rt.require_module("flask")
    project = tmp_path / FIXTURE
    shutil.copytree(rt.fixture_dir(FIXTURE), project)
    report = fix_project(project)
    assert [d.code for d in report.fixed] == ["PGF001"], report.summary()
    config = (project / "gunicorn.conf.py").read_text()
    assert "def pre_fork(server, worker):" in config and "engine.dispose()" in config and "close=False" not in config
    rt.assert_static(project, [], absent_codes=["PGF001", "PGF002", "PGF003"])

    proc, port = _start(rt, procs, project, pg, old_sqlalchemy, "gunicorn-sqlalchemy13-fixed")
    proc.wait_for_port(port)
    proc.wait_for_text(r"Booting worker with pid", count=rt.gunicorn_workers(project))
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=5) as resp:
        assert json.loads(resp.read())["sqlalchemy"] == "1.3.24"
    load = rt.http_load(port, requests=300, concurrency=12, sleep=0.005, timeout=5.0)
    rt.record("PGF001 gunicorn fixed by --fix on SQLAlchemy 1.3.24 (pre_fork dispose)", **load.as_record())
    assert len(load.worker_pids) >= 2, f"load did not reach several workers: {load.describe()}"
    assert load.failures == 0 and load.wrong_rows == 0 and load.unfinished == 0, f"{load.describe()}\n{proc.tail()}"
    assert not load.shared_backends, load.describe()
    assert len(load.backend_pids) == len(load.worker_pids), load.describe()


def test_close_false_stops_workers_booting_on_the_pinned_version(rt, pg, procs, tmp_path, old_sqlalchemy):
    rt.require_module("flask")
    project = tmp_path / FIXTURE
    shutil.copytree(rt.fixture_dir(FIXTURE), project)
    with (project / "gunicorn.conf.py").open("a") as config:
        config.write("\n\ndef post_fork(server, worker):\n    from app import engine\n\n    engine.dispose(close=False)\n")
    proc, _ = _start(rt, procs, project, pg, old_sqlalchemy, "gunicorn-sqlalchemy13-close-false")
    proc.wait_for_text(r"unexpected keyword argument 'close'", timeout=30)
    proc.wait_for_text(r"Worker failed to boot|Shutting down", timeout=30)
    rt.record("SQLAlchemy 1.3.24 with post_fork dispose(close=False)", workers_booted=0,
              error="TypeError: dispose() got an unexpected keyword argument 'close'")
