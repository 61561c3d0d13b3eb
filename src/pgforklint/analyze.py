"""The pipeline: discover -> read -> extract -> model -> rules -> (suppress, select) -> diagnostics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field
from pathlib import Path

from pgforklint import prefilter
from pgforklint.config import Config
from pgforklint.diagnostics import Diagnostic, Location
from pgforklint.discover import discover
from pgforklint.extract import agents, celery, database, django, gunicorn, multiproc, platform, rq, uwsgi
from pgforklint.extract.launch import Launch, all_launches, app_json_env
from pgforklint.extract.ruby import lazy as ruby
from pgforklint.model import DeploymentModel, ProcessType, Quantity
from pgforklint.project import PYTHON_NEEDLES, Project
from pgforklint.readahead import ReadAhead
from pgforklint.records import record
from pgforklint.registry import select_codes
from pgforklint.rules import CHECKS
from pgforklint.suppress import PerFileIgnores, is_suppressed

Adapter = Callable[[Project, list[Launch], DeploymentModel], None]


def gunicorn_adapter(project: Project, launches: list[Launch], model: DeploymentModel) -> None:
    env, _ = app_json_env(project)
    for launch, server in gunicorn.gunicorn_servers(project, launches, env):
        model.servers.append(server)
        if launch is not None:
            attach_process_type(model, launch, server)


def attach_process_type(model: DeploymentModel, launch: Launch, server) -> None:
    """The process type a server runs in; one per launch (a Procfile line, a Compose service ...)."""
    for existing in model.process_types:
        if existing.name == launch.name and existing.location == launch.location:
            existing.server = existing.server or server
            return
    model.process_types.append(ProcessType(
        name=launch.name, command=launch.text, location=launch.location,
        instances=Quantity.default(1, "instance count unknown; counted as 1"),
        server=server, env=dict(launch.env), transient=launch.name == "release",
    ))


# Order matters: servers first, then frameworks that refine them, then platform and database facts.
ADAPTERS: list[Adapter] = [
    gunicorn_adapter,
    uwsgi.adapt,
    celery.adapt,
    rq.adapt,
    multiproc.adapt,
    ruby("unicorn"),
    ruby("puma"),
    ruby("resque"),
    ruby("sidekiq"),
    ruby("solid_queue"),
    ruby("good_job"),
    django.adapt,
    platform.adapt,
    database.adapt,
    agents.adapt,
    ruby("newrelic"),
]


def build_model(project: Project) -> DeploymentModel:
    model = DeploymentModel(root=str(project.root))
    launches = all_launches(project)
    for adapter in ADAPTERS:
        try:
            adapter(project, launches, model)
        except RecursionError:  # input nested deeper than an adapter can follow: PGF100, never a crash
            project.report_too_deep()
    return model


@record
class LintResult:
    root: Path
    diagnostics: list[Diagnostic] = field(default_factory=list)
    suppressed: int = 0
    files: int = 0
    model: DeploymentModel | None = None
    project: Project | None = None  # the files read, for fixers (pgforklint.fix)


def run_rules(model: DeploymentModel) -> list[Diagnostic]:
    found: list[Diagnostic] = list(model.diagnostics)
    for check in CHECKS:
        found.extend(check(model))
    return found


def _dedupe(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple] = set()
    out = []
    for diagnostic in sorted(diagnostics, key=Diagnostic.sort_key):
        key = (diagnostic.code, diagnostic.location.path, diagnostic.location.line, diagnostic.key)
        if key in seen:
            continue
        seen.add(key)
        out.append(diagnostic)
    return out


def lint_project(root: Path, config: Config, only_files: set[str] | None = None) -> LintResult:
    # A run allocates many long-lived objects (syntax trees, walk values) and frees few: with the
    # default thresholds the cyclic collector's passes over them cost 3-4x the parsing itself, so it
    # runs rarely during the run (thresholds restored after).
    import gc

    collecting = gc.isenabled()
    thresholds = gc.get_threshold()
    gc.set_threshold(200_000, 100, 100)
    try:
        return _lint_project(root, config, only_files)
    finally:
        if collecting:
            gc.enable()
        gc.set_threshold(*thresholds)


def _lint_project(root: Path, config: Config, only_files: set[str] | None = None) -> LintResult:
    root = root.resolve()
    base = config.base_dir or root
    excludes = [(base, [*config.exclude, *config.extend_exclude])]
    discovery = discover(root, excludes, config.respect_gitignore)
    project = Project(root, discovery, config)
    for rel, reason in discovery.problems:
        project.report_unreadable(rel, reason)
    project.readahead = ReadAhead.start(discovery, PYTHON_NEEDLES)
    try:
        model = build_model(project)
        prefilter.finish(project)
    finally:
        if project.readahead is not None:
            project.readahead.close()
    found = run_rules(model)
    found.extend(project.unreadable.values())
    found.extend(project.notices)
    chosen = select_codes(config.select, config.extend_select, config.ignore)
    base_prefix = root_prefix = ""
    try:
        base_prefix = base.resolve().relative_to(root).as_posix()
    except ValueError:
        try:
            root_prefix = root.relative_to(base.resolve()).as_posix()
        except ValueError:
            pass
    per_file = PerFileIgnores(config.per_file_ignores, "" if base_prefix == "." else base_prefix,
                              "" if root_prefix == "." else root_prefix)
    result = LintResult(root=root, files=len(discovery.files), model=model, project=project)
    for diagnostic in _dedupe(found):
        if diagnostic.code not in chosen or per_file.ignores(diagnostic):
            continue
        if only_files is not None and diagnostic.location.path not in only_files:
            continue
        if is_suppressed(diagnostic, _lines(project, diagnostic.location)):
            result.suppressed += 1
            continue
        result.diagnostics.append(diagnostic)
    return result


def _lines(project: Project, location: Location) -> list[str] | None:
    source = project.discovery.get(location.path)
    if source is None:
        return None
    try:
        data = source.path.read_bytes()[:4 * 1024 * 1024]
    except OSError:
        return None
    return data.decode("utf-8", errors="replace").splitlines()
