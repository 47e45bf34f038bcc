"""The sync database: any SQLAlchemy URL, SQLite by default, Postgres in production."""
