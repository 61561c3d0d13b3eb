"""Rules: pure functions of the deployment model that yield diagnostics. No rule reads files."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from pgforklint.diagnostics import Diagnostic
from pgforklint.model import DeploymentModel
from pgforklint.rules import budget, fork, launch

Check = Callable[[DeploymentModel], Iterator[Diagnostic]]

CHECKS: list[Check] = [
    fork.connection_before_fork,
    fork.no_post_fork_reset,
    fork.child_closes_parent_connections,
    fork.fork_hook_never_runs,
    fork.django_pool_misconfigured,
    *budget.CHECKS,
    launch.unresolved_launch,
]
