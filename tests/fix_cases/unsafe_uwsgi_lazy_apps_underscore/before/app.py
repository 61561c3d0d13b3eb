import os

import psycopg2
from flask import Flask

conn = psycopg2.connect(os.environ["DATABASE_URL"])

app = Flask(__name__)


@app.get("/")
def index():
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        return {"ok": cur.fetchone()[0]}
