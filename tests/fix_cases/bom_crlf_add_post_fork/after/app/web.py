from flask import Flask

import app.db  # noqa: F401

app = Flask(__name__)
