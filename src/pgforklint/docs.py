"""Rule documentation pages (`rules/CODE.md`), shipped inside the wheel as `pgforklint/docs/`
(hatch `force-include`), and read from the source checkout in an editable install."""

from __future__ import annotations

import re
from pathlib import Path

DOCS_URL = "https://github.com/pgforklint/pgforklint/blob/main/rules/{code}.md"
_CODE = re.compile(r"^[A-Z]{3}\d{3}$")


def _candidates(code: str) -> list[Path]:
    here = Path(__file__).resolve().parent
    return [here / "docs" / f"{code}.md", here.parent.parent / "rules" / f"{code}.md"]


def rule_doc(code: str) -> str | None:
    if not _CODE.match(code):
        return None
    for path in _candidates(code):
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
    return None


def description(code: str, fallback: str) -> str:
    """The first prose paragraph of the rule's page (for SARIF fullDescription), else `fallback`."""
    doc = rule_doc(code)
    if not doc:
        return fallback
    for block in re.split(r"\n\s*\n", doc):
        text = " ".join(line.strip() for line in block.strip().splitlines())
        if text and not text.startswith(("#", "|", "```", "-", "*", ">")):
            return text
    return fallback


def help_uri(code: str) -> str:
    return DOCS_URL.format(code=code)
