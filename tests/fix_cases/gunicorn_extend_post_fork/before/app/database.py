from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

engine = create_engine("postgresql://app@primary/app")
reporting_engine = create_engine("postgresql://app@replica/app")
SessionLocal = sessionmaker(bind=engine)
