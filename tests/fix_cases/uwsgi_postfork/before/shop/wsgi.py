from flask import Flask
from sqlalchemy import text

from shop.db import engine

with engine.connect() as conn:
    CURRENCIES = [row[0] for row in conn.execute(text("SELECT code FROM currencies"))]

app = Flask(__name__)


@app.get("/currencies")
def currencies():
    return {"currencies": CURRENCIES}
