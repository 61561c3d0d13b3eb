"""pgforklint: static linter for PostgreSQL connection bugs under forking servers."""

__version__ = "0.1.0"
