"""Resource bounds: reaching one is reported, never silent, and never slow.

* per file: `MAX_FILE_BYTES` (discover.py) -- a file that matters and is larger is PGF100;
* import-time walk: `MAX_IMPORT_DEPTH`, `MAX_CALL_DEPTH`, `MAX_MODULES` (project.py) -- a PGF101 notice
  ("analysis bound reached") at the place the walk stopped;
* YAML: `MAX_YAML_ALIASES` and `MAX_YAML_EXPANDED_NODES` (read/structured.py) -- PGF100;
* number of files: deliberately no cap. Discovery only lists and classifies; nothing is read unless
  the analysis needs it, so a huge tree costs a directory walk, and a cap would silently drop files
  that might matter. The test below checks that thousands of irrelevant files stay cheap.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from pgforklint import project as project_module
from pgforklint.cli import main
from pgforklint.discover import MAX_FILE_BYTES
from pgforklint.extract import importtime
from pgforklint.read import structured

FIXTURES = Path(__file__).parent / "fixtures"
HAZARD = ("PGF001", "app/db.py", 8)


def hazard_tree(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(FIXTURES / "gunicorn_warmup_query", root)
    return root


def run(root: Path, *args: str) -> tuple[int, list[dict]]:
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(root)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main([".", "--format", "json", *args])
    finally:
        os.chdir(cwd)
    assert "internal error" not in err.getvalue() and "Traceback" not in err.getvalue(), err.getvalue()
    return code, json.loads(out.getvalue())["diagnostics"]


def notices(diagnostics: list[dict], text: str) -> list[dict]:
    return [d for d in diagnostics if d["code"] == "PGF101" and text in d["message"]]


def test_the_bounds_are_shared() -> None:
    assert importtime.MAX_IMPORT_DEPTH == project_module.MAX_IMPORT_DEPTH
    assert importtime.MAX_CALL_DEPTH == project_module.MAX_CALL_DEPTH
    assert importtime.MAX_MODULES == project_module.MAX_MODULES


def test_import_depth_bound_is_reported(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    depth = project_module.MAX_IMPORT_DEPTH + 6
    chain = root / "chain"
    chain.mkdir()
    (chain / "__init__.py").write_text("")
    for index in range(depth):  # each imports a library the walk knows: live modules, walked (not deferred)
        (chain / f"m{index}.py").write_text(f"import sqlalchemy\nimport chain.m{index + 1}\n")
    (chain / f"m{depth}.py").write_text("from app.db import engine\nengine.connect()\n")
    wsgi = root / "app" / "wsgi.py"
    wsgi.write_text(wsgi.read_text() + "\nimport chain.m0\n")
    code, diagnostics = run(root, "--extend-select", "PGF101")
    assert code == 1 and HAZARD in {(d["code"], d["path"], d["line"]) for d in diagnostics}
    hits = notices(diagnostics, f"imports nested deeper than {project_module.MAX_IMPORT_DEPTH}")
    assert len(hits) == 1, diagnostics
    assert hits[0]["path"].startswith("chain/m") and "findings beyond this point may be missing" in hits[0]["message"]


def test_call_depth_bound_is_reported(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    depth = project_module.MAX_CALL_DEPTH + 5
    body = ["from app.db import engine", ""]
    for index in range(depth):
        body += [f"def f{index}():", f"    return f{index + 1}()", ""]
    body += [f"def f{depth}():", "    return engine.connect()", "", "f0()", ""]
    (root / "app" / "calls.py").write_text("\n".join(body))
    wsgi = root / "app" / "wsgi.py"
    wsgi.write_text(wsgi.read_text() + "\nimport app.calls\n")
    code, diagnostics = run(root, "--extend-select", "PGF101")
    assert code == 1 and HAZARD in {(d["code"], d["path"], d["line"]) for d in diagnostics}
    hits = notices(diagnostics, f"calls nested deeper than {project_module.MAX_CALL_DEPTH}")
    assert len(hits) == 1 and hits[0]["path"] == "app/calls.py", diagnostics


def test_module_count_bound_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importtime, "MAX_MODULES", 8)
    root = hazard_tree(tmp_path)
    many = root / "many"
    many.mkdir()
    (many / "__init__.py").write_text("".join(f"from many import m{index}\n" for index in range(20)))
    for index in range(20):
        (many / f"m{index}.py").write_text("from sqlalchemy import text\nX = 1\n")  # live, not inert
    wsgi = root / "app" / "wsgi.py"
    wsgi.write_text(wsgi.read_text() + "\nimport many\n")
    code, diagnostics = run(root, "--extend-select", "PGF101")
    assert code == 1 and HAZARD in {(d["code"], d["path"], d["line"]) for d in diagnostics}
    assert len(notices(diagnostics, "more than 8 modules")) == 1, diagnostics


def test_bound_notices_are_visible_by_default(tmp_path: Path) -> None:
    """A reached bound must not be silent: PGF101 is in the default selection (it is info: it does not fail)."""
    root = hazard_tree(tmp_path)
    depth = project_module.MAX_CALL_DEPTH + 2
    body = ["from sqlalchemy import text\n"] + [f"def f{i}():\n    return f{i + 1}()\n" for i in range(depth)] + [f"def f{depth}():\n    return 1\n", "f0()\n"]
    (root / "app" / "calls.py").write_text("\n".join(body))
    wsgi = root / "app" / "wsgi.py"
    wsgi.write_text(wsgi.read_text() + "\nimport app.calls\n")
    _, diagnostics = run(root)
    assert notices(diagnostics, "calls nested deeper than"), diagnostics


@pytest.mark.parametrize("extra, unreadable", [(0, False), (1, True)])
def test_size_cap_boundary(tmp_path: Path, extra: int, unreadable: bool) -> None:
    root = hazard_tree(tmp_path)
    line = b"X = 1  # " + b"x" * 53 + b"\n"
    data = line * (MAX_FILE_BYTES // len(line))
    data += b"#" * (MAX_FILE_BYTES - len(data) - 1) + b"\n"
    assert len(data) == MAX_FILE_BYTES
    (root / "app" / "views.py").write_bytes(data + b"\n" * extra)
    wsgi = root / "app" / "wsgi.py"
    wsgi.write_text(wsgi.read_text() + "\nimport app.views\n")
    code, diagnostics = run(root)
    hits = [d for d in diagnostics if d["code"] == "PGF100"]
    if unreadable:
        assert len(hits) == 1 and hits[0]["path"] == "app/views.py" and "size cap" in hits[0]["message"]
    else:
        assert hits == []
    assert code == 1 and HAZARD in {(d["code"], d["path"], d["line"]) for d in diagnostics}


def test_yaml_alias_count_bound(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    aliases = ", ".join(["*a"] * (structured.MAX_YAML_ALIASES + 1))
    (root / "docker-compose.yml").write_text(f"x: &a 1\ny: [{aliases}]\nservices: {{}}\n")
    _, diagnostics = run(root)
    hits = [d for d in diagnostics if d["code"] == "PGF100" and d["path"] == "docker-compose.yml"]
    assert len(hits) == 1 and f"more than {structured.MAX_YAML_ALIASES} YAML aliases" in hits[0]["message"]


def test_yaml_expansion_bound(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    # 5 aliases per level, 9 levels: 45 aliases (under the alias cap) that expand to ~2.4 million nodes
    lines = ["l0: &l0 [x, x, x, x, x]"] + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 5)}]" for i in range(1, 10)]
    (root / "docker-compose.yml").write_text("\n".join(lines) + "\nservices: {}\n")
    started = time.perf_counter()
    _, diagnostics = run(root)
    assert time.perf_counter() - started < 5
    hits = [d for d in diagnostics if d["code"] == "PGF100" and d["path"] == "docker-compose.yml"]
    assert len(hits) == 1 and f"more than {structured.MAX_YAML_EXPANDED_NODES} nodes" in hits[0]["message"]


def test_yaml_aliases_under_the_bounds_are_fine() -> None:
    lines = ["l0: &l0 [x, x]"] + [f"l{i}: &l{i} [*l{i - 1}, *l{i - 1}]" for i in range(1, 10)]
    documents = structured.load_yaml_documents("\n".join(lines))
    assert len(documents[0]["l9"]) == 2


def test_many_irrelevant_files_stay_cheap(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    for folder in range(10):
        directory = root / "generated" / f"pkg{folder}"
        directory.mkdir(parents=True)
        for index in range(100):
            (directory / f"mod{index}.py").write_bytes(b"def broken(:\n")  # would be PGF100 if read
    started = time.perf_counter()
    code, diagnostics = run(root)
    assert time.perf_counter() - started < 10
    assert code == 1 and {(d["code"], d["path"], d["line"]) for d in diagnostics} == {HAZARD}
