#!/usr/bin/env python3
"""Run pgforklint on real open-source applications (pinned sdists from PyPI) and summarise.

    python scripts/real_world.py [--pgforklint PATH] [--only NAME ...]

Each sdist is downloaded once with `pip download --no-deps --no-binary :all:` (so pip's configured
package index is used) into scripts/.cache/ (ignored by git), checked against the pinned sha256 and
extracted there.
Some sdists ship no launch file; for those an *overlay* (a one-line Procfile, clearly written by
this script, never part of the upstream tree) states the launch command being evaluated, so the
import-time walk is exercised on a large real codebase. Results are discussed in docs/real-world.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(__file__).resolve().parent / ".cache"

# name, version, sha256 of the sdist, overlay Procfile (None: run on the tree as shipped)
APPS = [
    ("weblate", "5.14.3", "dad4e9b6cfeec250db80c9c0fcfcb967fb8d21581231bd74ac7020f55290d3fa", None),
    ("pulpcore", "3.123.1", "269e2d4395b154a6236d238b3d55a1b0bed0ddb815bafdeb200b681360096ad1", None),
    ("apache-superset", "6.1.0", "56976e5773864f906e30a689dec2641e554286e8be860ecc1e3d4ff5ff6b2e32", None),
    ("apache-superset", "6.1.0", "56976e5773864f906e30a689dec2641e554286e8be860ecc1e3d4ff5ff6b2e32",
     'web: gunicorn --preload -w 4 "superset.app:create_app()"\n'
     "worker: celery --app=superset.tasks.celery_app:app worker --pool=prefork -c 4\n"),
    ("mlflow", "3.18.0", "04e912d5b154b417c5930ba47ef3dc2f74738fb3ba93e3d70499955ec8884540", None),
    ("mlflow", "3.18.0", "04e912d5b154b417c5930ba47ef3dc2f74738fb3ba93e3d70499955ec8884540",
     "web: gunicorn --preload -w 4 mlflow.server:app\n"),
    ("nautobot", "2.4.22", "894afd64a8fc143f43a3da17ec354f973b1634b9677d8bfb23728a57ea942145", None),
    # Django + Celery + uWSGI with a settings module that exists in the sdist (the shipped launch files
    # point at a settings module users create from an example, or use `celery multi`).
    ("weblate", "5.14.3", "dad4e9b6cfeec250db80c9c0fcfcb967fb8d21581231bd74ac7020f55290d3fa",
     "web: DJANGO_SETTINGS_MODULE=weblate.settings_docker gunicorn --preload -w 2 weblate.wsgi:application\n"
     "uwsgi: DJANGO_SETTINGS_MODULE=weblate.settings_docker uwsgi --master --processes 4 --module weblate.wsgi\n"
     "worker: DJANGO_SETTINGS_MODULE=weblate.settings_docker celery -A weblate.utils worker -c 4\n"),
    ("nautobot", "2.4.22", "894afd64a8fc143f43a3da17ec354f973b1634b9677d8bfb23728a57ea942145",
     "web: DJANGO_SETTINGS_MODULE=nautobot.core.tests.nautobot_config uwsgi --master --processes 4 "
     "--module nautobot.core.wsgi\n"
     "worker: DJANGO_SETTINGS_MODULE=nautobot.core.tests.nautobot_config celery -A nautobot.core.celery worker -c 4\n"),
]
LOCAL = [("examples/shop", ROOT / "examples" / "shop")]


def fetch(name: str, version: str, pinned: str | None) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    target = CACHE / "src" / f"{name}-{version}"
    if target.is_dir():
        return target
    downloads = CACHE / "sdists" / f"{name}-{version}"
    archives = sorted(downloads.glob("*.tar.gz")) if downloads.is_dir() else []
    if not archives:
        print(f"downloading {name}=={version}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                        f"{name}=={version}", "-d", str(downloads)], check=True)
        archives = sorted(downloads.glob("*.tar.gz"))
    if len(archives) != 1:
        raise SystemExit(f"{name}=={version}: expected one sdist in {downloads}, found {len(archives)}")
    archive = archives[0]
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    if pinned and digest != pinned:
        archive.unlink()
        raise SystemExit(f"{archive.name}: sha256 {digest} does not match the pinned {pinned}")
    tmp = CACHE / "src" / (target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(tmp, filter="data") if hasattr(tarfile, "data_filter") else tar.extractall(tmp)  # noqa: S202
    (inner,) = [p for p in tmp.iterdir() if p.is_dir()]
    inner.rename(target)
    shutil.rmtree(tmp)
    return target


def own_repository(tree: Path) -> None:
    """Make an extracted tree the top of its own (empty) git repository.

    The trees live under scripts/.cache/, which this repository's .gitignore excludes; pgforklint
    honours the .gitignore of the repository that contains the linted folder, so without a repository
    boundary of their own it would skip every file of the upstream trees and report nothing.
    """
    if not (tree / ".git").exists():
        subprocess.run(["git", "init", "-q", str(tree)], check=True)


def with_overlay(tree: Path, overlay: str) -> Path:
    tag = hashlib.sha256(overlay.encode()).hexdigest()[:8]
    copy = tree.parent / f"{tree.name}+overlay-{tag}"
    if not copy.is_dir():
        shutil.copytree(tree, copy, symlinks=True)
        (copy / "Procfile").write_text("# written by scripts/real_world.py (overlay, not upstream)\n" + overlay)
    return copy


def run(pgforklint: str, tree: Path) -> dict:
    start = time.monotonic()
    proc = subprocess.run([pgforklint, "--format", "json", "--no-cache", "."], cwd=tree, capture_output=True, text=True)
    elapsed = time.monotonic() - start
    try:
        diagnostics = json.loads(proc.stdout)["diagnostics"]
    except (ValueError, KeyError):
        diagnostics = None
    return {"exit": proc.returncode, "seconds": round(elapsed, 2), "diagnostics": diagnostics,
            "stderr": proc.stderr.strip().splitlines()[-3:]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pgforklint", default=shutil.which("pgforklint") or "pgforklint")
    parser.add_argument("--only", nargs="*", help="app names to run")
    args = parser.parse_args()
    jobs: list[tuple[str, Path]] = []
    for label, path in LOCAL:
        if path.is_dir() and (not args.only or label in args.only):
            jobs.append((label, path))
    for name, version, pinned, overlay in APPS:
        if args.only and name not in args.only:
            continue
        tree = fetch(name, version, pinned)
        own_repository(tree)
        label = f"{name} {version}"
        if overlay:
            tree = with_overlay(tree, overlay)
            own_repository(tree)
            label += " + overlay: " + " | ".join(line for line in overlay.splitlines())
        jobs.append((label, tree))
    summary = []
    for label, tree in jobs:
        result = run(args.pgforklint, tree)
        summary.append({"app": label, **result})
        diags = result["diagnostics"]
        print(f"== {label}  ({result['seconds']} s, exit {result['exit']})")
        if diags is None:
            print("   no JSON output:", *result["stderr"])
            continue
        if not diags:
            print("   no findings")
        for d in diags:
            print(f"   {d['code']} {d['path']}:{d['line']}  {d['message'][:160]}")
    (CACHE / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"\nsummary written to {CACHE / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
