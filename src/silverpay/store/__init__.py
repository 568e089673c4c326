"""Persistence: SQLAlchemy 2 models, Alembic migrations, engines and guarded queries."""
