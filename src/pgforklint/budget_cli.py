"""`pgforklint budget [PATH]`: the connection budget as a table (or JSON), with where each number came from."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from pgforklint.errors import PgforklintError

EXIT_OK, EXIT_OVER, EXIT_ERROR = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        from pgforklint.cli import _suggest

        raise PgforklintError(f"usage: {_suggest(self, message)} (see `pgforklint budget --help`)")


def _scale(text: str) -> dict[str, int]:
    out = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, count = item.partition("=")
        if not sep or not name.strip() or not count.strip().isdigit():
            raise PgforklintError(f"--scale: expected NAME=COUNT (for example web=6), got {item!r}")
        out[name.strip()] = int(count)
    return out


def parser() -> argparse.ArgumentParser:
    from pgforklint.cli import help_formatter

    p = _Parser(prog="pgforklint budget", description="Print the PostgreSQL connection budget of a project.",
                formatter_class=help_formatter, allow_abbrev=False)
    p.add_argument("path", nargs="?", default=".", metavar="PATH")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--scale", action="append", default=[], metavar="TYPE=N",
                   help="instances of a process type (repeatable or comma-separated), e.g. --scale web=6")
    p.add_argument("--config", metavar="FILE", help="use this pyproject.toml or .pgforklint.toml")
    p.add_argument("--database-url", metavar="URL", help="also read the live server's limits and current connections")
    p.add_argument("--live", action="store_true", help="like --database-url with $DATABASE_URL")
    p.add_argument("--debug", action="store_true")
    return p


def run_budget(argv: list[str]) -> int:
    from pgforklint.analyze import build_model
    from pgforklint.budget import compute, to_json, verdict
    from pgforklint.cli import _load_config
    from pgforklint.discover import discover
    from pgforklint.project import Project

    args = parser().parse_args(argv)
    scale: dict[str, int] = {}
    for item in args.scale:
        scale.update(_scale(item))
    root = Path(args.path)
    if not root.is_dir():
        raise PgforklintError(f"{args.path}: not a directory")
    config = _load_config(args, root)
    config.scale = {**config.scale, **scale}
    root = root.resolve()
    base = config.base_dir or root
    discovery = discover(root, [(base, [*config.exclude, *config.extend_exclude])], config.respect_gitignore)
    project = Project(root, discovery, config)
    model = build_model(project)
    budget = compute(model, scale)
    live = None
    url = args.database_url or (os.environ.get("DATABASE_URL") if args.live else None)
    if args.live and not url:
        raise PgforklintError("--live: DATABASE_URL is not set (or pass --database-url URL)")
    if url:
        from pgforklint.live import read_live

        live = read_live(url)
    if args.format == "json":
        sys.stdout.write(json.dumps(to_json(budget, live), indent=2) + "\n")
    else:
        from pgforklint.report import printable  # process and service names come from the repository

        sys.stdout.write("\n".join(printable(line) for line in render_text(budget, live).split("\n")))
    result = verdict(budget)
    return EXIT_OVER if result in ("exceeded", "pooler-exceeds-server") else EXIT_OK


def _num(value) -> str:
    return "unbounded" if value is None else str(value)


def render_text(budget, live: dict | None = None) -> str:
    from pgforklint.budget import verdict

    lines: list[str] = []
    headers = ("process type", "instances", "processes", "threads", "per process", "worst/process", "parent",
               "expected", "worst case")
    table = [headers]
    for row in budget.rows:
        table.append((row.name, str(row.n_instances), str(row.n_processes), _num(row.threads.value),
                      str(row.per_process_expected), _num(row.per_process_worst), str(row.parent_held),
                      str(row.total_expected), _num(row.total_worst)))
    table.append(("total", "", "", "", "", "", "", str(budget.expected_peak), _num(budget.worst_case)))
    widths = [max(len(r[i]) for r in table) for i in range(len(headers))]
    for index, row in enumerate(table):
        cells = [row[0].ljust(widths[0]), *(cell.rjust(widths[i]) for i, cell in enumerate(row[1:], start=1))]
        lines.append("  ".join(cells).rstrip())
        if index == 0 or index == len(table) - 2:
            lines.append("  ".join("-" * w for w in widths))
    if not budget.rows:
        lines.append("(no process type that uses the database was found)")
    lines.append("")
    lines.append("Where the numbers come from:")
    for row in budget.rows:
        lines.append(f"  {row.name}:")
        for key, value in row.sources().items():
            lines.append(f"    {key}: {value}")
    lines.append(f"  max_connections: {budget.max_connections.value} — {budget.max_connections.origin.describe()}")
    lines.append(f"  reserved: {budget.reserved.value} — {budget.reserved.origin.describe()}")
    if budget.role_limit is not None:
        lines.append(f"  role connection limit: {_num(budget.role_limit.value)} — {budget.role_limit.origin.describe()}")
    if budget.pooler is not None:
        pooler = budget.pooler
        lines.append(f"  PgBouncer ({pooler['location']}): pool_mode {pooler['pool_mode']}, max_client_conn "
                     f"{pooler['max_client_conn'].value}, default_pool_size {pooler['default_pool_size'].value}, "
                     f"reserve_pool_size {pooler['reserve_pool_size'].value}, {pooler['pools'].value} pool(s) -> "
                     f"{budget.pooler_server_connections} server connections")
    lines.append("")
    lines.append(f"Available: {_num(budget.available)} ({budget.available_text()})")
    lines.append(f"Expected peak: {budget.expected_peak}   Worst case: {_num(budget.worst_case)}")
    lines.append(f"Verdict: {_VERDICTS.get(verdict(budget), verdict(budget))}")
    if live is not None:
        lines.append("")
        lines.append(f"Live server (role {live['role']}{', superuser' if live['superuser'] else ''}):")
        lines.append(f"  max_connections {live['max_connections']}, superuser_reserved_connections "
                     f"{live['superuser_reserved_connections']}, reserved_connections {live['reserved_connections']}, "
                     f"role connection limit {_num(live['role_connection_limit']) if live['role_connection_limit'] is not None else 'none'}")
        lines.append(f"  available to this role: {live['available']} (static: {_num(budget.available)}); in use now: "
                     f"{live['in_use']}; free: {live['free']}")
        for item in live["connections"]:
            lines.append(f"    {item['connections']:>5}  {item['application_name'] or '(no application_name)'}  ({item['user']})")
        if budget.expected_peak > live["free"] + 0 and budget.expected_peak <= (live["available"] or 0):
            lines.append("  note: the expected peak fits the server, but not beside the connections open now")
    return "\n".join(lines) + "\n"


_VERDICTS = {
    "fits": "fits, even with every pool full",
    "fits-expected-only": "the expected peak fits; the worst case (every pool full) does not (PGF011)",
    "exceeded": "the expected peak does not fit (PGF004)",
    "pooler-exceeds-server": "PgBouncer can open more server connections than the database allows (PGF004)",
    "unbounded": "the expected peak fits, but a pool has no maximum (PGF007)",
    "unknown": "unknown: the database limit is not known",
}
