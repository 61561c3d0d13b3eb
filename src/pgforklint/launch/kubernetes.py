"""Kubernetes Deployments, StatefulSets, ReplicaSets and DaemonSets: one launch per container.

A container's `command` replaces the image's ENTRYPOINT and `args` its CMD; `workingDir` is where it
starts. When the repository builds exactly one image (one Dockerfile), that image is taken as the
container's, so its CMD, WORKDIR and files apply.
"""

from __future__ import annotations

from pgforklint.diagnostics import Location
from pgforklint.discover import FileKind
from pgforklint.launch.base import Launch, parse_launch_commands, shell_quote
from pgforklint.read.structured import LineDict

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pgforklint.project import Project

K8S_WORKLOADS = ("Deployment", "StatefulSet", "ReplicaSet", "DaemonSet")


def _k8s_env(container: LineDict, rel: str) -> tuple[dict[str, str], dict[str, Location]]:
    env: dict[str, str] = {}
    where: dict[str, Location] = {}
    items = container.get("env")
    if not isinstance(items, list):
        return env, where
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("name"), str) and "value" in item and item["value"] is not None:
            value = item["value"]
            env[item["name"]] = str(value).lower() if isinstance(value, bool) else str(value)
            where[item["name"]] = Location(rel, item.line_of("value") or 1) if isinstance(item, LineDict) else Location(rel, 1)
    return env, where


def helm_chart_of(project: Project, rel: str) -> str | None:
    """The chart folder when `rel` is a Helm template (`<chart>/templates/...` next to `<chart>/Chart.yaml`)."""
    parts = rel.split("/")
    for index in range(len(parts) - 1, 0, -1):
        if parts[index] == "templates":
            chart = "/".join(parts[:index])
            if project.exists(f"{chart}/Chart.yaml" if chart else "Chart.yaml"):
                return chart or "."
    return None


VENDORED_CHART_FOLDERS = frozenset({"thirdparty", "third_party", "third-party", "vendor", "vendored", "external"})


def _vendored(chart: str, charts: dict[str, str]) -> bool:
    """A chart kept for another project's software (`deploy/thirdparty/ingress-nginx`), or a subchart that Helm
    unpacked into its parent's `charts/` folder: it deploys no process of this repository."""
    parts = chart.split("/")
    if VENDORED_CHART_FOLDERS & {part.lower() for part in parts[:-1]}:
        return True
    return any(parts[i] == "charts" and "/".join(parts[:i] or ["."]) in charts for i in range(len(parts) - 1))


def _report_unrendered_charts(project: Project, charts: dict[str, str]) -> None:
    from pgforklint.diagnostics import Diagnostic

    for chart, first in sorted(charts.items()):
        if _vendored(chart, charts):
            continue
        chart_file = f"{chart}/Chart.yaml" if chart != "." else "Chart.yaml"
        project.notices.append(Diagnostic(
            "PGF101", Location(chart_file, 1),
            f"Helm chart `{chart}`: its templates (e.g. `{first}`) are not analysed, because they are not YAML "
            "until Helm renders them; the replicas and commands they set are not in the budget. Render the chart "
            "(`helm template ... > rendered.yaml`) inside the tree, or pin instances with `[tool.pgforklint.scale]`",
            key=f"helm:{chart}", title=f"Helm chart `{chart}`: its templates are not analysed (not YAML until rendered)",
            help="render the chart (`helm template ... > rendered.yaml`) inside the tree, or pin instances with "
                 "`[tool.pgforklint.scale]`"))


def kubernetes_launches(project: Project) -> list[Launch]:
    """One launch per container of each Deployment/StatefulSet that has a `command` or `args`.

    Helm templates are not read (they are Go templates, not YAML): one PGF101 per chart says so.
    """
    launches: list[Launch] = []
    charts: dict[str, str] = {}
    for source in project.files(FileKind.YAML):
        chart = helm_chart_of(project, source.rel)
        if chart is not None:
            charts.setdefault(chart, source.rel)
            continue
        if not (project.contains(source.rel, b"kind:") and project.contains(source.rel, b"containers")):
            continue
        documents = project.yaml_documents(source.rel) or []
        for document in documents:
            if not isinstance(document, LineDict) or document.get("kind") not in K8S_WORKLOADS:
                continue
            metadata = document.get("metadata") if isinstance(document.get("metadata"), dict) else {}
            workload = str(metadata.get("name") or source.rel)
            spec = document.get("spec")
            if not isinstance(spec, LineDict):
                continue
            template = spec.get("template")
            pod = template.get("spec") if isinstance(template, dict) else None
            containers = pod.get("containers") if isinstance(pod, dict) else None
            if not isinstance(containers, list):
                continue
            replicas = spec.get("replicas")
            replicas_info = None
            if isinstance(replicas, int) and not isinstance(replicas, bool):
                replicas_info = (replicas, Location(source.rel, spec.line_of("replicas") or 1))
            named = [c for c in containers if isinstance(c, LineDict)]
            for container in named:
                words: list[str] = []
                line = None
                for key in ("command", "args"):
                    value = container.get(key)
                    if value is None:
                        continue
                    line = line or container.line_of(key)
                    if isinstance(value, list):
                        words.extend(str(v) for v in value)
                    else:
                        words.append(str(value))
                if not words:
                    continue
                env, env_where = _k8s_env(container, source.rel)
                if len(words) >= 3 and words[0].rsplit("/", 1)[-1] in ("sh", "bash") and words[1] in ("-c", "-ec", "-xc"):
                    text_line = words[2]
                else:
                    text_line = " ".join(shell_quote(w) for w in words)
                name = workload if len(named) == 1 else f"{workload}/{container.get('name') or named.index(container)}"
                location = Location(source.rel, line or container.line or 1)
                launch = Launch(name, "kubernetes", text_line, location, [], env, env_where,
                                extra={"kind": document.get("kind"), "replicas": replicas_info,
                                       "workload_line": document.line})
                _place(project, launch, container.get("workingDir"))
                launch.commands = parse_launch_commands(project, source.rel, location.line, text_line, launch.env)
                launches.append(launch)
    _report_unrendered_charts(project, charts)
    return launches




def sole_image(project: Project):
    """The image of the repository's only Dockerfile, if it has exactly one."""
    from pgforklint.launch.dockerfile import read_image

    dockerfiles = project.files(FileKind.DOCKERFILE)
    return read_image(project, dockerfiles[0].rel) if len(dockerfiles) == 1 else None


def _place(project: Project, launch: Launch, working_dir: object) -> None:
    from pgforklint.launch.paths import ContainerPaths

    image = sole_image(project)
    if image is None:
        return
    launch.paths = ContainerPaths(image.paths.origin, image.paths.context, image.paths.workdir, list(image.paths.copies),
                                  dict(image.paths.env))
    launch.env = {**image.paths.env, **launch.env}
    if isinstance(working_dir, str):
        launch.extra["container_cwd"] = launch.paths.container_path(working_dir)
    repo = launch.paths.to_repo(launch.extra.get("container_cwd") or launch.paths.workdir)
    launch.workdir = repo if repo is not None else launch.paths.context
