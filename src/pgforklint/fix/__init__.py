"""`pgforklint --fix`: the reset hooks written for you, exactly and safely.

Fixes are planned from the deployment model (servers, their config files, hooks, engines with
their `symbol` and `location`) and the diagnostics of a lint run, never by re-reading code as text:

- PGF003: `engine.dispose()` in a child hook becomes `engine.dispose(close=False)` (safe).
- PGF001/PGF002 under gunicorn: `post_fork(server, worker)` in the config the server reads (see
  `pgforklint.fix.gunicorn`; Django: `pre_fork` closing the master's connections).
- PGF001/PGF002 under Celery prefork: a `worker_process_init` handler next to the Celery app.
- PGF001/PGF002 under uWSGI: a guarded `uwsgidecorators.postfork` function, or `lazy-apps = true` (unsafe).
- psycopg/asyncpg pools and raw connections: no automatic fix; the finding's fix hint says why.

Ruff's conventions: `--fix` applies safe fixes, `--unsafe-fixes` also the ones that change
behaviour beyond the bug, `--diff` prints a unified diff and writes nothing. Files are written
atomically and keep their encoding and line endings; a file whose fixed text would not parse is
left untouched. Python edits use libcst, so every other byte stays.

For other code (the runtime tests): `fix_project(root, unsafe=False) -> FixReport`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import field, replace
from pathlib import Path

from pgforklint.diagnostics import Diagnostic, FixInfo
from pgforklint.fix.base import Applicability, Context, Edit, Fix, NoFix, engine_recipe, load_pyedit
from pgforklint.model import DeploymentModel, Engine, ResetKind, Server, ServerKind
from pgforklint.records import record

__all__ = ["Applicability", "Fix", "FixReport", "Planned", "annotate", "plan", "fix_project", "fix_lint_result",
           "apply_fixes", "render_diff"]

FIXABLE_CODES = ("PGF001", "PGF002", "PGF003", "PGF103")
MAX_ROUNDS = 4


@record
class Planned:
    diagnostic: Diagnostic
    fix: Fix | None
    reason: str | None = None  # why there is no fix


# --- planning: diagnostics -> facts of the model -> fixes -----------------------------------


def _same_place(diagnostic: Diagnostic, location) -> bool:
    return diagnostic.location.path == location.path and diagnostic.location.line == location.line


def _facts(model: DeploymentModel, diagnostic: Diagnostic) -> list[tuple[Server, Engine, object]]:
    """The (server, engine, detail) behind a PGF001/002/003 finding, for every server it stands for."""
    from pgforklint.rules.fork import child_resets, live_at_fork

    found = []
    for server in model.servers:
        if not server.forks:
            continue
        live = live_at_fork(server)
        if diagnostic.code == "PGF001":
            for open_ in live:
                if _same_place(diagnostic, open_.location) and open_.engine.symbol == diagnostic.key \
                        and (open_.retained or not child_resets(server, open_.engine)):
                    found.append((server, open_.engine, open_))
        elif diagnostic.code == "PGF002":
            for escape in server.parent_effects.escapes:
                if _same_place(diagnostic, escape.location) and \
                        f"{escape.engine.symbol}:{escape.callee}" == diagnostic.key:
                    found.append((server, escape.engine, escape))
        elif diagnostic.code == "PGF003":
            for engine in {o.engine for o in live}:
                for hook, reset in child_resets(server, engine):
                    if reset.kind is ResetKind.DISPOSE_CLOSE and _same_place(diagnostic, reset.location):
                        found.append((server, engine, reset))
    return found


def _reset_fix(ctx: Context, server: Server, engine: Engine) -> Fix:
    from pgforklint.fix import celery, gunicorn, uwsgi

    if server.settings.get("language") == "ruby":
        from pgforklint.fix import ruby

        return ruby.reset_fix(ctx, server, engine)
    if server.kind is ServerKind.UWSGI:
        try:
            recipe = engine_recipe(ctx, server, engine)
            return uwsgi.postfork_fix(ctx, server, engine, recipe)
        except NoFix as no_fix:
            try:
                return uwsgi.lazy_apps_fix(ctx, server)
            except NoFix:
                raise no_fix from None
    recipe = engine_recipe(ctx, server, engine)
    if server.kind is ServerKind.GUNICORN:
        return gunicorn.reset_fix(ctx, server, engine, recipe)
    if server.kind is ServerKind.CELERY:
        return celery.reset_fix(ctx, server, engine, recipe)
    raise NoFix(f"no automatic fix under {server.kind.value} yet")


def _dispose_fix(ctx: Context, reset) -> Fix:
    keep = ctx.dispose_keep()
    if keep is False:
        raise NoFix(f"{ctx.sqlalchemy_versions()} has no `dispose(close=False)` (added in SQLAlchemy 1.4.33): dispose in "
                    "the parent right before the fork instead (gunicorn `pre_fork`), or upgrade SQLAlchemy first")
    location = reset.location
    line, column = location.line, location.column - 1
    edit = Edit(location.path, lambda text: load_pyedit().dispose_keep(text, line, column), order=(0, -line, -column),
                description="dispose(close=False)")
    message = ("pass `close=False` to `dispose()`: the child drops the inherited pool without closing the sockets the "
               "parent and the other children still use")
    if keep is None:  # TypeError in the child hook on SQLAlchemy < 1.4.33: the worker would not boot
        return Fix(Applicability.UNSAFE, message + " (unsafe: the project does not pin SQLAlchemy, and "
                   "`close=False` needs SQLAlchemy >= 1.4.33)", [edit])
    return Fix(Applicability.SAFE, message, [edit])


def _plan_one(ctx: Context, diagnostic: Diagnostic) -> Fix:
    if diagnostic.code == "PGF103":
        from pgforklint.suppress import removal_fix

        return removal_fix(diagnostic)
    facts = _facts(ctx.model, diagnostic)
    if not facts:
        raise NoFix("pgforklint cannot trace this finding to a fixable hook")
    fixes: list[Fix] = []
    if diagnostic.code == "PGF001" and any(getattr(detail, "retained", False) for _, _, detail in facts):
        raise NoFix("no automatic fix for a connection held in a module-level name: a pool reset does not reach it; "
                    "close it before the fork or open it in the child, which moves application code")
    if diagnostic.code == "PGF003":
        fixes.append(_dispose_fix(ctx, facts[0][2]))
    else:
        seen: set[tuple[int, int]] = set()
        for server, engine, _ in facts:
            if (id(server), id(engine)) in seen:
                continue
            seen.add((id(server), id(engine)))
            fixes.append(_reset_fix(ctx, server, engine))
    if len(fixes) == 1:
        return fixes[0]
    unsafe = any(f.applicability is Applicability.UNSAFE for f in fixes)
    messages = list(dict.fromkeys(f.message for f in fixes))
    return Fix(Applicability.UNSAFE if unsafe else Applicability.SAFE, "; ".join(messages),
               [edit for f in fixes for edit in f.edits])


def plan(diagnostics: list[Diagnostic], model: DeploymentModel, root: Path, project=None,
         dry_run: bool = True) -> list[Planned]:
    """A fix (or the reason there is none) for every PGF001/PGF002/PGF003 finding.

    With `dry_run`, each fix is also applied in memory (libcst) and dropped if it fails; a plain lint
    run skips that (importing libcst alone costs about as much as the rest of a small run), and
    `--fix` drops a fix whose edit fails at that point instead.
    """
    ctx = Context(model, root, project)
    planned = []
    for diagnostic in diagnostics:
        if diagnostic.code not in FIXABLE_CODES:
            continue
        try:
            fix = _plan_one(ctx, diagnostic)
        except NoFix as reason:
            planned.append(Planned(diagnostic, None, str(reason)))
            continue
        problem = _dry_run(Path(root), [fix]) if dry_run else None
        if problem:
            planned.append(Planned(diagnostic, None, f"no automatic fix: {problem}"))
        else:
            planned.append(Planned(diagnostic, fix))
    return planned


def annotate(diagnostics: list[Diagnostic], planned: list[Planned]) -> list[Diagnostic]:
    """The diagnostics with `fix` set (FixInfo) where a fix exists, and a fix hint saying why where none does."""
    by_id = {id(p.diagnostic): p for p in planned}
    out = []
    for diagnostic in diagnostics:
        entry = by_id.get(id(diagnostic))
        if entry is not None and entry.fix is not None:
            diagnostic = replace(diagnostic, fix=FixInfo(entry.fix.applicability.value, entry.fix.message))
        elif entry is not None and entry.reason and diagnostic.fix_hint is None:
            diagnostic = replace(diagnostic, fix_hint=entry.reason)
        out.append(diagnostic)
    return out


# --- applying --------------------------------------------------------------------------------


@record
class FileChange:
    path: str  # project-relative
    old: str | None  # None: the file is created
    new: str
    source: object = None  # fix.source.SourceText


@record
class FixReport:
    """What `--fix` did (or, with write=False, would do)."""

    root: Path
    fixed: list[Diagnostic] = field(default_factory=list)  # findings fixed (gone after the fix)
    changes: list[FileChange] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason): left untouched
    remaining: list[Diagnostic] = field(default_factory=list)  # findings after the fix
    unsafe_available: int = 0  # fixes not applied because they are unsafe and --unsafe-fixes was not given
    refused: list[tuple[Diagnostic, str]] = field(default_factory=list)  # fixable codes with no fix, and why
    written: bool = False

    @property
    def changed_files(self) -> list[str]:
        return [c.path for c in self.changes if c.old is not None]

    @property
    def created_files(self) -> list[str]:
        return [c.path for c in self.changes if c.old is None]

    @property
    def counts(self) -> Counter:
        return Counter(d.code for d in self.fixed)

    def summary(self) -> str:
        if not self.fixed:
            text = "No fixes applied." if self.written else "No fixes available."
        else:
            counts = ", ".join(f"{code} x{count}" for code, count in sorted(self.counts.items()))
            verb = "Fixed" if self.written else "Would fix"
            text = f"{verb} {len(self.fixed)} problem{'s' if len(self.fixed) != 1 else ''} ({counts})."
        if self.unsafe_available:
            text += (f" {self.unsafe_available} more fix{'es' if self.unsafe_available != 1 else ''} available "
                     f"with --unsafe-fixes.")
        for path, reason in self.skipped:
            text += f"\n{path}: not changed: {reason}"
        return text + "\n" + self.refusals()

    def refusals(self) -> str:
        """One line per finding of a fixable code that has no fix, with the reason."""
        from pgforklint.report import display_path

        lines = []
        for diagnostic, reason in self.refused:
            where = f"{display_path(self.root, diagnostic.location.path)}:{diagnostic.location.line}"
            why = reason if reason.startswith("no automatic fix") else f"no automatic fix: {reason}"
            lines.append(f"{where}: {diagnostic.code}: {why}\n")
        return "".join(lines)


def _read(root: Path, rel: str, python: bool):
    from pgforklint.fix.source import read_source

    return read_source(root / rel, python=python)


def _compute(root: Path, fixes: list[Fix]) -> tuple[dict[str, FileChange], dict[str, str]]:
    """New texts per file for all `fixes` together, and the files that failed (with why)."""
    from pgforklint.fix.source import python_parses
    from pgforklint.safeio import fix_refusal, fixed_text_refusal

    by_path: dict[str, list[Edit]] = {}
    for fix in fixes:
        for edit in fix.edits:
            by_path.setdefault(edit.path, []).append(edit)
    changes: dict[str, FileChange] = {}
    failed: dict[str, str] = {}
    for path, edits in by_path.items():
        python = all(e.python for e in edits)
        refusal = fix_refusal(root, path, None, python)  # a link out of the project, a FIFO: never read
        if refusal is None:
            try:
                source = _read(root, path, python)
            except (OSError, UnicodeDecodeError, SyntaxError, LookupError) as exc:
                failed[path] = f"cannot read: {exc}"
                continue
            refusal = fix_refusal(root, path, source, python)  # encoding round trip, libcst's depth
        if refusal is not None:
            failed[path] = refusal
            continue
        text = source.text
        try:
            for edit in sorted(edits, key=lambda e: e.order):
                text = edit.transform(text)
        except Exception as exc:  # noqa: BLE001 - any failure leaves the file untouched
            expected = type(exc).__name__ in ("EditError", "ParserSyntaxError", "RecursionError")
            failed[path] = (str(exc) or type(exc).__name__) if expected else \
                f"internal error in the fixer ({type(exc).__name__}: {exc}); please report it"
            continue
        if python:
            problem = python_parses(text)
            if problem:
                failed[path] = f"the fixed code would not parse ({problem})"
                continue
        if source.exists and text == source.text:
            continue
        refusal = fixed_text_refusal(source, text)
        if refusal is not None:
            failed[path] = refusal
            continue
        changes[path] = FileChange(path, source.text if source.exists else None, text, source)
    return changes, failed


def _dry_run(root: Path, fixes: list[Fix]) -> str | None:
    _, failed = _compute(root, fixes)
    if failed:
        path, reason = next(iter(failed.items()))
        return f"{path}: {reason}"
    return None


def apply_fixes(root: Path, fixes: list[Fix], write: bool) -> tuple[list[Fix], list[FileChange], list[tuple[str, str]]]:
    """Apply `fixes` together; a fix that touches a file that fails is dropped with all its edits."""
    from pgforklint.safeio import write_project_files

    active = list(fixes)
    skipped: list[tuple[str, str]] = []
    while True:
        changes, failed = _compute(root, active)
        if not failed:
            break
        skipped.extend(failed.items())
        active = [f for f in active if not (f.paths & set(failed))]
    if write and changes:
        # all files or none, each checked unchanged since it was read (pgforklint.safeio)
        written, problems = write_project_files(root, [
            (change.path, change.source.encode(change.new), change.source.encode(change.old) if change.old is not None else None)
            for change in changes.values()])
        if problems:
            kept = set(written)
            return [], [c for c in changes.values() if c.path in kept], skipped + problems
    return active, list(changes.values()), skipped


def render_diff(changes: list[FileChange], root: Path, cwd: Path | None = None) -> str:
    import difflib

    from pgforklint.report import display_path

    out = []
    for change in sorted(changes, key=lambda c: c.path):
        shown = display_path(root, change.path, cwd)
        old_lines = (change.old or "").splitlines(keepends=True)
        new_lines = change.new.splitlines(keepends=True)
        for lines in (old_lines, new_lines):
            if lines and not lines[-1].endswith(("\n", "\r")):
                lines[-1] += "\n\\ No newline at end of file\n"
        out.extend(difflib.unified_diff(old_lines, new_lines, "/dev/null" if change.old is None else f"a/{shown}",
                                        f"b/{shown}"))
    return "".join(out)


# --- entry points -----------------------------------------------------------------------------


def _selected(planned: list[Planned], unsafe: bool) -> tuple[list[Planned], int]:
    chosen = [p for p in planned if p.fix is not None and (unsafe or p.fix.applicability is Applicability.SAFE)]
    hidden = sum(1 for p in planned if p.fix is not None and p.fix.applicability is Applicability.UNSAFE and not unsafe)
    return chosen, hidden


def _identity(diagnostic: Diagnostic) -> tuple:
    return (diagnostic.code, diagnostic.location.path, diagnostic.key or diagnostic.message)


def fix_lint_result(result, config, *, unsafe: bool = False, write: bool = True, only_files: set[str] | None = None):
    """Fix what a lint run found. Returns (FixReport, the LintResult after the fixes).

    With write=False nothing is written (for --diff): one round, and the result is the input's.
    """
    from pgforklint.analyze import lint_project
    from pgforklint.safeio import remember_analysis

    root = Path(result.root)
    report = FixReport(root=root, written=write)
    first_round = True
    for _ in range(MAX_ROUNDS if write else 1):
        remember_analysis(result.project)  # pgforklint.safeio: files changed since it are not edited
        planned = plan(result.diagnostics, result.model, root, result.project)
        chosen, hidden = _selected(planned, unsafe)
        if first_round:
            report.unsafe_available = hidden
        first_round = False
        if not chosen:
            break
        applied, changes, skipped = apply_fixes(root, [p.fix for p in chosen], write)
        report.skipped.extend(skipped)
        merged = {c.path: c for c in report.changes}
        for change in changes:
            if change.path in merged:
                merged[change.path].new = change.new
            else:
                merged[change.path] = change
        report.changes = list(merged.values())
        applied_ids = {id(f) for f in applied}
        attempted = [p.diagnostic for p in chosen if id(p.fix) in applied_ids]
        if not write:
            report.fixed.extend(attempted)
            break
        result = lint_project(root, config, only_files=only_files)
        still = {_identity(d) for d in result.diagnostics}
        report.fixed.extend(d for d in attempted if _identity(d) not in still)
        if not changes:
            break
    planned = plan(result.diagnostics, result.model, root, result.project)
    if write:
        _, report.unsafe_available = _selected(planned, unsafe)
    result.diagnostics = annotate(result.diagnostics, planned)
    report.remaining = list(result.diagnostics)
    report.refused = [(p.diagnostic, p.reason) for p in planned if p.fix is None and p.reason]
    return report, result


def fix_project(root: Path, unsafe: bool = False, write: bool = True) -> FixReport:
    """Lint the project at `root` with its own configuration and apply the fixes (unsafe ones too with `unsafe`).

    `FixReport.fixed` lists the findings that are gone after the fix, `changes` the files changed or
    created (old and new text), `skipped` the files left untouched and why, `remaining` the findings
    still reported. Running it twice changes nothing the second time.
    """
    from pgforklint.analyze import lint_project
    from pgforklint.config import find_config

    root = Path(root).resolve()
    config = find_config(root)
    result = lint_project(root, config)
    report, _ = fix_lint_result(result, config, unsafe=unsafe, write=write)
    return report
