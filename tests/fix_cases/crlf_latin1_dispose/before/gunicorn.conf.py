# -*- coding: latin-1 -*-
# Configuration du serveur: réglée pour la production
from app.db import engine

wsgi_app = "app.web:app"
preload_app = True
workers = 4


def post_fork(server, worker):
    server.log.info("worker prêt")
    engine.dispose()
