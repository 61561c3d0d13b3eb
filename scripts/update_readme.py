#!/usr/bin/env python3
"""Rewrite the README's example outputs (every ```text block that starts with `$ pgforklint ...`) with what
that command prints now; `tests/test_readme.py` checks they are current.

    python scripts/update_readme.py
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from pgforklint.cli import main  # noqa: E402


def output(command: str) -> str:
    os.chdir(ROOT)
    os.environ["NO_COLOR"] = "1"
    for name in ("GITHUB_ACTIONS", "PGFORKLINT_FORMAT"):
        os.environ.pop(name, None)
    argv = shlex.split(command)[1:]
    if argv and argv[0] != "budget":
        argv.append("--no-cache")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(argv)
    return out.getvalue()


def rewrite(readme: str) -> str:
    pattern = re.compile(r"(```text\n\$ (pgforklint [^\n]*)\n)(.*?)(```)", re.DOTALL)
    return pattern.sub(lambda m: m.group(1) + output(m.group(2)) + m.group(4), readme)


if __name__ == "__main__":
    path = ROOT / "README.md"
    path.write_text(rewrite(path.read_text(encoding="utf-8")), encoding="utf-8")
