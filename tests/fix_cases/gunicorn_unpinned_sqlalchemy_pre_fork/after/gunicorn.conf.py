import multiprocessing

bind = "0.0.0.0:8000"
workers = 4
preload_app = True
accesslog = "-"


def pre_fork(server, worker):
    # Close the master's connections before each fork, so no worker inherits one (pgforklint --fix).
    from app.db import engine

    engine.dispose()
