# gunicorn configuration: gunicorn reads ./gunicorn.conf.py from its working directory by default.


def post_fork(server, worker):
    # Drop the pool inherited from the master without closing its sockets (pgforklint --fix).
    from db import engine

    engine.dispose(close=False)
