"""The command line: `pgforklint [PATH ...]`, `pgforklint budget [PATH]`.

Exit 0 when nothing at or above `fail-on` was found, 1 when something was, 2 on usage,
configuration or internal errors (one clear line; a traceback only with --debug).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pgforklint import __version__
from pgforklint.diagnostics import Severity
from pgforklint.errors import ConfigError, PgforklintError
from pgforklint.registry import RULES, unknown_selectors
from pgforklint.report import FORMATS
from pgforklint.safeio import open_output_streams, output_error

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other usage error
        raise PgforklintError(f"usage: {message} (see `pgforklint --help`)")


def help_formatter(prog: str) -> argparse.HelpFormatter:
    """argparse's formatter at the terminal's width, found without `shutil` (argparse imports it for the
    width on every run, even without --help, and with it zlib, bz2 and lzma: 3 ms)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 80
    return argparse.HelpFormatter(prog, width=max(columns - 2, 11))


def _codes(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def lint_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pgforklint",
        formatter_class=help_formatter,
        description="Find PostgreSQL connection bugs under forking servers: connections opened before the fork, "
                    "missing or wrong post-fork resets, and connection budgets that do not fit.",
        epilog="Subcommand: `pgforklint budget [PATH]` prints the connection budget. "
               "Exit status: 0 nothing at or above --fail-on, 1 findings, 2 usage, configuration or internal error. "
               "Environment: PGFORKLINT_FORMAT (default format), NO_COLOR, GITHUB_ACTIONS, GITHUB_STEP_SUMMARY.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="project folders to lint (default: .); a file is analysed with its project and only its findings are shown")
    parser.add_argument("--format", choices=FORMATS, help="output format (default: $PGFORKLINT_FORMAT, else github when GITHUB_ACTIONS=true, else text)")
    parser.add_argument("--select", type=_codes, metavar="CODES", help="comma-separated codes or prefixes to enable (replaces the default)")
    parser.add_argument("--extend-select", type=_codes, metavar="CODES", help="codes or prefixes to enable in addition")
    parser.add_argument("--ignore", type=_codes, metavar="CODES", help="codes or prefixes to disable")
    parser.add_argument("--fail-on", choices=("info", "warning", "error"), help="lowest severity that fails (default: warning)")
    parser.add_argument("--exit-zero", action="store_true", help="exit 0 even when problems are found")
    parser.add_argument("--explain", metavar="CODE", help="show the documentation of a rule")
    parser.add_argument("--list-rules", action="store_true", help="list every rule with its code and severity")
    parser.add_argument("--statistics", action="store_true", help="print a count per rule instead of each finding")
    parser.add_argument("--config", metavar="FILE", help="use this pyproject.toml or .pgforklint.toml")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    parser.add_argument("--fix", action="store_true", help="apply the fixes marked [*] (safe fixes)")
    parser.add_argument("--unsafe-fixes", action="store_true",
                        help="with --fix or --diff, also apply fixes that change behaviour beyond the bug")
    parser.add_argument("--diff", action="store_true",
                        help="print the changes --fix would make as a unified diff, write nothing "
                             "(exit 1 when there are changes)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for internal errors")
    parser.add_argument("--version", action="version", version=f"pgforklint {__version__}")
    return parser


def _choose_format(requested: str | None) -> str:
    """--format, else $PGFORKLINT_FORMAT, else github under GitHub Actions, else text."""
    if requested:
        return requested
    env_format = os.environ.get("PGFORKLINT_FORMAT", "").strip()
    if env_format:
        if env_format.lower() not in FORMATS:
            raise PgforklintError(f"PGFORKLINT_FORMAT={env_format!r}: expected one of {', '.join(FORMATS)}")
        return env_format.lower()
    if os.environ.get("GITHUB_ACTIONS") == "true":
        return "github"
    return "text"


def _use_colour(stream) -> bool:
    """ANSI colour only on a terminal; never when NO_COLOR is set to a non-empty value (no-color.org)."""
    if os.environ.get("NO_COLOR", ""):
        return False
    if os.environ.get("FORCE_COLOR", ""):
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _write_step_summary(diagnostics, suppressed: int) -> bool:
    """Append the full findings table to $GITHUB_STEP_SUMMARY when it is set; a failure is a warning."""
    target = os.environ.get("GITHUB_STEP_SUMMARY", "")
    if not target:
        return False
    from pgforklint.report import github

    try:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(github.step_summary(diagnostics, suppressed))
    except OSError as exc:
        sys.stderr.write(f"pgforklint: warning: cannot write GITHUB_STEP_SUMMARY {target}: {exc.strerror or exc}\n")
        return False
    return True


def _load_config(args, start: Path):
    from pgforklint.config import Config, find_config, load_config_file

    if args.config:
        path = Path(args.config)
        if not path.is_file():
            raise ConfigError(f"{args.config}: configuration file not found")
        config = load_config_file(path)
    else:
        config = find_config(start) if start.exists() else Config()
    for option in ("select", "extend_select", "ignore"):
        values = getattr(args, option, None)
        if values is not None:
            bad = unknown_selectors(values)
            if bad:
                raise PgforklintError(f"--{option.replace('_', '-')}: unknown rule code(s) {', '.join(bad)}")
            if option == "extend_select":
                config.extend_select = [*config.extend_select, *values]
            elif option == "ignore":
                config.ignore = [*config.ignore, *values]
            else:
                config.select = values
    if getattr(args, "fail_on", None):
        config.fail_on = Severity.parse(args.fail_on)
    return config


_PROJECT_MARKERS = (".git", ".pgforklint.toml", "pgforklint.toml", "pyproject.toml", "setup.py", "setup.cfg",
                    "Procfile", "app.json")


def _project_root_for_file(file: Path) -> Path:
    """A file given on the command line is analysed with its whole project (the analysis is cross-file)
    and only its own findings are shown: the project is the closest folder with a project marker."""
    for folder in file.parents:
        if any((folder / marker).exists() for marker in _PROJECT_MARKERS):
            return folder
    return file.parent


def _explain(code: str) -> int:
    from pgforklint.docs import rule_doc

    code = code.strip().upper()
    if code not in RULES:
        raise PgforklintError(f"--explain: unknown rule code {code!r} (see `pgforklint --list-rules`)")
    doc = rule_doc(code)
    info = RULES[code]
    sys.stdout.write(doc if doc else f"# {code} {info.name}\n\n{info.summary}\n")
    return EXIT_OK


def _list_rules() -> int:
    for info in RULES.values():
        sys.stdout.write(f"{info.code}  {info.severity.label:<8} {info.name:<34} {info.summary}\n")
    return EXIT_OK


def run_lint(argv: list[str]) -> int:
    args = lint_parser().parse_args(argv)  # --version and --help exit here, before the analysis is imported

    from pgforklint.analyze import lint_project
    from pgforklint.report import json_format, relocate, text

    if args.no_cache:
        from pgforklint import cache

        cache.disable()
    if args.explain:
        return _explain(args.explain)
    if args.list_rules:
        return _list_rules()
    paths = [Path(p) for p in (args.paths or ["."])]
    for path in paths:
        if not path.exists():
            raise PgforklintError(f"{path}: no such file or directory")
    output_format = _choose_format(args.format)
    diagnostics = []
    suppressed = 0
    fail_on = Severity.WARNING
    fix_reports = []
    for path in paths:
        config = _load_config(args, path)
        fail_on = config.fail_on
        if args.debug:
            sys.stderr.write(f"pgforklint: debug: {path}: settings from {config.path or 'built-in defaults'}\n")
        if path.is_dir():
            result = lint_project(path, config)
        else:
            root = _project_root_for_file(path.resolve())
            result = lint_project(root, config, only_files={path.resolve().relative_to(root).as_posix()})
        from pgforklint.fix import cli as fix_cli

        result, fix_report = fix_cli.process(args, result, config, path)
        fix_reports.append(fix_report)
        suppressed += result.suppressed
        diagnostics.extend(relocate(d, result.root) for d in result.diagnostics)
    diagnostics = sorted(set(diagnostics), key=lambda d: d.sort_key())
    if args.diff:
        return fix_cli.finish_diff(fix_reports)
    out = sys.stdout
    if args.statistics:
        out.write(json_format.statistics(diagnostics) if output_format == "json" else text.statistics(diagnostics))
    elif output_format == "json":
        out.write(json_format.render(diagnostics))
    elif output_format == "github":
        from pgforklint.report import github

        written = _write_step_summary(diagnostics, suppressed)
        out.write(github.render(diagnostics, summary_written=written))
    elif output_format == "sarif":
        from pgforklint.report import sarif

        out.write(sarif.render(diagnostics))
    else:
        out.write(text.render(diagnostics, colour=_use_colour(out)))
        out.write(text.summary(diagnostics, suppressed))
    if args.fix:
        (out if output_format == "text" and not args.statistics else sys.stderr).write(fix_cli.summaries(fix_reports))
    if args.exit_zero:
        return EXIT_OK
    return EXIT_FINDINGS if any(d.severity >= fail_on for d in diagnostics) else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    open_output_streams()  # pgforklint.safeio: a closed stdout is an output error, not a crash
    try:
        if argv and argv[0] == "budget":
            from pgforklint.budget_cli import run_budget

            code = run_budget(argv[1:])
        else:
            if argv and argv[0] == "check":
                argv = argv[1:]
            code = run_lint(argv)
        sys.stdout.flush()  # a full disk shows here, not in the interpreter's exit
        return code
    except PgforklintError as exc:
        sys.stderr.write(f"pgforklint: error: {exc}\n")
        return EXIT_ERROR
    except SystemExit as exc:  # argparse's --help and --version
        code = exc.code
        return code if isinstance(code, int) else (EXIT_OK if code is None else EXIT_ERROR)
    except KeyboardInterrupt:
        sys.stderr.write("pgforklint: interrupted\n")
        return EXIT_ERROR
    except BrokenPipeError:
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - an internal error must not print a traceback to users
        message = output_error(exc)
        if message is not None:
            _write_stderr(message)
            return EXIT_ERROR
        if debug:
            import traceback

            traceback.print_exc()
        sys.stderr.write(f"pgforklint: internal error: {type(exc).__name__}: {exc} (run with --debug for details)\n")
        return EXIT_ERROR


def _write_stderr(text: str) -> None:
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass

