"""PGF102: a launch of a forking server that could not be followed to the app's code, or a repository
with database code and no launch of a server at all. Reads `model.coverage` only."""

from __future__ import annotations

from collections.abc import Iterator

from pgforklint.diagnostics import Diagnostic
from pgforklint.model import DeploymentModel

HOW_TO_DECLARE = ("declare the process in `[tool.pgforklint.processes]` (e.g. `web = \"gunicorn --preload -w 4 "
                  "app:app\"`, or a table with `command`, `instances` and `workdir`)")


def unresolved_launch(model: DeploymentModel) -> Iterator[Diagnostic]:
    coverage = model.coverage
    if coverage is None:
        return
    # A development setup (`supervisord-dev.conf`, `docker-compose.local.yml`) beside a production deployment:
    # what it runs was not followed, but production's launches say what the deployment checks.
    development = model.facts.get("development_files") or {}
    development_processes = model.facts.get("development_processes") or {}

    def in_development(row) -> bool:
        return row.location.path in development or (row.name, row.location) in development_processes

    production = any(not in_development(row) for row in coverage.process_types)
    for row in coverage.process_types:
        if row.dev_only or not row.failed or (production and in_development(row)):
            continue
        if row.server is not None and not row.forks and row.app_file is None and "spawns" in row.server:
            continue
        what = (f"`{row.name}` starts {row.server} but pgforklint could not follow it" if row.server
                else f"`{row.name}` runs a command pgforklint could not follow")
        steps = "; ".join(row.failed)
        yield Diagnostic(
            "PGF102", row.location,
            f"{what} to the app's code: {steps}. Nothing this process imports "
            f"was checked for connections opened before the fork; fix the path, or {HOW_TO_DECLARE}",
            key=f"unresolved:{row.name}",
            title=(f"`{row.name}` starts a forking server that was not followed to the app's code" if row.server
                   else f"`{row.name}` runs a command that was not followed to the app's code"),
            help=f"fix the path, or {HOW_TO_DECLARE}")
    if coverage.process_types or coverage.servers or not coverage.database_code or coverage.database_location is None:
        return
    yield Diagnostic(
        "PGF102", coverage.database_location,
        "the repository has database code but pgforklint found no launch of a server that forks (no Procfile, "
        "Dockerfile CMD, Compose command, Kubernetes container, supervisord or systemd unit, or start script that "
        "runs gunicorn, uWSGI, Celery or RQ), so nothing was checked; if the process starts elsewhere (a base "
        f"image's CMD, a platform's settings), {HOW_TO_DECLARE}",
        key="unresolved:no-launch",
        title="database code, but no launch of a server that forks: nothing was checked",
        help=HOW_TO_DECLARE)
