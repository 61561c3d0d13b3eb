"""The README's promise: the example output it shows is what `pgforklint examples/shop` prints."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from pgforklint.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_readme_example_output_is_current(monkeypatch) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```text\n\$ pgforklint examples/shop\n(.*?)```", readme, re.DOTALL)
    assert match, "README has no example output block"
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("PGFORKLINT_FORMAT", raising=False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["examples/shop", "--no-cache"])
    assert code == 1
    assert out.getvalue() == match.group(1), "update the README's example output"


def test_readme_rails_example_output_is_current(monkeypatch) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```text\n\$ pgforklint examples/rails_shop\n(.*?)```", readme, re.DOTALL)
    assert match, "README has no Rails example output block"
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("PGFORKLINT_FORMAT", raising=False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["examples/rails_shop", "--no-cache"])
    assert code == 1
    assert out.getvalue() == match.group(1), "update the README's Rails example output"
