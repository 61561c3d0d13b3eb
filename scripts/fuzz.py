#!/usr/bin/env python3
"""Long-running mutational fuzzer for pgforklint's readers and pipeline (not part of CI).

    python scripts/fuzz.py --inputs 100000 [--seed 1] [--pipeline-share 0.03] [--out fuzz-findings]

Seeds are every file under tests/fixtures and examples plus a few hand-written ones; each input is a
seed mutated at the byte level (insertions of nasty tokens, deletions, duplications, splices of two
seeds, random bytes) or pure random bytes. Every reader is fed its share of inputs; a small share goes
through the whole pipeline on a generated tree. Anything raised that is not the project's own
`ReadError`/`PgforklintError` is a finding: it is printed, de-duplicated by (target, exception type,
innermost pgforklint frame) and the smallest input for each is saved under --out.

Nothing is ever executed: the readers only parse.
"""

from __future__ import annotations

import argparse
import ast
import collections
import random
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from pgforklint.analyze import lint_project  # noqa: E402
from pgforklint.config import Config  # noqa: E402
from pgforklint.errors import PgforklintError, ReadError  # noqa: E402
from pgforklint.extract.pyvalues import StaticEvaluator, module_assignments  # noqa: E402
from pgforklint.read import structured  # noqa: E402
from pgforklint.read.command import parse_commands  # noqa: E402
from pgforklint.read.python import decode_python, parse_python  # noqa: E402
from pgforklint.read.text import check_conflict_markers, decode_text  # noqa: E402
from pgforklint.report import github, json_format, sarif, text  # noqa: E402

NASTY = [b"\x00", b"\n", b"\r\n", b"\r", b"\t", b" ", b":", b"- ", b"&a ", b"*a", b"<<: *a", b"!!python/object/apply:os.system ",
         b"!!int ", b"!!float ", b"!!binary ", b"!!timestamp ", b"!!set ", b"!!omap ", b"!!pairs ", b"{{ .Values.x }}",
         b"{%", b"<%=", b"[", b"]", b"{", b"}", b"(", b")", b"'", b'"', b"\\", b"#", b"# coding: ", b"# -*- coding: latin-1 -*-\n",
         b"# coding: rot13\n", b"# coding: idna\n", b"# coding: punycode\n", b"# coding: utf-16\n", b"# coding: utf-7\n",
         b"\xef\xbb\xbf", b"\xc3\xa9", b"\xe9", b"\xff\xfe", b"\xed\xa0\x80", b"1" * 5000, b"$", b"${", b"${X:-", b"&&", b"||",
         b"|", b";", b"<<<<<<< HEAD\n", b">>>>>>> x\n", b"=======\n", b"lambda: ", b"not ", b"**", b"@", b"async ", b"await ",
         b"yield ", b"...", b"0x", b"1e999", b"nan", b"\xe2\x80\xa8", b"\xc2\x85", b"---\n", b"...\n", b"? ", b"%YAML 1.1\n",
         b"%TAG ! tag:x,2000:\n", b"!x ", b"exec ", b"sh -c '", b"gunicorn ", b"--preload ", b"-w ", b"-c ", b"python -m ",
         b"import ", b"from . import ", b"from .. import *\n", b"def f(", b"class C(", b"with ", b"engine.connect()",
         b"create_engine(", b"os.environ.get(", b"\"\"\"", b"'''", b"\\\n", b"[tool.pgforklint]\n", b"[[", b"]]", b"=",
         b"// comment\n", b"/* x */", b"\"env\": ", b"CMD [", b"ENTRYPOINT ", b"ENV ", b"web: ", b"worker: "]

HAND_SEEDS = {
    "command": [b"gunicorn --preload -w ${WEB_CONCURRENCY:-4} -b 0.0.0.0:$PORT app.wsgi:application",
                b"sh -c 'alembic upgrade head && exec gunicorn -c gunicorn.conf.py app:app'",
                b"env FOO=1 newrelic-admin run-program celery -A app worker --concurrency=4 | tee log; true"],
    "expression": [b"int(os.environ.get('WEB_CONCURRENCY', 4)) * 2 + 1", b"max(2, multiprocessing.cpu_count() * 2 + 1)",
                   b"env.int('X', default=3) or 5", b"{'pool_size': 5, 'max_overflow': -1}['pool_size']"],
}

KIND_BY_SUFFIX = {".py": "python", ".yml": "yaml", ".yaml": "yaml", ".toml": "toml", ".json": "json", ".ini": "ini",
                  ".cfg": "ini", ".sh": "command"}


def corpus() -> dict[str, list[bytes]]:
    seeds: dict[str, list[bytes]] = collections.defaultdict(list)
    for base in (ROOT / "tests" / "fixtures", ROOT / "examples"):
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if not path.is_file() or path.is_symlink() or path.stat().st_size > 200_000:
                continue
            data = path.read_bytes()
            if path.name.startswith("Procfile"):
                seeds["procfile"].append(data)
            elif path.name.startswith("Dockerfile"):
                seeds["dockerfile"].append(data)
            elif path.suffix in KIND_BY_SUFFIX:
                seeds[KIND_BY_SUFFIX[path.suffix]].append(data)
    for kind, items in HAND_SEEDS.items():
        seeds[kind].extend(items)
    for kind, items in list(seeds.items()):
        if not items:
            del seeds[kind]
    seeds.setdefault("procfile", [b"web: gunicorn --preload app.wsgi:application\n"])
    seeds.setdefault("dockerfile", [b'FROM python\nENV A=1\nCMD ["gunicorn", "app:app"]\n'])
    seeds.setdefault("ini", [b"[uwsgi]\nmodule = app.wsgi\nprocesses = 4\n"])
    seeds.setdefault("json", [b'{"env": {"WEB_CONCURRENCY": "4"}}'])
    seeds.setdefault("toml", [b'[project]\nname = "x"\n'])
    return seeds


def mutate(rng: random.Random, data: bytes, others: list[bytes]) -> bytes:
    if rng.random() < 0.05:
        return rng.randbytes(rng.randint(0, 400))
    for _ in range(rng.randint(1, 8)):
        position = rng.randint(0, len(data))
        action = rng.random()
        if action < 0.35:
            data = data[:position] + rng.choice(NASTY) + data[position:]
        elif action < 0.55:
            data = data[:position] + data[position + rng.randint(1, 30):]
        elif action < 0.65:
            chunk = data[position: position + rng.randint(1, 60)]
            data = data[:position] + chunk * rng.randint(2, 200) + data[position:]
        elif action < 0.75 and others:
            other = rng.choice(others)
            cut = rng.randint(0, len(other))
            data = data[:position] + other[cut: cut + rng.randint(1, 200)] + data[position:]
        elif action < 0.85:
            data = data[:position] + rng.randbytes(rng.randint(1, 8)) + data[position:]
        elif data:
            index = rng.randrange(len(data))
            data = data[:index] + bytes([data[index] ^ (1 << rng.randrange(8))]) + data[index + 1:]
    if rng.random() < 0.02:  # deep nesting
        opener, closer = rng.choice([(b"(", b")"), (b"[", b"]"), (b"{", b"}"), (b"a.b", b""), (b"not ", b""), (b"- ", b"")])
        depth = rng.choice([50, 200, 990, 3000])
        data = data + b"\nx = " + opener * depth + b"1" + closer * depth + b"\n"
    return data


# -- targets: each takes bytes and may raise only ReadError / PgforklintError -----------------------------


def t_python(data: bytes) -> None:
    parse_python(decode_python(data))


def t_text(data: bytes) -> None:
    check_conflict_markers(decode_text(data))


def t_yaml(data: bytes) -> None:
    structured.load_yaml_documents(decode_text(data))


def t_toml(data: bytes) -> None:
    structured.load_toml(decode_text(data))


def t_json(data: bytes) -> None:
    structured.load_json(decode_text(data))


def t_ini(data: bytes) -> None:
    structured.load_ini(decode_text(data))


def t_command(data: bytes) -> None:
    for line in decode_text(data).splitlines()[:50]:
        for command in parse_commands(line, {"PORT": "8000"}):
            command.program  # noqa: B018


def t_expression(data: bytes) -> None:
    source = decode_text(data)
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return  # not Python: the Python reader's business, tested above
    names, _ = module_assignments(tree, "gunicorn.conf.py", {"X": "3"})
    evaluator = StaticEvaluator("gunicorn.conf.py", dict(names), {"X": "3"})
    # What the pipeline evaluates: assigned values and call arguments (not every sub-expression of a deep
    # one, which would make the harness itself quadratic).
    expressions = [node.value for node in ast.walk(tree) if isinstance(node, (ast.Assign, ast.keyword, ast.AnnAssign))
                   and node.value is not None]
    expressions += [arg for node in ast.walk(tree) if isinstance(node, ast.Call) for arg in node.args]
    if isinstance(tree.body[0] if tree.body else None, ast.Expr):
        expressions.insert(0, tree.body[0].value)
    for node in expressions[:50]:
        if True:
            value = evaluator.evaluate(node)
            value.as_quantity("x")
            value.as_flag("x")


PIPELINE_FILES = {"procfile": "Procfile", "dockerfile": "Dockerfile", "yaml": "docker-compose.yml", "json": "app.json",
                  "toml": "pyproject.toml", "ini": "uwsgi.ini", "command": "start.sh", "python": "app/wsgi.py"}
BASE_TREE = {
    "Procfile": b"web: gunicorn --preload app.wsgi:application\n",
    "app/__init__.py": b"",
    "app/wsgi.py": b"from app.db import engine\napplication = object()\n",
    "app/db.py": b"from sqlalchemy import create_engine\nengine = create_engine('postgresql://')\nengine.connect()\n",
    "gunicorn.conf.py": b"workers = 4\n",
}


def t_pipeline(files: dict[str, bytes]) -> None:
    directory = tempfile.mkdtemp(prefix="pgf-fuzz-")
    try:
        root = Path(directory)
        for name, content in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        result = lint_project(root, Config())
        for render in (json_format.render, github.render, sarif.render, text.render):
            render(result.diagnostics).encode("utf-8")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


TARGETS = {
    "python": (t_python, "python"), "text": (t_text, None), "yaml": (t_yaml, "yaml"), "toml": (t_toml, "toml"),
    "json": (t_json, "json"), "ini": (t_ini, "ini"), "command": (t_command, "command"),
    "procfile-command": (t_command, "procfile"), "dockerfile-command": (t_command, "dockerfile"),
    "pyvalues": (t_expression, "python"), "pyvalues-expr": (t_expression, "expression"),
}


def signature(target: str, exc: BaseException) -> tuple[str, str, str]:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "pgforklint" in f.filename]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    return target, type(exc).__name__, where


# -- hostile trees (issue 19) ---------------------------------------------------------------------------
#
#     python scripts/fuzz.py --hostile 300 [--seed 1]
#
# Each input is a random project tree with what a hostile pull request can contain: symlinks (inside, out
# of the tree, dangling, looping, to /dev/zero), FIFOs and sockets under names the tool opens (`.git`,
# `.gitignore`, `Procfile`, `gunicorn.conf.py`, `.git/info/exclude`, its cache file), huge sparse files,
# deeply nested and very long code, catastrophic gitignore patterns, exploding uWSGI references, numbers
# that are not numbers, a `cache-dir` pointing out. The command line runs on it in a subprocess (plain,
# `--diff`, `--fix`) with a time and memory limit. A finding is a run that times out, dies on a signal,
# reports an internal error, or changes anything outside the tree.

HOSTILE_SECONDS = 30
HOSTILE_MEMORY = 1024 * 1024 * 1024

_HOSTILE_PY = [
    b"import sqlalchemy\nengine = sqlalchemy.create_engine('postgresql://db/app')\nengine.connect()\n",
    b"workers = 3\n" + b"workers *= workers\n" * 40,
    b"items = [1]\n" + b"items += items\n" * 40,
    b"flag = " + b" or ".join([b"x"] * 12000) + b"\n",
    b"x = " + b"(" * 300 + b"1" + b")" * 300 + b"\n",
    b"from x import (\n" * 20000,
    b"import os\nos.environ[" + b" " * 50000 + b"\n",
    b"# -*- coding: unicode_escape -*-\nname = 'caf\\u00e9'\nworkers = 2\n",
    b"# coding: idna\nworkers = 2\n",
    b"workers = " + b"9" * 5000 + b"\n",
    b"threads = 10 ** 5000\n",
]
_HOSTILE_CONFIG = {
    "Procfile": [b"web: gunicorn -c gunicorn.conf.py app:app --preload\nworker: uwsgi --ini uwsgi.ini\n",
                 b"web: " + b"A=1 " * 50000 + b"gunicorn app:app\n", b"web: uwsgi --xml uwsgi.xml\n"],
    "uwsgi.ini": [b"[uwsgi]\no0 = 0123456789\n" + b"".join(b"o%d = " % (n + 1) + b"%%(o%d)" % n * 10 + b"\n" for n in range(40)),
                  b"[uwsgi]\nprocesses = \xc2\xb2\nthreads = " + b"9" * 5000 + b"\n"],
    "uwsgi.xml": [b"<uwsgi>" + b"<a>" * 50000 + b"<!--" * 10000, b"<uwsgi><processes>4</processes></uwsgi>"],
    "app.json": [b'{"env": {"WEB_CONCURRENCY": {"value": "\xc2\xb2"}}, "formation": {"web": {"quantity": ' + b"9" * 5000 + b"}}}"],
    ".gitignore": [b"*a*a*a*a*a*a*a*a*a*a*b\n**/a*/**/a*/**/a*/**/b\n",
                   b"\n".join(b"!*k%d*x" % n if n % 2 else b"*j%d*y" % n for n in range(20000))],
    ".pgforklint.toml": [b'cache-dir = "../outside"\n', b'cache-dir = "/tmp/pgforklint-fuzz-outside"\n',
                         b"max-connections = " + b"9" * 5000 + b"\n"],
}


def hostile_tree(rng: random.Random, root: Path, outside: Path) -> list[str]:
    """A random hostile tree under `root`; what was planted, for the report."""
    import os
    import socket

    planted = []
    root.mkdir(parents=True)
    for rel, data in BASE_TREE.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    for name, options in _HOSTILE_CONFIG.items():
        if rng.random() < 0.4:
            (root / name).write_bytes(rng.choice(options))
            planted.append(name)
    for number in range(rng.randint(1, 4)):
        rel = rng.choice(["app.py", "gunicorn.conf.py", f"pkg/m{number}.py", "settings.py", "wsgi.py"])
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(rng.choice(_HOSTILE_PY))
        planted.append(f"python:{rel}")
    specials = [".git", ".gitignore", "Procfile", "gunicorn.conf.py", "pkg/x.py", "uwsgi.ini", ".git/info/exclude"]
    for _ in range(rng.randint(0, 3)):
        rel = rng.choice(specials)
        path = root / rel
        kind = rng.choice(["fifo", "socket", "zero", "outside", "dangling", "loop", "inside", "huge", "deepdir"])
        try:
            if path.is_symlink() or path.exists():
                if path.is_dir() and not path.is_symlink():
                    continue
                path.unlink()
            path.parent.mkdir(parents=True, exist_ok=True)
            if kind == "fifo":
                os.mkfifo(path)
            elif kind == "socket":
                server = socket.socket(socket.AF_UNIX)
                server.bind(str(path))
                server.close()
            elif kind == "zero":
                path.symlink_to("/dev/zero")
            elif kind == "outside":
                path.symlink_to(outside / "secret.py")
            elif kind == "dangling":
                path.symlink_to(root / "missing")
            elif kind == "loop":
                path.symlink_to(path)
            elif kind == "inside":
                path.symlink_to(root / "app.py")
            elif kind == "huge":
                with open(path, "wb") as handle:
                    handle.truncate(rng.choice([3 * 1024 * 1024, 3 * 1024 ** 3]))
            elif kind == "deepdir":
                deep = root.joinpath(*["d"] * rng.randint(50, 250))
                deep.mkdir(parents=True, exist_ok=True)
                (deep / "m.py").write_bytes(b"import os\n")
        except OSError:
            continue
        planted.append(f"{kind}:{rel}")
    return planted


def _outside_state(outside: Path) -> dict[str, bytes]:
    return {str(p.relative_to(outside)): p.read_bytes() for p in sorted(outside.rglob("*")) if p.is_file()}


def run_hostile(count: int, seed: int, seconds: float = HOSTILE_SECONDS, verbose: bool = True) -> list[tuple[str, str]]:
    """`count` hostile trees through the command line; the findings as (what was planted, what went wrong)."""
    import os
    import resource
    import subprocess

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (HOSTILE_MEMORY, HOSTILE_MEMORY))

    rng = random.Random(seed)
    found: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="pgforklint-hostile-") as temporary:
        base = Path(temporary)
        outside = base / "outside"
        outside.mkdir()
        (outside / "secret.py").write_bytes(b"SECRET = 'do-not-copy'\n")
        home = base / "home"
        env = {**os.environ, "XDG_CACHE_HOME": str(home / "cache"), "HOME": str(home), "PGFORKLINT_NO_CACHE": "",
               "NO_COLOR": "1", "PYTHONPATH": str(ROOT / "src")}
        env.pop("PGFORKLINT_CACHE_DIR", None)
        env.pop("GITHUB_ACTIONS", None)
        for index in range(count):
            root = base / f"tree{index}"
            planted = hostile_tree(rng, root, outside)
            before = _outside_state(outside)
            mode = rng.choice([[], [], ["--diff"], ["--fix"], ["--format", "json"]])
            began = time.perf_counter()
            try:
                result = subprocess.run([sys.executable, "-m", "pgforklint", *mode, str(root)], env=env, cwd=str(base),
                                        capture_output=True, timeout=seconds, preexec_fn=limits)
                problem = None
                if result.returncode < 0:
                    problem = f"died on signal {-result.returncode}"
                elif b"internal error" in result.stderr or b"Traceback" in result.stderr:
                    problem = "internal error: " + result.stderr.decode("utf-8", "replace").strip()[-300:]
                elif result.returncode not in (0, 1, 2):
                    problem = f"exit status {result.returncode}"
                elif b"do-not-copy" in result.stdout + result.stderr:
                    problem = "printed the content of a file outside the project"
            except subprocess.TimeoutExpired:
                problem = f"no answer in {seconds:g}s"
            if _outside_state(outside) != before or (Path("/tmp/pgforklint-fuzz-outside").exists()):
                problem = (problem or "") + " wrote outside the project"
            took = time.perf_counter() - began
            if problem:
                found.append((f"seed {seed} tree {index} {' '.join(mode)}: " + ", ".join(planted), problem))
                if verbose:
                    print(f"[{index}] {problem} ({', '.join(planted)})", flush=True)
            elif verbose and (index + 1) % 25 == 0:
                print(f"{index + 1} trees, last took {took:.1f}s, {len(found)} finding(s)", flush=True)
            shutil.rmtree(root, ignore_errors=True)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pipeline-share", type=float, default=0.03)
    parser.add_argument("--out", default="fuzz-findings")
    parser.add_argument("--slow", type=float, default=2.0, help="an input slower than this (seconds) is a finding")
    parser.add_argument("--hostile", type=int, default=0, metavar="TREES",
                        help="instead: run the command line on this many random hostile trees (issue 19)")
    args = parser.parse_args()
    if args.hostile:
        started = time.perf_counter()
        found = run_hostile(args.hostile, args.seed)
        print(f"\n{args.hostile} hostile trees in {time.perf_counter() - started:.1f}s (seed {args.seed}): "
              f"{len(found)} finding(s)")
        for planted, problem in found:
            print(f"  {problem}\n    {planted}")
        return 1 if found else 0
    rng = random.Random(args.seed)
    seeds = corpus()
    all_seeds = [s for items in seeds.values() for s in items]
    counts: collections.Counter[str] = collections.Counter()
    seconds: collections.Counter[str] = collections.Counter()
    findings: dict[tuple[str, str, str], tuple[bytes | dict, str]] = {}
    names = sorted(TARGETS)
    started = time.perf_counter()
    for index in range(args.inputs):
        if rng.random() < args.pipeline_share:
            target = "pipeline"
            files = dict(BASE_TREE)
            for kind in rng.sample(sorted(PIPELINE_FILES), rng.randint(1, 3)):
                files[PIPELINE_FILES[kind]] = mutate(rng, rng.choice(seeds[kind]), all_seeds)
            payload: bytes | dict = files
            call = lambda: t_pipeline(files)  # noqa: E731
        else:
            target = names[index % len(names)]
            function, kind = TARGETS[target]
            data = mutate(rng, rng.choice(seeds[kind] if kind else all_seeds), all_seeds)
            payload = data
            call = lambda: function(data)  # noqa: E731
        began = time.perf_counter()
        try:
            call()
        except (ReadError, PgforklintError):
            pass
        except Exception as exc:  # noqa: BLE001 - that is what we are looking for
            key = signature(target, exc)
            size = len(payload) if isinstance(payload, bytes) else sum(len(v) for v in payload.values())
            if key not in findings or size < (len(findings[key][0]) if isinstance(findings[key][0], bytes) else 10**9):
                findings[key] = (payload, "".join(traceback.format_exception(exc))[-3000:])
                if len(findings) and key not in [k for k in findings if k != key]:
                    print(f"[{index}] finding: {key}", flush=True)
        took = time.perf_counter() - began
        if took > args.slow:
            key = (target, "slow", f">{args.slow:g}s")
            findings.setdefault(key, (payload, f"took {took:.1f}s"))
            print(f"[{index}] slow input: {target} took {took:.1f}s", flush=True)
        counts[target] += 1
        seconds[target] += took
        if (index + 1) % 10_000 == 0:
            print(f"{index + 1} inputs, {time.perf_counter() - started:.1f}s, {len(findings)} distinct finding(s)", flush=True)
    elapsed = time.perf_counter() - started
    print(f"\n{sum(counts.values())} inputs in {elapsed:.1f}s (seed {args.seed})")
    for target in sorted(counts):
        print(f"  {target:<20} {counts[target]:>7} inputs  {seconds[target]:7.1f}s")
    print(f"{len(findings)} distinct finding(s)")
    if findings:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for number, (key, (payload, trace)) in enumerate(sorted(findings.items())):
            print(f"  {key}")
            stem = out / f"{number:03d}-{key[0]}-{key[1]}"
            if isinstance(payload, bytes):
                stem.with_suffix(".bin").write_bytes(payload)
            else:
                stem.with_suffix(".tree").write_text(repr(payload))
            stem.with_suffix(".txt").write_text(trace)
    return 1 if findings else 0


if __name__ == "__main__":
    warnings.simplefilter("ignore")  # SyntaxWarnings from parsing mutated Python
    import faulthandler
    import signal

    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 <pid>` shows where a slow input is
    sys.exit(main())
