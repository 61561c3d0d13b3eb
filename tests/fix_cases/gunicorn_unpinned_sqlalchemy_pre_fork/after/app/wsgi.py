from flask import Flask, jsonify
from sqlalchemy import text

from app.db import engine

application = Flask(__name__)


@application.get("/orders/<int:order_id>")
def order(order_id):
    with engine.connect() as conn:
        row = conn.execute(text("SELECT id, total FROM orders WHERE id = :id"), {"id": order_id}).one()
    return jsonify(id=row.id, total=str(row.total))
