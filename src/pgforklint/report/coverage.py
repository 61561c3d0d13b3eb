"""What a run checked, for every format: a text line before the summary, a `coverage` object in JSON,
and `runs[0].properties.coverage` in SARIF. A run that linked nothing never reads as an all-clear.

JSON shape (version 1, stable):

    "coverage": {
      "version": 1,
      "process_types": [
        {"name": "web", "path": "Procfile", "line": 1, "server": "gunicorn", "forks": true,
         "preload": true, "app": "app:app", "app_file": "app.py", "engines": 1, "linked": true,
         "failed": [], "dev_only": false, "declared": false}
      ],
      "unused_configurations": [{"path": "uwsgi-sample.ini", "line": 1}],
      "linked": 1, "forking": 1, "database_code": true
    }

`server` is null when no server was recognised; `app`/`app_file` are null when not resolved; `failed`
lists the steps that could not be followed, in words (the text of PGF102). `unused_configurations` are sample or
development server configurations (`uwsgi-sample.ini`) that no launch of the repository uses: they were not checked.
"""

from __future__ import annotations

import json
from pathlib import Path

from pgforklint.model import Coverage, ProcessCoverage

SHOWN = 10  # process types named in the text line

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pgforklint.analyze import LintResult


def unused(results: list[LintResult], cwd: Path | None = None) -> list[tuple[str, int]]:
    """(path shown, line) of every server configuration that no launch uses, so not checked."""
    from pgforklint.report import display_path

    out = []
    for result in results:
        coverage: Coverage | None = result.model.coverage if result.model is not None else None
        for location in coverage.unused_configurations if coverage is not None else ():
            out.append((display_path(result.root, location.path, cwd), location.line))
    return out


def rows(results: list[LintResult], cwd: Path | None = None) -> tuple[list[tuple[Path, str, ProcessCoverage]], bool]:
    """(root, path shown, row) for every process type of every linted root, and whether any has database code."""
    from pgforklint.report import display_path

    out: list[tuple[Path, str, ProcessCoverage]] = []
    database = False
    for result in results:
        coverage: Coverage | None = result.model.coverage if result.model is not None else None
        if coverage is None:
            continue
        database = database or coverage.database_code
        for row in coverage.process_types:
            out.append((result.root, display_path(result.root, row.location.path, cwd), row))
    return out, database


def as_dict(results: list[LintResult], cwd: Path | None = None) -> dict:
    from pgforklint.report import display_path

    found, database = rows(results, cwd)
    items = [{
        "name": row.name, "path": path, "line": row.location.line, "server": row.server, "forks": row.forks,
        "preload": row.preload, "app": row.app, "app_file": display_path(root, row.app_file, cwd) if row.app_file else None,
        "engines": row.engines, "linked": row.linked and not row.failed, "failed": list(row.failed),
        "dev_only": row.dev_only, "declared": row.declared,
    } for root, path, row in found]
    return {"version": 1, "process_types": items,
            "unused_configurations": [{"path": path, "line": line} for path, line in unused(results, cwd)],
            "linked": sum(1 for item in items if item["linked"] and item["forks"]),
            "forking": sum(1 for item in items if item["forks"]),
            "database_code": database}


def _describe(row: ProcessCoverage) -> str:
    parts = [row.server or "no server recognised"]
    if row.dev_only and not row.forks:
        return f"{row.name} ({row.server}, not checked)"
    if row.dev_only:
        parts.append("development")
    if row.failed:
        return f"{row.name} ({parts[0]}, not followed to the app's code)"
    if row.forks and row.app:
        parts.append(f"{'preloads' if row.preload else 'loads'} {row.app}")
    elif row.app:
        parts.append(f"loads {row.app}")
    if row.server and "spawns" in row.server:
        return f"{row.name} ({row.server}, not checked)"
    parts.append(f"{row.engines} engine{'s' if row.engines != 1 else ''}")
    return f"{row.name} ({', '.join(parts)})"


def text_line(results: list[LintResult]) -> str:
    """`Checked 2 process types: web (gunicorn, preloads app:app, 1 engine), worker (celery prefork, 1 engine).`"""
    found, database = rows(results)
    checked = [row for _, _, row in found if row.server is not None and row.forks and not row.failed]
    if not found:
        if database:
            return ("Checked no process types: no launch of a forking server was found, so the code was not checked "
                    "for connections shared across a fork (declare processes in [tool.pgforklint.processes]).\n")
        return "Checked no process types: no launch of a forking server was found.\n"
    described = ", ".join(_describe(row) for _, _, row in found[:SHOWN])
    if len(found) > SHOWN:
        described += f" and {len(found) - SHOWN} more (`--format json` lists them all)"
    noun = "process type" if len(found) == 1 else "process types"
    from pgforklint.report import printable  # names come from the repository

    line = printable(f"Checked {len(found)} {noun}: {described}.")
    unfollowed = any(row.failed and not row.dev_only for _, _, row in found)
    if not checked and not unfollowed and not any(row.forks for _, _, row in found if row.server is not None):
        line += " None of them forks workers, so no connection can be shared across a fork."
    elif not checked:
        line += " None was followed to a forking server's app code: nothing was checked for connections shared across a fork."
    not_used = sorted({path for path, _ in unused(results)})
    if not_used:
        line += printable(f" Not checked, as no launch uses {'it' if len(not_used) == 1 else 'them'}: "
                          + ", ".join(f"`{path}`" for path in not_used) + ".")
    return line + "\n"


def add_to_json(rendered: str, results: list[LintResult]) -> str:
    document = json.loads(rendered)
    document["coverage"] = as_dict(results)
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def add_to_sarif(rendered: str, results: list[LintResult]) -> str:
    document = json.loads(rendered)
    runs = document.get("runs") or []
    if runs:
        runs[0].setdefault("properties", {})["coverage"] = as_dict(results)
    return json.dumps(document, indent=2) + "\n"
