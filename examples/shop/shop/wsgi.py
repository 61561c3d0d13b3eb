from flask import Flask, jsonify

from shop.db import SessionLocal, currency_rates
from shop.models import Product

# Loaded once at start-up and cached for every request.
RATES = currency_rates()

app = Flask(__name__)


@app.get("/products/<int:product_id>")
def product(product_id):
    with SessionLocal() as session:
        item = session.get(Product, product_id)
        return jsonify(name=item.name, price=str(item.price * RATES[item.currency]))
