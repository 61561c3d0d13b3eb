import os

SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL", "postgresql://localhost/blog")
SQLALCHEMY_ENGINE_OPTIONS = {"pool_size": 2, "max_overflow": 0}
