import os

from shop.db import engine

bind = "0.0.0.0:" + os.environ.get("PORT", "8000")
workers = int(os.environ.get("WEB_CONCURRENCY", 3))
threads = 4
timeout = 30


def post_fork(server, worker):
    # Meant to give each worker its own pool.
    engine.dispose()
