"""Celery prefork: a `worker_process_init` handler next to the Celery app.

`worker_process_init` is "dispatched in all pool child processes when they start"
(https://docs.celeryq.dev/en/stable/userguide/signals.html#worker-process-init); the handler is
connected at import of the app module, which the worker parent imports before forking its pool.
The engine is imported inside the handler (already imported in the parent, so no code runs).
Django under Celery needs nothing: Celery's Django fixup closes inherited connections itself.
"""

from __future__ import annotations

from pgforklint.fix.base import Applicability, Context, Edit, Fix, NoFix, ResetRecipe, load_pyedit
from pgforklint.model import Engine, Server

HANDLER = "reset_database_pools"
IMPORT = "from celery.signals import worker_process_init"
COMMENT = "Drop the pool inherited from the worker parent without closing its sockets (pgforklint --fix)."
PARENT_HANDLER = "close_parent_database_pools"
PARENT_COMMENT = "Close the worker parent's connections before the pool forks its children (pgforklint --fix)."


def app_module(ctx: Context, server: Server) -> tuple[str, str]:
    """(module, file) where the Celery app is created; the worker parent imports it before forking."""
    if server.app is None:
        raise NoFix("the module that creates the Celery app is not known")
    module = server.app.module
    rel = server.app.location.path if server.app.location.path.endswith(".py") else ctx.module_file(module)
    if rel is None or not ctx.exists(rel):
        raise NoFix(f"the Celery app module `{module}` is not in the repository")
    return module, rel


def reset_fix(ctx: Context, server: Server, engine: Engine, recipe: ResetRecipe) -> Fix:
    if recipe.parent_side and recipe.child_statements is None:
        raise NoFix("Celery's Django fixup already closes inherited Django connections in each pool child")
    module, rel = app_module(ctx, server)
    from pgforklint.fix.gunicorn import hook_statements

    statements = hook_statements(ctx, rel, recipe, module_here=module)
    # SQLAlchemy without `dispose(close=False)` for sure: dispose in the worker parent before the pool starts
    # (`worker_init`, "dispatched before the worker is started"); the parent does not use the engine afterwards,
    # so the children forked later (max-tasks-per-child, autoscale) inherit an empty pool too.
    signal, handler, comment = ("worker_init", PARENT_HANDLER, PARENT_COMMENT) if recipe.parent_side \
        else ("worker_process_init", HANDLER, COMMENT)
    edits = [
        Edit(rel, lambda text: load_pyedit().ensure_import_block(text, f"from celery.signals import {signal}", group="celery"),
             order=(1, 0), description=f"import {signal}"),
        Edit(rel, lambda text: load_pyedit().ensure_function(text, handler, "**kwargs", statements,
                                                             decorator=f"{signal}.connect", comment=comment),
             order=(1, 1), description=f"add `{handler}`"),
    ]
    return Fix(Applicability.SAFE, f"reset `{engine.label}` in a `{signal}` handler in {rel}: "
               + "; ".join(s.splitlines()[0] for s in recipe.statements), edits)
