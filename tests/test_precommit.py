"""Distribution: the pre-commit hook (manifest, and a real `pre-commit try-repo` run on a hazard and on a
clean project) and the wheel (the rule pages ship as pgforklint/docs for `--explain`).

These tests install things (pre-commit builds the hook's virtualenv with pip from PyPI; pip builds the
wheel with hatchling), so they take seconds, not milliseconds: about 25 s together on this machine
(two hook installs in parallel, then a wheel build).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
PRE_COMMIT = [sys.executable, "-m", "pre_commit"]

pytest.importorskip("pre_commit", reason="pre-commit is in the `test` extra")


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "PGFORKLINT_", "PRE_COMMIT", "GIT_", "VIRTUAL_ENV"))}
    env.update({
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),  # hermetic: no shared hook cache
        "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.invalid",
        "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path / "home"),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1", "NO_COLOR": "1",
    })
    (tmp_path / "home").mkdir(exist_ok=True)
    # the hook's pip may use the machine's pip cache for speed (it does not change what is installed)
    if "PIP_CACHE_DIR" not in env and (Path.home() / ".cache" / "pip").is_dir():
        env["PIP_CACHE_DIR"] = str(Path.home() / ".cache" / "pip")
    return env


def _git_project(tmp_path: Path, fixture: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    repo = tmp_path / fixture
    shutil.copytree(FIXTURES / fixture, repo)
    env = _env(tmp_path)
    subprocess.run(["git", "init", "-q", str(repo)], check=True, env=env)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=env)
    return repo


def test_manifest_is_valid_and_shaped_for_a_whole_project_tool(tmp_path):
    manifest = ROOT / ".pre-commit-hooks.yaml"
    proc = subprocess.run([*PRE_COMMIT, "validate-manifest", str(manifest)], capture_output=True, text=True,
                          env=_env(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [hook] = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    assert hook["id"] == "pgforklint" and hook["language"] == "python" and hook["entry"].split()[0] == "pgforklint"
    assert hook["pass_filenames"] is True and hook["require_serial"] is True
    files = re.compile(hook["files"])
    for path in ("Procfile", "deploy/Procfile.web", "app/db.py", "gunicorn.conf.py", "docker-compose.yml",
                 "k8s/deploy.yaml", "uwsgi.ini", "pyproject.toml", "app.json", "postgresql.conf", ".env",
                 "Dockerfile", "requirements.txt", "poetry.lock", "Pipfile", "deploy/app.service",
                 "config/puma.rb", "config/unicorn.rb", "config.ru", "lib/tasks/resque.rake", "Gemfile.lock",
                 "config/database.yml"):
        assert files.search(path), path
    for path in ("README.md", "docs/logo.png", "LICENSE"):
        assert not files.search(path), path


def _try_repo(repo: Path, home: Path) -> subprocess.Popen:
    env = _env(home)
    return subprocess.Popen([*PRE_COMMIT, "try-repo", str(ROOT), "pgforklint", "--all-files", "--color", "never"],
                            cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def test_try_repo_fails_on_a_hazard_and_passes_on_a_clean_project(tmp_path):
    # With uncommitted changes in this checkout, try-repo clones a fresh shadow repository per run, so each
    # run builds its own hook virtualenv: the two runs go in parallel (separate PRE_COMMIT_HOMEs).
    hazard = _git_project(tmp_path / "a", "gunicorn_warmup_query")
    clean = _git_project(tmp_path / "b", "ok_post_fork_reset")
    runs = [_try_repo(hazard, tmp_path / "a"), _try_repo(clean, tmp_path / "b")]
    try:
        (hazard_out, _), (clean_out, _) = (proc.communicate(timeout=600) for proc in runs)
    finally:
        for proc in runs:
            if proc.poll() is None:
                proc.kill()
    assert runs[0].returncode == 1, hazard_out
    assert "PGF001" in hazard_out and "app/db.py:8:6" in hazard_out and "Failed" in hazard_out
    assert runs[1].returncode == 0, clean_out
    assert "Passed" in clean_out and "PGF0" not in clean_out


def _subfolder_repository(tmp_path: Path) -> Path:
    """A repository whose app lives in `backend/`, with an old finding (PGF001 in backend/app/db.py) committed."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / "gunicorn_warmup_query", repo / "backend")
    (repo / "README.md").write_text("# shop\n", encoding="utf-8")
    env = _env(tmp_path)
    subprocess.run(["git", "init", "-q", str(repo)], check=True, env=env)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "commit", "-q", "-m", "old finding"], cwd=repo, check=True, env=env)
    return repo


def _try_repo_staged(repo: Path, home: Path) -> subprocess.Popen:
    return subprocess.Popen([*PRE_COMMIT, "try-repo", str(ROOT), "pgforklint", "--color", "never", "--verbose"],
                            cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(home))


def test_try_repo_in_a_subfolder_app_reports_only_findings_of_the_changed_files(tmp_path):
    # A commit that touches a file unrelated to the old finding passes; one that touches a file the finding
    # depends on (the gunicorn configuration, a related location) shows it, with repository-relative paths.
    unrelated = _subfolder_repository(tmp_path / "a")
    (unrelated / "backend" / "app" / "views.py").write_text("def index():\n    return 'ok'\n", encoding="utf-8")
    related = _subfolder_repository(tmp_path / "b")
    conf = related / "backend" / "gunicorn.conf.py"
    conf.write_text(conf.read_text(encoding="utf-8").replace("workers = 4", "workers = 8"), encoding="utf-8")
    for repo, home in ((unrelated, tmp_path / "a"), (related, tmp_path / "b")):
        subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=_env(home))
    runs = [_try_repo_staged(unrelated, tmp_path / "a"), _try_repo_staged(related, tmp_path / "b")]
    try:
        (unrelated_out, _), (related_out, _) = (proc.communicate(timeout=600) for proc in runs)
    finally:
        for proc in runs:
            if proc.poll() is None:
                proc.kill()
    assert runs[0].returncode == 0, unrelated_out
    assert "Passed" in unrelated_out and "PGF001" not in unrelated_out
    assert runs[1].returncode == 1, related_out
    assert "error[PGF001]" in related_out and " --> backend/app/db.py:8:6" in related_out
    assert "note: backend/gunicorn.conf.py:4: number of worker processes" in related_out


def test_wheel_ships_the_rule_pages(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                          capture_output=True, text=True, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [wheel] = tmp_path.glob("pgforklint-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    pages = {p.name for p in (ROOT / "rules").glob("PGF*.md")}
    assert "PGF100.md" in pages
    assert {f"pgforklint/docs/{page}" for page in pages} <= names
    assert "pgforklint/cli.py" in names and "pgforklint/docs.py" in names
