"""Benchmarks: pgforklint against ruff (and pyflakes, semgrep, fixit when installed) on the same trees.

    python benchmarks/run.py [--runs N] [--only django,sqlalchemy,mono,small,rails]

Corpora are built under benchmarks/.corpora/ (gitignored): Django 5.1.4 and SQLAlchemy 2.0.36 sdists from
PyPI (`pip download --no-binary :all:`) with a hazardous gunicorn --preload app planted in Django's tree; a
generated monorepo at 1x, 4x and 16x with the same app planted; a ~10-file application repo (also a git
repository with the local pre-commit hook). Each corpus is its own `git init` repository, so the
enclosing checkout's .gitignore (which ignores .corpora/) does not apply.

Runs alternate tools on the same tree and report medians; the machine is shared, so read ratios, not
absolute seconds. Peak memory is the max RSS of the child (resource.getrusage(RUSAGE_CHILDREN) is
cumulative, so each measurement runs under /usr/bin/time -f %M when available).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPORA = HERE / ".corpora"
BIN = Path(sys.executable).parent
SDISTS = {"django": ("Django==5.1.4", "Django-5.1.4"), "sqlalchemy": ("SQLAlchemy==2.0.36", "sqlalchemy-2.0.36")}

APP = {
    "Procfile": "web: gunicorn --preload -w 4 shopapp.wsgi:application\n",
    "shopapp/__init__.py": "",
    "shopapp/db.py": (
        "import os\n\nfrom sqlalchemy import create_engine, text\n\n"
        "engine = create_engine(os.environ.get(\"DATABASE_URL\", \"postgresql+psycopg2://localhost/shop\"), pool_size=5)\n\n"
        "with engine.connect() as conn:\n    conn.execute(text(\"SELECT 1\"))\n"
    ),
    "shopapp/wsgi.py": (
        "import os\n\nfrom django.core.wsgi import get_wsgi_application\n\nfrom shopapp.db import engine\n\n"
        "os.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", \"shopapp.settings\")\napplication = get_wsgi_application()\n"
    ),
}
SMALL_EXTRA = {
    "shopapp/settings.py": "SECRET_KEY = 'x'\nINSTALLED_APPS = ['shopapp']\n",
    "shopapp/views.py": "from shopapp.db import engine\n\n\ndef index(request):\n    return engine\n",
    "shopapp/models.py": "class Order:\n    pass\n",
    "shopapp/tasks.py": "from shopapp.models import Order\n",
    "shopapp/util.py": "def money(x):\n    return round(x, 2)\n",
    "gunicorn.conf.py": "bind = '0.0.0.0:8000'\nworkers = 4\n",
    "requirements.txt": "gunicorn\nSQLAlchemy\npsycopg2-binary\nDjango\n",
    ".pre-commit-config.yaml": (
        "repos:\n- repo: local\n  hooks:\n  - id: pgforklint\n    name: pgforklint\n    entry: "
        f"{BIN / 'pgforklint'}\n    language: system\n    pass_filenames: false\n"
        "    files: '(\\.py|Procfile|\\.ya?ml|\\.toml|\\.ini)$'\n"
    ),
}


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def git_init(root: Path) -> None:
    if not (root / ".git").exists():
        subprocess.run(["git", "init", "-q", str(root)], check=True)


def sdist(key: str) -> Path:
    spec, folder = SDISTS[key]
    target = CORPORA / folder
    if not target.exists():
        CORPORA.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:", spec,
                        "-d", str(CORPORA)], check=True)
        archive = next(CORPORA.glob(f"{folder.split('-')[0]}*{folder.split('-')[1]}.tar.gz"))
        with tarfile.open(archive) as tar:
            tar.extractall(CORPORA, filter="data")
    return target


def corpus_django() -> Path:
    root = CORPORA / "django-planted"
    if not root.exists():
        shutil.copytree(sdist("django"), root)
        write(root, APP)
    git_init(root)
    return root


def corpus_sqlalchemy() -> Path:
    root = CORPORA / "sqlalchemy-2.0.36"
    sdist("sqlalchemy")
    git_init(root)
    return root


def corpus_mono(scale: int) -> Path:
    """A generated monorepo: `scale` copies of Django's `django/` package as service packages, app planted."""
    root = CORPORA / f"mono-{scale}x"
    if not root.exists():
        source = sdist("django") / "django"
        for index in range(scale):
            shutil.copytree(source, root / f"service{index}")
        shutil.copytree(source, root / "django")
        write(root, APP)
    git_init(root)
    return root


def corpus_rails() -> Path:
    """A Rails-sized Ruby tree (the Ruby libraries Debian installs under /usr/lib/ruby, about 1 800 .rb files) with
    the Rails example app planted at its root: a Python-free tree, where ruff only walks."""
    root = CORPORA / "rails-planted"
    if not root.exists():
        shutil.copytree("/usr/lib/ruby", root / "vendor" / "ruby", symlinks=False, ignore_dangling_symlinks=True,
                        ignore=shutil.ignore_patterns("*.so", "x86_64-linux*"))
        shutil.copytree(HERE.parent / "examples" / "rails_shop", root, dirs_exist_ok=True)
        git_init(root)
    return root


def corpus_small() -> Path:
    root = CORPORA / "small-app"
    if not root.exists():
        write(root, {**APP, **SMALL_EXTRA})
        git_init(root)
        subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
        subprocess.run(["git", "-C", str(root), "-c", "user.email=b@b", "-c", "user.name=b", "commit", "-qm", "init"],
                       check=True)
    return root


# Installed packages ship compiled bytecode; a machine with PYTHONDONTWRITEBYTECODE set would make every
# run of an editable checkout recompile pgforklint from source, which no user pays. Runs here write and
# reuse bytecode (and an untimed warm-up run compiles it).
BASE_ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
TIMEOUT = 600  # seconds for any one run (a tool that hangs must not stall the benchmark)


def measure(command: list[str], cwd: Path | None = None, env: dict | None = None,
            output: list[str] | None = None) -> tuple[float, int]:
    """(wall seconds, peak RSS KiB) of one run; the run's stdout is appended to `output` when given."""
    timer = shutil.which("time") or "/usr/bin/time"
    wrapped = [timer, "-f", "%M", *command] if os.path.exists(timer) else command
    start = time.perf_counter()
    try:
        done = subprocess.run(wrapped, cwd=cwd, env={**BASE_ENV, **(env or {})}, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        print(f"  (timed out after {TIMEOUT} s: {' '.join(command[:3])} ...)")
        return float(TIMEOUT), 0
    if output is not None:
        output.append(done.stdout)
    wall = time.perf_counter() - start
    rss = 0
    if wrapped is not command:
        try:
            rss = int(done.stderr.strip().splitlines()[-1])
        except (ValueError, IndexError):
            rss = 0
    return wall, rss


def tools(root: Path) -> dict[str, list[str]]:
    found = {
        "pgforklint": [str(BIN / "python"), "-m", "pgforklint", str(root)],
        "pgforklint-nocache": [str(BIN / "python"), "-m", "pgforklint", "--no-cache", str(root)],
        "ruff": [str(BIN / "ruff"), "check", "--select", "E,F", "--no-cache", "-q", str(root)],
    }
    if (BIN / "pyflakes").exists():
        found["pyflakes"] = [str(BIN / "pyflakes"), str(root)]
    if (BIN / "semgrep").exists() and os.environ.get("BENCH_SEMGREP"):
        found["semgrep"] = [str(BIN / "semgrep"), "scan", "--metrics=off", "--disable-version-check", "-q", "--config",
                            str(HERE / "semgrep-rule.yml"), str(root)]
    return found


def compare(name: str, root: Path, runs: int, expect: str | None = None) -> dict[str, tuple[float, int]]:
    commands = tools(root)
    samples: dict[str, list[tuple[float, int]]] = {tool: [] for tool in commands}
    outputs: list[str] = []
    for command in commands.values():  # untimed warm-up: bytecode compiled, files in the page cache
        measure(command)
    for _ in range(runs):  # alternate: each round runs every tool once
        for tool, command in commands.items():
            samples[tool].append(measure(command, output=outputs if tool == "pgforklint-nocache" else None))
    medians = {tool: (statistics.median(s[0] for s in values), max(s[1] for s in values))
               for tool, values in samples.items()}
    ruff = medians["ruff"][0]
    print(f"\n## {name} ({root.name}, {sum(1 for _ in root.rglob('*.py'))} .py files), median of {runs}")
    for tool, (wall, rss) in medians.items():
        print(f"  {tool:<20} {wall:7.3f} s  {wall / ruff:5.2f}x ruff  peak {rss / 1024:6.1f} MiB")
    if expect is not None:
        reported = all(expect in text for text in outputs)
        print(f"  planted finding {expect} reported in every cold run: {'yes' if reported else 'NO'}")
    return medians


def fixit_estimate(root: Path) -> None:
    if not (BIN / "fixit").exists():
        return
    files = sorted(root.rglob("*.py"))
    subset = files[:50]
    wall, _ = measure([str(BIN / "fixit"), "lint", *map(str, subset)])
    print(f"  fixit (once, {len(subset)} of {len(files)} files, extrapolated): {wall * len(files) / len(subset):7.1f} s")


def small_repo(root: Path, runs: int) -> None:
    print(f"\n## small app repo ({root})")
    own = [measure([str(BIN / "python"), "-m", "pgforklint", str(root)])[0] for _ in range(runs)]
    version = [measure([str(BIN / "python"), "-m", "pgforklint", "--version"])[0] for _ in range(runs)]
    print(f"  pgforklint own process: median {statistics.median(own):.3f} s; --version {statistics.median(version):.3f} s")
    if shutil.which("pre-commit") or (BIN / "pre-commit").exists():
        pre = str(BIN / "pre-commit")
        hook = [measure([pre, "run", "--all-files"], cwd=root)[0] for _ in range(runs)]
        print(f"  pre-commit run --all-files: median {statistics.median(hook):.3f} s")
    unchanged = [measure([str(BIN / "python"), "-m", "pgforklint", str(root)])[0] for _ in range(runs)]
    changed = []
    util = root / "shopapp" / "util.py"
    original = util.read_text()
    for index in range(runs):
        util.write_text(original + f"\nVERSION = {index}\n")
        changed.append(measure([str(BIN / "python"), "-m", "pgforklint", str(root)])[0])
    util.write_text(original)
    print(f"  warm cache, no change {statistics.median(unchanged):.3f} s; one file changed "
          f"{statistics.median(changed):.3f} s ({statistics.median(changed) / statistics.median(unchanged):.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default="django,sqlalchemy,mono,small,rails")
    args = parser.parse_args()
    chosen = set(args.only.split(","))
    print(f"load average at start: {os.getloadavg()}")
    if "django" in chosen:
        root = corpus_django()
        compare("Django with a planted hazardous app", root, args.runs, expect="PGF001")
        fixit_estimate(root)
    if "sqlalchemy" in chosen:
        compare("SQLAlchemy", corpus_sqlalchemy(), args.runs)
    if "mono" in chosen:
        growth = {scale: compare(f"monorepo {scale}x", corpus_mono(scale), max(3, args.runs // 2))
                  for scale in (1, 4, 16)}
        base = growth[1]["pgforklint"][0]
        print("\n## growth (pgforklint wall time relative to 1x): " +
              ", ".join(f"{scale}x -> {growth[scale]['pgforklint'][0] / base:.2f}" for scale in growth))
    if "small" in chosen:
        small_repo(corpus_small(), args.runs)
    if "rails" in chosen:
        root = corpus_rails()
        print(f"\n(rails tree: {sum(1 for _ in root.rglob('*.rb'))} .rb files)")
        compare("Rails app in a Ruby tree", root, args.runs, expect="PGF001")


if __name__ == "__main__":
    main()
