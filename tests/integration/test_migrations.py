"""The Alembic migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from silverpay.store.db import create_engine
from silverpay.store.migrate import upgrade
from silverpay.store.models import Base


async def test_models_match_migrations(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)

        def diff(connection: Any) -> list[Any]:
            return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

        async with engine.connect() as connection:
            differences = await connection.run_sync(diff)
    finally:
        await engine.dispose()
    assert differences == []
