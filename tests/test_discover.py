"""Discovery: ignore files, excludes, symlinks (loops, escapes), special and unreadable entries."""

from __future__ import annotations

import builtins
import os
import subprocess
from pathlib import Path

import pytest

from pgforklint.analyze import lint_project
from pgforklint.config import Config
from pgforklint.discover import DEFAULT_EXCLUDE, FileKind, classify, discover


def write(root: Path, rel: str, text: str = "") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def rels(root: Path, **kwargs) -> list[str]:
    return [f.rel for f in discover(root, **kwargs).files]


def test_classify():
    assert classify("gunicorn.conf.py") is FileKind.PYTHON
    assert classify("Procfile") is FileKind.PROCFILE
    assert classify("Procfile.dev") is FileKind.PROCFILE
    assert classify("docker-compose.prod.yml") is FileKind.COMPOSE
    assert classify("compose.yaml") is FileKind.COMPOSE
    assert classify("deployment.yaml") is FileKind.YAML
    assert classify("uwsgi.ini") is FileKind.INI
    assert classify("pyproject.toml") is FileKind.TOML
    assert classify("app.json") is FileKind.APP_JSON
    assert classify("postgresql.conf") is FileKind.POSTGRESQL_CONF
    assert classify("Dockerfile") is FileKind.DOCKERFILE
    assert classify("requirements-dev.txt") is FileKind.REQUIREMENTS
    assert classify("README.md") is None
    assert classify("notes.txt") is None


def test_sorted_and_default_skips(tmp_path):
    write(tmp_path, "b.py")
    write(tmp_path, "a/z.py")
    write(tmp_path, "a/b.py")
    write(tmp_path, "node_modules/x/setup.py")
    write(tmp_path, ".git/hooks/x.py")
    write(tmp_path, "build/lib/app.py")
    write(tmp_path, "pkg.egg-info/x.py")
    write(tmp_path, "env/pyvenv.cfg")  # a virtualenv under any name
    write(tmp_path, "env/lib/site.py")
    write(tmp_path, "README.md")
    assert rels(tmp_path) == ["a/b.py", "a/z.py", "b.py"]


def test_exclude_replaces_defaults_extend_exclude_adds(tmp_path):
    write(tmp_path, "app.py")
    write(tmp_path, "build/gen.py")
    write(tmp_path, "migrations/0001.py")
    write(tmp_path, ".git/x.py")
    write(tmp_path, "venv/pyvenv.cfg")
    write(tmp_path, "venv/y.py")
    default_plus = [(tmp_path, [*DEFAULT_EXCLUDE, "migrations/"])]
    assert rels(tmp_path, exclude=default_plus) == ["app.py"]
    replaced = [(tmp_path, ["migrations/"])]  # `exclude` replaces the defaults: build/ is linted again
    assert rels(tmp_path, exclude=replaced) == ["app.py", "build/gen.py"]  # .git and virtualenvs never


def test_exclude_anchored_at_config_folder_above_root(tmp_path):
    write(tmp_path, "svc/app.py")
    write(tmp_path, "svc/legacy/old.py")
    write(tmp_path, "svc/other/legacy/keep.py")
    # the config sits in tmp_path; the linted root is svc/
    assert rels(tmp_path / "svc", exclude=[(tmp_path, ["/svc/legacy/"])]) == ["app.py", "other/legacy/keep.py"]


def test_nested_gitignore_and_negation(tmp_path):
    write(tmp_path, ".gitignore", "*.py\n!keep.py\ngenerated/\n")
    write(tmp_path, "keep.py")
    write(tmp_path, "drop.py")
    write(tmp_path, "generated/x.py")
    write(tmp_path, "sub/.gitignore", "!again.py\nlocal.yaml\n")
    write(tmp_path, "sub/again.py")
    write(tmp_path, "sub/other.py")
    write(tmp_path, "sub/local.yaml")
    write(tmp_path, "sub/deploy.yaml")
    write(tmp_path, "other/local.yaml")  # the nested file does not apply to a sibling
    assert rels(tmp_path) == ["keep.py", "other/local.yaml", "sub/again.py", "sub/deploy.yaml"]
    assert "drop.py" in rels(tmp_path, respect_gitignore=False)


def test_git_info_exclude_and_ancestor_gitignore(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".git" / "info").mkdir(exist_ok=True)
    (tmp_path / ".git" / "info" / "exclude").write_text("secret.py\n", encoding="utf-8")
    write(tmp_path, ".gitignore", "/svc/tmp/\nscratch.py\n")
    write(tmp_path, "svc/app.py")
    write(tmp_path, "svc/secret.py")
    write(tmp_path, "svc/scratch.py")
    write(tmp_path, "svc/tmp/x.py")
    assert rels(tmp_path / "svc") == ["app.py"]  # linting a subfolder still honours the repository's files
    assert rels(tmp_path / "svc", respect_gitignore=False) == ["app.py", "scratch.py", "secret.py", "tmp/x.py"]


def test_linted_folder_that_the_repository_ignores_is_walked_in_full(tmp_path):
    # The linted folder itself is never matched: asked to lint `vendor/`, pgforklint lints it, with the
    # repository's patterns applied to what is below it (git would list nothing; pathspec's matching had
    # kept only the top-level files)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    write(tmp_path, ".gitignore", "vendor/\n*.tmp.py\n")
    write(tmp_path, "vendor/top.py")
    write(tmp_path, "vendor/lib/app.py")
    write(tmp_path, "vendor/lib/scratch.tmp.py")
    assert rels(tmp_path) == []
    assert rels(tmp_path / "vendor") == ["lib/app.py", "top.py"]


def test_odd_gitignore_lines_do_not_stop_discovery(tmp_path):
    # a lone `!` or `\`, an unterminated class: git ignores such lines, they match nothing
    write(tmp_path, ".gitignore", "!\n\\\n[abc\n/\nskip.py\n")
    write(tmp_path, "app.py")
    write(tmp_path, "skip.py")
    assert rels(tmp_path) == ["app.py"]


def test_symlink_loops_terminate(tmp_path):
    write(tmp_path, "pkg/mod.py")
    os.symlink(tmp_path, tmp_path / "pkg" / "loop")  # back to the root
    os.symlink("..", tmp_path / "pkg" / "up")
    os.symlink("b", tmp_path / "a")  # a -> b -> a
    os.symlink("a", tmp_path / "b")
    result = discover(tmp_path)
    assert [f.rel for f in result.files] == ["pkg/mod.py"]
    assert result.problems == []  # names that do not matter: skipped, not errors


def test_symlink_inside_tree_is_followed_once(tmp_path):
    write(tmp_path, "config/gunicorn.py", "workers = 2\n")
    os.symlink("config/gunicorn.py", tmp_path / "gunicorn.conf.py")
    os.symlink("config", tmp_path / "alias")  # a second route to an already-walked folder
    assert rels(tmp_path) == ["config/gunicorn.py", "gunicorn.conf.py"]  # the alias folder adds nothing


def test_symlinks_out_of_the_tree_are_never_followed(tmp_path):
    outside = tmp_path / "outside"
    write(outside, "secret.py")
    write(outside, "Procfile", "web: gunicorn app:app\n")
    project = tmp_path / "project"
    write(project, "app.py")
    os.symlink(outside, project / "linked_dir")
    os.symlink(outside / "secret.py", project / "helper.py")
    os.symlink(outside / "Procfile", project / "Procfile")
    os.symlink(project / "missing.yaml", project / "docker-compose.yml")  # dangling
    result = discover(project)
    assert [f.rel for f in result.files] == ["app.py"]
    reasons = dict(result.problems)
    assert set(reasons) == {"Procfile", "docker-compose.yml"}  # deployment entry points are PGF100
    assert "outside the project" in reasons["Procfile"]
    assert "dangling" in reasons["docker-compose.yml"]
    assert "helper.py" in dict(result.skipped)  # an ordinary module: not followed, not an error


def test_fifo_is_reported_never_opened(tmp_path):
    write(tmp_path, "app.py")
    os.mkfifo(tmp_path / "gunicorn.conf.py")
    os.mkfifo(tmp_path / "notes.fifo")  # a name that does not matter: ignored
    result = discover(tmp_path)
    assert [f.rel for f in result.files] == ["app.py"]
    assert result.problems == [("gunicorn.conf.py", "a named pipe (FIFO), not a regular file; not read")]
    # and through the whole pipeline it is a PGF100, not a hang
    lint = lint_project(tmp_path, Config())
    assert [(d.code, d.location.path) for d in lint.diagnostics] == [("PGF100", "gunicorn.conf.py")]


def test_unlistable_directory_is_reported(tmp_path, monkeypatch):
    # Tests run as root, for whom chmod 000 changes nothing: make scandir refuse one folder instead.
    write(tmp_path, "app.py")
    write(tmp_path, "private/settings.py")
    real_scandir = os.scandir

    def scandir(path="."):
        if Path(path).name == "private":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    result = discover(tmp_path)
    assert [f.rel for f in result.files] == ["app.py"]
    assert result.problems == [("private", "cannot list directory: Permission denied")]


GUNICORN_PROJECT = {
    "Procfile": "web: gunicorn -c gunicorn.conf.py app:app\n",
    "gunicorn.conf.py": "preload_app = True\nworkers = 4\n",
    "app.py": "from sqlalchemy import create_engine\nengine = create_engine('postgresql://')\n"
              "with engine.connect() as c:\n    c.exec_driver_sql('select 1')\n",
}


def project(tmp_path: Path, **overrides: bytes) -> Path:
    for rel, text in GUNICORN_PROJECT.items():
        write(tmp_path, rel, text)
    for rel, data in overrides.items():
        (tmp_path / rel.replace("__", ".")).write_bytes(data)
    return tmp_path


def pgf100(tmp_path: Path) -> dict[str, str]:
    result = lint_project(tmp_path, Config())
    return {d.location.path: d.message for d in result.diagnostics if d.code == "PGF100"}


def test_unreadable_file_permission_denied(tmp_path, monkeypatch):
    root = project(tmp_path)
    target = str(root / "gunicorn.conf.py")
    real_open, real_os_open = builtins.open, os.open

    def guarded(file, *args, **kwargs):
        if str(file) == target:
            raise PermissionError(13, "Permission denied", target)
        return real_open(file, *args, **kwargs)

    def guarded_os_open(file, *args, **kwargs):  # the readers' unbuffered reads (read.text.read_head)
        if str(file) == target:
            raise PermissionError(13, "Permission denied", target)
        return real_os_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded)
    monkeypatch.setattr(os, "open", guarded_os_open)
    assert "permission denied" in pgf100(root)["gunicorn.conf.py"]


def test_binary_config_is_pgf100(tmp_path):
    root = project(tmp_path, gunicorn__conf__py=b"\x00\x01preload_app = True\n")
    assert "binary file" in pgf100(root)["gunicorn.conf.py"]


def test_non_utf8_procfile_is_pgf100_with_line(tmp_path):
    root = project(tmp_path, Procfile=b"# deploy\nweb: gunicorn -c gunicorn.conf.py app:app \xff\n")
    result = lint_project(root, Config())
    [d] = [d for d in result.diagnostics if d.code == "PGF100"]
    assert d.location.path == "Procfile" and "UTF-8" in d.message and d.location.line == 2


# Fixed (issue 7): Project.text() honours PEP 263 cookies for Python files, and agents.py prefilters with
# Project.contains() before reading.
def test_latin1_python_with_cookie_is_read(tmp_path):
    root = project(tmp_path)
    (root / "app.py").write_bytes(b"# -*- coding: latin-1 -*-\n# caf\xe9\n" + GUNICORN_PROJECT["app.py"].encode())
    result = lint_project(root, Config())
    assert not [d for d in result.diagnostics if d.code == "PGF100"]
    assert any(d.code == "PGF001" and d.location.path == "app.py" for d in result.diagnostics)


def test_random_bytes_never_crash(tmp_path):
    import random

    rng = random.Random(1234)
    root = project(tmp_path)
    for name in ("Procfile", "gunicorn.conf.py", "app.py", "docker-compose.yml", "app.json", "uwsgi.ini"):
        (root / name).write_bytes(bytes(rng.randrange(256) for _ in range(300)))
    lint_project(root, Config())  # must not raise


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_named_like_python_module_is_not_opened_by_the_pipeline(tmp_path):
    root = project(tmp_path)
    os.mkfifo(root / "helper.py")  # would block forever if opened
    lint_project(root, Config())


def test_listed_files_are_ordinary_source_files(tmp_path):
    import pickle
    from dataclasses import replace

    from pgforklint.discover import SourceFile

    write(tmp_path, "pkg/app.py", "x = 1\n")
    [listed] = discover(tmp_path).files
    made = SourceFile(tmp_path.resolve() / "pkg" / "app.py", "pkg/app.py", FileKind.PYTHON, 6)
    assert pickle.loads(pickle.dumps(listed)) == made  # before `path` was first used
    assert listed == made and hash(listed) == hash(made) and repr(listed) == repr(made)
    assert isinstance(listed.path, Path) and listed.path == made.path and listed.name == "app.py"
    assert replace(listed, size=7).size == 7
    with pytest.raises(AttributeError):
        listed.missing  # noqa: B018
