"""`pgforklint budget [PATH]`: the connection budget as a table (or JSON), with where each number came from."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from pgforklint.errors import PgforklintError
from pgforklint.safeio import parse_count

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
        if not sep or not name.strip() or parse_count(count) is None:
            raise PgforklintError(f"--scale: expected NAME=COUNT (for example web=6), got {item!r}")
        out[name.strip()] = parse_count(count)
    return out


def parser() -> argparse.ArgumentParser:
    from pgforklint.cli import help_formatter

    p = _Parser(prog="pgforklint budget", description="Print the PostgreSQL connection budget of a project.",
                formatter_class=help_formatter, allow_abbrev=False,
                epilog="Exit status: 1 when the budget does not fit at or above --fail-on (PGF004: the expected peak "
                       "exceeds the available connections, an error; PGF011: only the worst case does, a warning), "
                       "0 otherwise, 2 on usage or configuration errors.")
    p.add_argument("path", nargs="?", default=".", metavar="PATH")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--scale", action="append", default=[], metavar="TYPE=N",
                   help="instances of a process type (repeatable or comma-separated), e.g. --scale web=6")
    p.add_argument("--config", metavar="FILE", help="use this pyproject.toml or .pgforklint.toml")
    p.add_argument("--database-url", metavar="URL", help="also read the live server's limits and current connections")
    p.add_argument("--live", action="store_true", help="like --database-url with $DATABASE_URL")
    p.add_argument("--fail-on", choices=("info", "warning", "error"),
                   help="lowest severity that makes the exit status 1 (default: warning, or fail-on in the configuration)")
    p.add_argument("--exit-zero", action="store_true", help="exit 0 even when the budget does not fit")
    p.add_argument("--debug", action="store_true")
    return p


def run_budget(argv: list[str]) -> int:
    from pgforklint.analyze import build_model
    from pgforklint.budget import codes_for, compute, to_json, unknown_scale_error
    from pgforklint.registry import RULES, select_codes
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
    for names, where in ((scale, "--scale"), (config.scale, "[tool.pgforklint.scale]")):
        error = unknown_scale_error(model, names, where)
        if error:
            raise PgforklintError(error)
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
    if args.exit_zero:
        return EXIT_OK
    chosen = select_codes(config.select, config.extend_select, config.ignore)
    failing = [code for code in codes_for(budget) if code in chosen and RULES[code].severity >= config.fail_on]
    return EXIT_OVER if failing else EXIT_OK


def _num(value) -> str:
    return "unbounded" if value is None else str(value)


WIDTH = 80
BAR = 40  # cells of the widest bar


def _plain(quantity) -> str:
    """Where a number came from, in words: the detail, then `path line N`."""
    origin = quantity.origin
    place = _place(origin.location) if origin.location is not None else ""
    detail = origin.detail
    if not detail:
        return f"set in {place}" if place else origin.kind.value.replace("-", " ")
    return f"{detail}, {place}" if place else detail


def _place(location) -> str:
    return f"{location.path}:{location.line}"


def _wrap(text: str, indent: int, hang: int = 4) -> list[str]:
    import textwrap

    return textwrap.wrap(text, WIDTH, initial_indent=" " * indent, subsequent_indent=" " * (indent + hang),
                         break_on_hyphens=False, break_long_words=False) or [" " * indent]


def _bar_glyphs() -> tuple[str, str, str]:
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    if encoding in ("utf8", "utf8sig"):
        return "\u2588", "\u2591", "\u2502"  # full block, light shade, vertical line
    return "#", "-", "|"


def _bar(expected: int, worst: int | None, scale_max: int, available: int | None) -> str:
    full, shade, line = _bar_glyphs()
    cells = [" "] * BAR

    def column(value: int) -> int:  # the largest value of the chart ends in the last cell
        return min(BAR - 1, round(value * (BAR - 1) / scale_max)) if scale_max else 0

    solid = column(expected) + (1 if expected else 0)
    upper = BAR if worst is None else max(solid, column(worst) + (1 if worst > expected else 0))
    for index in range(upper):
        cells[index] = full if index < solid else shade
    if available is not None:
        cells[column(available)] = line
    return "".join(cells).rstrip()


def _table(budget) -> list[str]:
    headers = ("process type", "instances", "processes", "threads", "expected", "worst case")
    rows = [(row.name, str(row.n_instances), str(row.n_processes), _num(row.threads.value), str(row.total_expected),
             _num(row.total_worst)) for row in budget.rows]
    rows.append(("total", "", "", "", str(budget.expected_peak), _num(budget.worst_case)))
    name_width = min(24, max(len(r[0]) for r in [headers, *rows]))
    widths = [name_width, *(max(len(r[i]) for r in [headers, *rows]) for i in range(1, len(headers)))]

    def line(cells) -> str:
        name = cells[0] if len(cells[0]) <= name_width else cells[0][: name_width - 1] + "~"
        return "  ".join([name.ljust(name_width), *(c.rjust(widths[i]) for i, c in enumerate(cells[1:], start=1))]).rstrip()

    out = [line(headers)]
    out.extend(line(r) for r in rows[:-1])
    out.append(line(rows[-1]))
    return out


def _chart(budget) -> list[str]:
    available = budget.available
    totals = [budget.expected_peak, budget.worst_case or budget.expected_peak, available or 0]
    totals += [row.total_worst or row.total_expected for row in budget.rows]
    scale_max = max(totals) or 1
    label_width = min(16, max([len(row.name) for row in budget.rows] + [len("total")]))
    out = []
    entries = [(row.name, row.total_expected, row.total_worst) for row in budget.rows]
    entries.append(("total", budget.expected_peak, budget.worst_case))
    for name, expected, worst in entries:
        label = name if len(name) <= label_width else name[: label_width - 1] + "~"
        numbers = f"{expected}" + ("" if worst == expected else f" / {_num(worst)}")
        out.append(f"{label.ljust(label_width)}  {_bar(expected, worst, scale_max, available).ljust(BAR)}  {numbers}")
    full, shade, line = _bar_glyphs()
    legend = f"{full} expected  {shade} worst case (every pool full)"
    if available is not None:
        legend += f"  {line} {available} available"
    out.append(" " * (label_width + 2) + legend)
    return out


def _row_sources(row) -> list[str]:
    out = []
    where = row.location
    out.extend(_wrap(f"{row.name}: {row.server.kind.value}, started at {_place(where)}", 2))
    out.extend(_wrap(f"{row.n_instances} instance(s): {_plain(row.instances)}", 4))
    if row.max_instances is not None:
        out.extend(_wrap(f"up to {row.n_max_instances} instance(s) in the worst case: {_plain(row.max_instances)}", 4))
    assumed = " (assumed)" if row.processes.value is None else ""
    out.extend(_wrap(f"{row.n_processes} process(es) each{assumed}: {_plain(row.processes)}", 4))
    threads_known = row.threads.value is not None and row.threads.origin.location is not None
    out.extend(_wrap(f"{_num(row.concurrency) if row.concurrency is not None else 'unbounded'} at once per process: "
                     f"{row.concurrency_note}" + (f", {_plain(row.threads)}" if threads_known else ""), 4))
    for use in row.engines:
        place = _place(use.engine.location)
        out.extend(_wrap(f"{_num(use.expected)} connection(s) per process, {_num(use.worst)} at worst: "
                         f"`{use.engine.label}` at {place}, {use.note}", 4))
    for agent in row.agents:
        place = f", {_place(agent['location'])}" if agent.get("location") else ""
        out.extend(_wrap(f"{agent['expected']} connection(s) per process, {agent['worst']} at worst: "
                         f"{agent['detail']}{place}", 4))
    if row.parent_held:
        places = ", ".join(_place(loc) for loc in row.parent_locations)
        out.extend(_wrap(f"{row.parent_held} connection(s) held by the parent, opened before the fork at {places}", 4))
    return out


def render_text(budget, live: dict | None = None) -> str:
    from pgforklint.budget import verdict

    lines: list[str] = []
    available = budget.available
    lines.extend(_wrap(f"Connection budget: expected peak {budget.expected_peak}, worst case "
                       f"{_num(budget.worst_case)}, available {_num(available)}", 0))
    lines.extend(_wrap(f"Verdict: {_VERDICTS.get(verdict(budget), verdict(budget))}", 0))
    lines.append("")
    if budget.rows:
        lines.extend(_table(budget))
        lines.append("")
        lines.extend(_chart(budget))
    else:
        lines.append("(no process type that uses the database was found)")
    lines.append("")
    lines.append("Where the numbers come from")
    for row in budget.rows:
        lines.extend(_row_sources(row))
    lines.extend(_wrap(f"database: {_num(available)} available: {budget.available_text()}", 2))
    lines.extend(_wrap(f"max_connections {budget.max_connections.value}: {_plain(budget.max_connections)}", 4))
    lines.extend(_wrap(f"{budget.reserved.value} reserved: {_plain(budget.reserved)}", 4))
    if budget.role_limit is not None:
        lines.extend(_wrap(f"role connection limit {_num(budget.role_limit.value)}: {_plain(budget.role_limit)}", 4))
    if budget.pooler is not None:
        pooler = budget.pooler
        lines.extend(_wrap(
            f"PgBouncer at {pooler['location']}: pool_mode {pooler['pool_mode']}, max_client_conn "
            f"{pooler['max_client_conn'].value}, default_pool_size {pooler['default_pool_size'].value}, "
            f"reserve_pool_size {pooler['reserve_pool_size'].value}, {pooler['pools'].value} pool(s): "
            f"{budget.pooler_server_connections} server connections", 4))
    if budget.not_counted:
        lines.append("")
        lines.append("Not counted")
        for left in budget.not_counted:
            lines.extend(_wrap(f"{left.name} ({_place(left.location)}): {left.reason}", 2))
        if any(left.reason.startswith(("not production", "another deployment")) for left in budget.not_counted):
            lines.extend(_wrap("Development setups, other environments (staging, previews) and other deployments of "
                               "the app do not share the production database. If one does, or the wrong one was "
                               "counted, list the launch files that are not production in `development-files = [...]` "
                               "in [tool.pgforklint] (an empty list counts every file).", 2, 0))
    if live is not None:
        lines.append("")
        lines.extend(_live(budget, live))
    return "\n".join(lines) + "\n"


def _live(budget, live: dict) -> list[str]:
    limit = live["role_connection_limit"]
    lines = [f"Live server (role {live['role']}{', superuser' if live['superuser'] else ''})"]
    lines.extend(_wrap(f"max_connections {live['max_connections']}, superuser_reserved_connections "
                       f"{live['superuser_reserved_connections']}, reserved_connections {live['reserved_connections']}, "
                       f"role connection limit {_num(limit) if limit is not None else 'none'}", 2))
    lines.extend(_wrap(f"available to this role: {live['available']} (static: {_num(budget.available)}); in use "
                       f"now: {live['in_use']}; free: {live['free']}", 2))
    if "role_in_use" in live:
        lines.extend(_wrap(f"this role's connections now (same user, not this session): {live['role_in_use']}, "
                           f"against an expected peak of {budget.expected_peak}", 2))
    for item in live["connections"]:
        lines.extend(_wrap(f"{item['connections']:>5}  {item['application_name'] or '(no application_name)'}  "
                           f"({item['user']})", 4))
    if budget.expected_peak > live["free"] and budget.expected_peak <= (live["available"] or 0):
        lines.extend(_wrap("note: the expected peak fits the server, but not beside the connections open now", 2))
    return lines


def _markdown_cell(text: str) -> str:
    """Repository text in a Markdown table cell: no markup, no line breaks, no cell separators."""
    import re

    text = re.sub(r"[\x00-\x1f\x7f\u2028\u2029]", " ", text)
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~])", r"\\\1", text)


def _mermaid_label(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9 _./:-]", "_", text)[:40] or "_"


def render_markdown(budget) -> str:
    """The budget for a GitHub step summary: the table and a Mermaid chart (GitHub renders `mermaid` blocks)."""
    from pgforklint.budget import verdict

    available = budget.available
    lines = ["### PostgreSQL connection budget", "",
             f"Expected peak **{budget.expected_peak}**, worst case **{_num(budget.worst_case)}**, available "
             f"**{_num(available)}**: {_markdown_cell(_VERDICTS.get(verdict(budget), verdict(budget)))}", ""]
    if not budget.rows:
        return "\n".join(lines + ["No process type that uses the database was found.", ""])
    lines += ["| process type | instances | processes | threads | expected | worst case |",
              "|---|--:|--:|--:|--:|--:|"]
    for row in budget.rows:
        lines.append(f"| {_markdown_cell(row.name)} | {row.n_instances} | {row.n_processes} | {_num(row.threads.value)} | "
                     f"{row.total_expected} | {_num(row.total_worst)} |")
    lines.append(f"| **total** | | | | **{budget.expected_peak}** | **{_num(budget.worst_case)}** |")
    names = [*(row.name for row in budget.rows), "total"]
    expected = [*(row.total_expected for row in budget.rows), budget.expected_peak]
    worst = [*((row.total_worst if row.total_worst is not None else row.total_expected) for row in budget.rows),
             budget.worst_case if budget.worst_case is not None else budget.expected_peak]
    top = max([*worst, available or 0, 1])
    labels = ", ".join(f'"{_mermaid_label(name)}"' for name in names)
    lines += ["", "```mermaid", "xychart-beta",
              '    title "Connections per process type: worst case, expected peak, and the available line"',
              f"    x-axis [{labels}]", f'    y-axis "connections" 0 --> {top + max(1, top // 10)}',
              f"    bar [{', '.join(map(str, worst))}]", f"    bar [{', '.join(map(str, expected))}]"]
    if available is not None:
        lines.append(f"    line [{', '.join(str(available) for _ in names)}]")
    lines += ["```", ""]
    return "\n".join(lines)


_VERDICTS = {
    "fits": "fits, even with every pool full",
    "fits-expected-only": "the expected peak fits; the worst case (every pool full) does not (PGF011)",
    "exceeded": "the expected peak does not fit (PGF004)",
    "pooler-exceeds-server": "PgBouncer can open more server connections than the database allows (PGF004)",
    "unbounded": "the expected peak fits, but a pool has no maximum (PGF007)",
    "unknown": "unknown: the database limit is not known",
}
