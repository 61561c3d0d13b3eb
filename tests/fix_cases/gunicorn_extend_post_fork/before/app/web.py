from flask import Flask

from app.database import SessionLocal
from app.models import FeatureFlag

with SessionLocal() as session:
    FLAGS = {flag.name: flag.enabled for flag in session.query(FeatureFlag).all()}

app = Flask(__name__)
