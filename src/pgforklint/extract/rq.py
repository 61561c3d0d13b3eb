"""rq adapter (stub: filled in by the fork-safety II work)."""

from __future__ import annotations

from pgforklint.extract.launch import Launch
from pgforklint.model import DeploymentModel
from pgforklint.project import Project


def adapt(project: Project, launches: list[Launch], model: DeploymentModel) -> None:
    return None
