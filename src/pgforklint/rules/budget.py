"""Budget rules: PGF004, PGF005, PGF006, PGF007, PGF008, PGF011, PGF101 — pure functions of the model.

The numbers come from `pgforklint.budget.compute`; `pgforklint budget` prints the same model as a table.
"""

from __future__ import annotations

from collections.abc import Iterator

from pgforklint.budget import Budget, Row, assumptions, hand_calculation, is_threaded, of_model, unreadable_values
from pgforklint.diagnostics import Diagnostic, Location, Related
from pgforklint.model import DeploymentModel, EngineKind, OriginKind, Quantity

def _budget(model: DeploymentModel) -> Budget:
    return of_model(model)


def _related_limits(budget: Budget) -> list[Related]:
    out = []
    for quantity in budget.limit_origins():
        if quantity.origin.location is not None:
            out.append(Related(quantity.origin.location, _what(quantity)))
    return out


def _what(quantity: Quantity) -> str:
    """What a quantity is, for a related location (which carries the path itself)."""
    return quantity.origin.detail or quantity.origin.kind.value


def _loc(quantity: Quantity | None) -> Location | None:
    if quantity is None or quantity.origin.location is None:
        return None
    return quantity.origin.location


def _largest(budget: Budget, worst: bool) -> Row | None:
    rows = [r for r in budget.rows if (r.total_worst if worst else r.total_expected)]
    if not rows:
        return None
    return max(rows, key=lambda r: (r.total_worst or 0) if worst else r.total_expected)


def _row_related(budget: Budget) -> list[Related]:
    out = []
    for row in budget.rows:
        if not row.total_expected:
            continue
        out.append(Related(row.location, f"`{row.name}`: {row.n_instances} instance(s) x {row.n_processes} process(es)"))
        if _loc(row.instances):
            out.append(Related(row.instances.origin.location, f"`{row.name}` instances ({row.instances.origin.detail})"))
        if _loc(row.max_instances):
            out.append(Related(row.max_instances.origin.location,
                               f"`{row.name}` instances at most ({row.max_instances.origin.detail})"))
    return out


def _unique(items: list[Related]) -> tuple[Related, ...]:
    seen = set()
    out = []
    for item in items:
        key = (item.location.path, item.location.line)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return tuple(out)


def _symptom(budget: Budget) -> str:
    if budget.session_pooled:
        return ("clients beyond PgBouncer's pool wait for a server connection and fail with `query_wait_timeout`, "
                "and beyond max_client_conn with `no more connections allowed (max_client_conn)`")
    if budget.multiplexed:
        return "PgBouncer refuses clients beyond max_client_conn (`no more connections allowed (max_client_conn)`)"
    if budget.role_limit is not None:
        return "new connections fail with `FATAL: too many connections for role`"
    return ("new connections fail with `FATAL: remaining connection slots are reserved ...` or "
            "`FATAL: sorry, too many clients already`")


def budget_exceeded(model: DeploymentModel) -> Iterator[Diagnostic]:
    """PGF004: the expected peak over all process types exceeds the available connections."""
    budget = _budget(model)
    available = budget.available
    if available is None or not budget.rows:
        return
    expected = budget.expected_peak
    if expected > available:
        row = _largest(budget, worst=False)
        if row is None:
            return
        location = _loc(row.processes) or row.location
        message = (f"expected peak of {expected} connections exceeds the {available} available "
                   f"({budget.available_text()}): {hand_calculation(budget, worst=False)}; {_symptom(budget)}. "
                   f"Lower the workers, threads or instances, or put PgBouncer in transaction mode in front of the database")
        related = [Related(row.location, f"`{row.name}` started here"), *_row_related(budget), *_related_limits(budget)]
        # Where a pool's maximum is what bounds each process (capacity <= concurrency), its size is the other
        # number to change: a related location of the same finding (one problem, one finding).
        for use in row.engines:
            if use.capacity is None or use.capacity.value is None or use.engine.nullpool or use.minimum >= (use.expected or 0):
                continue
            if row.concurrency is not None and use.capacity.value > row.concurrency:
                continue
            pool_location = _loc(use.engine.pool_size) or _loc(use.engine.max_size) or use.engine.location
            if pool_location != location:
                related.append(Related(pool_location, f"`{use.engine.label}` ({use.note}) bounds each `{row.name}` "
                                                      f"process at {use.expected}: a smaller pool also lowers the peak"))
        yield Diagnostic("PGF004", location, message, _unique(related), key=f"budget:{row.name}",
                         title=f"expected peak of {expected} connections exceeds the {available} available",
                         help="lower the workers, threads or instances, or put PgBouncer in transaction mode in front "
                              "of the database")
    if budget.multiplexed:
        server_side = budget.pooler_server_connections
        server_available = budget.server_available
        if server_side is not None and server_available is not None and server_side > server_available:
            pooler = budget.pooler
            size = pooler["default_pool_size"]
            location = _loc(size) or pooler["location"]
            message = (f"PgBouncer can open {server_side} server connections ((default_pool_size {size.value} + "
                       f"reserve_pool_size {pooler['reserve_pool_size'].value}) x {pooler['pools'].value} pool(s)) but the "
                       f"database allows {server_available} ({_server_text(budget)}); lower default_pool_size")
            yield Diagnostic("PGF004", location, message, _unique(_related_limits_server(budget)), key="budget:pgbouncer",
                             title=f"PgBouncer can open {server_side} server connections; the database allows {server_available}",
                             help="lower default_pool_size")


def _server_text(budget: Budget) -> str:
    if budget.role_limit is not None and budget.role_limit.value is not None:
        return f"the role's connection limit {budget.role_limit.value}"
    return f"max_connections {budget.max_connections.value} - {budget.reserved.value} reserved"


def _related_limits_server(budget: Budget) -> list[Related]:
    out = []
    for quantity in (budget.role_limit, budget.max_connections, budget.reserved):
        if quantity is not None and quantity.origin.location is not None:
            out.append(Related(quantity.origin.location, _what(quantity)))
    return out


def worst_case_exceeded(model: DeploymentModel) -> Iterator[Diagnostic]:
    """PGF011: the expected peak fits, the worst case (every pool full) does not."""
    budget = _budget(model)
    available = budget.available
    worst = budget.worst_case
    if available is None or worst is None or budget.expected_peak > available or worst <= available:
        return
    # Anchor at the pool whose headroom above the expected use costs the most.
    best = None
    for row in budget.rows:
        for use in row.engines:
            if use.worst is None or use.expected is None:
                continue
            excess = (use.worst - use.expected) * row.n_processes * row.n_instances
            if excess > 0 and (best is None or excess > best[0]):
                best = (excess, row, use)
        for agent in row.agents:
            excess = (agent["worst"] - agent["expected"]) * row.n_processes * row.n_instances
            if excess > 0 and (best is None or excess > best[0]):
                best = (excess, row, agent)
    for row in budget.rows:
        per_instance = row.total_worst // row.n_max_instances if row.total_worst is not None and row.n_max_instances else 0
        excess = (row.n_max_instances - row.n_instances) * per_instance
        if row.max_instances is not None and excess > 0 and (best is None or excess > best[0]):
            best = (excess, row, row.max_instances)
    if best is None:
        return
    _, row, use = best
    if isinstance(use, Quantity) and row.host is not None:
        yield _conditional_inside(budget, row)
        return
    if isinstance(use, Quantity):
        location = _loc(use) or row.location
        others = worst - (row.total_worst or 0)
        per_instance = (row.total_worst or 0) // row.n_max_instances
        fitting = (available - others) // per_instance if per_instance else row.n_instances
        what = f"the autoscaler ({use.origin.detail} = {row.n_max_instances})"
        advice = (f"lower the maximum to {fitting} `{row.name}` instance(s), or the processes or pools per instance"
                  if fitting >= row.n_instances else "lower the processes or pools per instance")
        message = (f"the expected peak of {budget.expected_peak} connections ({hand_calculation(budget, worst=False)}) "
                   f"fits the {available} available ({budget.available_text()}), but with every autoscaler at its "
                   f"maximum and every pool full the worst case is {worst} ({hand_calculation(budget, worst=True)}); "
                   f"{what} lets `{row.name}` grow from {row.n_instances} to {row.n_max_instances} instances of "
                   f"{per_instance} connection(s) each; {advice}")
        related = [Related(row.location, f"`{row.name}` started here"), *_row_related(budget), *_related_limits(budget)]
        yield Diagnostic("PGF011", location, message, _unique(related), key=f"budget-worst:{row.name}")
        return
    if isinstance(use, dict):
        location = use["location"]
        what = f"New Relic's EXPLAIN connections (up to {use['worst']} per process)"
        advice = "disable transaction_tracer.explain_enabled or make room for it"
    else:
        engine = use.engine
        location = engine.location
        what = f"`{engine.label}` ({use.note})"
        if row.concurrency == 1 and engine.kind in (EngineKind.SQLALCHEMY, EngineKind.FLASK_SQLALCHEMY):
            advice = ("a single-threaded worker needs one connection: `pool_size=1, max_overflow=0`")
        elif row.concurrency:
            advice = f"cap the pool at the {row.concurrency} connections a `{row.name}` process can use at once"
        else:
            advice = "lower the pool's maximum"
    message = (f"the expected peak of {budget.expected_peak} connections ({hand_calculation(budget, worst=False)}) fits "
               f"the {available} available ({budget.available_text()}), but with every pool full"
               f"{' and every autoscaler at its maximum' if any(r.max_instances is not None and r.host is None for r in budget.rows) else ''}"
               f" the worst case is {worst} "
               f"({hand_calculation(budget, worst=True)}); {what} lets each `{row.name}` process open "
               f"{use['worst'] if isinstance(use, dict) else use.worst} where it is expected to use "
               f"{use['expected'] if isinstance(use, dict) else use.expected} ({row.concurrency_note}); {advice}")
    related = [Related(row.location, f"`{row.name}` started here"), *_row_related(budget), *_related_limits(budget)]
    yield Diagnostic("PGF011", location, message, _unique(related), key=f"budget-worst:{row.name}",
                     title=f"worst case of {worst} connections (every pool full) exceeds the {available} available",
                     help=advice)


def _conditional_inside(budget: Budget, row: Row) -> Diagnostic:
    """PGF011 when what runs inside another process type under a condition the repository does not decide
    (`plugin :solid_queue if ENV["SOLID_QUEUE_IN_PUMA"]`) is what the worst case cannot hold."""
    available, worst = budget.available, budget.worst_case
    condition = row.server.settings.get("runs_inside_condition", "")
    per_instance = (row.total_worst or 0) // row.n_max_instances if row.n_max_instances else 0
    message = (f"the expected peak of {budget.expected_peak} connections ({hand_calculation(budget, worst=False)}) "
               f"fits the {available} available ({budget.available_text()}), but `{row.name}` runs inside each "
               f"`{row.host}` instance `{condition}`, which the repository does not decide: where it is on, the worst "
               f"case is {worst} ({hand_calculation(budget, worst=True)}), {per_instance} more connection(s) in each of "
               f"the {row.n_max_instances} `{row.host}` instance(s); run the jobs in their own process type, or make "
               f"room for them (fewer web workers or threads, smaller pools)")
    related = [Related(row.location, f"`{row.name}` started here"), *_row_related(budget), *_related_limits(budget)]
    return Diagnostic("PGF011", row.location, message, _unique(related), key=f"budget-worst:{row.name}",
                      title=f"worst case of {worst} connections (with `{row.name}` on) exceeds the {available} available",
                      help="run the jobs in their own process type, or make room for them")


def pool_smaller_than_concurrency(model: DeploymentModel) -> Iterator[Diagnostic]:
    """PGF005: threads that share a pool outnumber its connections."""
    budget = _budget(model)
    for row in budget.rows:
        if not is_threaded(row.server, row.concurrency):
            continue
        for use in row.engines:
            engine = use.engine
            if use.capacity is None or use.capacity.value is None or engine.nullpool:
                continue
            if engine.kind in (EngineKind.RAW_CONNECTION,) or (engine.kind is EngineKind.DJANGO and not engine.extra.get("pool")):
                continue
            if use.capacity.value >= row.concurrency:
                continue
            error = {
                EngineKind.SQLALCHEMY: "`QueuePool limit of size N overflow M reached, connection timed out`",
                EngineKind.FLASK_SQLALCHEMY: "`QueuePool limit of size N overflow M reached, connection timed out`",
                EngineKind.PSYCOPG2_POOL: "`PoolError: connection pool exhausted`",
                EngineKind.PSYCOPG_POOL: "`PoolTimeout: couldn't get a connection after 30.00 sec`",
                EngineKind.DJANGO: "`PoolTimeout: couldn't get a connection after 30.00 sec`",
                EngineKind.ACTIVE_RECORD: ("`ActiveRecord::ConnectionTimeoutError` (could not obtain a database connection "
                                           f"within {_checkout_timeout(engine):.3f} seconds)"),
                EngineKind.SEQUEL: "`Sequel::PoolTimeout`",
            }.get(engine.kind, "pool timeouts")
            message = (f"`{engine.label}` allows {use.capacity.value} connection(s) ({use.note}) but each `{row.name}` "
                       f"process runs {row.concurrency} threads that share it ({row.concurrency_note}); under load "
                       f"requests wait for a connection and fail with {error}; raise the pool to {row.concurrency}")
            related = [Related(row.location, f"`{row.name}` started here")]
            if _loc(row.threads):
                related.append(Related(row.threads.origin.location, "threads per process"))
            if engine.extra.get("checkout_timeout"):
                related.append(Related(engine.extra["checkout_timeout"][1], "`checkout_timeout:` (seconds a request waits)"))
            # Anchored at the number to change (`pool_size=`/`max_size=`) when it is written, else at the pool.
            anchor = _loc(engine.pool_size) or _loc(engine.max_size) or engine.location
            if (anchor.path, anchor.line) != (engine.location.path, engine.location.line):
                related.append(Related(engine.location, "the pool is created here"))
            yield Diagnostic("PGF005", anchor, message, _unique(related), key=f"{engine.symbol}:{row.name}",
                             title=f"pool of {use.capacity.value} shared by {row.concurrency} threads in each `{row.name}` process",
                             help=f"raise the pool to {row.concurrency}")


def _checkout_timeout(engine) -> float:
    """Active Record's `checkout_timeout:` from database.yml, else its default of 5 seconds."""
    configured = engine.extra.get("checkout_timeout")
    return configured[0] if configured else 5.0


def pool_larger_than_concurrency(model: DeploymentModel) -> Iterator[Diagnostic]:
    """PGF006: a single-threaded worker keeps more connections open than it can use."""
    budget = _budget(model)
    for row in budget.rows:
        if row.concurrency != 1:
            continue
        for use in row.engines:
            engine = use.engine
            if engine.extra.get("one_per_thread") and use.capacity is not None and (use.capacity.value or 0) > 2 \
                    and use.capacity.origin.kind is not OriginKind.DEFAULT:
                yield _one_per_thread_pool(row, use)
                continue
            if use.minimum <= 1:
                continue  # lazy pools open connections on demand: a one-request worker uses one
            idle = (use.minimum - 1) * row.n_processes * row.n_instances
            message = (f"each `{row.name}` process handles one request or task at a time, but `{engine.label}` keeps "
                       f"{use.minimum} connections open ({use.note}): {use.minimum - 1} idle per process, {idle} across "
                       f"{row.n_instances} instance(s) x {row.n_processes} process(es); a pool of one is enough "
                       f"(min_size=1, max_size=1)")
            yield Diagnostic("PGF006", engine.location, message,
                             (Related(row.location, f"`{row.name}` started here"),), key=f"{engine.symbol}:{row.name}",
                             title=f"`{engine.label}` keeps {use.minimum} connections open in a one-request `{row.name}` process",
                             help="a pool of one is enough (min_size=1, max_size=1)")


def _one_per_thread_pool(row: Row, use) -> Diagnostic:
    """A pool that hands one connection per thread (Active Record) sized above what a one-thread worker uses."""
    engine = use.engine
    size = use.capacity.value
    extra = (size - 1) * row.n_processes * row.n_instances
    message = (f"each `{row.name}` process is single-threaded ({row.concurrency_note}) and uses one connection of "
               f"`{engine.label}` at a time, but its pool allows {size} ({use.capacity.origin.detail or use.note}): Active Record "
               f"opens them on demand, so in the worst case (threads the app starts, a leak) the {row.n_instances} x "
               f"{row.n_processes} workers can hold {extra} more than they need, all counted against `max_connections`; "
               f"a pool of 1 or 2 is enough for a forking single-threaded server")
    anchor = _loc(use.capacity) or engine.location
    return Diagnostic("PGF006", anchor, message, (Related(row.location, f"`{row.name}` started here"),),
                      key=f"{engine.symbol}:{row.name}",
                      title=f"pool of {size} for a single-threaded `{row.name}` process that uses one connection",
                      help="a pool of 1 or 2 is enough for a forking single-threaded server")


def unbounded_connections(model: DeploymentModel) -> Iterator[Diagnostic]:
    """PGF007: nothing bounds the number of connections a process can open."""
    budget = _budget(model)
    for row in budget.rows:
        for use in row.engines:
            if use.worst is not None:
                continue
            engine = use.engine
            if engine.kind is EngineKind.DJANGO:
                location = _loc(engine.extra.get("conn_max_age")) if isinstance(engine.extra.get("conn_max_age"), Quantity) else None
                message = (f"`{row.name}` runs {row.server.worker_class} workers ({row.concurrency_note}) with Django "
                           f"persistent connections (CONN_MAX_AGE != 0): each greenlet keeps its own connection, so the "
                           f"count grows toward the number of concurrent greenlets; set CONN_MAX_AGE = 0 or use a "
                           f"bounded pool (Django 5.1+ OPTIONS['pool'] with max_size)")
                yield Diagnostic("PGF007", location or engine.location, message,
                                 (Related(row.location, f"`{row.name}` started here"),), key=f"{engine.symbol}:{row.name}",
                                 title=f"persistent Django connections under {row.server.worker_class} workers grow without bound",
                                 help="set CONN_MAX_AGE = 0 or use a bounded pool (Django 5.1+ OPTIONS['pool'] with max_size)")
            elif engine.max_overflow is not None and (engine.max_overflow.value or 0) < 0:
                location = _loc(engine.max_overflow) or engine.location
                message = (f"`{engine.label}` has max_overflow=-1: the pool opens a new connection for every concurrent "
                           f"checkout with no maximum, so no budget can hold; set a finite max_overflow")
                yield Diagnostic("PGF007", location, message, (Related(row.location, f"`{row.name}` started here"),),
                                 key=f"{engine.symbol}:{row.name}",
                                 title=f"`{engine.label}` has max_overflow=-1: no maximum number of connections",
                                 help="set a finite max_overflow")
            elif engine.nullpool and row.concurrency is None:
                message = (f"`{engine.label}` uses NullPool in `{row.name}`, whose {row.concurrency_note}: every "
                           f"concurrent request opens its own connection with no maximum; use a pool with a maximum "
                           f"(pool_size + max_overflow) or put PgBouncer in front")
                yield Diagnostic("PGF007", engine.location, message, (Related(row.location, f"`{row.name}` started here"),),
                                 key=f"{engine.symbol}:{row.name}",
                                 title=f"`{engine.label}` uses NullPool in `{row.name}`: one connection per concurrent request",
                                 help="use a pool with a maximum (pool_size + max_overflow) or put PgBouncer in front")


def hidden_connections(model: DeploymentModel) -> Iterator[Diagnostic]:
    """PGF008: an agent opens connections of its own in every process (New Relic SQL EXPLAIN)."""
    budget = _budget(model)
    seen: dict[tuple, list[Row]] = {}
    for row in budget.rows:
        for agent in row.agents:
            location = agent["location"]
            seen.setdefault((location.path, location.line, location), []).append(row)
    for (_, _, location), rows in seen.items():
        processes = sum(r.n_processes * r.n_instances for r in rows)
        names = ", ".join(f"`{r.name}`" for r in rows)
        own = next((a.get("message") for r in rows for a in r.agents if a["location"] == location and a.get("message")), None)
        if own:  # an agent that says its own text (the Ruby agent)
            yield Diagnostic("PGF008", location, own.format(processes=processes, names=names),
                             tuple(Related(r.location, f"`{r.name}` runs under the agent") for r in rows), key="newrelic-explain",
                             title=f"the New Relic agent opens extra EXPLAIN connections in each process (+{processes})",
                             help="turn off `transaction_tracer.explain_enabled` in the agent's configuration if the "
                                  "budget is tight")
            continue
        message = (f"the New Relic agent runs EXPLAIN for slow SQL on connections of its own, opened in each process "
                   f"(transaction_tracer.explain_enabled is on by default): +1 per process ({processes} across {names}), "
                   f"up to 4 with several databases; counted in the budget. Set `transaction_tracer.explain_enabled = false` "
                   f"in newrelic.ini if the budget is tight")
        yield Diagnostic("PGF008", location, message, tuple(Related(r.location, f"`{r.name}` runs under the agent") for r in rows),
                         key="newrelic-explain",
                         title=f"the New Relic agent opens extra EXPLAIN connections in each process (+{processes})",
                         help="set `transaction_tracer.explain_enabled = false` in newrelic.ini if the budget is tight")


def _in_play(model: DeploymentModel, budget: Budget) -> bool:
    """Assumptions are reported when the repository describes its deployment's scale or database, or a budget
    finding depends on them; otherwise every number on both sides would be a guess and `pgforklint budget`
    lists them."""
    if budget.database_shown or budget.pooler is not None:
        return True
    if any(row.instances.origin.kind is not OriginKind.DEFAULT and row.host is None for row in budget.rows):
        return True
    available = budget.available
    if available is not None and (budget.expected_peak > available or (budget.worst_case or 0) > available):
        return True
    return False


def assumed_values(model: DeploymentModel) -> Iterator[Diagnostic]:
    """PGF101: a number the budget needs is not in the repository; says what was assumed and how to pin it."""
    budget = _budget(model)
    if not budget.rows:
        return
    fallback = _config_location(model) or budget.rows[0].location
    found = list(unreadable_values(budget))
    if budget.expected_peak and _in_play(model, budget):
        found.extend(assumptions(budget))
    seen = set()
    for where, what, message in found:
        location = where or fallback
        key = (location.path, location.line, what)
        if key in seen:
            continue
        seen.add(key)
        title, advice = _split_advice(message)
        yield Diagnostic("PGF101", location, message, key=f"assumed:{what}", title=title, help=advice)


def _split_advice(message: str) -> tuple[str, str]:
    """(what was assumed, the rest: the value counted and how to pin it) for an assumption's headline."""
    for separator in ("; counted as ", "; ", ": "):
        head, found, rest = message.partition(separator)
        if found and len(head) <= 92:
            return head, ("counted as " + rest) if separator == "; counted as " else rest
    return message, ""


def _config_location(model: DeploymentModel) -> Location | None:
    return model.facts.get("config_location") if isinstance(model.facts.get("config_location"), Location) else None


CHECKS = [
    budget_exceeded,
    worst_case_exceeded,
    pool_smaller_than_concurrency,
    pool_larger_than_concurrency,
    unbounded_connections,
    hidden_connections,
    assumed_values,
]
