"""Apply Alembic migrations at start, on the service's own engine."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from store.db import Database
from store.locks import Namespace

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def upgrade_to_head(database: Database) -> None:
    """Migrate; replicas starting together take turns (the first migrates, the others find it done)."""

    def run(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), "head")

    async with database.writer.begin() as connection:
        if not database.is_sqlite:
            await connection.execute(select(func.pg_advisory_xact_lock(int(Namespace.MIGRATIONS), 0)))
        await connection.run_sync(run)
