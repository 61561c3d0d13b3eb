import sqlalchemy as sa
from sqlalchemy import create_engine as ce

engine = ce("postgresql+psycopg://app@db/inventory")
metadata = sa.MetaData()
metadata.reflect(bind=engine)
TABLES = sa.inspect(engine).get_table_names()


def app(environ, start_response):
    with engine.begin() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(metadata.tables["items"])).scalar()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(count).encode()]
