"""GoodJob (`good_job start`): a database-backed job runner.

Facts [src: bensheldon/good_job@81db22b (4.19.2) README.md "Database connections"]: an external `good_job start`
process uses `max_threads` (`--max-threads`, `GOOD_JOB_MAX_THREADS`, default 5) + 2 utility connections
(LISTEN/NOTIFY, cron).
"""

from __future__ import annotations

from pgforklint.diagnostics import Location
from pgforklint.extract.ruby import attach, option_word, ruby_app, ruby_launches, word_quantity
from pgforklint.extract.ruby.forking import master_effects
from pgforklint.model import DeploymentModel, Flag, Origin, OriginKind, Quantity, Server, ServerKind

GOOD_JOB_MAX_THREADS = 5
UTILITY_CONNECTIONS = 2


def adapt(project, launches, model: DeploymentModel) -> None:
    app = ruby_app(project, model)
    if app is None:
        return
    for ruby_launch in [r for r in ruby_launches(launches, app) if r.kind == "good_job"]:
        location = ruby_launch.launch.location
        env = ruby_launch.env
        word = option_word(ruby_launch.words, "--max-threads")
        threads = word_quantity(word, location, "`--max-threads`") if word is not None else None
        if threads is None and env.get("GOOD_JOB_MAX_THREADS", "").strip().isdigit():
            threads = Quantity(int(env["GOOD_JOB_MAX_THREADS"]), Origin(OriginKind.FILE, location, "$GOOD_JOB_MAX_THREADS"),
                               env_var="GOOD_JOB_MAX_THREADS")
        if threads is None:
            threads = Quantity(GOOD_JOB_MAX_THREADS, Origin(OriginKind.DEFAULT, None, "GoodJob's default max_threads = 5"),
                               env_var="GOOD_JOB_MAX_THREADS")
        demand = Quantity((threads.value or GOOD_JOB_MAX_THREADS) + UTILITY_CONNECTIONS,
                          Origin(threads.origin.kind, threads.origin.location,
                                 f"max_threads {threads.value} + 2 utility connections (LISTEN/NOTIFY, cron), GoodJob's README"),
                          env_var=threads.env_var)
        server = Server(ServerKind.GOOD_JOB, location, forks=False,
                        loads_app_in_parent=Flag(False, Origin(OriginKind.DEFAULT, None, "GoodJob does not fork")),
                        processes=Quantity.default(1, "one GoodJob process"), threads=demand, worker_class="threads")
        server.settings["language"] = "ruby"
        server.parent_effects = master_effects(app, False, None, "GoodJob")
        attach(model, ruby_launch, server)


ASYNC_MODES = ("async", "async_all", "async_server")
ASYNC_CONFIG_FILES = ("config/application.rb", "config/environments/production.rb", "config/initializers/good_job.rb")


def async_in_web(project, app, env: dict) -> Quantity | None:
    """GoodJob running inside the web process (`execution_mode = :async`): the connections it adds to each web
    process, `max_threads` + 3 (GoodJob's README: a web pool of `RAILS_MAX_THREADS + 1 + 2 + GOOD_JOB_MAX_THREADS`)."""
    if app is None or not app.has_gem("good_job"):
        return None
    where = None
    mode = env.get("GOOD_JOB_EXECUTION_MODE", "").strip().lstrip(":")
    if mode in ASYNC_MODES:
        where = Location("Procfile", 1)
    else:
        from pgforklint.read.ruby import calls_in, text_of

        for rel in ASYNC_CONFIG_FILES:
            if not project.exists(rel) or not project.contains(rel, b"execution_mode"):
                continue
            source = project.ruby(rel)
            if source is None:
                continue
            for call in calls_in(source.root):
                if call.method == "execution_mode=" and call.args and text_of(call.args[0]).lstrip(":") in ASYNC_MODES:
                    where = Location(rel, call.line)
            if where is None:  # `config.good_job.execution_mode = :async` is an assignment to a call
                for number, line in enumerate(source.text.splitlines(), start=1):
                    if "execution_mode" in line and any(f":{m}" in line.split("#")[0] for m in ASYNC_MODES):
                        where = Location(rel, number)
                        break
            if where is not None:
                break
    if where is None:
        return None
    threads = env.get("GOOD_JOB_MAX_THREADS", "").strip()
    value = int(threads) if threads.isdigit() else GOOD_JOB_MAX_THREADS
    return Quantity(value + 3, Origin(OriginKind.FILE if threads.isdigit() else OriginKind.DEFAULT, where,
                                      f"GoodJob async in the web process: max_threads {value} + 3 (LISTEN/NOTIFY, cron, "
                                      f"GoodJob's README)"), env_var=None if threads.isdigit() else "GOOD_JOB_MAX_THREADS")
