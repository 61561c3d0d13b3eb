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
        raise PgforklintError(f"usage: {_suggest(self, message)} (see `{self.prog} --help`)")


def _suggest(parser: argparse.ArgumentParser, message: str) -> str:
    """argparse's message, with the flag that was probably meant for an unknown one."""
    import difflib
    import re

    match = re.match(r"unrecognized arguments: (.*)", message)
    if not match:
        return message
    known = [flag for action in parser._actions for flag in action.option_strings if flag.startswith("--")]
    hints = []
    for word in match.group(1).split():
        if not word.startswith("-"):
            continue
        name = word.split("=", 1)[0]
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        if not close:  # a prefix of one flag (abbreviations are not accepted: say which flag it would be)
            close = [flag for flag in known if flag.startswith(name)][:1] if len(name) > 3 else []
        if close:
            hints.append(f"{name}: did you mean {close[0]}?")
    return message + ("; " + "; ".join(hints) if hints else "")


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
        allow_abbrev=False,
        description="Find PostgreSQL connection bugs under forking servers: connections opened before the fork, "
                    "missing or wrong post-fork resets, and connection budgets that do not fit.",
        epilog="Subcommand: `pgforklint budget [PATH]` prints the connection budget. "
               "Exit status: 0 nothing at or above --fail-on, 1 findings, 2 usage, configuration or internal error. "
               "Environment: PGFORKLINT_FORMAT (default format), NO_COLOR, FORCE_COLOR, GITHUB_ACTIONS, "
               "GITHUB_STEP_SUMMARY.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="project folders to lint (default: .); a file is analysed with its project, and only "
                             "the findings whose locations include a given file are shown (pre-commit passes the "
                             "changed files)")
    parser.add_argument("--format", choices=FORMATS,
                        help="output format: text (source excerpt, help line), concise (one line per finding), json, "
                             "github, sarif (default: $PGFORKLINT_FORMAT, else github when GITHUB_ACTIONS=true, "
                             "else text)")
    parser.add_argument("-o", "--output-file", metavar="FILE",
                        help="write the report to FILE instead of standard output (the exit status is unchanged)")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                        help="colour the text formats: auto (a terminal, unless NO_COLOR is set; FORCE_COLOR forces "
                             "it), always, never")
    parser.add_argument("--select", type=_codes, metavar="CODES", help="comma-separated codes or prefixes to enable (replaces the default)")
    parser.add_argument("--extend-select", type=_codes, metavar="CODES", help="codes or prefixes to enable in addition")
    parser.add_argument("--ignore", type=_codes, metavar="CODES", help="codes or prefixes to disable")
    parser.add_argument("--fail-on", choices=("info", "warning", "error"), help="lowest severity that fails (default: warning)")
    parser.add_argument("--exit-zero", action="store_true", help="exit 0 even when problems are found")
    parser.add_argument("--explain", metavar="RULE", help="show the documentation of a rule (code or name)")
    parser.add_argument("--list-rules", action="store_true", help="list every rule with its code and severity")
    parser.add_argument("--statistics", action="store_true", help="print a count per rule instead of each finding")
    parser.add_argument("--config", metavar="FILE", help="use this pyproject.toml or .pgforklint.toml")
    parser.add_argument("--baseline", metavar="FILE",
                        help="hide the findings recorded in FILE (default: `baseline` from the configuration)")
    parser.add_argument("--no-baseline", action="store_true", help="ignore the configured baseline")
    parser.add_argument("--write-baseline", metavar="FILE",
                        help="record today's findings in FILE (for --baseline) and exit 0")
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


def _use_colour(stream, choice: str = "auto") -> bool:
    """ruff's rules: --color always/never decide; otherwise NO_COLOR (non-empty, no-color.org) turns colour
    off, FORCE_COLOR (non-empty) turns it on, else colour only on a terminal."""
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR", ""):
        return False
    if os.environ.get("FORCE_COLOR", ""):
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _write_step_summary(diagnostics, suppressed: int, paths=None, baselined: int = 0, results=()) -> bool:
    """Append the full findings table, what was checked, and each project's connection budget (a table and a
    Mermaid chart) to $GITHUB_STEP_SUMMARY when it is set; a failure is a warning."""
    target = os.environ.get("GITHUB_STEP_SUMMARY", "")
    if not target:
        return False
    from pgforklint.report import github

    parts = [github.step_summary(diagnostics, suppressed, paths=paths, baselined=baselined)]
    if results:
        from pgforklint.budget import of_model
        from pgforklint.budget_cli import render_markdown
        from pgforklint.report import coverage as coverage_report

        checked = coverage_report.text_line(list(results)).strip()
        if checked:
            parts.append(github.markdown(checked) + "\n\n")
        for result in results:
            if result.model is not None:
                parts.append(render_markdown(of_model(result.model)))
    try:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write("\n".join(parts))
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


def _rule_code(text: str) -> str:
    """A rule's code from its code or its name (`PGF001`, `pgf001`, `connection-before-fork`)."""
    wanted = text.strip()
    if wanted.upper() in RULES:
        return wanted.upper()
    by_name = {info.name: code for code, info in RULES.items()}
    name = wanted.lower().replace("_", "-")
    if name in by_name:
        return by_name[name]
    import difflib

    close = difflib.get_close_matches(name, list(by_name), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]} ({by_name[close[0]]})?" if close else ""
    raise PgforklintError(f"--explain: unknown rule {text!r}{hint} (see `pgforklint --list-rules`)")


def _explain(code: str, output_format: str = "text") -> int:
    from pgforklint.docs import rule_doc

    code = _rule_code(code)
    doc = rule_doc(code)
    info = RULES[code]
    if output_format == "json":
        import json

        sys.stdout.write(json.dumps({"code": code, "name": info.name, "severity": info.severity.label,
                                     "summary": info.summary, "explanation": doc}, indent=2) + "\n")
        return EXIT_OK
    sys.stdout.write(doc if doc else f"# {code} {info.name}\n\n{info.summary}\n")
    return EXIT_OK


def _list_rules(output_format: str = "text") -> int:
    if output_format == "json":
        import json

        from pgforklint.docs import help_uri

        rows = [{"code": info.code, "name": info.name, "severity": info.severity.label, "summary": info.summary,
                 "url": help_uri(info.code)} for info in RULES.values()]
        sys.stdout.write(json.dumps({"version": 1, "rules": rows}, indent=2) + "\n")
        return EXIT_OK
    for info in RULES.values():
        sys.stdout.write(f"{info.code}  {info.severity.label:<8} {info.name:<34} {info.summary}\n")
    return EXIT_OK


def _group_paths(paths: list[Path]) -> list[tuple[Path, set[str] | None, Path]]:
    """(project root, the files to report on or None for all, the path as given) per project: the files
    of one project (pre-commit passes many) are analysed together, once."""
    groups: dict[Path, tuple[set[str] | None, Path]] = {}
    order: list[Path] = []
    for path in paths:
        if path.is_dir():
            root = path.resolve()
            if root not in groups:
                order.append(root)
            groups[root] = (None, path)
            continue
        root = _project_root_for_file(path.resolve())
        rel = path.resolve().relative_to(root).as_posix()
        if root not in groups:
            order.append(root)
            groups[root] = (set(), path)
        files, given = groups[root]
        if files is not None:
            files.add(rel)
    return [(root, groups[root][0], groups[root][1]) for root in order]


def _baseline_file(args, config) -> Path | None:
    if args.no_baseline:
        return None
    if args.baseline:
        return Path(args.baseline)
    if config.baseline:
        return (config.base_dir or Path.cwd()) / config.baseline
    return None


class _Output:
    """Standard output, or `--output-file` (written only once the report is complete)."""

    def __init__(self, target: str | None):
        import io

        self.target = target
        self.stream = io.StringIO() if target else sys.stdout

    def isatty(self) -> bool:
        return False if self.target else _isatty(sys.stdout)

    def write(self, text: str) -> None:
        self.stream.write(text)

    def close(self) -> None:
        if not self.target:
            return
        try:
            with open(self.target, "w", encoding="utf-8", errors="backslashreplace", newline="\n") as handle:
                handle.write(self.stream.getvalue())
        except OSError as exc:
            raise PgforklintError(f"--output-file {self.target}: cannot write: {exc.strerror or exc}") from None


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def run_lint(argv: list[str]) -> int:
    args = lint_parser().parse_args(argv)  # --version and --help exit here, before the analysis is imported

    from pgforklint.analyze import lint_project
    from pgforklint.report import Paths, json_format, printable, relocate, text
    from pgforklint.report import coverage as coverage_report

    if args.no_cache:
        from pgforklint import cache

        cache.disable()
    output_format = _choose_format(args.format)
    if args.explain:
        return _explain(args.explain, output_format)
    if args.list_rules:
        return _list_rules(output_format)
    paths = [Path(p) for p in (args.paths or ["."])]
    for path in paths:
        if not path.exists():
            raise PgforklintError(f"{path}: no such file or directory")
    # Paths in the report are relative to the repository root, whatever the working folder.
    report_paths = Paths.for_target(paths[0])
    diagnostics = []
    suppressed = 0
    fail_on = Severity.WARNING
    fix_reports = []
    results = []
    baseline_file = None
    for root, only_files, given in _group_paths(paths):
        config = _load_config(args, given)
        fail_on = config.fail_on
        baseline_file = baseline_file or _baseline_file(args, config)
        if args.debug:
            sys.stderr.write(f"pgforklint: debug: {given}: settings from {config.path or 'built-in defaults'}\n")
        result = lint_project(root, config, only_files=only_files)
        from pgforklint.fix import cli as fix_cli

        result, fix_report = fix_cli.process(args, result, config, given if only_files is None else root,
                                             only_files=only_files)
        fix_reports.append(fix_report)
        results.append(result)
        for warning in result.warnings:
            _write_stderr(f"pgforklint: warning: {printable(warning)}\n")
        suppressed += result.suppressed
        diagnostics.extend(relocate(d, result.root, cwd=report_paths.base) for d in result.diagnostics)
    diagnostics = sorted(set(diagnostics), key=lambda d: d.sort_key())
    if args.diff:
        return fix_cli.finish_diff(fix_reports)
    if args.write_baseline:
        from pgforklint import baseline

        count = baseline.write(Path(args.write_baseline), diagnostics)
        sys.stderr.write(f"pgforklint: recorded {count} finding{'s' if count != 1 else ''} in {args.write_baseline}\n")
        return EXIT_OK
    baselined = 0
    if baseline_file is not None:
        from pgforklint import baseline

        diagnostics, baselined = baseline.apply(diagnostics, baseline.read(baseline_file))
    out = _Output(args.output_file)
    colour = _use_colour(out, args.color)
    if args.statistics:
        out.write(json_format.statistics(diagnostics) if output_format == "json" else text.statistics(diagnostics))
    elif output_format == "json":
        out.write(coverage_report.add_to_json(json_format.render(diagnostics, report_paths), results))
    elif output_format == "github":
        from pgforklint.report import github

        written = _write_step_summary(diagnostics, suppressed, report_paths, baselined, results)
        out.write(github.render(diagnostics, summary_written=written, paths=report_paths))
    elif output_format == "sarif":
        from pgforklint.report import sarif

        out.write(coverage_report.add_to_sarif(sarif.render(diagnostics, paths=report_paths), results))
    elif output_format == "concise":
        out.write(text.concise(diagnostics, report_paths, colour=colour))
        out.write(coverage_report.text_line(results))
        out.write(text.summary(diagnostics, suppressed, baselined))
    else:
        out.write(text.render(diagnostics, report_paths, colour=colour))
        out.write(coverage_report.text_line(results))
        out.write(text.summary(diagnostics, suppressed, baselined))
    out.close()
    if args.fix:
        plain_text = output_format in ("text", "concise") and not args.statistics and not args.output_file
        (sys.stdout if plain_text else sys.stderr).write(fix_cli.summaries(fix_reports))
    if args.exit_zero:
        return EXIT_OK
    return EXIT_FINDINGS if any(d.severity >= fail_on for d in diagnostics) else EXIT_OK


def _one_line(text: str) -> str:
    """An error message quoting repository text (a path, a value), without control characters or breaks."""
    from pgforklint.report import printable

    return printable(text)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):  # a name that is not UTF-8 is escaped, never a crash
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError):
            pass
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
        sys.stderr.write(f"pgforklint: error: {_one_line(str(exc))}\n")
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
        sys.stderr.write(f"pgforklint: internal error: {type(exc).__name__}: {_one_line(str(exc))} "
                         "(run with --debug for details)\n")
        return EXIT_ERROR


def _write_stderr(text: str) -> None:
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass

