from flask import Flask
from sqlalchemy import text

from shop.db import engine

try:
    from uwsgidecorators import postfork
except ImportError:  # not running under uWSGI: keep the module importable
    def postfork(function):
        return function

with engine.connect() as conn:
    CURRENCIES = [row[0] for row in conn.execute(text("SELECT code FROM currencies"))]

app = Flask(__name__)


@app.get("/currencies")
def currencies():
    return {"currencies": CURRENCIES}


@postfork
def reset_database_pools():
    # Drop the pool inherited from the master without closing its sockets (pgforklint --fix).
    engine.dispose(close=False)
