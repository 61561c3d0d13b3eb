"""Background lookups for the orders service (Celery, prefork pool).

The database URL comes from DATABASE_URL; the driver is picked by the URL scheme
(``postgresql+psycopg2://`` or ``postgresql+psycopg://``).
"""

import os

from celery import Celery
from celery.signals import worker_init
from sqlalchemy import create_engine, text

app = Celery("tasks")
app.config_from_object("celeryconfig")

engine = create_engine(os.environ["DATABASE_URL"])

# Fail fast at worker start when the database is unreachable.
with engine.connect() as conn:
    conn.execute(text("SELECT 1"))


@app.task
def lookup(token, seconds=0.0):
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT :token, pg_backend_pid() FROM pg_sleep(:s)"),
            {"token": token, "s": seconds},
        ).one()
    return [row[0], row[1], os.getpid()]


@worker_init.connect
def close_parent_database_pools(**kwargs):
    # Close the worker parent's connections before the pool forks its children (pgforklint --fix).
    engine.dispose()
