from flask import Flask
from sqlalchemy import create_engine

import audit_trail

engine = create_engine("postgresql://app@db/app")
app = Flask(__name__)
audit_trail.install(app, engine)
