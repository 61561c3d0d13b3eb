from app.database import reporting_engine

preload_app = True
workers = 3
wsgi_app = "app.web:app"


def post_fork(server, worker):
    reporting_engine.dispose(close=False)
