from flask import Flask

from db import engine

app = Flask(__name__)
