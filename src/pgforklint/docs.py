"""Rule documentation pages (`rules/CODE.md`), shipped inside the wheel as `pgforklint/docs/`."""

from __future__ import annotations

from pathlib import Path

DOCS_URL = "https://github.com/pgforklint/pgforklint/blob/main/rules/{code}.md"


def _candidates(code: str) -> list[Path]:
    here = Path(__file__).resolve().parent
    return [here / "docs" / f"{code}.md", here.parent.parent / "rules" / f"{code}.md"]


def rule_doc(code: str) -> str | None:
    for path in _candidates(code):
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return None


def help_uri(code: str) -> str:
    return DOCS_URL.format(code=code)
