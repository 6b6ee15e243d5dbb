"""Upgrading a warehouse database in place with Alembic (revisions in ``warehouse/migrations/versions``).

Schema version ``N`` is Alembic revision ``"000N"``. A database created before the warehouse had
migrations records its schema version but no Alembic revision; it is stamped with the revision of that
version first. Everything runs on the caller's connection, inside its transaction.

The revision lives in the warehouse's own table, :data:`VERSION_TABLE`, not Alembic's default
``alembic_version``: Optuna's RDB storage keeps its own revision there, and the warehouse and the Optuna
storage may share one PostgreSQL database (one ``alembic_version`` holding the warehouse's revision makes
Optuna refuse the storage). A warehouse revision that an earlier tradeloop left in ``alembic_version`` is
moved out of it.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text

__all__ = ["OLDEST_MIGRATABLE", "VERSION_TABLE", "move_revision_out_of_alembic_version", "revision_of",
           "stamp_head", "upgrade"]  # fmt: skip

#: The warehouse's Alembic version table (``alembic_version`` is Optuna's, in a shared database).
VERSION_TABLE = "warehouse_alembic_version"
_SHARED_TABLE = "alembic_version"

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
    current = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    if current.get_current_revision() is None:
        command.stamp(config, revision_of(from_version))
    command.upgrade(config, "head")


def stamp_head(connection: Connection) -> None:
    """Record the newest revision in a database whose tables were just created at the newest schema."""
    command.stamp(_config(connection), "head")


def move_revision_out_of_alembic_version(connection: Connection) -> None:
    """Delete a warehouse revision (``"000N"``) from ``alembic_version`` (left there by tradeloop before
    :data:`VERSION_TABLE`), and the table itself when nothing else is in it; Optuna's revisions stay."""
    if not inspect(connection).has_table(_SHARED_TABLE):
        return
    revisions = [row[0] for row in connection.execute(text(f"SELECT version_num FROM {_SHARED_TABLE}"))]
    ours = [revision for revision in revisions if len(revision) == 4 and revision.isdigit()]
    for revision in ours:
        connection.execute(text(f"DELETE FROM {_SHARED_TABLE} WHERE version_num = :r"), {"r": revision})
    if ours and len(ours) == len(revisions):
        connection.execute(text(f"DROP TABLE {_SHARED_TABLE}"))
