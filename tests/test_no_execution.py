"""pgforklint never imports, executes, evals or unsafely loads what it lints -- by construction and by test.

1. Dynamic: a tree where every file kind pgforklint reads would, if imported, executed, eval'ed or
   loaded with an unsafe YAML loader, write a marker file, open a socket or kill the process. The CLI
   runs on it in a child process under an audit hook (PEP 578) that records any import of the planted
   modules, any process spawn, any socket connection and any write to a marker. Nothing may happen,
   and the process must finish normally.
2. Static: pgforklint's own source has no subprocess, no exec/eval/compile/__import__/importlib/runpy,
   no pickle/marshal, and YAML is only loaded through a SafeLoader subclass.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

SRC = Path(__file__).resolve().parent.parent / "src" / "pgforklint"

# -- dynamic -----------------------------------------------------------------------------------------

TRAP_PY = """\
import os, socket
open({marker!r}, "w").write("executed")
socket.create_connection(("127.0.0.1", 9), timeout=0.1)
os._exit(42)
"""

DRIVER = """\
import json, sys
events = []
PLANTED = ("boobytrap", "settings", "celeryconfig", "gunicorn", "setup", "manage", "conftest", "wsgi")
SPAWN = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
         "pty.spawn", "os.startfile", "socket.connect", "socket.getaddrinfo", "socket.bind")
ROOT = sys.argv[1]

def hook(event, args):
    if event == "import" and args and str(args[0]).split(".")[0] in PLANTED:
        events.append([event, str(args[0])])
    elif event in SPAWN:
        events.append([event, repr(args)[:200]])
    elif event == "open" and args and "MARKER" in str(args[0]):
        events.append([event, str(args[0])])
    elif event == "exec" and args and getattr(args[0], "co_filename", "").startswith(ROOT):
        events.append([event, args[0].co_filename])

sys.addaudithook(hook)
from pgforklint.cli import main
import io, contextlib
codes = []
for argv in (["--format", "json", ROOT], ["--format", "sarif", ROOT], ["budget", ROOT], ["budget", "--format", "json", ROOT]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        codes.append(main(argv))
sys.stderr.write("\\nEVENTS " + json.dumps(events) + "\\n")
sys.stderr.write("CODES " + json.dumps(codes) + "\\n")
sys.exit(0)
"""


def plant(root: Path) -> list[Path]:
    markers: list[Path] = []

    def marker(kind: str) -> str:
        path = root.parent / f"MARKER-{kind}"
        markers.append(path)
        return str(path)

    def py(rel: str, extra: str = "") -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(TRAP_PY.format(marker=marker(rel.replace("/", "_"))) + extra)

    def write(rel: str, text: str) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    py("boobytrap/__init__.py")
    py("boobytrap/wsgi.py", "from sqlalchemy import create_engine\nengine = create_engine('postgresql://')\n"
                           "engine.connect()\napplication = object()\n")
    py("boobytrap/tasks.py", "from celery import Celery\napp = Celery('x')\n")
    py("gunicorn.conf.py", "preload_app = __import__('os').system('touch %s')\nworkers = eval('4')\n"
                           "def post_fork(server, worker):\n    exec(open('x').read())\n" % marker("gunicorn-eval"))
    py("settings.py", "DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql'}}\n")
    py("celeryconfig.py")
    py("setup.py")
    py("manage.py")
    py("conftest.py")
    py("wsgi.py", "import boobytrap.wsgi\n")
    touch = marker("shell")
    write("Procfile", f"web: touch {touch} && gunicorn --preload boobytrap.wsgi:application\n"
                      f"worker: celery -A boobytrap.tasks worker\nrelease: sh -c 'touch {touch}; $(touch {touch})'\n")
    write("Dockerfile", f"FROM python:3.12\nRUN touch {touch}\nCMD touch {touch}; exec gunicorn boobytrap.wsgi\n")
    write("start.sh", f"#!/bin/sh\ntouch {touch}\n`touch {touch}`\nexec gunicorn --preload boobytrap.wsgi:application\n")
    write("deploy/app.service", f"[Service]\nExecStartPre=/usr/bin/touch {touch}\nExecStart=gunicorn boobytrap.wsgi\n")
    write(".env", f"DATABASE_URL=$(touch {touch})\nWEB_CONCURRENCY=`touch {touch}`\n")
    write("requirements.txt", f"-e .\nboobytrap @ file://{root}\n-r /etc/passwd\n")
    write("pyproject.toml", '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "boobytrap"\n'
                            '[project]\nname = "boobytrap"\ndependencies = ["sqlalchemy"]\n'
                            '[project.entry-points."x"]\ny = "boobytrap:main"\n')
    unsafe = "!!python/object/apply:os.system ['touch %s']" % marker("yaml")
    write("docker-compose.yml", f"services:\n  web:\n    command: gunicorn boobytrap.wsgi\n    x: {unsafe}\n")
    write("k8s/deployment.yaml", f"apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: !!python/object/new:os.system "
                                 f"['touch {touch}']\n")
    write("k8s/job.yaml", "kind: Job\nspec: !!python/name:os.system\n")
    write("uwsgi.ini", f"[uwsgi]\nmodule = boobytrap.wsgi:application\nprocesses = 4\nexec-asap = touch {touch}\n"
                       f"hook-asap = exec:touch {touch}\npython-import = boobytrap\n")
    write("uwsgi.yaml", f"uwsgi:\n  module: boobytrap.wsgi\n  exec-pre-app: {unsafe}\n")
    write("uwsgi.json", json.dumps({"uwsgi": {"module": "boobytrap.wsgi", "exec-asap": f"touch {touch}"}}))
    write("uwsgi.xml", f"<uwsgi><module>boobytrap.wsgi</module><exec-asap>touch {touch}</exec-asap></uwsgi>\n")
    write("app.json", json.dumps({"scripts": {"postdeploy": f"touch {touch}"}, "env": {"X": {"value": f"$(touch {touch})"}}}))
    write("newrelic.ini", "[newrelic]\ntransaction_tracer.explain_enabled = true\n")
    write("pgbouncer.ini", f"[pgbouncer]\npool_mode = transaction\nauth_query = SELECT pg_read_file('{touch}')\n")
    write("postgresql.conf", f"max_connections = 100\narchive_command = 'touch {touch}'\n")
    write(".pgforklint.toml", "max-connections = 100\n")
    return markers


@pytest.mark.parametrize("walk", ["prefiltered", "eager"])
def test_nothing_linted_is_ever_executed(tmp_path: Path, walk: str) -> None:
    root = tmp_path / "project"
    root.mkdir()
    markers = plant(root)
    env = {**os.environ, "PYTHONPATH": str(SRC.parent), "PYTHONDONTWRITEBYTECODE": "1",
           "PGFORKLINT_CACHE_DIR": str(tmp_path / "cache")}
    if walk == "eager":
        env["PGFORKLINT_NO_PREFILTER"] = "1"  # every imported module walked, none deferred
    env.pop("DATABASE_URL", None)
    proc = subprocess.run([sys.executable, "-c", DRIVER, str(root)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])  # 42 would mean a planted file ran
    events_line = next(line for line in proc.stderr.splitlines() if line.startswith("EVENTS "))
    events = json.loads(events_line[len("EVENTS "):])
    assert events == [], events
    codes = json.loads(next(line for line in proc.stderr.splitlines() if line.startswith("CODES "))[len("CODES "):])
    assert all(code in (0, 1) for code in codes[:2]), (codes, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    assert [m for m in markers if m.exists()] == []
    assert not list(root.rglob("__pycache__"))  # nothing was imported from the tree


# -- static ------------------------------------------------------------------------------------------

FORBIDDEN_MODULES = {"subprocess", "importlib", "runpy", "pickle", "marshal", "shelve", "code", "codeop", "pty",
                     "ctypes", "multiprocessing", "imp", "zipimport", "dill", "cloudpickle"}
FORBIDDEN_CALLS = {"exec", "eval", "compile", "__import__", "execfile", "breakpoint"}
FORBIDDEN_ATTRIBUTES = {("os", "system"), ("os", "popen"), ("os", "execv"), ("os", "execve"), ("os", "execvp"),
                        ("os", "spawnv"), ("os", "posix_spawn"), ("os", "fork"), ("os", "startfile"),
                        ("yaml", "unsafe_load"), ("yaml", "unsafe_load_all"), ("yaml", "full_load"),
                        ("yaml", "full_load_all"), ("yaml", "FullLoader"), ("yaml", "UnsafeLoader"), ("yaml", "Loader"),
                        ("yaml", "CLoader"), ("yaml", "CUnsafeLoader"), ("yaml", "CFullLoader")}


# The read-ahead helper forks pgforklint itself, after discovery; the child only reads bytes and parses them
# with `ast` (pgforklint.readahead._serve), then ends with os._exit: it never runs linted code.
ALLOWED_ATTRIBUTES = {("readahead.py", ("os", "fork"))}


def sources() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", sources(), ids=lambda p: p.relative_to(SRC).as_posix())
def test_source_never_executes_linted_code(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in FORBIDDEN_MODULES:
                    problems.append(f"line {node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module.split(".")[0] in FORBIDDEN_MODULES:
                problems.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            problems.append(f"line {node.lineno}: {node.func.id}(...)")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and (node.value.id, node.attr) in FORBIDDEN_ATTRIBUTES \
                and (path.relative_to(SRC).as_posix(), (node.value.id, node.attr)) not in ALLOWED_ATTRIBUTES:
            problems.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
        elif isinstance(node, ast.Attribute) and node.attr in ("exec_module", "load_module", "spec_from_file_location"):
            problems.append(f"line {node.lineno}: .{node.attr}")
    assert problems == [], problems


def _yaml_load_calls() -> list[tuple[Path, ast.Call]]:
    calls = []
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
                    "load", "load_all", "safe_load", "safe_load_all") and isinstance(node.func.value, ast.Name) \
                    and node.func.value.id == "yaml":
                calls.append((path, node))
    return calls


def test_yaml_is_only_loaded_through_a_safe_loader() -> None:
    import importlib as loader_lookup  # pgforklint's own modules, to resolve the Loader names

    calls = _yaml_load_calls()
    assert calls, "expected the YAML reader to be found"
    for path, call in calls:
        if call.func.attr.startswith("safe_"):
            continue
        keywords = {k.arg: k.value for k in call.keywords}
        assert "Loader" in keywords, f"{path}:{call.lineno}: yaml.{call.func.attr} without Loader="
        assert isinstance(keywords["Loader"], ast.Name), f"{path}:{call.lineno}: Loader must be a named class"
        module_name = "pgforklint." + path.relative_to(SRC).with_suffix("").as_posix().replace("/", ".")
        module = loader_lookup.import_module(module_name)
        loader = getattr(module, keywords["Loader"].id)
        assert issubclass(loader, yaml.SafeLoader), f"{path}:{call.lineno}: {loader} is not a SafeLoader"


def test_the_line_loader_is_safe() -> None:
    from pgforklint.read import structured, yaml_safe

    loader = yaml_safe._LineLoader
    assert issubclass(loader, yaml.SafeLoader)
    assert not issubclass(loader, (yaml.FullLoader, yaml.UnsafeLoader))
    tags = [str(tag) for tag in loader.yaml_constructors] + [str(tag) for tag in loader.yaml_multi_constructors]
    assert not [tag for tag in tags if "python" in tag], tags
    for document in ("!!python/object/apply:os.system ['true']", "!!python/name:os.system", "!!python/module:os",
                     "!!python/object/new:os.system ['true']"):
        with pytest.raises(Exception) as info:
            structured.load_yaml_documents(document)
        assert type(info.value).__name__ == "ReadError"


def test_no_subprocess_anywhere_in_the_package() -> None:
    """No import of, name for or attribute called `subprocess` (prose in docstrings may mention it)."""
    offenders = []
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [alias.name for alias in node.names] + [getattr(node, "module", None) or ""]
            elif isinstance(node, ast.Name):
                names = [node.id]
            elif isinstance(node, ast.Attribute):
                names = [node.attr]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.strip() == "subprocess":
                names = [node.value.strip()]  # importlib.import_module("subprocess") and friends
            if any(name.split(".")[0] == "subprocess" for name in names):
                offenders.append(f"{path.relative_to(SRC).as_posix()}:{node.lineno}")
    assert offenders == []


def test_live_check_uses_a_driver_not_a_process() -> None:
    live = SRC / "live.py"
    if not live.exists():
        pytest.skip("no live check")
    text = live.read_text(encoding="utf-8")
    assert "psycopg" in text
    assert "os.system" not in text and "Popen" not in text


def test_driver_script_is_valid() -> None:
    ast.parse(textwrap.dedent(DRIVER))
