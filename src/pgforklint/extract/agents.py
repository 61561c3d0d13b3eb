"""Agents that open database connections of their own in every process (New Relic's SQL EXPLAIN).

The New Relic Python agent runs EXPLAIN for slow SQL on new DB-API connections opened with the app's
connect parameters, in each process, cached up to `agent_limits.max_sql_connections` (4)
[src: newrelic/newrelic-python-agent core/database_utils.py, core/config.py]. It is on by default
(`transaction_tracer.explain_enabled = true`).

The agent is active for a process type when its launch goes through `newrelic-admin run-program` /
`run-python`, or for every process type when the code calls `newrelic.agent.initialize(...)`.
It is off when `newrelic.ini` sets `transaction_tracer.explain_enabled = false` (or
`transaction_tracer.enabled = false`), or the environment sets `NEW_RELIC_TRANSACTION_TRACER_EXPLAIN_ENABLED=false`.

Facts go to `model.facts["agents"]`: a list of dicts {name, process_types (None = all), expected, worst,
location, detail}.
"""

from __future__ import annotations

from pgforklint.diagnostics import Location
from pgforklint.discover import FileKind
from pgforklint.launch import Launch, app_json_env
from pgforklint.model import DeploymentModel
from pgforklint.project import Project

MAX_SQL_CONNECTIONS = 4  # agent_limits.max_sql_connections


def _false(value: str) -> bool:
    return value.strip().lower() in ("false", "off", "0", "no")


def _true(value: str) -> bool:
    return value.strip().lower() in ("true", "on", "1", "yes")


def _newrelic_ini(project: Project) -> tuple[str, list[tuple[str, str, int]]] | None:
    for source in project.files(FileKind.INI):
        if not source.name.lower().startswith("newrelic"):
            continue
        ini = project.ini(source.rel)
        if ini is None:
            continue
        for name, entries in ini.sections.items():
            if name == "newrelic" or name.startswith("newrelic:"):
                return source.rel, entries
    return None


def _wrapped_by_newrelic(launch: Launch) -> bool:
    """The agent wraps the commands this launch runs (one branch of a start script, not its siblings)."""
    if launch.commands:
        return any(command.wrapped_by("newrelic-admin") for command in launch.commands)
    return "newrelic-admin" in launch.text


def adapt(project: Project, launches: list[Launch], model: DeploymentModel) -> None:
    ini = _newrelic_ini(project)  # read whenever present: a broken newrelic.ini is reported (PGF100)
    wrapped = [launch for launch in launches if _wrapped_by_newrelic(launch)]
    initialize_at: Location | None = None
    for source in project.files(FileKind.PYTHON):
        if not project.contains(source.rel, b"newrelic.agent.initialize"):
            continue  # byte prefilter: a file that does not mention it does not matter (and is not reported)
        text = project.text(source.rel)
        if text and "newrelic.agent.initialize" in text:
            for number, line in enumerate(text.splitlines(), start=1):
                if "newrelic.agent.initialize" in line and not line.lstrip().startswith("#"):
                    initialize_at = Location(source.rel, number)
                    break
            if initialize_at:
                break
    if not wrapped and initialize_at is None:
        return

    explain_location: Location | None = None
    disabled_by: str | None = None
    if ini is not None:
        rel, entries = ini
        for key, value, line in entries:
            if key in ("transaction_tracer.explain_enabled", "transaction_tracer.enabled", "monitor_mode"):
                if _false(value):
                    disabled_by = f"{key} = {value} in {rel}"
                elif key == "transaction_tracer.explain_enabled" and _true(value):
                    explain_location = Location(rel, line)
    env, _ = app_json_env(project)
    for source_env in [env, *(launch.env for launch in launches)]:
        value = source_env.get("NEW_RELIC_TRANSACTION_TRACER_EXPLAIN_ENABLED")
        if value is not None and _false(value):
            disabled_by = "NEW_RELIC_TRANSACTION_TRACER_EXPLAIN_ENABLED=false"
    if disabled_by:
        model.facts["agents_disabled"] = disabled_by
        return

    agents = model.facts.setdefault("agents", [])
    detail = "New Relic SQL EXPLAIN (transaction_tracer.explain_enabled is on by default)"
    if wrapped:
        for launch in wrapped:
            agents.append({
                "name": "newrelic", "process_types": {launch.name},
                "launches": {(launch.location.path, launch.location.line)}, "expected": 1, "worst": MAX_SQL_CONNECTIONS,
                "location": explain_location or launch.location, "launch_location": launch.location, "detail": detail,
            })
    else:
        agents.append({
            "name": "newrelic", "process_types": None, "expected": 1, "worst": MAX_SQL_CONNECTIONS,
            "location": explain_location or initialize_at, "launch_location": initialize_at, "detail": detail,
        })
