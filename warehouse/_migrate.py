"""Upgrading a warehouse database in place with Alembic (revisions in ``warehouse/migrations/versions``).

Schema version ``N`` is Alembic revision ``"000N"``. A database created before the warehouse had
migrations records its schema version but no Alembic revision; it is stamped with the revision of that
version first. Everything runs on the caller's connection, inside its transaction.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

__all__ = ["OLDEST_MIGRATABLE", "revision_of", "stamp_head", "upgrade"]

#: The oldest schema version a migration starts from.
OLDEST_MIGRATABLE = 1
_SCRIPTS = Path(__file__).resolve().parent / "migrations"


def revision_of(version: int) -> str:
    """The Alembic revision of schema ``version``: ``"0002"`` for 2."""
    return f"{version:04d}"


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = connection
    return config


def upgrade(connection: Connection, from_version: int) -> None:
    """Take a database at schema ``from_version`` to the newest revision."""
    config = _config(connection)
    if MigrationContext.configure(connection).get_current_revision() is None:
        command.stamp(config, revision_of(from_version))
    command.upgrade(config, "head")


def stamp_head(connection: Connection) -> None:
    """Record the newest revision in a database whose tables were just created at the newest schema."""
    command.stamp(_config(connection), "head")
