import os

from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql+psycopg2://shop@localhost/shop")

engine = create_engine(DATABASE_URL, pool_size=2, max_overflow=0)
SessionLocal = sessionmaker(bind=engine)


def currency_rates():
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT code, rate FROM currency_rates")).all())
