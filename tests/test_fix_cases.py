"""`pgforklint --fix` on whole projects: `tests/fix_cases/NAME/before/` fixed must equal `NAME/after/` byte for byte.

Cases named `unsafe_*` run with unsafe fixes enabled. For every case: the second run changes
nothing (idempotence), and the fixed project no longer has a finding of the codes that were fixed
(`PGF001`-`PGF003` all gone unless the case is named `*_no_fix`).
Set PGFORKLINT_UPDATE_FIX_CASES=1 to rewrite the `after/` folders (then review the diff).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pgforklint.analyze import lint_project
from pgforklint.config import find_config
from pgforklint.fix import fix_project

CASES = Path(__file__).parent / "fix_cases"
FORK_CODES = {"PGF001", "PGF002", "PGF003"}


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


def case_dirs() -> list[Path]:
    return sorted(p for p in CASES.iterdir() if (p / "before").is_dir())


@pytest.mark.parametrize("case", case_dirs(), ids=lambda p: p.name)
def test_fix_case(case: Path, tmp_path: Path) -> None:
    work = tmp_path / case.name
    shutil.copytree(case / "before", work)
    unsafe = case.name.startswith("unsafe_")
    before = lint_project(work, find_config(work))
    report = fix_project(work, unsafe=unsafe)
    if os.environ.get("PGFORKLINT_UPDATE_FIX_CASES"):
        shutil.rmtree(case / "after", ignore_errors=True)
        shutil.copytree(work, case / "after")
    expected = tree(case / "after")
    actual = tree(work)
    for rel in sorted(set(expected) | set(actual)):
        assert actual.get(rel) == expected.get(rel), f"{case.name}: {rel} differs after --fix"

    # The fixed project passes the rules it fixed.
    after = lint_project(work, find_config(work))
    remaining = {d.code for d in after.diagnostics}
    assert not (set(report.counts) & remaining)
    if case.name.endswith("_no_fix"):
        assert not report.changes and not report.fixed
        assert {d.code for d in before.diagnostics} & FORK_CODES
        assert all(d.fix_hint and "no automatic fix" in d.fix_hint for d in report.remaining if d.code in FORK_CODES)
    else:
        assert report.fixed, "the case should fix something"
        assert not (remaining & FORK_CODES), [f"{d.code} {d.location}" for d in after.diagnostics]
        assert {d.code for d in report.fixed} == {d.code for d in before.diagnostics if d.code in FORK_CODES}

    # Idempotence: a second run changes nothing.
    again = fix_project(work, unsafe=unsafe)
    assert not again.changes and not again.fixed
    assert tree(work) == actual
