from flask import Flask

from app.db import check_schema_version

SCHEMA_VERSION = check_schema_version()
app = Flask(__name__)
