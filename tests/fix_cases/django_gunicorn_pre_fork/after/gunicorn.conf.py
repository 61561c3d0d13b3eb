# gunicorn configuration: gunicorn reads ./gunicorn.conf.py from its working directory by default.


def pre_fork(server, worker):
    # Close the master's connections before each fork, so no worker inherits one (pgforklint --fix).
    from django.db import connections

    connections.close_all()
