# gunicorn settings — production
wsgi_app = "app.web:app"
preload_app = True
workers = 4


def post_fork(server, worker):
    # Drop the pool inherited from the master without closing its sockets (pgforklint --fix).
    from app.db import engine

    engine.dispose(close=False)
