"""Ruby servers (Debian's packages) against a real PostgreSQL: the seed articles' hazards.

PGF001/PGF002 (issue 16): a preloading Unicorn (``preload_app true``) and a clustered Puma
(``workers 2`` + ``preload_app!``) whose master opened a connection at boot, with raw ``PG`` and
with Sequel, versus the same apps with the seed's hooks (Unicorn ``before_fork`` close/disconnect +
``after_fork`` reconnect; Puma 5.6 ``before_fork`` + ``on_worker_boot``).  Active Record 6.1 under
the same preloading Unicorn/Puma, with a query at boot and no hooks, stays correct: its
ForkTracker discards the inherited pool in the child.  That is why the rule is version-gated (the
4.2 twin ``rt_ruby_unicorn_ar42`` is only linted: Debian ships Active Record 6.1 only).

``test_fixed_by_pgforklint_runs_clean``: ``pgforklint --fix`` on copies of the Sequel hazards and
of the Active Record 4.2 twin, then the same load: the hooks it writes hold.

PGF005/PGF004 (issue 17): Puma threads above the Active Record pool give
``ActiveRecord::ConnectionTimeoutError``, a pool equal to the threads does not; a Puma cluster plus
a Sidekiq process peak at the expected number of connections (counted the seed's way: same user,
own backend excluded, on a private cluster with an app role); a budget over a low
``max_connections`` is refused by PostgreSQL (``FATAL: sorry, too many clients already``).

Tools: ``ruby``, ``unicorn``, ``puma``, ``sidekiq`` and ``redis-server`` from the system (Debian
packages ``ruby ruby-pg ruby-activerecord ruby-sequel unicorn puma ruby-sidekiq redis-server``,
installed by ``.ci/run``).  Missing tools skip, or fail under ``CI=true``.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REQUESTS = 400
CONCURRENCY = 16
SLEEP = 0.005
HAZARD_TIMEOUT = 3.0
# The hazard is a race: every measured run showed it (rules/runtime/ruby.md), but a quiet run
# is possible in principle, so one is repeated once before the test fails.
HAZARD_ATTEMPTS = 2

RUBY_LIBS = {"pg": "ruby-pg", "sequel": "ruby-sequel", "active_record": "ruby-activerecord",
             "sidekiq": "ruby-sidekiq"}
BUDGET_ERRORS = ("too many clients already", "remaining connection slots are reserved")


# --------------------------------------------------------------------------------------------
# tools and processes


def ruby_tool(rt, name: str) -> Path:
    found = shutil.which(name)
    if not found:
        rt.unavailable(f"{name} is not on PATH (Debian packages: ruby unicorn puma ruby-sidekiq "
                       "redis-server; .ci/run installs them)")
    return Path(found)


def require_ruby_lib(rt, lib: str) -> None:
    ruby = ruby_tool(rt, "ruby")
    res = subprocess.run([str(ruby), "-e", f"require {lib!r}"], capture_output=True, text=True,
                         timeout=60, check=False)
    if res.returncode != 0:
        rt.unavailable(f"Ruby library {lib!r} is not loadable (Debian package {RUBY_LIBS[lib]}): "
                       f"{res.stderr.strip()[:300]}")


def ruby_env(rt, **extra) -> dict:
    """``base_env`` minus what would redirect Ruby, Rack, Bundler or Sidekiq, plus ``extra``."""
    env = rt.base_env()
    for key in ("RUBYOPT", "RUBYLIB", "BUNDLE_GEMFILE", "RACK_ENV", "RAILS_ENV", "REDIS_URL",
                "RAILS_MAX_THREADS"):
        env.pop(key, None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def procfile_argv(rt, fixture: Path, process: str) -> list[str]:
    for line in (fixture / "Procfile").read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() == process:
            argv = shlex.split(command)
            return [str(ruby_tool(rt, argv[0]))] + argv[1:]
    raise AssertionError(f"no {process!r} entry in {fixture / 'Procfile'}")


def server_kind(fixture: Path) -> str:
    return "puma" if (fixture / "config" / "puma.rb").exists() else "unicorn"


def worker_count(fixture: Path) -> int:
    if server_kind(fixture) == "puma":
        m = re.search(r"^workers\s+(\d+)", (fixture / "config/puma.rb").read_text(), re.M)
        return int(m.group(1)) if m else 0
    m = re.search(r"^worker_processes\s+(\d+)", (fixture / "config/unicorn.rb").read_text(), re.M)
    return int(m.group(1)) if m else 1


def start_web(rt, procs, fixture: Path, database_url: str, **env):
    """Start the fixture's ``web`` process on a free loopback port; wait for every worker."""
    port = rt.free_port()
    kind = server_kind(fixture)
    # Unicorn: SIGTERM is its quick shutdown.  Puma: SIGTERM stops the cluster; workers stuck
    # in recv() on a shared socket are SIGKILLed with the group after stop_timeout.
    proc = procs.start(f"{kind}-{fixture.name}", procfile_argv(rt, fixture, "web"), cwd=fixture,
                       env=ruby_env(rt, DATABASE_URL=database_url, PORT=port, **env),
                       stop_signal=signal.SIGTERM, stop_timeout=5)
    proc.wait_for_port(port)
    workers = worker_count(fixture)
    if kind == "unicorn":
        proc.wait_for_text(r"worker=\d+ ready", count=workers)
    elif workers:
        proc.wait_for_text(r"Worker \d+ \(PID: \d+\) booted", count=workers)
    return proc, port


def pg_url(pg, user: str | None = None, application_name: str | None = None) -> str:
    url = f"postgres://{user or pg.user}@{pg.host}:{pg.port}/{pg.dbname}?connect_timeout=5"
    return url + (f"&application_name={application_name}" if application_name else "")


def backends_named(pg, application_name: str) -> set:
    """Backend PIDs of connections made with this application_name (libpq and Active Record
    pass it on from the URL; Sequel 5.63 does not)."""
    rows = pg.query("SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                    (application_name,))
    return {pid for (pid,) in rows}


# --------------------------------------------------------------------------------------------
# PGF001 / PGF002: the master's connection under preload


HAZARDS = ["rt_ruby_unicorn_pg", "rt_ruby_unicorn_sequel", "rt_ruby_puma_pg",
           "rt_ruby_puma_sequel"]
FIXES = ["rt_ruby_ok_unicorn_pg_hooks", "rt_ruby_ok_unicorn_sequel_hooks",
         "rt_ruby_ok_puma_pg_hooks", "rt_ruby_ok_puma_sequel_hooks"]
AR_NO_HOOKS = ["rt_ruby_ok_unicorn_ar61", "rt_ruby_ok_puma_ar61"]


def _lib(fixture_name: str) -> str:
    """The Ruby library a fixture's app needs (for a clear skip/fail when it is missing)."""
    if "sequel" in fixture_name:
        return "sequel"
    return "pg" if re.search(r"_pg(_|$)", fixture_name) else "active_record"


@pytest.mark.parametrize("fixture_name", HAZARDS)
def test_preloading_master_connection_is_shared(rt, pg, procs, fixture_name):
    require_ruby_lib(rt, _lib(fixture_name))
    fixture = rt.fixture_dir(fixture_name)
    for attempt in range(1, HAZARD_ATTEMPTS + 1):
        name = f"pgforklint-rt-{uuid.uuid4().hex[:12]}"
        proc, port = start_web(rt, procs, fixture, pg_url(pg, application_name=name))
        at_fork = backends_named(pg, name)
        load = rt.http_load(port, requests=REQUESTS, concurrency=CONCURRENCY, sleep=SLEEP,
                            timeout=HAZARD_TIMEOUT)
        # libpq's own complaint on stderr when a worker reads bytes meant for another process
        # (PostgreSQL message types D, T, C, Z...): "message type 0x44 arrived from server
        # while idle".
        stray = len(re.findall(r"arrived from server while idle", proc.text()))
        rt.record(f"PGF001 ruby {fixture_name} (hazard)", **load.as_record(), attempt=attempt,
                  backends_at_boot=len(at_fork),
                  boot_backend_used=bool(at_fork & load.backend_pids),
                  libpq_stray_messages=stray)
        if load.sharing_shown():
            break
        procs.stop_all()
    assert len(load.worker_pids) >= 2, f"load did not reach several workers: {load.describe()}"
    assert load.sharing_shown(), (
        "expected the hazard (failures, wrong rows, or workers sharing one backend), got "
        f"{load.describe()}\n{proc.tail()}")
    rt.assert_static(fixture, ["PGF001"])


@pytest.mark.parametrize("fixture_name", FIXES + AR_NO_HOOKS)
def test_hooks_or_active_record_give_each_worker_its_own_connection(rt, pg, procs,
                                                                   fixture_name):
    require_ruby_lib(rt, _lib(fixture_name))
    fixture = rt.fixture_dir(fixture_name)
    name = f"pgforklint-rt-{uuid.uuid4().hex[:12]}"
    proc, port = start_web(rt, procs, fixture, pg_url(pg, application_name=name))
    at_fork = backends_named(pg, name)  # what the master left open when it forked
    load = rt.http_load(port, requests=REQUESTS, concurrency=CONCURRENCY, sleep=SLEEP)
    after = backends_named(pg, name)
    rt.record(f"PGF001 ruby {fixture_name} (fix)", **load.as_record(),
              backends_at_boot=len(at_fork), boot_backend_used=bool(at_fork & load.backend_pids))
    assert len(load.worker_pids) >= 2, f"load did not reach several workers: {load.describe()}"
    assert load.failures == 0 and load.wrong_rows == 0 and load.unfinished == 0, (
        f"{load.describe()}\n{proc.tail()}")
    assert not load.shared_backends, load.describe()
    if fixture_name in AR_NO_HOOKS:
        # Active Record 6.1 without Rails: the boot query's connection stays open in the master
        # (no railtie flush), every worker inherits it, and the ForkTracker's discard makes the
        # workers open their own without touching (or closing) the inherited socket.
        assert len(at_fork) == 1, at_fork
        assert not at_fork & load.backend_pids, (at_fork, load.describe())
        assert at_fork <= after, (at_fork, after)
    rt.assert_static(fixture, [], absent_codes=["PGF001", "PGF002", "PGF003"])


def test_active_record_42_twin_is_flagged(rt):
    """The same preloading Unicorn app as ``rt_ruby_ok_unicorn_ar61`` on Active Record 4.2.

    Static only: Debian ships Active Record 6.1, whose ForkTracker the test above measured.
    """
    rt.assert_static(rt.fixture_dir("rt_ruby_unicorn_ar42"), ["PGF001"])


@pytest.mark.parametrize("fixture_name", ["rt_ruby_unicorn_sequel", "rt_ruby_puma_sequel",
                                          "rt_ruby_unicorn_ar42"])
def test_fixed_by_pgforklint_runs_clean(rt, pg, procs, tmp_path, fixture_name):
    """``pgforklint --fix`` writes the hooks; the fixed project runs clean under the same load.

    ``rt_ruby_unicorn_ar42`` gets the seed's Active Record hooks (``disconnect!`` in
    ``before_fork``, ``establish_connection`` in ``after_fork``); it runs here on Debian's
    Active Record 6.1 (the app code is the same on 4.2), with ``RACK_ENV=production`` as on a
    deployment, since the written ``establish_connection`` takes the environment's section.
    """
    from pgforklint.fix import fix_project

    require_ruby_lib(rt, _lib(fixture_name))
    project = tmp_path / fixture_name
    shutil.copytree(rt.fixture_dir(fixture_name), project)
    report = fix_project(project)
    assert [d.code for d in report.fixed] == ["PGF001"], report.summary()
    proc, port = start_web(rt, procs, project, pg_url(pg), RACK_ENV="production")
    load = rt.http_load(port, requests=REQUESTS, concurrency=CONCURRENCY, sleep=SLEEP)
    rt.record(f"PGF001 ruby {fixture_name} fixed by --fix", **load.as_record())
    assert len(load.worker_pids) >= 2, f"load did not reach several workers: {load.describe()}"
    assert load.failures == 0 and load.wrong_rows == 0 and load.unfinished == 0, (
        f"{load.describe()}\n{proc.tail()}")
    assert not load.shared_backends, load.describe()
    rt.assert_static(project, [], absent_codes=["PGF001", "PGF002", "PGF003"])

# --------------------------------------------------------------------------------------------
# PGF005: Puma threads above the Active Record pool


def _fixture_numbers(fixture: Path) -> dict:
    """workers, threads (max) from config/puma.rb; pool, checkout_timeout from database.yml."""
    puma = (fixture / "config/puma.rb").read_text()
    db = (fixture / "config/database.yml").read_text()

    def num(rx, text, default=None):
        m = re.search(rx, text, re.M)
        return int(m.group(1)) if m else default

    numbers = {"workers": num(r"^workers\s+(\d+)", puma, 0),
               "threads": num(r"^threads\s+\d+,\s*(\d+)", puma),
               "pool": num(r"^\s+pool:\s*(\d+)", db)}
    sidekiq = fixture / "config/sidekiq.yml"
    if sidekiq.exists():
        numbers["sidekiq_concurrency"] = num(r"^:?concurrency:\s*(\d+)", sidekiq.read_text())
    return numbers


@pytest.mark.parametrize("fixture_name", ["rt_ruby_puma_pool_small",
                                          "rt_ruby_ok_puma_pool_matched"])
def test_puma_threads_above_the_pool_time_out(rt, pg, procs, fixture_name):
    require_ruby_lib(rt, "active_record")
    fixture = rt.fixture_dir(fixture_name)
    n = _fixture_numbers(fixture)
    proc, port = start_web(rt, procs, fixture, pg_url(pg))
    load = rt.http_load(port, requests=96, concurrency=2 * n["workers"] * n["threads"],
                        sleep=0.5, timeout=10)
    rt.record(f"PGF005 ruby {fixture_name} (W={n['workers']} T={n['threads']} "
              f"pool={n['pool']})", **load.as_record())
    timeouts = sum(count for msg, count in load.errors.items()
                   if msg.startswith("ActiveRecord::ConnectionTimeoutError: could not obtain a "
                                     "connection from the pool"))
    if n["pool"] < n["threads"]:
        assert timeouts > 0, f"{load.describe()}\n{proc.tail()}"
        assert timeouts == load.failures, load.describe()
        rt.assert_static(fixture, ["PGF005"])
    else:
        assert load.failures == 0 and load.wrong_rows == 0 and load.unfinished == 0, (
            f"{load.describe()}\n{proc.tail()}")
        assert len(load.backend_pids) == n["workers"] * n["threads"], load.describe()
        rt.assert_static(fixture, [], absent_codes=["PGF005", "PGF006"])


# --------------------------------------------------------------------------------------------
# PGF004: the D x P x T budget, Puma cluster + Sidekiq, on a private cluster


def _pg_conf(fixture: Path) -> dict:
    conf = {}
    for line in (fixture / "postgresql.conf").read_text().splitlines():
        m = re.match(r"\s*(\w+)\s*=\s*(\S+)", line)
        if m:
            conf[m.group(1)] = m.group(2)
    return conf


def _cluster(rt, procs, fixture: Path, name: str):
    conf = _pg_conf(fixture)
    cluster = rt.start_private_cluster(procs, conf, name=name)
    cluster.query("CREATE ROLE app LOGIN")
    cluster.max_connections = int(conf["max_connections"])
    cluster.reserved = int(conf.get("superuser_reserved_connections", 3))
    return cluster


def start_redis(rt, procs):
    port = rt.free_port()
    proc = procs.start("redis", [str(ruby_tool(rt, "redis-server")), "--bind", "127.0.0.1",
                                 "--port", str(port), "--save", "", "--appendonly", "no"],
                       cwd=procs.workdir, stop_signal=signal.SIGTERM, stop_timeout=5)
    proc.wait_for_port(port)
    return port


def enqueue_sidekiq_jobs(rt, redis_port: int, job_class: str, args_list: list) -> None:
    """Push jobs the way Sidekiq::Client does (queue list + queues set), with redis-cli."""
    now = time.time()
    payloads = [json.dumps({"class": job_class, "args": args, "queue": "default",
                            "jid": uuid.uuid4().hex[:24], "retry": False,
                            "created_at": now, "enqueued_at": now}) for args in args_list]
    redis_cli(rt, redis_port, "SADD", "queues", "default")
    redis_cli(rt, redis_port, "LPUSH", "queue:default", *payloads)


def redis_cli(rt, redis_port: int, *argv: str) -> str:
    res = subprocess.run([str(ruby_tool(rt, "redis-cli")), "-h", "127.0.0.1", "-p",
                          str(redis_port), *argv], check=True, capture_output=True, text=True,
                         timeout=10)
    return res.stdout.strip()


def wait_for_sidekiq(rt, worker, redis_port: int, timeout: float = 30.0) -> None:
    """Sidekiq 6.4 prints no "ready" line without a TTY; its first heartbeat registers the
    process in the ``processes`` set."""
    deadline = time.monotonic() + timeout
    while redis_cli(rt, redis_port, "SCARD", "processes") in ("", "0"):
        if not worker.alive() or time.monotonic() > deadline:
            pytest.fail(f"Sidekiq did not start within {timeout}s\n{worker.tail()}")
        time.sleep(0.1)


def linter_budget(rt, fixture: Path) -> dict:
    res = subprocess.run([sys.executable, "-m", "pgforklint", "budget", "--format", "json",
                          str(fixture)], cwd=rt.REPO, capture_output=True, text=True,
                         timeout=120, check=False)
    try:
        return json.loads(res.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"STATIC: pgforklint budget --format json on {fixture.name}: "
                             f"{exc}\n{res.stdout[-1500:]}\n{res.stderr[-1500:]}") from exc


JOBS = 9
JOB_SECONDS = 1.5


def test_puma_cluster_plus_sidekiq_peak_is_the_expected_budget(rt, procs):
    for tool_name in ("redis-server", "redis-cli", "sidekiq"):
        ruby_tool(rt, tool_name)
    require_ruby_lib(rt, "sidekiq")
    fixture = rt.fixture_dir("rt_ruby_ok_budget_fits")
    n = _fixture_numbers(fixture)
    # Neither master holds a connection (no preload; Sidekiq does not fork): D x P x T for the
    # web, plus min(concurrency, pool) for the Sidekiq process (D = 1 instance each).
    expected = (n["workers"] * min(n["threads"], n["pool"])
                + min(n["sidekiq_concurrency"], n["pool"]))
    cluster = _cluster(rt, procs, fixture, "ruby-budget")
    url = pg_url(cluster, user="app")
    redis_port = start_redis(rt, procs)
    web, port = start_web(rt, procs, fixture, url)
    worker = procs.start("sidekiq", procfile_argv(rt, fixture, "worker"), cwd=fixture,
                         env=ruby_env(rt, DATABASE_URL=url,
                                      REDIS_URL=f"redis://127.0.0.1:{redis_port}/0"),
                         stop_signal=signal.SIGTERM, stop_timeout=5)
    wait_for_sidekiq(rt, worker, redis_port)
    with rt.PeakSampler(cluster, user="app") as sampler:
        enqueue_sidekiq_jobs(rt, redis_port, "LookupJob", [[JOB_SECONDS]] * JOBS)
        load = rt.http_load(port, requests=80, concurrency=4 * n["workers"] * n["threads"],
                            sleep=0.4, timeout=10)
        deadline = time.monotonic() + 30
        while (len(re.findall(r"INFO: (?:done|fail)", worker.text())) < JOBS
               and time.monotonic() < deadline):
            time.sleep(0.1)
    jobs_done = len(re.findall(r"INFO: done", worker.text()))
    jobs_failed = len(re.findall(r"INFO: fail", worker.text()))
    rt.record("PGF004 ruby budget fits (Puma W={workers} T={threads} pool={pool} + Sidekiq "
              "C={sidekiq_concurrency})".format(**n), **load.as_record(), peak=sampler.peak,
              expected_peak=expected, samples=sampler.samples, jobs=JOBS, jobs_done=jobs_done,
              jobs_failed=jobs_failed,
              available=cluster.max_connections - cluster.reserved)
    assert load.failures == 0 and load.wrong_rows == 0, f"{load.describe()}\n{web.tail()}"
    assert (jobs_done, jobs_failed) == (JOBS, 0), worker.tail()
    assert sampler.peak == expected, (sampler.peak, expected, load.describe())
    budget = linter_budget(rt, fixture)
    assert budget.get("expected_peak") == expected, (
        f"STATIC: pgforklint budget expects {budget.get('expected_peak')}, measured and hand "
        f"count {expected}: {json.dumps(budget.get('process_types'))[:1500]}")
    rt.assert_static(fixture, [], absent_codes=["PGF004", "PGF005", "PGF011", "PGF001"])


def test_budget_over_max_connections_is_refused(rt, procs):
    require_ruby_lib(rt, "active_record")
    fixture = rt.fixture_dir("rt_ruby_budget_over")
    n = _fixture_numbers(fixture)
    expected = n["workers"] * min(n["threads"], n["pool"])
    cluster = _cluster(rt, procs, fixture, "ruby-budget-over")
    available = cluster.max_connections - cluster.reserved
    assert expected > available
    web, port = start_web(rt, procs, fixture, pg_url(cluster, user="app"))
    with rt.PeakSampler(cluster, user="app") as sampler:
        load = rt.http_load(port, requests=120, concurrency=2 * n["workers"] * n["threads"],
                            sleep=0.3, timeout=10)
    refused = sum(count for msg, count in load.errors.items()
                  if any(e in msg for e in BUDGET_ERRORS))
    rt.record("PGF004 ruby budget over (Puma W={workers} T={threads} pool={pool})".format(**n),
              **load.as_record(), peak=sampler.peak, expected_peak=expected,
              available=available, refused=refused, samples=sampler.samples)
    assert refused > 0, f"{load.describe()}\n{web.tail()}"
    assert any("FATAL:  sorry, too many clients already" in msg for msg in load.errors), (
        load.describe())
    # The sampler holds one of the app role's slots itself.
    assert sampler.peak <= available - 1 < expected, sampler.peak
    budget = linter_budget(rt, fixture)
    assert (budget.get("expected_peak"), budget.get("available")) == (expected, available), (
        f"STATIC: pgforklint budget: {json.dumps(budget)[:1500]}")
    rt.assert_static(fixture, ["PGF004"])
