"""Budget rules (stub: PGF004-PGF008, PGF011, PGF101 are filled in by the connection-budget work)."""

from __future__ import annotations

CHECKS: list = []
