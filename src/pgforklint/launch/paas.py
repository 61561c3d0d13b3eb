"""Platforms that name both the command and the instance count of each process: Render, Fly.io, Cloud Foundry;
and Kubernetes autoscalers, whose `maxReplicas` is the worst case of a workload.

- Render Blueprint `render.yaml` [docs: https://render.com/docs/blueprint-spec]: `services[]` with `name`, `type`
  (web, worker, pserv, cron), `startCommand` (or `dockerCommand`), `numInstances` (default 1), and
  `scaling: {minInstances, maxInstances}` for autoscaling (the maximum is the worst case).
- Fly.io `fly.toml` [docs: https://fly.io/docs/apps/processes, https://fly.io/docs/apps/scale-count]: `[processes]`
  names each process group's command. The number of Machines is not in `fly.toml` (`fly scale count` sets it), so
  the instance count is an assumption said out loud; `min_machines_running` is only a lower bound.
- Cloud Foundry `manifest.yml` [docs: https://docs.cloudfoundry.org/devguide/deploy-apps/manifest-attributes.html]:
  `applications[]` with `name`, `command`, `instances` (default 1), and `processes[]` with `type`, `command`,
  `instances`.
- Kubernetes `HorizontalPodAutoscaler` [docs: https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/]:
  `spec.scaleTargetRef.name` and `spec.maxReplicas`.

Each launch carries `extra["instances"]` / `extra["max_instances"]`: (value or None, location, detail).
"""

from __future__ import annotations

import posixpath
import re

from pgforklint.diagnostics import Location
from pgforklint.discover import FileKind
from pgforklint.launch.base import Launch, parse_launch_commands
from pgforklint.launch.paths import _norm_rel, folder_exists
from pgforklint.project import Project
from pgforklint.read.structured import LineDict

RENDER_RUNNING_TYPES = ("web", "worker", "pserv")


def _count(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _line(mapping: object, key: str) -> int:
    return (mapping.line_of(key) if isinstance(mapping, LineDict) else None) or getattr(mapping, "line", 1) or 1


def _launch(project: Project, name: str, source: str, text: str, location: Location, env: dict[str, str],
            extra: dict) -> Launch:
    return Launch(name, source, text, location, parse_launch_commands(project, location.path, location.line, text, env),
                  dict(env), extra=extra)


def _top_list(project: Project, rel: str, key: str) -> list:
    """The list under `key` in a YAML file's first document (empty when the file has none)."""
    documents = project.yaml_documents(rel) or []
    document = documents[0] if documents else None
    items = document.get(key) if isinstance(document, dict) else None
    return items if isinstance(items, list) else []


def render_launches(project: Project) -> list[Launch]:
    launches = []
    for source in project.files(FileKind.YAML):
        if source.name.lower() not in ("render.yaml", "render.yml"):
            continue
        for service in _top_list(project, source.rel, "services"):
            if not isinstance(service, LineDict) or service.get("type") not in RENDER_RUNNING_TYPES:
                continue
            key = "startCommand" if isinstance(service.get("startCommand"), str) else "dockerCommand"
            command = service.get(key)
            if not isinstance(command, str) or not command.strip():
                continue
            env = {str(item["key"]): str(item["value"]) for item in service.get("envVars") or []
                   if isinstance(item, dict) and "key" in item and isinstance(item.get("value"), (str, int))}
            extra: dict = {"render_service": service.get("name")}
            scaling = service.get("scaling")
            if isinstance(scaling, LineDict) and _count(scaling.get("maxInstances")) is not None:
                extra["instances"] = (_count(scaling.get("minInstances")) or 1,
                                      Location(source.rel, _line(scaling, "minInstances")),
                                      "Render autoscaling minInstances")
                extra["max_instances"] = (_count(scaling.get("maxInstances")),
                                          Location(source.rel, _line(scaling, "maxInstances")),
                                          "Render autoscaling maxInstances")
            elif "numInstances" in service:
                extra["instances"] = (_count(service.get("numInstances")),
                                      Location(source.rel, _line(service, "numInstances")), "Render numInstances")
            else:
                extra["instances"] = (1, Location(source.rel, service.line or 1), "Render's default numInstances = 1")
            name = str(service.get("name") or f"{source.rel}:{service.line}")
            launches.append(_launch(project, name, "render", command, Location(source.rel, _line(service, key)), env,
                                    extra))
    return launches


def fly_launches(project: Project) -> list[Launch]:
    launches = []
    for source in project.files(FileKind.TOML):
        if source.name.lower() != "fly.toml":
            continue
        data = project.toml(source.rel)
        processes = data.get("processes") if isinstance(data, dict) else None
        if not isinstance(processes, dict):
            continue
        text = project.text(source.rel) or ""
        env = {str(k): str(v) for k, v in (data.get("env") or {}).items()} if isinstance(data.get("env"), dict) else {}
        for name, command in processes.items():
            if not isinstance(command, str) or not command.strip():
                continue
            line = _toml_key_line(text, "processes", str(name))
            location = Location(source.rel, line)
            extra = {"instances": (None, location, "Fly.io Machines of this process group: `fly scale count` sets "
                                                   "their number, fly.toml does not")}
            launches.append(_launch(project, str(name), "fly", command, location, env, extra))
    return launches


def _toml_key_line(text: str, table: str, key: str) -> int:
    import re

    in_table = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("["):
            in_table = line.strip("[] ") == table
            continue
        if in_table and re.match(r"""["']?""" + re.escape(key) + r"""["']?\s*=""", line):
            return number
    return 1


_CF_MANIFEST = re.compile(r"manifest(?:[._-][\w.-]*)?\.ya?ml")


def cloud_foundry_launches(project: Project) -> list[Launch]:
    launches = []
    for source in project.files(FileKind.YAML):
        if not _CF_MANIFEST.fullmatch(source.name.lower()):
            continue  # manifest.yml, and per-process or per-space variants: manifest_celery_worker_prod.yml
        for application in _top_list(project, source.rel, "applications"):
            if not isinstance(application, LineDict):
                continue
            app_name = str(application.get("name") or "app")
            # `path`: the folder pushed, relative to the manifest (default: the manifest's folder).
            folder = source.rel.rpartition("/")[0]
            pushed = application.get("path")
            if isinstance(pushed, str) and pushed.strip():
                folder = _norm_rel(posixpath.join(folder, pushed.strip()))
                if folder.startswith("..") or not folder_exists(project, folder):
                    continue  # an archive or a build output (`path: build/flyway.zip`): not this repository's code
            env = {str(k): str(v) for k, v in application.get("env").items()} if isinstance(application.get("env"), dict) else {}
            entries = [(app_name, application)]
            processes = application.get("processes")
            if isinstance(processes, list):
                entries = [(str(p.get("type") or app_name), p) for p in processes if isinstance(p, LineDict)]
            for name, entry in entries:
                command = entry.get("command")
                if not isinstance(command, str) or not command.strip():
                    continue
                if "instances" in entry:
                    instances = (_count(entry.get("instances")), Location(source.rel, _line(entry, "instances")),
                                 "Cloud Foundry manifest instances")
                else:
                    instances = (1, Location(source.rel, entry.line or 1), "Cloud Foundry's default instances = 1")
                launch = _launch(project, name, "cloudfoundry", command, Location(source.rel, _line(entry, "command")),
                                 env, {"instances": instances})
                launch.workdir = folder
                launches.append(launch)
    return launches


def paas_launches(project: Project) -> list[Launch]:
    return [*render_launches(project), *fly_launches(project), *cloud_foundry_launches(project)]


def autoscaler_maxima(project: Project) -> dict[str, tuple[int, Location]]:
    """Workload name -> (maxReplicas, where) from HorizontalPodAutoscalers."""
    out: dict[str, tuple[int, Location]] = {}
    for source in project.files(FileKind.YAML):
        if not project.contains(source.rel, b"HorizontalPodAutoscaler"):
            continue
        for document in project.yaml_documents(source.rel) or []:
            if not isinstance(document, LineDict) or document.get("kind") != "HorizontalPodAutoscaler":
                continue
            spec = document.get("spec")
            target = spec.get("scaleTargetRef") if isinstance(spec, LineDict) else None
            maximum = _count(spec.get("maxReplicas")) if isinstance(spec, LineDict) else None
            if isinstance(target, dict) and isinstance(target.get("name"), str) and maximum is not None:
                out[target["name"]] = (maximum, Location(source.rel, _line(spec, "maxReplicas")))
    return out
