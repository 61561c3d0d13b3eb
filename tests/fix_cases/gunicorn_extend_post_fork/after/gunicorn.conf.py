from app.database import reporting_engine

preload_app = True
workers = 3
wsgi_app = "app.web:app"


def post_fork(server, worker):
    reporting_engine.dispose(close=False)

    # Drop the pool inherited from the master without closing its sockets (pgforklint --fix).
    from app.database import engine

    engine.dispose(close=False)
