import os

import psycopg2.pool
from flask import Flask

pool = psycopg2.pool.ThreadedConnectionPool(2, 10, os.environ["DATABASE_URL"])
app = Flask(__name__)


@app.get("/health")
def health():
    conn = pool.getconn()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        return "ok"
    finally:
        pool.putconn(conn)
