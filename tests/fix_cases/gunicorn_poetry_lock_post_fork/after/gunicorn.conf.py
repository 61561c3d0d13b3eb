import multiprocessing

bind = "0.0.0.0:8000"
workers = 4
preload_app = True
accesslog = "-"


def post_fork(server, worker):
    # Drop the pool inherited from the master without closing its sockets (pgforklint --fix).
    from app.db import engine

    engine.dispose(close=False)
