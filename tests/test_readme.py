"""The README's promise: the example output it shows is what `pgforklint examples/shop` prints."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from pgforklint.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _output(monkeypatch, *argv: str) -> tuple[int, str]:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("PGFORKLINT_FORMAT", raising=False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


def _shown(command: str) -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```text\n\$ " + re.escape(command) + r"\n(.*?)```", readme, re.DOTALL)
    assert match, f"README shows no output of `{command}`"
    return match.group(1)


def test_readme_example_output_is_current(monkeypatch) -> None:
    code, out = _output(monkeypatch, "examples/shop", "--no-cache")
    assert code == 1
    assert out == _shown("pgforklint examples/shop"), "update the README's example output"


def test_readme_rails_example_output_is_current(monkeypatch) -> None:
    code, out = _output(monkeypatch, "examples/rails_shop", "--no-cache")
    assert code == 1
    assert out == _shown("pgforklint examples/rails_shop"), "update the README's Rails example output"


def test_readme_rails_budget_output_is_current(monkeypatch) -> None:
    _, out = _output(monkeypatch, "budget", "examples/rails_shop")
    assert out == _shown("pgforklint budget examples/rails_shop"), "update the README's Rails budget output"
