from app.db import engine

wsgi_app = "app.main:app"
preload_app = True
workers = 4


def post_fork(server, worker):
    engine.dispose(close=False)
