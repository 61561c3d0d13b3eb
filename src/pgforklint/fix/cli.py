"""What `pgforklint.cli` calls for the `--fix`, `--diff` and `--unsafe-fixes` flags (declared in
`pgforklint.cli`, so that parsing the command line does not import the fixers).

- every lint run marks the findings that have a fix (`Diagnostic.fix`), so reporters can show it;
- `--fix` applies the safe fixes (and the unsafe ones with `--unsafe-fixes`), then reports the
  findings that remain;
- `--diff` prints a unified diff of what `--fix` would change and writes nothing: exit 1 when it
  would change something, 0 otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pgforklint.fix import FixReport


def process(args, result, config, path: Path, only_files: set[str] | None = None):
    """Annotate a lint result with fixes; with --fix/--diff, fix. Returns (result, FixReport | None)."""
    from pgforklint.fix import FIXABLE_CODES, annotate, fix_lint_result, plan

    wants_fix = getattr(args, "fix", False) or getattr(args, "diff", False)
    if result.model is None:
        return result, None
    if not wants_fix:
        if any(d.code in FIXABLE_CODES for d in result.diagnostics):
            planned = plan(result.diagnostics, result.model, result.root, result.project, dry_run=False)
            result.diagnostics = annotate(result.diagnostics, planned)
        return result, None
    if only_files is None and not path.is_dir():
        only_files = {path.resolve().relative_to(Path(result.root)).as_posix()}
    report, result = fix_lint_result(result, config, unsafe=getattr(args, "unsafe_fixes", False),
                                     write=not getattr(args, "diff", False), only_files=only_files)
    return result, report


def finish_diff(reports: list[FixReport | None], out=None) -> int:
    from pgforklint.fix import render_diff

    out = out or sys.stdout
    changed = False
    for report in reports:
        if report is None:
            continue
        text = render_diff(report.changes, report.root)
        if text:
            changed = True
            out.write(text)
    err = sys.stderr
    total = [r for r in reports if r is not None]
    fixed = sum(len(r.fixed) for r in total)
    hidden = sum(r.unsafe_available for r in total)
    if fixed:
        err.write(f"Would fix {fixed} problem{'s' if fixed != 1 else ''}.\n")
    elif not changed:
        err.write("No fixes available.\n")
    if hidden:
        err.write(f"{hidden} more fix{'es' if hidden != 1 else ''} available with --unsafe-fixes.\n")
    for report in total:
        err.write(report.refusals())
    return 1 if changed else 0


def summaries(reports: list[FixReport | None]) -> str:
    """One summary for all the paths: `Fixed 2 problems (PGF001 x1, PGF003 x1).`"""
    from collections import Counter

    present = [r for r in reports if r is not None]
    if not present:
        return ""
    from pgforklint.fix import FixReport

    combined = FixReport(root=present[0].root, written=True)
    for report in present:
        combined.fixed.extend(report.fixed)
        combined.skipped.extend(report.skipped)
        combined.unsafe_available += report.unsafe_available
        combined.refused.extend(report.refused)
    assert isinstance(combined.counts, Counter)
    return combined.summary()
