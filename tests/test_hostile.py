"""Hostile repositories (issue 19): crafted trees cannot hang a run, exhaust memory, crash it, or make it
read or write outside the project. Each test runs the command line in a subprocess with a time limit
(`timeout`) and an address-space limit (`RLIMIT_AS`), so that a regression fails instead of hanging
the suite or the machine."""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
MEMORY = 1536 * 1024 * 1024
OTHER_USER = 54321  # an owner that is not this user (the tests that need it run as root)


def _limits(memory: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    return apply


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 60,
            memory: int = MEMORY) -> subprocess.CompletedProcess:
    """The command line in a bounded subprocess; TimeoutExpired (a hang) fails the test."""
    environment = {**os.environ, "NO_COLOR": "1", **(env or {})}
    environment.pop("GITHUB_ACTIONS", None)
    return subprocess.run([sys.executable, "-m", "pgforklint", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=timeout, preexec_fn=_limits(memory))


def run_python(code: str, timeout: float = 60, memory: int = MEMORY) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=_limits(memory))


def assert_clean_run(result: subprocess.CompletedProcess) -> None:
    """Findings or none (exit 0 or 1), never an internal error."""
    assert "internal error" not in result.stderr, result.stderr
    assert result.returncode in (0, 1), (result.returncode, result.stdout[-2000:], result.stderr[-2000:])


def project(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def warmup(root: Path) -> Path:
    """A copy of a fixture with findings (a connection opened before the fork)."""
    shutil.copytree(FIXTURES / "gunicorn_warmup_query", root, ignore=shutil.ignore_patterns("*.expect"))
    for path in root.rglob("*.py"):
        path.write_text(path.read_text().replace("# expect:", "#"))
    return root


def findings(result: subprocess.CompletedProcess) -> list[str]:
    return sorted(line.split(": ", 1)[1] if ": " in line else line
                  for line in result.stdout.splitlines() if " PGF" in line)


needs_root = pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0,
                                reason="giving a file to another user needs root")


# --- never hang: files that are not regular files ------------------------------------------------


def _special(path: Path, kind: str) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.close()  # the socket file stays
    elif kind == "device":
        path.symlink_to("/dev/zero")


@pytest.mark.parametrize("kind", ["fifo", "socket", "device"])
def test_dot_git_that_is_not_a_file_or_folder(tmp_path: Path, kind: str) -> None:
    root = warmup(tmp_path / "repo")
    _special(root / ".git", kind)
    assert_clean_run(run_cli(str(root), timeout=30, memory=512 * 1024 * 1024))


@pytest.mark.parametrize("where", ["info/exclude", "gitdir"])
def test_git_internals_that_are_fifos(tmp_path: Path, where: str) -> None:
    root = warmup(tmp_path / "repo")
    if where == "info/exclude":
        (root / ".git" / "info").mkdir(parents=True)
        os.mkfifo(root / ".git" / "info" / "exclude")
    else:  # a worktree's `.git` file pointing at a FIFO, and one that is a FIFO behind a symlink
        os.mkfifo(tmp_path / "gitdir")
        (root / ".git").write_text(f"gitdir: {tmp_path / 'gitdir'}\n")
    assert_clean_run(run_cli(str(root), timeout=30))


def test_ancestor_gitignore_that_is_a_fifo(tmp_path: Path) -> None:
    top = tmp_path / "top"
    (top / ".git").mkdir(parents=True)
    os.mkfifo(top / ".gitignore")
    root = warmup(top / "service")
    assert_clean_run(run_cli(str(root), timeout=30))


def test_cache_file_that_is_a_fifo(tmp_path: Path) -> None:
    root = warmup(tmp_path / "repo")
    cache = tmp_path / "cache"
    first = run_cli(str(root), env={"PGFORKLINT_CACHE_DIR": str(cache), "PGFORKLINT_NO_CACHE": ""}, timeout=30)
    assert_clean_run(first)
    for facts in cache.glob("facts-*.json"):
        facts.unlink()
        os.mkfifo(facts)
    again = run_cli(str(root), env={"PGFORKLINT_CACHE_DIR": str(cache), "PGFORKLINT_NO_CACHE": ""}, timeout=30)
    assert_clean_run(again)
    assert findings(again) == findings(first)


def test_safe_open_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    from pgforklint import safeio

    os.mkfifo(tmp_path / "fifo")
    for path in (tmp_path / "fifo", Path("/dev/zero"), tmp_path):
        with pytest.raises(OSError):
            safeio.read_regular(path, 1024)
    (tmp_path / "big").write_bytes(b"x" * 10_000)
    assert len(safeio.read_regular(tmp_path / "big", 100)) == 100


# --- never hang: matching and reading in linear time ---------------------------------------------


def test_gitignore_pattern_without_backtracking_blow_up(tmp_path: Path) -> None:
    name = "a" * 120 + ".py"
    root = project(tmp_path / "repo", {".gitignore": "*a*a*a*a*a*a*a*a*a*a*b\n!x*y*z\n", name: "x = 1\n"})
    root = warmup(root / "svc")
    (root / ".gitignore").write_text("*a*a*a*a*a*a*a*a*a*a*b\n" + "**/a*/**/a*/**/a*/**/a*/**/b\n")
    (root / ("a" * 150 + ".py")).write_text("x = 1\n")
    deep = root.joinpath(*["a"] * 60)
    deep.mkdir(parents=True)
    (deep / "c.py").write_text("x = 1\n")
    assert_clean_run(run_cli(str(tmp_path / "repo"), timeout=30))


def test_large_gitignore_with_negations(tmp_path: Path) -> None:
    root = warmup(tmp_path / "repo")
    lines = [f"!*keep{i}*x" if i % 2 else f"*junk{i}*y" for i in range(20_000)]
    (root / ".gitignore").write_text("\n".join(lines) + "\n")
    for number in range(300):
        folder = root / "pkg" / f"m{number % 30}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"mod{number}.py").write_text("x = 1\n")
    result = run_cli(str(root), timeout=60)
    assert_clean_run(result)
    assert "wildcard patterns" in result.stdout  # the budget ran out and the run says so


@pytest.mark.parametrize("data", [
    "b'from x import (\\n' * 60000",
    "b'os.environ[' + b' ' * 60000 + b'\\n'",
    "b'import;' * 400000",
    "b'environ[' * 150000",
])
def test_prefilter_scan_is_linear(data: str) -> None:
    result = run_python(f"""
        from pgforklint import prefilter
        prefilter.scan({data})
    """, timeout=30)
    assert result.returncode == 0, result.stderr


def test_procfile_line_with_many_leading_assignments(tmp_path: Path) -> None:
    root = project(tmp_path / "repo", {"Procfile": "web: " + "A=1 " * 100_000 + "gunicorn app:app\n"
                                                   "worker: env " + "B=2 " * 100_000 + "celery -A app worker\n",
                                       "app.py": "app = None\n"})
    assert_clean_run(run_cli(str(root), timeout=30))


def test_uwsgi_xml_unclosed_elements(tmp_path: Path) -> None:
    body = "<uwsgi>\n<processes>4</processes>\n" + "<a>" * 100_000 + "<!--" * 20_000 + "<uwsgi " * 20_000
    root = project(tmp_path / "repo", {"Procfile": "web: uwsgi --xml uwsgi.xml\n", "uwsgi.xml": body})
    assert_clean_run(run_cli(str(root), timeout=30))


def test_uwsgi_option_references_do_not_explode(tmp_path: Path) -> None:
    names = [f"o{number}" for number in range(40)]
    lines = ["[uwsgi]", f"{names[0]} = 0123456789"]
    lines += [f"{name} = " + f"%({previous})" * 10 for previous, name in zip(names, names[1:])]
    lines.append("processes = 4")
    root = project(tmp_path / "repo", {"Procfile": "web: uwsgi --ini uwsgi.ini\n", "uwsgi.ini": "\n".join(lines) + "\n"})
    assert_clean_run(run_cli(str(root), timeout=30, memory=768 * 1024 * 1024))


def test_evaluator_values_stay_small(tmp_path: Path) -> None:
    conf = "workers = 3\n" + "workers *= workers\n" * 40 + "threads = 2 * 10 ** 5000 // 7\n"
    app = "import sqlalchemy\nitems = [1]\n" + "items += items\n" * 40 + \
          "engine = sqlalchemy.create_engine('postgresql://db/x', pool_size=99999999999999999999 * 99999999999999999999)\n" \
          "engine.connect()\n"
    root = project(tmp_path / "repo", {"Procfile": "web: gunicorn -c gunicorn.conf.py app:app\n",
                                       "gunicorn.conf.py": conf, "app.py": app})
    assert_clean_run(run_cli(str(root), timeout=60, memory=768 * 1024 * 1024))


def test_huge_file_is_never_read_in_full(tmp_path: Path) -> None:
    root = warmup(tmp_path / "repo")
    with open(root / "gunicorn.conf.py", "r+b") as handle:  # sparse: 3 GiB on disk costs nothing
        handle.truncate(3 * 1024 ** 3)
    result = run_cli(str(root), timeout=60, memory=768 * 1024 * 1024)
    assert_clean_run(result)
    assert "size cap" in result.stdout


# --- never crash on content ----------------------------------------------------------------------


def test_numbers_that_are_not_numbers(tmp_path: Path) -> None:
    huge = "9" * 5000
    root = project(tmp_path / "repo", {
        "Procfile": "web: gunicorn app:app\nworker: uwsgi --ini uwsgi.ini\n",
        "uwsgi.ini": f"[uwsgi]\nprocesses = \u00b2\nthreads = {huge}\n",
        "app.json": json.dumps({"env": {"WEB_CONCURRENCY": {"value": "\u00b2"}}}),
        "docker-compose.yml": textwrap.dedent(f"""\
            services:
              web:
                command: gunicorn app:app
                environment:
                  WEB_CONCURRENCY: "\u00b2"
              db:
                image: postgres
                command: postgres -c max_connections={huge}
                environment:
                  POSTGRESQL_MAX_CONNECTIONS: "\u00b2"
        """),
        "pgbouncer.ini": f"[pgbouncer]\nmax_client_conn = \u00b2\ndefault_pool_size = {huge}\n",
        "postgresql.conf": f"max_connections = {huge}\n",
        "app.py": "app = None\n",
    })
    assert_clean_run(run_cli(str(root), timeout=60))


def test_configuration_integer_over_the_digit_limit(tmp_path: Path) -> None:
    root = warmup(tmp_path / "repo")
    (root / "pyproject.toml").write_text(f"[tool.pgforklint]\nmax-connections = {'9' * 5000}\n")
    result = run_cli(str(root), timeout=30)
    assert result.returncode == 2 and "internal error" not in result.stderr
    assert "pyproject.toml" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("stdout", ["closed", "full"])
def test_closed_stdout_or_full_disk_is_an_output_error(tmp_path: Path, stdout: str) -> None:
    root = warmup(tmp_path / "repo")
    command = [sys.executable, "-m", "pgforklint", "--no-cache", str(root)]
    if stdout == "closed":
        result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=30,
                                preexec_fn=lambda: (_limits(MEMORY)(), os.close(1)))
    else:
        with open("/dev/full", "w") as full:
            result = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, text=True, timeout=30,
                                    preexec_fn=_limits(MEMORY))
    assert result.returncode == 2
    assert result.stderr.startswith("pgforklint: error: cannot write the output"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# --- never write or read outside the project -----------------------------------------------------


def test_cache_dir_from_the_repository_cannot_point_outside(tmp_path: Path) -> None:
    root = warmup(tmp_path / "repo")
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "link").symlink_to(outside)
    for configured in ("../outside", str(outside), "link"):
        (root / ".pgforklint.toml").write_text(f"cache-dir = {json.dumps(configured)}\n")
        result = run_cli(str(root), env={"XDG_CACHE_HOME": str(tmp_path / "home-cache"), "PGFORKLINT_NO_CACHE": "",
                                         "PGFORKLINT_CACHE_DIR": ""}, timeout=30)
        assert_clean_run(result)
        assert list(outside.iterdir()) == [], configured


def test_cache_shipped_in_the_repository_cannot_change_findings(tmp_path: Path) -> None:
    from pgforklint import cache

    root = warmup(tmp_path / "repo").resolve()
    env = {"XDG_CACHE_HOME": str(tmp_path / "home-cache"), "PGFORKLINT_NO_CACHE": "", "PGFORKLINT_CACHE_DIR": ""}
    honest = run_cli(str(root), "--no-cache", timeout=30)
    assert findings(honest)
    (root / ".pgforklint.toml").write_text('cache-dir = ".pgforklint_cache"\n')
    # The doctored facts file: every Python file "imports nothing and mentions nothing".
    entries = {cache._digest(path.read_bytes()): [[], False, True] for path in root.rglob("*.py")}
    document = {"format": cache.FORMAT, "version": cache.fingerprint(), "tool": "pgforklint", "tag": "0" * 32,
                "entries": entries}
    name = f"facts-{cache.blake2b(str(root).encode(), digest_size=8).hexdigest()}.json"
    (root / ".pgforklint_cache").mkdir()
    (root / ".pgforklint_cache" / name).write_text(json.dumps(document, separators=(",", ":")))
    doctored = run_cli(str(root), env=env, timeout=30)
    assert findings(doctored) == findings(honest)


def test_cache_temporary_files_never_follow_planted_symlinks(tmp_path: Path) -> None:
    from pgforklint import safeio

    folder = tmp_path / "cache"
    folder.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (folder / "facts.json").symlink_to(victim)  # planted under the final name: replaced, not followed
    safeio.write_private(folder, "facts.json", b"{}")
    assert victim.read_text() == "keep"
    assert not (folder / "facts.json").is_symlink()


@needs_root
def test_configuration_above_the_project_from_another_user_is_ignored(tmp_path: Path) -> None:
    shared = tmp_path / "shared"  # like /tmp: anyone can put files here
    root = warmup(shared / "checkout")
    planted = shared / ".pgforklint.toml"
    planted.write_text('ignore = ["PGF"]\n')
    os.chown(planted, OTHER_USER, OTHER_USER)
    result = run_cli(str(root), "--no-cache", timeout=30)
    assert findings(result), result.stdout


@needs_root
def test_configuration_above_the_project_from_its_owner_is_used(tmp_path: Path) -> None:
    # a checkout of another uid mounted into a container that runs as root: its files are the project's
    repo = tmp_path / "repo"
    root = warmup(repo / "service")
    (repo / ".git").mkdir()
    (repo / "pyproject.toml").write_text('[tool.pgforklint]\nignore = ["PGF"]\n')
    for path in (repo, *repo.rglob("*")):
        os.chown(path, OTHER_USER, OTHER_USER, follow_symlinks=False)
    result = run_cli(str(root), "--no-cache", timeout=30)
    assert_clean_run(result)
    assert not findings(result), result.stdout


@needs_root
def test_git_folder_above_the_project_from_another_user_is_ignored(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    root = warmup(shared / "checkout")
    (shared / ".git" / "info").mkdir(parents=True)
    (shared / ".git" / "info" / "exclude").write_text("*.py\nProcfile\n")
    (shared / ".gitignore").write_text("*\n")
    for path in (shared / ".git", shared / ".git" / "info", shared / ".git" / "info" / "exclude", shared / ".gitignore"):
        os.chown(path, OTHER_USER, OTHER_USER)
    result = run_cli(str(root), "--no-cache", timeout=30)
    assert findings(result), result.stdout


def test_exponential_call_fan_out_is_bounded(tmp_path: Path) -> None:
    lines = ["import sqlalchemy", "engine = sqlalchemy.create_engine('postgresql://db/x')"]
    for number in range(30):
        lines += [f"def f{number}():"] + [f"    f{number + 1}()"] * 10
    lines += ["def f30():", "    engine.connect()", "f0()", "app = None"]
    root = project(tmp_path / "repo", {"app.py": "\n".join(lines) + "\n", "Procfile": "web: gunicorn --preload app:app\n"})
    result = run_cli(str(root), "--no-cache", timeout=60)
    assert_clean_run(result)
    assert "analysis bound reached" in result.stdout


# --- the read-ahead helper -----------------------------------------------------------------------


def test_stopped_read_ahead_helper_is_not_waited_on(tmp_path: Path) -> None:
    for number in range(520):
        (tmp_path / "pkg").mkdir(exist_ok=True)
        (tmp_path / "pkg" / f"m{number}.py").write_text("import os\n")
    result = run_python(f"""
        import os, signal
        from pathlib import Path
        from pgforklint import readahead
        from pgforklint.discover import discover
        from pgforklint.project import PYTHON_NEEDLES
        helper = readahead.ReadAhead.start(discover(Path({str(tmp_path)!r})), PYTHON_NEEDLES)
        assert helper is not None
        os.kill(helper.pid, signal.SIGSTOP)
        helper.ask_parses("pkg/m1.py")
        masks = [helper.needle_mask(f"pkg/m{{n}}.py") for n in range(520)]
        assert helper.parse_answers() == {{}}
        print("done")
    """, timeout=30)
    assert result.returncode == 0 and "done" in result.stdout, result.stderr


def test_stat_helpers_tell_kinds(tmp_path: Path) -> None:
    from pgforklint.safeio import kind_of_special

    os.mkfifo(tmp_path / "f")
    assert "FIFO" in kind_of_special(os.stat(tmp_path / "f").st_mode)
    assert "device" in kind_of_special(os.stat("/dev/null").st_mode)
    assert kind_of_special(stat.S_IFREG) == "not a regular file"


# --- --fix and --diff ------------------------------------------------------------------------------

FIX_CASES = Path(__file__).parent / "fix_cases"


def _case(tmp_path: Path, name: str) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(FIX_CASES / name / "before", root)
    return root


def test_fix_never_writes_through_a_link_out_of_the_project(tmp_path: Path) -> None:
    root = _case(tmp_path, "gunicorn_create_config")
    secret = tmp_path / "secret.py"
    secret.write_text("TOKEN = 'sekrit-value'\n")
    (root / "gunicorn.conf.py").symlink_to(secret)
    for mode in ("--diff", "--fix"):
        result = run_cli(mode, str(root), "--no-cache", timeout=60)
        assert "sekrit" not in result.stdout + result.stderr
        assert secret.read_text() == "TOKEN = 'sekrit-value'\n"
        assert (root / "gunicorn.conf.py").is_symlink()


def test_fix_edits_an_in_tree_symlink_at_its_target_and_keeps_hard_links(tmp_path: Path) -> None:
    root = _case(tmp_path, "gunicorn_add_post_fork")
    (root / "deploy").mkdir()
    (root / "gunicorn.conf.py").rename(root / "deploy" / "gunicorn.py")
    (root / "gunicorn.conf.py").symlink_to("deploy/gunicorn.py")
    os.link(root / "deploy" / "gunicorn.py", root / "deploy" / "hard.py")
    result = run_cli("--fix", str(root), "--no-cache", timeout=60)
    assert "internal error" not in result.stderr
    assert (root / "gunicorn.conf.py").is_symlink()
    fixed = (root / "deploy" / "gunicorn.py").read_text()
    assert "post_fork" in fixed
    assert (root / "deploy" / "hard.py").read_text() == fixed  # still one file


def test_fix_skips_a_file_libcst_cannot_parse_safely(tmp_path: Path) -> None:
    root = _case(tmp_path, "gunicorn_add_post_fork")
    conf = root / "gunicorn.conf.py"
    conf.write_text(conf.read_text() + "flag = " + " or ".join(["x"] * 10_000) + "\n")
    for mode in ("--diff", "--fix"):  # libcst's parser would die with SIGSEGV (exit -11)
        result = run_cli(mode, str(root), "--no-cache", timeout=60)
        assert result.returncode in (0, 1) and "internal error" not in result.stderr, result.stderr[-500:]
    assert "post_fork" not in conf.read_text()


@pytest.mark.parametrize("cookie", ["unicode_escape", "idna", "raw_unicode_escape"])
def test_fix_leaves_files_with_unusual_codecs(tmp_path: Path, cookie: str) -> None:
    root = _case(tmp_path, "gunicorn_add_post_fork")
    conf = root / "gunicorn.conf.py"
    original = f"# -*- coding: {cookie} -*-\n".encode() + conf.read_bytes() + b"name = 'caf\\u00e9'\n"
    conf.write_bytes(original)
    result = run_cli("--fix", str(root), "--no-cache", timeout=60)
    assert "internal error" not in result.stderr, result.stderr[-500:]
    assert conf.read_bytes() == original


def test_fix_leaves_a_file_whose_fixed_text_its_codec_cannot_write(tmp_path: Path) -> None:
    # found by scripts/fuzz.py --hostile (seed 1): `workers = 2` round-trips through idna, the added
    # post_fork hook does not (a label longer than 63 characters)
    root = _case(tmp_path, "gunicorn_add_post_fork")
    conf = root / "gunicorn.conf.py"
    original = b"# coding: idna\nworkers = 2\npreload_app = True\n"
    conf.write_bytes(original)
    result = run_cli("--fix", str(root), "--no-cache", timeout=60)
    assert "internal error" not in result.stderr, result.stderr[-500:]
    assert conf.read_bytes() == original


def test_fix_leaves_a_file_changed_since_the_analysis(tmp_path: Path) -> None:
    from pgforklint.analyze import lint_project
    from pgforklint.config import Config
    from pgforklint.fix import fix_lint_result

    root = _case(tmp_path, "gunicorn_add_post_fork")
    result = lint_project(root, Config())
    conf = root / "gunicorn.conf.py"
    conf.write_text(conf.read_text() + "# edited in the meantime\n")
    edited = conf.read_text()
    report, _ = fix_lint_result(result, Config())
    assert conf.read_text() == edited  # its findings' lines may no longer be where the analysis saw them
    assert not report.fixed


def test_fix_refuses_files_changed_since_they_were_read(tmp_path: Path) -> None:
    from pgforklint.safeio import write_project_files

    (tmp_path / "a.py").write_bytes(b"old\n")
    (tmp_path / "b.py").write_bytes(b"edited by someone else\n")
    written, problems = write_project_files(tmp_path, [("a.py", b"new\n", b"old\n"), ("b.py", b"new\n", b"old\n")])
    assert written == [] and [p[0] for p in problems] == ["b.py"]
    assert (tmp_path / "a.py").read_bytes() == b"old\n"  # all or nothing


def test_file_swapped_for_a_fifo_after_discovery(tmp_path: Path) -> None:
    root = warmup(tmp_path / "repo")
    big = root / "big_settings.py"
    big.write_bytes(b"x = 1\n" * 500_000)  # over the size cap: scanned in chunks
    result = run_python(f"""
        import os
        from pathlib import Path
        from pgforklint.config import Config
        from pgforklint.discover import discover
        from pgforklint.project import Project
        root = Path({str(root)!r})
        project = Project(root, discover(root), Config())
        for rel in ("gunicorn.conf.py", "big_settings.py"):
            os.unlink(root / rel)
            os.mkfifo(root / rel)
        assert project.python("gunicorn.conf.py") is None
        assert project.text("gunicorn.conf.py") is None
        project.contains("big_settings.py", b"DATABASES", b"not-a-known-needle")
        print(sorted(project.unreadable))
    """, timeout=30)
    assert result.returncode == 0 and "gunicorn.conf.py" in result.stdout, result.stderr


def test_hostile_fuzz_short_run() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("pgforklint_fuzz", Path(__file__).parent.parent / "scripts" / "fuzz.py")
    fuzz = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fuzz)
    assert fuzz.run_hostile(3, seed=19, seconds=60, verbose=False) == []
