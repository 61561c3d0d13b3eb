"""The pipeline: discover -> read -> launch -> extract -> model -> rules -> (suppress, select) -> diagnostics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field
from pathlib import Path

from pgforklint import prefilter
from pgforklint.config import Config
from pgforklint.diagnostics import Diagnostic, Location
from pgforklint.discover import discover
from pgforklint.extract import agents, celery, database, deployments, django, gunicorn, multiproc, platform, rq, uwsgi
from pgforklint.extract.ruby import lazy as ruby
from pgforklint.launch import Launch, all_launches, app_json_env, attach_process_type
from pgforklint.model import DeploymentModel
from pgforklint.project import PYTHON_NEEDLES, Project
from pgforklint.readahead import ReadAhead
from pgforklint.records import record
from pgforklint.registry import select_codes
from pgforklint.rules import CHECKS
from pgforklint.safeio import read_regular
from pgforklint.suppress import PerFileIgnores, file_suppressions, is_ours, split_lines, suppression_for

Adapter = Callable[[Project, list[Launch], DeploymentModel], None]


def gunicorn_adapter(project: Project, launches: list[Launch], model: DeploymentModel) -> None:
    env, _ = app_json_env(project)
    for launch, server in gunicorn.gunicorn_servers(project, launches, env):
        model.servers.append(server)
        if launch is not None:
            attach_process_type(model, launch, server)


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
    deployments.adapt,
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
    from pgforklint.launch.coverage import build_coverage

    model.coverage = build_coverage(project, launches, model)
    return model


@record
class LintResult:
    root: Path
    diagnostics: list[Diagnostic] = field(default_factory=list)
    suppressed: int = 0
    files: int = 0
    model: DeploymentModel | None = None
    project: Project | None = None  # the files read, for fixers (pgforklint.fix)
    warnings: list[str] = field(default_factory=list)  # configuration that does not fit the project (stderr)


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
    warnings = []
    if config.scale:
        # A name that is no process type (a typo, a renamed process) would silently count 1 instance; said on
        # stderr by the lint run, an error for `pgforklint budget`, whose numbers it is.
        from pgforklint.budget import unknown_scale_error

        error = unknown_scale_error(model, config.scale, f"{config.path.name if config.path else 'settings'}: "
                                                         "[tool.pgforklint.scale]")
        if error:
            warnings.append(error)
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
    result = LintResult(root=root, files=len(discovery.files), model=model, project=project, warnings=warnings)
    used: dict[tuple[str, int, int], set[str]] = {}
    comment_lines: dict[str, list[str] | None] = {}
    for diagnostic in _dedupe(found):
        if diagnostic.code not in chosen or per_file.ignores(diagnostic):
            continue
        if only_files is not None and not _touches(diagnostic, only_files):
            continue
        path = diagnostic.location.path
        if path not in comment_lines:
            comment_lines[path] = _lines(project, path)
        suppression = suppression_for(diagnostic, comment_lines[path])
        if suppression is not None:
            used.setdefault((path, suppression.line, suppression.column), set()).add(diagnostic.code)
            result.suppressed += 1
            continue
        result.diagnostics.append(diagnostic)
    if "PGF103" in chosen:
        for diagnostic in unused_suppressions(project, found, used, chosen, only_files):
            if not per_file.ignores(diagnostic):
                result.diagnostics.append(diagnostic)
    return result


def _touches(diagnostic: Diagnostic, files: set[str]) -> bool:
    """A finding concerns a file when it is anchored there or one of its related locations is."""
    return diagnostic.location.path in files or any(r.location.path in files for r in diagnostic.related)


def _data(project: Project, rel: str) -> bytes | None:
    from pgforklint.discover import MAX_FILE_BYTES

    source = project.discovery.get(rel)
    if source is None or source.size > MAX_FILE_BYTES:
        return None
    try:
        return read_regular(source.path, MAX_FILE_BYTES)  # the head only: never a whole huge file, never a FIFO
    except OSError:
        return None


def _lines(project: Project, rel: str) -> list[str] | None:
    data = _data(project, rel)
    if data is None:
        return None
    return split_lines(data.decode("utf-8", errors="replace"))


def unused_suppressions(project: Project, found: list[Diagnostic], used: dict, chosen: set[str],
                        only_files: set[str] | None) -> list[Diagnostic]:
    """PGF103 (ruff's RUF100): suppression comments, in the files the analysis read or reported on, that
    silence nothing on their line, or name codes pgforklint does not have."""
    from pgforklint.registry import RULES

    files = {d.location.path for d in found}
    files |= {key[0] for key in list(project._cache) if isinstance(key, tuple) and key and isinstance(key[0], str)}
    out = []
    for rel in sorted(files):
        if only_files is not None and rel not in only_files:
            continue
        data = _data(project, rel)
        if data is None:
            continue
        for comment in file_suppressions(rel, data):
            silenced = used.get((rel, comment.line, comment.column), set())
            unknown = [c for c in comment.codes if is_ours(comment.kind, c) and c not in RULES]
            unused = [c for c in comment.codes if c in RULES and c in chosen and c not in silenced]
            if not unknown and not unused:
                continue
            written = f"`{'# noqa' if comment.kind == 'noqa' else '# pgforklint: ignore'}`"
            parts = []
            if unused:
                parts.append(f"{', '.join(unused)} (no such finding on this line)")
            if unknown:
                parts.append(f"{', '.join(unknown)} (not a pgforklint rule code)")
            title = f"unused suppression in {written}: {'; '.join(parts)}"
            message = (f"{title}. A suppression that silences nothing hides the next real finding on this line "
                       f"and tells readers something false; remove it (`pgforklint --fix` does)")
            location = Location(rel, comment.line, comment.column, comment.line, comment.end_column)
            out.append(Diagnostic("PGF103", location, message,
                                  key=f"{comment.kind}:{','.join(comment.codes)}:{','.join(unused + unknown)}",
                                  title=title, help=f"remove {', '.join(unused + unknown)} from the comment"))
    return out
