import os

from sqlalchemy import create_engine

engine = create_engine(os.environ.get("DATABASE_URL", "postgresql://shop@db/shop"), pool_size=2, max_overflow=0)
