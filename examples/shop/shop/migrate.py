from shop.db import engine
from shop.models import Base

if __name__ == "__main__":
    Base.metadata.create_all(engine)
