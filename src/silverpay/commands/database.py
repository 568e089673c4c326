"""The database a command works on: SILVERPAY_DATABASE_URL, migrated first unless AUTO_MIGRATE=0.
No WeChat credentials are needed for commands that only touch the database."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from silverpay.config import Settings
from silverpay.store.db import Database, open_database


@contextlib.asynccontextmanager
async def command_database(settings: Settings | None = None) -> AsyncIterator[Database]:
    settings = settings or Settings()
    async with open_database(settings.database_url) as database:
        if settings.auto_migrate:
            from silverpay.store.migrate import upgrade  # alembic: imported only when it has work to do

            await upgrade(database.engine)
        yield database
