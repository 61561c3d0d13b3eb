"""Bad input never crashes the run, never hides a finding, and is reported where it matters.

Each case builds a small tree in `tmp_path`: a copy of `tests/fixtures/gunicorn_warmup_query` (a known
hazard: PGF001 at `app/db.py:8`) plus one bad file, and runs the real command line
(`pgforklint.cli.main`) on it. Every case checks: no traceback, the exit code, PGF100 at the right
place with the parser's reason when the bad file matters, and the hazard's PGF001 still reported.

Policy -- "files that matter". pgforklint reads files on demand, and a file it never needs is never
read, so it cannot be unreadable:

* always read: the files that say how processes start or are configured, whatever the code does --
  `Procfile`, Compose files, `Dockerfile`, `app.json`, shell scripts and systemd units that mention a
  server, the gunicorn configuration (`gunicorn.conf.py` or the `-c` target) and the
  `[tool.pgforklint]` configuration;
* read when reached: Python modules the import-time walk reaches from an entry point (the app module,
  what it imports, transitively, and what the gunicorn configuration imports). An imported module in
  which nothing can produce a fact (the byte prefilter's "inert" modules) is only checked to decode
  and parse -- a failure is still PGF100 -- and is not walked, so nesting too deep for the walk only
  matters in a module that is walked;
* never read: everything else (a scratch script nobody imports, `docs/conf.py`, test data). A broken
  file there produces no PGF100: the analysis does not depend on it, and reporting it would be noise
  for a tool whose findings are about deployment.

A file that matters and cannot be read is one PGF100 (error severity, so the run exits 1) at the line
the parser names, with its reason; the rest of the analysis goes on. Code nested deeper than the
import-time walk can follow is a PGF100 on that file too (findings before that point are kept).

Decisions taken here (each has a test below):

* Python: syntax errors, NUL bytes, undecodable bytes (PEP 263: UTF-8 unless a cookie says otherwise; a
  BOM is fine, a BOM with a non-UTF-8 cookie is not), unknown or non-text codecs, unresolved merge
  conflicts: PGF100 at the parser's line. CR and CRLF line endings are Python newlines: line numbers
  stay right.
* YAML: only the safe loader; `!!python/...` tags, duplicate keys (an error for YAML 1.2, Compose and
  kubectl), recursive aliases, aliases that expand beyond a bound (billion laughs) and scalars their tag
  cannot hold are PGF100. Template syntax (`{{ ... }}`, `{% ... %}`) that breaks the YAML is PGF100 with
  a hint to render the template first (one per template file: pgforklint cannot know what it would
  have said); ERB `<%= ... %>` is a plain string for YAML and reads fine. Merge keys may override.
* TOML: a broken configuration candidate (`.pgforklint.toml`, or the `pyproject.toml` found from the
  linted folder upwards) is a configuration error, exit 2 with one line naming the file -- with or
  without a `[tool.pgforklint]` table, since the table may sit after the error and linting with
  silently different settings is worse than stopping; any other broken `pyproject.toml` (a nested
  service) is PGF100 and the run goes on.
* JSON: comments are not JSON (Heroku refuses them too): PGF100 at the comment.
* Files over the size cap (`MAX_FILE_BYTES`) are PGF100 only when they matter, and are never read whole.
* Symbolic links are never followed out of the tree; loops are skipped; an entry-point file (Procfile,
  Compose ...) that is a dangling or outside link is PGF100 (discovery's policy).
* A cache file (possibly inside the repository through `cache-dir`) is input too: corrupt contents are
  ignored and recomputed.

Permission denied cannot be produced with chmod here (the tests run as root and root reads anything),
so it is simulated by making `open` fail with PermissionError for one path.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from pgforklint.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
HAZARD = ("PGF001", "app/db.py", 8)


# -- helpers -------------------------------------------------------------------------------------


def hazard_tree(tmp_path: Path, name: str = "proj") -> Path:
    root = tmp_path / name
    shutil.copytree(FIXTURES / "gunicorn_warmup_query", root)
    return root


def run(root: Path, *args: str, fmt: str = "json") -> tuple[int, list[dict], str]:
    """Run the CLI from inside `root` and return (exit code, diagnostics, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(root)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main([".", "--format", fmt, *args])
    finally:
        os.chdir(cwd)
    assert "Traceback" not in err.getvalue() + out.getvalue()
    assert "internal error" not in err.getvalue(), err.getvalue()
    diagnostics = json.loads(out.getvalue())["diagnostics"] if fmt == "json" and out.getvalue() else []
    return code, diagnostics, err.getvalue()


def found(diagnostics: list[dict]) -> set[tuple[str, str, int]]:
    return {(d["code"], d["path"], d["line"]) for d in diagnostics}


def pgf100(diagnostics: list[dict], path: str) -> list[dict]:
    return [d for d in diagnostics if d["code"] == "PGF100" and d["path"] == path]


def import_from_wsgi(root: Path, module: str = "app.views") -> None:
    """Make the app import `module` after the hazard (app/wsgi.py imports app.db first)."""
    wsgi = root / "app" / "wsgi.py"
    wsgi.write_text(wsgi.read_text() + f"\nimport {module}  # noqa\n")


def assert_unreadable(root: Path, path: str, line: int, *reason: str, hazard: bool = True) -> dict:
    code, diagnostics, _ = run(root)
    assert code == 1
    if hazard:
        assert HAZARD in found(diagnostics), diagnostics
    hits = pgf100(diagnostics, path)
    assert len(hits) == 1, diagnostics
    assert hits[0]["line"] == line, hits[0]
    for part in reason:
        assert part in hits[0]["message"], hits[0]["message"]
    return hits[0]


def assert_clean_apart_from_hazard(root: Path) -> list[dict]:
    code, diagnostics, _ = run(root)
    assert code == 1
    assert found(diagnostics) == {HAZARD}, diagnostics
    return diagnostics


# -- the hazard on its own -----------------------------------------------------------------------


def test_baseline_hazard_found(tmp_path: Path) -> None:
    assert_clean_apart_from_hazard(hazard_tree(tmp_path))


# -- Python syntax errors ------------------------------------------------------------------------


def test_syntax_error_in_gunicorn_config(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    # --preload on the command line: the hazard does not depend on the broken configuration file
    (root / "Procfile").write_text("web: gunicorn --preload app.wsgi:application\n")
    (root / "gunicorn.conf.py").write_text("workers = 4\npreload_app = True\ndef post_fork(server, worker)\n    pass\n")
    assert_unreadable(root, "gunicorn.conf.py", 3, "syntax error")


def test_syntax_error_in_imported_app_module(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    import_from_wsgi(root)
    (root / "app" / "views.py").write_text("import os\n\n\ndef index(:\n    return 'x'\n")
    assert_unreadable(root, "app/views.py", 4, "syntax error")


def test_syntax_error_in_unrelated_module_is_not_reported(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    (root / "scripts").mkdir()
    (root / "scripts" / "scratch.py").write_text("def broken(:\n")
    (root / "app" / "unused.py").write_text("this is not python\n")
    assert_clean_apart_from_hazard(root)


def test_merge_conflict_markers(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    import_from_wsgi(root)
    (root / "app" / "views.py").write_text(
        "import os\n<<<<<<< HEAD\nPAGE = 10\n=======\nPAGE = 20\n>>>>>>> feature\n"
    )
    assert_unreadable(root, "app/views.py", 2, "merge conflict")


def test_merge_conflict_markers_in_procfile(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    (root / "Procfile").write_text(
        "<<<<<<< HEAD\nweb: gunicorn app.wsgi:application\n=======\nweb: gunicorn app.wsgi:application\n>>>>>>> x\n"
    )
    # Which side of the conflict runs is unknown: the whole Procfile is unreadable, and with it the launch
    # command that made the hazard reachable (so PGF001 cannot be expected here).
    assert_unreadable(root, "Procfile", 1, "unresolved merge conflict", hazard=False)


def test_merge_conflict_markers_in_compose(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    (root / "docker-compose.yml").write_text(
        "services:\n  web:\n<<<<<<< HEAD\n    command: gunicorn app.wsgi:application\n=======\n"
        "    command: gunicorn -w 2 app.wsgi:application\n>>>>>>> x\n"
    )
    assert_unreadable(root, "docker-compose.yml", 3, "merge conflict")


# -- bytes that are not text -----------------------------------------------------------------------


def test_nul_bytes_in_imported_module(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    import_from_wsgi(root)
    (root / "app" / "views.py").write_bytes(b"x = 1\n\x00\x00y = 2\n")
    assert_unreadable(root, "app/views.py", 1, "binary file")


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01" + bytes(range(256))


@pytest.mark.parametrize("name", ["app/views.py", "Procfile.worker", "docker-compose.override.yml", "Dockerfile"])
def test_binary_file_with_a_source_name(tmp_path: Path, name: str) -> None:
    root = hazard_tree(tmp_path)
    if name == "app/views.py":
        import_from_wsgi(root)
    (root / name).write_bytes(PNG)
    assert_unreadable(root, name, 1, "binary file")


def test_binary_unrelated_python_file_is_not_reported(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    (root / "blob.py").write_bytes(PNG)
    assert_clean_apart_from_hazard(root)


# -- encodings ------------------------------------------------------------------------------------


def test_unknown_encoding_cookie(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    import_from_wsgi(root)
    (root / "app" / "views.py").write_bytes(b"# -*- coding: klingon -*-\nx = 1\n")
    assert_unreadable(root, "app/views.py", 1, "encoding")


def test_cookie_that_is_not_a_text_encoding(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    import_from_wsgi(root)
    (root / "app" / "views.py").write_bytes(b"# coding: rot13\nx = 1\n")
    assert_unreadable(root, "app/views.py", 1, "unknown encoding 'rot13'")


def test_wrong_encoding_cookie(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    import_from_wsgi(root)
    (root / "app" / "views.py").write_bytes("# coding: ascii\n\nNAME = 'Zoë'\n".encode("utf-8"))
    assert_unreadable(root, "app/views.py", 3, "cannot decode as ascii")


def test_latin1_without_cookie(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    import_from_wsgi(root)
    (root / "app" / "views.py").write_bytes("import os\nNAME = 'Zoë'\n".encode("latin-1"))
    assert_unreadable(root, "app/views.py", 2, "cannot decode as utf-8", "PEP 263")


def test_latin1_with_cookie_is_read(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    db = root / "app" / "db.py"
    db.write_bytes(db.read_text().replace("import os\n", "# -*- coding: latin-1 -*-\n# café\n", 1).encode("latin-1"))
    code, diagnostics, _ = run(root)
    assert code == 1
    assert found(diagnostics) == {("PGF001", "app/db.py", 9)}  # one line further down


@pytest.mark.parametrize("target", ["app/db.py", "Procfile", "gunicorn.conf.py"])
def test_utf8_bom(tmp_path: Path, target: str) -> None:
    root = hazard_tree(tmp_path)
    path = root / target
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert_clean_apart_from_hazard(root)


def test_bom_with_conflicting_cookie(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    import_from_wsgi(root)
    (root / "app" / "views.py").write_bytes(b"\xef\xbb\xbf# coding: latin-1\nx = 1\n")
    assert_unreadable(root, "app/views.py", 1, "encoding")


def test_latin1_compose_file(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    (root / "docker-compose.yml").write_bytes("services:\n  web:\n    # caf\xe9\n    image: x\n".encode("latin-1"))
    assert_unreadable(root, "docker-compose.yml", 3, "not valid UTF-8")


# -- line endings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("newline", ["\r\n", "\r"], ids=["crlf", "cr"])
def test_other_line_endings_keep_line_numbers(tmp_path: Path, newline: str) -> None:
    root = hazard_tree(tmp_path)
    for path in root.rglob("*"):
        if path.is_file():
            path.write_bytes(path.read_bytes().replace(b"\n", newline.encode()))
    code, diagnostics, _ = run(root)
    assert code == 1
    assert found(diagnostics) == {HAZARD}
    assert diagnostics[0]["column"] == 6  # `engine.connect()` inside `with` at column 6


def test_procfile_with_crlf_tabs_and_a_line_without_colon(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    (root / "Procfile").write_bytes(b"web:\tgunicorn\tapp.wsgi:application\r\n\r\nworker celery -A app worker\r\n")
    hit = assert_unreadable(root, "Procfile", 3, "expected `<process type>: <command>`")
    assert "line 3" in hit["message"]


# -- empty files ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["app/views.py", "Procfile.dev", "docker-compose.yml", "Dockerfile", "pyproject.toml",
                                  "requirements.txt", ".env", "uwsgi.ini", "k8s.yaml", "start.sh"])
def test_empty_files(tmp_path: Path, name: str) -> None:
    root = hazard_tree(tmp_path)
    if name == "app/views.py":
        import_from_wsgi(root)
    (root / name).write_bytes(b"")
    assert_clean_apart_from_hazard(root)


def test_empty_app_json_is_invalid_json(tmp_path: Path) -> None:
    # Heroku refuses an empty app.json as well: it is a file that matters and it cannot be read.
    root = hazard_tree(tmp_path)
    (root / "app.json").write_bytes(b"")
    assert_unreadable(root, "app.json", 1, "invalid JSON")


def test_empty_gunicorn_config(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    (root / "Procfile").write_text("web: gunicorn --preload app.wsgi:application\n")
    (root / "gunicorn.conf.py").write_bytes(b"")
    assert_clean_apart_from_hazard(root)


# -- huge files ------------------------------------------------------------------------------------

FIFTY_MB = 50 * 1024 * 1024


def _big(path: Path) -> None:
    line = b"VALUE = 'x' * 10  # padding padding padding padding\n"
    with open(path, "wb") as handle:
        handle.write(line * (FIFTY_MB // len(line) + 1))


def test_50mb_module_that_matters(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    import_from_wsgi(root)
    _big(root / "app" / "views.py")
    started = time.perf_counter()
    assert_unreadable(root, "app/views.py", 1, "size cap")
    assert time.perf_counter() - started < 5


def test_50mb_files_that_do_not_matter(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    _big(root / "generated_data.py")
    _big(root / "fixtures.json")
    started = time.perf_counter()
    assert_clean_apart_from_hazard(root)
    assert time.perf_counter() - started < 5


def test_50mb_compose_file(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    _big(root / "docker-compose.yml")
    started = time.perf_counter()
    assert_unreadable(root, "docker-compose.yml", 1, "size cap")
    assert time.perf_counter() - started < 5


# -- nesting that exhausts a recursive parser or the walk ---------------------------------------------

DEEP = {
    "parentheses": "x = " + "(" * 1000 + "1" + ")" * 1000 + "\n",  # the parser's own limit
    "additions": "x = " + " + ".join(["1"] * 100_000) + "\n",  # RecursionError building the tree
    "attributes_parse": "x = a" + ".b" * 50_000 + "\n",
    "attributes_walk": "x = a" + ".b" * 2_000 + "\n",  # parses; the import-time walk runs out of depth
    "calls_walk": "x = f" + "()" * 1_500 + "\n",
    "unary": "x = " + "not " * 50_000 + "y\n",
    "conditional": "x = " + "1 if y else " * 20_000 + "2\n",
}


@pytest.mark.parametrize("case", sorted(DEEP))
def test_deeply_nested_module_that_matters(tmp_path: Path, case: str) -> None:
    root = hazard_tree(tmp_path)
    import_from_wsgi(root)
    # it imports a library the walk understands, so it is walked (an inert module is only checked to parse)
    (root / "app" / "views.py").write_text("from sqlalchemy import text\n" + DEEP[case])
    hit = assert_unreadable(root, "app/views.py", 2 if case.endswith("_walk") else pgf100_line(case))
    assert "nested" in hit["message"] or "syntax error" in hit["message"]


def pgf100_line(case: str) -> int:
    return 2 if case == "parentheses" else 1


@pytest.mark.parametrize("case", ["attributes_walk", "calls_walk"])
def test_deeply_nested_gunicorn_config(tmp_path: Path, case: str) -> None:
    root = hazard_tree(tmp_path)
    (root / "gunicorn.conf.py").write_text("preload_app = True\n" + DEEP[case])
    code, diagnostics, _ = run(root)
    assert code == 1
    hits = pgf100(diagnostics, "gunicorn.conf.py")
    assert len(hits) == 1 and hits[0]["line"] == 2 and "nested" in hits[0]["message"], diagnostics


def test_deeply_nested_module_that_does_not_matter(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    for index, text in enumerate(DEEP.values()):
        (root / f"deep_{index}.py").write_text(text)
    assert_clean_apart_from_hazard(root)


# -- YAML -----------------------------------------------------------------------------------------

BILLION_LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8)
) + "services: {}\n"


def test_yaml_billion_laughs(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    (root / "docker-compose.yml").write_text(BILLION_LAUGHS)
    started = time.perf_counter()
    assert_unreadable(root, "docker-compose.yml", 1, "billion laughs")
    assert time.perf_counter() - started < 5


def test_yaml_recursive_alias(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    (root / "docker-compose.yml").write_text("x: &x [*x]\nservices: {}\n")
    assert_unreadable(root, "docker-compose.yml", 1, "recursive")


def test_yaml_python_tags_are_refused_and_never_run(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    marker = tmp_path / "MARKER"
    (root / "docker-compose.yml").write_text(
        "services:\n  web:\n    command: !!python/object/apply:os.system ['touch %s']\n" % marker
    )
    assert_unreadable(root, "docker-compose.yml", 3, "could not determine a constructor", "python/object/apply")
    assert not marker.exists()


def test_yaml_duplicate_keys(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    (root / "docker-compose.yml").write_text(
        "services:\n  web:\n    command: gunicorn app.wsgi:application\n    command: gunicorn -w 2 app.wsgi:application\n"
    )
    assert_unreadable(root, "docker-compose.yml", 4, "duplicate key 'command' (first at line 3)")


def test_yaml_merge_keys_may_override(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    (root / "docker-compose.yml").write_text(
        "x-base: &base\n  image: shop\n  command: sleep 1\nservices:\n  web:\n    <<: *base\n    command: sleep 2\n"
    )
    assert_clean_apart_from_hazard(root)


def test_yaml_bad_scalar_for_tag(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    (root / "docker-compose.yml").write_text("services:\n  web:\n    deploy:\n      replicas: !!int many\n")
    assert_unreadable(root, "docker-compose.yml", 4, "invalid int value 'many'")


@pytest.mark.parametrize("template", [
    "services:\n  web:\n    deploy:\n      replicas: {{ .Values.replicas }}\n",
    "{{- if .Values.web }}\nservices:\n  web:\n    image: shop\n{{- end }}\n",
    "services:\n  web:\n    command: {% if debug %}flask run{% else %}gunicorn app.wsgi{% endif %}\n",
])
def test_templated_yaml_says_so(tmp_path: Path, template: str) -> None:
    root = hazard_tree(tmp_path)
    (root / "docker-compose.yml").write_text(template)
    code, diagnostics, _ = run(root)
    assert code == 1 and HAZARD in found(diagnostics)
    hits = pgf100(diagnostics, "docker-compose.yml")
    assert len(hits) == 1 and "template syntax" in hits[0]["message"], diagnostics


def test_erb_in_yaml_is_just_a_string(tmp_path: Path) -> None:
    # `<%= ... %>` is a plain scalar for YAML: the file is readable (the value stays a string).
    root = hazard_tree(tmp_path)
    (root / "docker-compose.yml").write_text("services:\n  web:\n    image: <%= ENV['IMAGE'] %>\n")
    assert_clean_apart_from_hazard(root)


def test_templated_kubernetes_manifest_does_not_crash(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    (root / "chart" / "templates").mkdir(parents=True)
    (root / "chart" / "templates" / "deployment.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: {{ .Values.replicas }}\n"
    )
    code, diagnostics, _ = run(root)
    assert code == 1 and HAZARD in found(diagnostics)
    for hit in pgf100(diagnostics, "chart/templates/deployment.yaml"):
        assert "template syntax" in hit["message"]


# -- TOML, INI, JSON ------------------------------------------------------------------------------


def test_broken_pyproject_with_our_table_is_a_configuration_error(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    (root / "pyproject.toml").write_text('[tool.pgforklint]\nselect = ["PGF001"\nfail-on = "error"\n')
    code, diagnostics, err = run(root)
    assert code == 2
    assert err.count("\n") == 1 and "pyproject.toml" in err and "line" in err, err


def test_broken_pyproject_without_our_table(tmp_path: Path) -> None:
    """Decision: a broken pyproject.toml is a configuration error even without [tool.pgforklint].

    pgforklint cannot tell whether the broken file holds its settings (the table may be after the
    error), and linting with silently different settings is worse than stopping: exit 2 with one
    line naming the file and the line, as for any configuration problem (pip and every build
    backend refuse the file too).
    """
    root = hazard_tree(tmp_path)
    (root / "pyproject.toml").write_text('[project]\nname = "shop"\ndependencies = [\n')
    code, diagnostics, err = run(root)
    assert code == 2
    assert err.count("\n") == 1 and "pyproject.toml" in err and "invalid TOML" in err, err


def test_broken_ini_does_not_crash(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    (root / "uwsgi.ini").write_text("[uwsgi\nmodule = app.wsgi\n")
    (root / "newrelic.ini").write_text("no section here\n")
    code, diagnostics, _ = run(root)
    assert code == 1 and HAZARD in found(diagnostics)
    for path, line, reason in (("uwsgi.ini", 1, "unterminated section header"), ("newrelic.ini", 1, "outside of a [section]")):
        hits = pgf100(diagnostics, path)  # server and agent configuration: files that matter
        assert len(hits) == 1 and hits[0]["line"] == line and reason in hits[0]["message"], diagnostics


def test_app_json_with_comments(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    (root / "app.json").write_text('{\n  "name": "shop",\n  // the web dyno\n  "formation": {}\n}\n')
    assert_unreadable(root, "app.json", 3, "invalid JSON")


def test_app_json_that_is_not_an_object(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    (root / "app.json").write_text('["shop", 1, null]\n')
    assert_clean_apart_from_hazard(root)


def test_unbalanced_quote_in_procfile(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    (root / "Procfile.worker").write_text("worker: sh -c 'celery -A app worker\n")
    assert_unreadable(root, "Procfile.worker", 1, "cannot parse command")


# -- the file system ------------------------------------------------------------------------------


def test_symlink_loops(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    (root / "loop").symlink_to(root)  # a directory that contains itself
    (root / "app" / "up").symlink_to(root / "app")
    (root / "self.py").symlink_to(root / "self.py")  # ELOOP
    (root / "a.py").symlink_to(root / "b.py")
    (root / "b.py").symlink_to(root / "a.py")
    started = time.perf_counter()
    assert_clean_apart_from_hazard(root)
    assert time.perf_counter() - started < 5


def test_symlinks_pointing_outside_the_tree_are_not_followed(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    outside = hazard_tree(tmp_path, "outside")
    (root / "vendor").symlink_to(outside)  # a whole hazard outside: must not be analysed
    (root / "Procfile.outside").symlink_to(outside / "Procfile")
    (root / "passwd.py").symlink_to("/etc/passwd")
    code, diagnostics, _ = run(root)
    assert code == 1
    # A Procfile is an entry point: its link out of the tree is reported (discovery's policy); the rest is
    # skipped without a word, and nothing outside is ever analysed.
    assert found(diagnostics) == {HAZARD, ("PGF100", "Procfile.outside", 1)}, diagnostics
    assert "outside the project" in pgf100(diagnostics, "Procfile.outside")[0]["message"]
    assert not any(".." in d["path"] or d["path"].startswith("vendor") for d in diagnostics)


def test_permission_denied_on_a_file_that_matters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = hazard_tree(tmp_path)
    import_from_wsgi(root)
    (root / "app" / "views.py").write_text("x = 1\n")
    denied = (root / "app" / "views.py").resolve()
    real_open, real_os_open = builtins.open, os.open

    def is_denied(file) -> bool:
        return isinstance(file, (str, os.PathLike)) and Path(os.fspath(file)).resolve() == denied

    def fake_open(file, *args, **kwargs):
        if is_denied(file):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)

    def fake_os_open(file, *args, **kwargs):  # the readers' unbuffered reads (read.text.read_head)
        if is_denied(file):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_os_open(file, *args, **kwargs)

    # Running as root, chmod would not deny anything: the denial is simulated.
    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(os, "open", fake_os_open)
    assert_unreadable(root, "app/views.py", 1, "permission denied")


def test_unlistable_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = hazard_tree(tmp_path)
    (root / "secret").mkdir()
    (root / "secret" / "x.py").write_text("x = 1\n")
    import pgforklint.discover as discover

    real_scandir = os.scandir

    def fake_scandir(path="."):
        if Path(os.fspath(path)).name == "secret":
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(discover.os, "scandir", fake_scandir)
    code, diagnostics, _ = run(root)
    assert code == 1 and HAZARD in found(diagnostics)
    hits = pgf100(diagnostics, "secret")
    assert len(hits) == 1 and "cannot list directory" in hits[0]["message"], diagnostics


def test_import_cycle(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    (root / "app" / "a.py").write_text("from app import b\nfrom app.db import engine\nVALUE = 1\n")
    (root / "app" / "b.py").write_text("from app import a\nimport app.a\nfrom app.a import *\n")
    import_from_wsgi(root, "app.a")
    (root / "app" / "__init__.py").write_text("from . import a, b\n")
    assert_clean_apart_from_hazard(root)


def test_file_name_that_is_not_utf8(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    weird = os.fsencode(root) + b"/caf\xe9"
    os.mkdir(weird)
    with open(weird + b"/Procfile", "wb") as handle:
        handle.write(b"web gunicorn\n")  # no colon: PGF100 on a path that cannot be printed as UTF-8
    for fmt in ("text", "json", "github", "sarif"):
        code, _, err = run(root, fmt=fmt)
        assert code == 1, (fmt, err)


# -- through a real process ------------------------------------------------------------------------


def test_real_process_on_a_tree_full_of_bad_files(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    import_from_wsgi(root)
    (root / "app" / "views.py").write_bytes(b"\x00\xff")
    (root / "docker-compose.yml").write_text(BILLION_LAUGHS)
    (root / "app.json").write_text("{ // no\n}")
    (root / "Procfile.x").write_text("nonsense\n")
    (root / "gunicorn.conf.py").write_text("preload_app = True\n" + DEEP["attributes_walk"])
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")}
    proc = subprocess.run([sys.executable, "-m", "pgforklint", ".", "--format", "json"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=60)
    assert "Traceback" not in proc.stderr and proc.returncode == 1, proc.stderr
    diagnostics = json.loads(proc.stdout)["diagnostics"]
    assert {d["path"] for d in diagnostics if d["code"] == "PGF100"} == {
        "app/views.py", "docker-compose.yml", "app.json", "Procfile.x", "gunicorn.conf.py"}


# -- the policy, across every fixture --------------------------------------------------------------------

GARBAGE = {
    "zz_unrelated/blob.py": PNG,
    "zz_unrelated/latin.py": "NAME = 'Zoë'\n".encode("latin-1"),
    "zz_unrelated/broken.py": b"def broken(:\n",
    "zz_unrelated/conflict.py": b"<<<<<<< HEAD\nA = 1\n=======\nA = 2\n>>>>>>> x\n",
    "zz_unrelated/nul.py": b"x = 1\x00\n",
}


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.iterdir() if p.is_dir()))
def test_unrelated_broken_python_files_change_nothing(tmp_path: Path, fixture: str) -> None:
    """Every adapter follows the policy: Python files no analysis needs are not read, so broken ones are
    not reported and change no finding (adapters that scan all Python files prefilter bytes first)."""
    from pgforklint.analyze import lint_project
    from pgforklint.config import find_config

    root = tmp_path / fixture
    shutil.copytree(FIXTURES / fixture, root)
    before = {(d.code, d.location.path, d.location.line) for d in lint_project(root, find_config(root)).diagnostics}
    for name, data in GARBAGE.items():
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_bytes(data)
    after = {(d.code, d.location.path, d.location.line) for d in lint_project(root, find_config(root)).diagnostics}
    assert after == before


# -- the cache is data too ---------------------------------------------------------------------------------

CORRUPT_CACHES = {
    "garbage": b"\x00\xff not json",
    "deep": b"[" * 100_000,
    "wrong-shape": b'{"format": 1, "version": "x", "entries": []}',
    "huge-int": b'{"format": 1, "entries": {"a": ' + b"1" * 5000 + b"}}",
    "empty": b"",
}


def populate_cache(root: Path, cache: Path) -> list[Path]:
    """Run once in a real process (the cache is saved at exit) and return the cache files it wrote."""
    env = {**os.environ, "PGFORKLINT_CACHE_DIR": str(cache),
           "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")}
    env.pop("PGFORKLINT_NO_CACHE", None)
    subprocess.run([sys.executable, "-m", "pgforklint", ".", "--format", "json"], cwd=root, env=env,
                   capture_output=True, timeout=60)
    files = sorted(cache.rglob("*.json"))
    assert files, "expected the run to write its cache"
    return files


@pytest.mark.parametrize("case", sorted(CORRUPT_CACHES))
def test_corrupt_cache_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    """A cache folder may sit inside the repository (`cache-dir`): its bytes are input like any other."""
    cache = tmp_path / "cache"
    root = hazard_tree(tmp_path)
    files = populate_cache(root, cache)
    monkeypatch.setenv("PGFORKLINT_CACHE_DIR", str(cache))
    monkeypatch.delenv("PGFORKLINT_NO_CACHE", raising=False)
    _, clean, _ = run(root)
    for path in files:
        path.write_bytes(CORRUPT_CACHES[case])
    code, diagnostics, _ = run(root)
    assert code == 1 and diagnostics == clean


def test_poisoned_cache_entries_are_recomputed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    root = hazard_tree(tmp_path)
    files = populate_cache(root, cache)
    monkeypatch.setenv("PGFORKLINT_CACHE_DIR", str(cache))
    monkeypatch.delenv("PGFORKLINT_NO_CACHE", raising=False)
    _, clean, _ = run(root)
    poison = [{"a": 1, "b": 2, "c": 3}, [[["x", 1, 2]], 1, 2], "abc", None, [[], "yes", [1]], [[[1, "m", 5]], 0, 0],
              [[[0, "app.db", []]] * 3, False, True], 7]
    poisoned = 0
    for path in files:
        document = json.loads(path.read_text())
        for index, key in enumerate(sorted(document.get("entries", {}))):
            document["entries"][key] = poison[index % len(poison)]
            poisoned += 1
        path.write_text(json.dumps(document))
    assert poisoned
    code, diagnostics, _ = run(root)
    assert code == 1 and diagnostics == clean


def test_broken_dot_pgforklint_toml(tmp_path: Path) -> None:
    root = hazard_tree(tmp_path)
    (root / ".pgforklint.toml").write_text('select = ["PGF001"\n')
    code, _, err = run(root)
    assert code == 2 and err.count("\n") == 1 and ".pgforklint.toml" in err and "invalid TOML" in err, err


def test_broken_nested_pyproject_is_a_file_that_matters(tmp_path: Path) -> None:
    """A pyproject.toml below the linted folder is not a configuration candidate (configuration is looked
    up from the linted folder upwards) but it declares dependencies: PGF100, the run goes on."""
    root = hazard_tree(tmp_path)
    (root / "services" / "api").mkdir(parents=True)
    (root / "services" / "api" / "pyproject.toml").write_text('[project]\nname = "api"\ndependencies = [\n')
    code, diagnostics, _ = run(root)
    assert code == 1 and HAZARD in found(diagnostics)
    hits = pgf100(diagnostics, "services/api/pyproject.toml")
    assert len(hits) == 1 and hits[0]["line"] == 3 and "invalid TOML" in hits[0]["message"], diagnostics
