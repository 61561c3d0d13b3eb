import os

from sqlalchemy import create_engine, text

engine = create_engine(os.environ.get("DATABASE_URL", "postgresql+psycopg2://localhost/shop"), pool_size=5)

# Fail fast at start-up if the database is unreachable.
with engine.connect() as conn:
    conn.execute(text("SELECT 1"))
