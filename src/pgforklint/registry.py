"""The explicit table of rules: code -> metadata. Codes are stable and never reused."""

from __future__ import annotations

from pgforklint.diagnostics import Severity
from pgforklint.records import record


@record(frozen=True)
class RuleInfo:
    code: str
    name: str
    severity: Severity
    summary: str


_RULES = [
    RuleInfo("PGF001", "connection-before-fork", Severity.ERROR,
             "A PostgreSQL connection is opened in a process that later forks workers, and nothing resets it."),
    RuleInfo("PGF002", "no-post-fork-reset", Severity.WARNING,
             "A forking server hands a module-level engine or pool to code that may connect before the fork, and no reset exists."),
    RuleInfo("PGF003", "child-closes-parent-connections", Severity.WARNING,
             "A child-side hook closes inherited connections that the parent or siblings still hold (dispose() without close=False)."),
    RuleInfo("PGF004", "connection-budget-exceeded", Severity.ERROR,
             "The expected peak of connections over all process types exceeds what the server allows."),
    RuleInfo("PGF005", "pool-smaller-than-concurrency", Severity.WARNING,
             "A process's pool capacity is below the threads or greenlets that share it."),
    RuleInfo("PGF006", "pool-larger-than-concurrency", Severity.INFO,
             "A single-threaded forked worker holds a pool that can open more than one connection."),
    RuleInfo("PGF007", "unbounded-connections", Severity.WARNING,
             "The number of connections a process can open cannot be bounded."),
    RuleInfo("PGF008", "hidden-connections-per-process", Severity.INFO,
             "An agent opens extra connections per process (New Relic SQL EXPLAIN)."),
    RuleInfo("PGF009", "fork-hook-never-runs", Severity.ERROR,
             "The reset relies on os.register_at_fork under uWSGI, which does not call it."),
    RuleInfo("PGF010", "django-pool-misconfigured", Severity.ERROR,
             "Django OPTIONS['pool'] with CONN_MAX_AGE != 0, or with psycopg2 only."),
    RuleInfo("PGF011", "worst-case-budget-exceeded", Severity.WARNING,
             "The expected peak fits, but the configured worst case (full pools everywhere) does not."),
    RuleInfo("PGF100", "unreadable-file", Severity.ERROR,
             "A file that matters to the analysis could not be read or parsed."),
    RuleInfo("PGF101", "assumed-value", Severity.INFO,
             "A number came from an environment variable without a value in the repo, or from a built-in default."),
    RuleInfo("PGF102", "unresolved-launch", Severity.WARNING,
             "A launch starts a forking server but the analysis could not follow it to the app's code, or nothing starts one."),
    RuleInfo("PGF103", "unused-suppression", Severity.WARNING,
             "A suppression comment silences no finding on its line, or names a code pgforklint does not have."),
]

RULES: dict[str, RuleInfo] = {rule.code: rule for rule in _RULES}


def select_codes(select: list[str] | None, extend_select: list[str] | None, ignore: list[str] | None) -> set[str]:
    """Ruff's semantics: `select` replaces the default set, `extend-select` adds, `ignore` removes.

    Each entry is a code or a prefix ("PGF0", "PGF", "ALL").
    """

    def expand(selectors: list[str]) -> set[str]:
        out: set[str] = set()
        for selector in selectors:
            selector = selector.strip().upper()
            if selector == "ALL":
                out |= set(RULES)
            else:
                out |= {code for code in RULES if code.startswith(selector)}
        return out

    chosen = expand(select) if select is not None else set(RULES)
    chosen |= expand(extend_select or [])
    chosen -= expand(ignore or [])
    return chosen


def unknown_selectors(selectors: list[str]) -> list[str]:
    return [s for s in selectors if s.strip().upper() != "ALL" and not any(c.startswith(s.strip().upper()) for c in RULES)]
