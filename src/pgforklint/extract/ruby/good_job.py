"""GoodJob (`good_job start`): a database-backed job runner.

Facts [src: bensheldon/good_job@81db22b (4.19.2) README.md "Database connections"]: an external `good_job start`
process uses `max_threads` (`--max-threads`, `GOOD_JOB_MAX_THREADS`, default 5) + 2 utility connections
(LISTEN/NOTIFY, cron).
"""

from __future__ import annotations

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
