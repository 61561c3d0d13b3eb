from flask import Blueprint, render_template

from .extensions import db
from .models import Post

bp = Blueprint("blog", __name__)


@bp.get("/")
def index():
    posts = db.session.execute(db.select(Post).order_by(Post.created.desc())).scalars()
    return render_template("index.html", posts=posts)
