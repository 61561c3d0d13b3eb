"""Platform adapter: how many instances of each process type run, and what the platform sets.

Sources, in order (the first that knows wins):

1. `[tool.pgforklint.scale]` (or `pgforklint budget --scale web=6`): CONFIG origin;
2. the repository: Heroku `app.json` `formation.<type>.quantity`, Compose `deploy.replicas` / `scale`,
   Kubernetes `spec.replicas` of Deployments and StatefulSets, Render/Cloud Foundry instances, the hosts of a
   Kamal role (`pgforklint.launch.kamal`);
3. otherwise the count is unknown and counted as 1 (DEFAULT origin, reported by PGF101 with how to pin it).

On Heroku (the repo has an `app.json` or `heroku.yml`) the Python buildpack sets `WEB_CONCURRENCY` by dyno
size when the app does not set it, so a worker count that falls back to `$WEB_CONCURRENCY` takes the
buildpack's value (PLATFORM origin), not the `${WEB_CONCURRENCY:-N}` default written in the Procfile.
[src: heroku/heroku-buildpack-python vendor/WEB_CONCURRENCY.sh]

Kubernetes Deployments/StatefulSets are turned into launches by `pgforklint.launch.kubernetes`.
"""

from __future__ import annotations

import re

from pgforklint.diagnostics import Location
from pgforklint.discover import FileKind
from pgforklint.launch import Launch
from pgforklint.launch.kubernetes import K8S_WORKLOADS, helm_chart_of  # noqa: F401 - re-exported
from pgforklint.model import DeploymentModel, Origin, OriginKind, ProcessType, Quantity
from pgforklint.project import Project
from pgforklint.read.structured import LineDict
from pgforklint.safeio import parse_count

# WEB_CONCURRENCY the Heroku Python buildpack sets by dyno size (min(cores*2+1, RAM_MB/256)), since v244.
# [src: heroku/heroku-buildpack-python@b4e7e72 vendor/WEB_CONCURRENCY.sh]
HEROKU_WEB_CONCURRENCY = {
    "eco": 2, "basic": 2, "standard-1x": 2, "free": 2, "hobby": 2,
    "standard-2x": 4, "private-s": 4, "shield-s": 4,
    "performance-m": 5, "private-m": 5, "shield-m": 5,
    "performance-l": 17, "private-l": 17, "shield-l": 17,
    "performance-l-ram": 9, "private-l-ram": 9, "shield-l-ram": 9,
    "performance-xl": 17, "private-xl": 17, "shield-xl": 17,
    "performance-2xl": 33, "private-2xl": 33, "shield-2xl": 33,
}
HEROKU_DEFAULT_SIZE = "standard-1x"


# --- instances ---------------------------------------------------------------------------------------


def _json_line(text: str, *keys: str) -> int:
    """The line of the last key of a path of JSON object keys, found in order (app.json has no line info)."""
    position = 0
    for key in keys:
        match = re.compile(r'"' + re.escape(key) + r'"\s*:').search(text, position)
        if match is None:
            return text[:position].count("\n") + 1 if position else 1
        position = match.start()
    return text[:position].count("\n") + 1


def app_json(project: Project, folder: str = "") -> tuple[str, dict, str] | None:
    """The `app.json` of the Heroku app whose root is `folder`: the repository root, or the folder of a Procfile
    (a monorepo deploys each app from its own folder). An `app.json` elsewhere describes no app that runs here."""
    wanted = f"{folder}/app.json" if folder else "app.json"
    for source in project.files(FileKind.APP_JSON):
        if source.rel != wanted:
            continue
        data = project.json(source.rel)
        text = project.text(source.rel) or ""
        if isinstance(data, dict):
            return source.rel, data, text
    return None


def _app_folders(project: Project) -> list[str]:
    """Folders holding both an `app.json` and a Procfile: each is a Heroku app's root."""
    folders = []
    for source in project.files(FileKind.APP_JSON):
        folder = source.rel.rpartition("/")[0]
        if folder and project.exists(f"{folder}/Procfile"):
            folders.append(folder)
    return folders


def is_heroku(project: Project) -> bool:
    return app_json(project) is not None or project.exists("heroku.yml") or bool(_app_folders(project))


def _app_folder(project: Project, launch: Launch | None) -> str:
    """The Heroku app root a Procfile launch belongs to: its own folder when an `app.json` sits there."""
    if launch is None or launch.source != "procfile":
        return ""
    folder = launch.location.path.rpartition("/")[0]
    return folder if folder and app_json(project, folder) is not None else ""


def _formation(project: Project, folder: str = "") -> dict[str, tuple[int | None, str | None, Location, Location]]:
    """Process type -> (quantity, size, location of quantity, location of size) from the app.json of `folder`."""
    found = app_json(project, folder)
    if found is None:
        return {}
    rel, data, text = found
    formation = data.get("formation")
    out = {}
    if isinstance(formation, dict):
        for name, entry in formation.items():
            if not isinstance(entry, dict):
                continue
            quantity = entry.get("quantity")
            size = entry.get("size")
            quantity_value = quantity if isinstance(quantity, int) and not isinstance(quantity, bool) else None
            out[str(name)] = (quantity_value, str(size).lower() if isinstance(size, str) else None,
                              Location(rel, _json_line(text, "formation", str(name), "quantity")),
                              Location(rel, _json_line(text, "formation", str(name), "size")))
    return out


def _compose_replicas(service: object, rel: str) -> Quantity | None:
    if not isinstance(service, LineDict):
        return None
    written = getattr(service, "where", {})  # a merged service: the file each key comes from
    deploy = service.get("deploy")
    if isinstance(deploy, LineDict) and "replicas" in deploy:
        merged = getattr(deploy, "where", {}).get("replicas")  # a `deploy` merged from several files
        place = merged.path if merged is not None else (written["deploy"].path if "deploy" in written else rel)
        return _int_quantity(deploy.get("replicas"), Location(place, deploy.line_of("replicas") or 1), "Compose deploy.replicas")
    if "scale" in service:
        place = written["scale"].path if "scale" in written else rel
        return _int_quantity(service.get("scale"), Location(place, service.line_of("scale") or 1), "Compose scale")
    return None


def _int_quantity(value: object, location: Location, detail: str) -> Quantity | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Quantity(value, Origin(OriginKind.FILE, location, detail))
    if isinstance(value, str):
        match = re.fullmatch(r"\s*\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([0-9]+))?\}\s*", value)
        if match:
            if match.group(2) is not None:
                return Quantity(parse_count(match.group(2)), Origin(OriginKind.ENV_DEFAULT, location,
                                                            f"{detail}: ${match.group(1)} not set in the repo; its default is used"),
                                env_var=match.group(1))
            return Quantity(None, Origin(OriginKind.ENV_UNSET, location, f"{detail}: ${match.group(1)} has no value in the repo"),
                            symbolic=value.strip(), env_var=match.group(1))
        if parse_count(value) is not None:
            return Quantity(parse_count(value), Origin(OriginKind.FILE, location, detail))
    return None


def _instances(project: Project, process_type: ProcessType, launch: Launch | None,
               formation: dict) -> Quantity | None:
    scale = project.config.scale
    if process_type.name in scale:
        where = project.config.path
        return Quantity(scale[process_type.name], Origin(OriginKind.CONFIG, None,
                                                          f"[tool.pgforklint.scale] {process_type.name}"
                                                          + (f" in {where.name}" if where else "")))
    if launch is None:
        return None
    if launch.source == "procfile" and process_type.name in formation:
        quantity, _, where, _ = formation[process_type.name]
        if quantity is not None:
            return Quantity(quantity, Origin(OriginKind.FILE, where, "app.json formation quantity"))
    if launch.source == "compose":
        return _compose_replicas(launch.extra.get("service"), launch.location.path)
    if launch.source in ("render", "fly", "cloudfoundry", "kamal"):
        value, where, detail = launch.extra["instances"]
        if value is None:
            return Quantity(1, Origin(OriginKind.PLATFORM, where, detail))
        kind = OriginKind.DEFAULT if "default" in detail and launch.source != "kamal" else OriginKind.FILE
        return Quantity(value, Origin(kind, where, detail))
    if launch.source == "kubernetes":
        replicas = launch.extra.get("replicas")
        if replicas is not None:
            return Quantity(replicas[0], Origin(OriginKind.FILE, replicas[1], f"{launch.extra.get('kind')} spec.replicas"))
        if launch.extra.get("kind") in ("Deployment", "StatefulSet", "ReplicaSet"):
            return Quantity(1, Origin(OriginKind.DEFAULT, Location(launch.location.path, launch.extra.get("workload_line") or 1),
                                      "Kubernetes default spec.replicas = 1 (an autoscaler may run more)"))
    return None


def _find_launch(process_type: ProcessType, launches: list[Launch]) -> Launch | None:
    for launch in launches:
        if launch.name == process_type.name and launch.location == process_type.location:
            return launch
    return None


def _heroku_web_concurrency(process_type: ProcessType, formation: dict, app_env: set[str]) -> None:
    server = process_type.server
    # Heroku's Ruby buildpack does not set WEB_CONCURRENCY (reference/ruby.md §2.8).
    if server is None or server.settings.get("language") == "ruby" or "WEB_CONCURRENCY" in app_env or "WEB_CONCURRENCY" in process_type.env:
        return
    processes = server.processes
    if processes.env_var != "WEB_CONCURRENCY" or processes.origin.kind not in (
            OriginKind.DEFAULT, OriginKind.ENV_DEFAULT, OriginKind.ENV_UNSET):
        return
    size = formation.get(process_type.name, (None, None, None, None))[1]
    if size in HEROKU_WEB_CONCURRENCY:
        value = HEROKU_WEB_CONCURRENCY[size]
        detail = f"$WEB_CONCURRENCY set by Heroku's Python buildpack for {size} dynos"
        where = formation[process_type.name][3]
    else:
        value = HEROKU_WEB_CONCURRENCY[HEROKU_DEFAULT_SIZE]
        detail = (f"$WEB_CONCURRENCY set by Heroku's Python buildpack; dyno size unknown, {HEROKU_DEFAULT_SIZE} assumed "
                  f"(2 on Eco/Basic/Standard-1X, 4 on Standard-2X, 5 on Performance-M, 17 on Performance-L)")
        where = processes.origin.location or process_type.location
    server.processes = Quantity(value, Origin(OriginKind.PLATFORM, where, detail), env_var="WEB_CONCURRENCY")


def _app_env(project: Project, folder: str) -> set[str]:
    found = app_json(project, folder)
    return set(found[1]["env"]) if found and isinstance(found[1].get("env"), dict) else set()


def adapt(project: Project, launches: list[Launch], model: DeploymentModel) -> None:
    heroku = is_heroku(project)
    formations: dict[str, dict] = {}
    autoscalers = None
    for process_type in model.process_types:
        launch = _find_launch(process_type, launches)
        folder = _app_folder(project, launch)
        if folder not in formations:
            formations[folder] = _formation(project, folder)
        formation = formations[folder]
        if launch is not None and process_type.name not in project.config.scale:
            if launch.source == "render" and "max_instances" in launch.extra:
                value, where, detail = launch.extra["max_instances"]
                process_type.max_instances = Quantity(value, Origin(OriginKind.FILE, where, detail))
            elif launch.source == "kubernetes":
                from pgforklint.launch.paas import autoscaler_maxima

                autoscalers = autoscaler_maxima(project) if autoscalers is None else autoscalers
                workload = process_type.name.split("/", 1)[0]
                if workload in autoscalers:
                    value, where = autoscalers[workload]
                    process_type.max_instances = Quantity(value, Origin(OriginKind.FILE, where,
                                                                        "HorizontalPodAutoscaler maxReplicas"))
        quantity = _instances(project, process_type, launch, formation)
        if quantity is not None:
            process_type.instances = quantity
        elif process_type.instances.origin.kind is OriginKind.DEFAULT and process_type.instances.origin.location is None:
            process_type.instances = Quantity(1, Origin(OriginKind.DEFAULT, process_type.location,
                                                        "instance count not in the repository; counted as 1"))
        if heroku and launch is not None and launch.source == "procfile":
            _heroku_web_concurrency(process_type, formation, _app_env(project, folder))
    model.facts["heroku"] = heroku
    model.facts["platform_formation"] = {name: {"quantity": q, "size": s}
                                         for formation in formations.values()
                                         for name, (q, s, _, _) in formation.items()}


__all__ = ["adapt", "is_heroku", "app_json", "HEROKU_WEB_CONCURRENCY"]
