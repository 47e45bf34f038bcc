"""The warehouse database: any SQLAlchemy URL, SQLite by default, Postgres in production."""
