"""New Relic's Ruby agent (`newrelic_rpm`): EXPLAIN of slow SQL on a connection of its own, on Active Record < 7.2.

Facts [src: newrelic/newrelic-ruby-agent@392a1ca lib/new_relic/agent/configuration/default_source.rb:564-575,
lib/new_relic/agent/database.rb:93-125; reference/frameworks.md §6]: `transaction_tracer.explain_enabled` is on by
default. On Active Record < 7.2 the agent opens its own adapter connection (`ConnectionManager.get_connection`),
outside the app's pool: one more connection per process (the Heroku article's "one extra connection per fork").
From 7.2 it borrows one from the pool (`with_connection`): nothing extra. Off with `explain_enabled: false`,
`transaction_tracer: enabled: false`, `monitor_mode`/`agent_enabled: false` in `config/newrelic.yml`, or
`NEW_RELIC_TRANSACTION_TRACER_EXPLAIN_ENABLED=false`.
"""

from __future__ import annotations

from pgforklint.diagnostics import Location
from pgforklint.extract.ruby import ruby_app
from pgforklint.model import DeploymentModel

NEWRELIC_YML = "config/newrelic.yml"
OWN_CONNECTION_BEFORE = (7, 2)


def _disabled(project) -> str | None:
    if not project.exists(NEWRELIC_YML):
        return None
    loaded = project.erb_yaml(NEWRELIC_YML)
    if loaded is None or not loaded.documents or not isinstance(loaded.documents[0], dict):
        return None
    document = loaded.documents[0]
    for name in ("production", "common"):
        section = document.get(name)
        if not isinstance(section, dict):
            continue
        for key in ("monitor_mode", "agent_enabled"):
            if section.get(key) is False:
                return f"{key}: false in {NEWRELIC_YML}"
        tracer = section.get("transaction_tracer")
        if isinstance(tracer, dict) and (tracer.get("explain_enabled") is False or tracer.get("enabled") is False):
            return f"transaction_tracer explain off in {NEWRELIC_YML}"
        if section.get("transaction_tracer.explain_enabled") is False:
            return f"transaction_tracer.explain_enabled: false in {NEWRELIC_YML}"
    return None


def adapt(project, launches, model: DeploymentModel) -> None:
    app = ruby_app(project, model)
    if app is None or not app.has_gem("newrelic_rpm") or not app.ar_engines:
        return
    version = app.ar_version
    if version is None or version >= OWN_CONNECTION_BEFORE:
        return  # 7.2+: EXPLAIN borrows a pooled connection; unknown: not assumed
    names = {pt.name for pt in model.process_types if pt.server is not None and pt.server.settings.get("language") == "ruby"}
    if not names:
        return
    if _disabled(project) or any(
            (launch.env.get("NEW_RELIC_TRANSACTION_TRACER_EXPLAIN_ENABLED", "").strip().lower() == "false") for launch in launches):
        return
    where = app.gem_location("newrelic_rpm") or Location(app.lock_rel or "Gemfile.lock", 1)
    model.facts.setdefault("agents", []).append({
        "name": "newrelic_rpm", "process_types": names, "expected": 1, "worst": 1, "location": where,
        "launch_location": where,
        "detail": f"New Relic Ruby agent EXPLAIN on its own connection (Active Record {app.version_text('activerecord')} < 7.2)",
        "message": (f"the New Relic Ruby agent runs EXPLAIN for slow SQL on an Active Record connection of its own, outside "
                    f"the pool, in each process (transaction_tracer.explain_enabled is on by default; Active Record "
                    f"{app.version_text('activerecord')} < 7.2): +1 per process ({{processes}} across {{names}}); counted in "
                    f"the budget. Set `transaction_tracer: explain_enabled: false` in config/newrelic.yml if the budget is "
                    f"tight, or upgrade to Rails 7.2+, where the agent borrows a pooled connection"),
    })
