from flask import Flask

from .extensions import db
from .views import bp


def create_app(config_object="blog.settings"):
    app = Flask(__name__)
    app.config.from_object(config_object)
    db.init_app(app)
    app.register_blueprint(bp)
    with app.app_context():
        db.create_all()
    return app
