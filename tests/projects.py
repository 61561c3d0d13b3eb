"""Small projects written into a temporary folder, for the launch tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

from pgforklint.config import Config, find_config
from pgforklint.discover import discover
from pgforklint.project import Project


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def project(root: Path, config: Config | None = None) -> Project:
    return Project(root.resolve(), discover(root.resolve()), config or find_config(root))
