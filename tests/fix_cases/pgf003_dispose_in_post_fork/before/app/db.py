from sqlalchemy import create_engine, text

engine = create_engine("postgresql+psycopg2://app@db/app")


def check_schema_version():
    with engine.connect() as conn:
        return conn.execute(text("SELECT version FROM schema_migrations")).scalar()
