"""Solid Queue (`bin/jobs`, `rails solid_queue:start`): Rails 8's database-backed job runner.

Facts [src: rails/solid_queue@29e818d (1.5.0) README.md, lib/solid_queue/configuration.rb, supervisor.rb;
reference/ruby.md §2.6]: in fork mode a supervisor boots (registers itself and heartbeats: it keeps a
connection) and forks one process per worker x `processes`; each worker uses `threads` + 2 connections
(polling and heartbeat). Worker defaults `threads: 3, processes: 1`. Requires Rails 7.1+, so forked children
discard inherited connections (ForkTracker).
"""

from __future__ import annotations

from pgforklint.diagnostics import Location
from pgforklint.extract.ruby import attach, ruby_app, ruby_launches
from pgforklint.extract.ruby.forking import master_effects
from pgforklint.extract.ruby.sidekiq import _get
from pgforklint.model import (
    ConnectionOpen,
    DeploymentModel,
    Flag,
    Origin,
    OriginKind,
    Quantity,
    Server,
    ServerKind,
)

QUEUE_YML = "config/queue.yml"
SOLID_QUEUE_THREADS = 3
UTILITY_CONNECTIONS = 2


def _workers(loaded) -> list:
    if loaded is None or not loaded.documents or not isinstance(loaded.documents[0], dict):
        return []
    document = loaded.documents[0]
    for section in (_get(document, "production")[0], _get(document, "default")[0], document):
        workers, _ = _get(section, "workers")
        if isinstance(workers, list):
            return [w for w in workers if isinstance(w, dict)]
    return []


def _number(loaded, worker, key: str, default: int, detail: str) -> Quantity:
    raw, line = _get(worker, key)
    if isinstance(raw, int) and not isinstance(raw, bool):
        erb = loaded.values.get(line)
        location = Location(QUEUE_YML, line or 1)
        if erb is not None and erb.env_var and erb.from_default:
            return Quantity(raw, Origin(OriginKind.ENV_DEFAULT, location, f"{detail}: ${erb.env_var} not set in the repo; its default is used"),
                            env_var=erb.env_var)
        return Quantity(raw, Origin(OriginKind.FILE, location, detail))
    return Quantity.default(default, f"Solid Queue's default {key} = {default}")


def adapt(project, launches, model: DeploymentModel) -> None:
    app = ruby_app(project, model)
    if app is None:
        return
    for ruby_launch in [r for r in ruby_launches(launches, app) if r.kind == "solid_queue"]:
        attach(model, ruby_launch, supervisor(project, app, ruby_launch.launch.location))


def supervisor(project, app, location: Location) -> Server:
    """The supervisor and the processes it forks (`bin/jobs`, or Puma's `plugin :solid_queue` at `location`)."""
    loaded = project.erb_yaml(QUEUE_YML) if project.exists(QUEUE_YML) else None
    workers = _workers(loaded) or [{}]
    processes_total, threads_max = 0, 0
    processes_q = threads_q = None
    for worker in workers:
        processes = _number(loaded, worker, "processes", 1, "worker processes in config/queue.yml") if loaded else \
            Quantity.default(1, "Solid Queue's default processes = 1")
        threads = _number(loaded, worker, "threads", SOLID_QUEUE_THREADS, "worker threads in config/queue.yml") if loaded else \
            Quantity.default(SOLID_QUEUE_THREADS, "Solid Queue's default threads = 3")
        processes_total += processes.value or 1
        if (threads.value or 0) >= threads_max:
            threads_max, threads_q = threads.value or 0, threads
        processes_q = processes if processes_q is None else processes_q
    if len(workers) > 1 or processes_q is None:
        processes_q = Quantity(processes_total, Origin(OriginKind.DERIVED, Location(QUEUE_YML, 1) if loaded else None,
                                                       "sum of the workers' processes"))
    demand = Quantity(threads_max + UTILITY_CONNECTIONS,
                      Origin(OriginKind.DERIVED, threads_q.origin.location,
                             f"threads {threads_max} + 2 (polling and heartbeat), Solid Queue's own estimate"),
                      env_var=threads_q.env_var)
    server = Server(ServerKind.SOLID_QUEUE, location, forks=True,
                    loads_app_in_parent=Flag(True, Origin(OriginKind.DEFAULT, location, "the supervisor boots the app and forks")),
                    processes=processes_q, threads=demand, worker_class="threads")
    server.settings["language"] = "ruby"
    server.parent_effects = master_effects(app, False, None, "Solid Queue")
    if app.ar_engines:
        # The supervisor registers itself and heartbeats from its own process: one connection held.
        engine = next((e for e in app.ar_engines if e.extra.get("database") == "queue"), app.ar_engines[0])
        server.parent_effects.opens.append(ConnectionOpen(engine, location, "the Solid Queue supervisor's heartbeat"))
        server.parent_effects.open_seq.append(app.reader.next_seq())
    return server
