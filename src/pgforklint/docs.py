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


def _paragraphs(text: str) -> list[str]:
    out = []
    for block in re.split(r"\n\s*\n", text):
        joined = " ".join(line.strip() for line in block.strip().splitlines())
        if joined and not joined.startswith(("#", "|", "```", "-", "*", ">")) and not joined.startswith("Severity:"):
            out.append(joined)
    return out


def description(code: str, fallback: str) -> str:
    """What the rule finds (for SARIF fullDescription): the first paragraph of the page's "What it does"
    section, else its first prose paragraph, else `fallback`."""
    doc = rule_doc(code)
    if not doc:
        return fallback
    section = re.search(r"^## What it does\s*\n(.*?)(?=^## |\Z)", doc, re.MULTILINE | re.DOTALL)
    for text in (section.group(1) if section else "", doc):
        paragraphs = _paragraphs(text)
        if paragraphs:
            return paragraphs[0]
    return fallback


def help_text(markdown: str) -> str:
    """A rule page as plain text (SARIF `help.text`): no emphasis, links written as `text (url)`."""
    text = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r"\1 (\2)", markdown)
    text = re.sub(r"\*\*([^*]+)\*\*", r"\1", text)
    return re.sub(r"^#+ ", "", text, flags=re.MULTILINE)


def help_uri(code: str) -> str:
    return DOCS_URL.format(code=code)
