"""Alembic environment: migrations run on the connection (and in the transaction) that opened the warehouse.

:func:`warehouse._migrate.upgrade` puts the connection into ``config.attributes["connection"]``; SQLite
tables are altered in batch mode (copy and move), PostgreSQL ones with plain ``ALTER TABLE``.
"""

from __future__ import annotations

from alembic import context

from warehouse._migrate import VERSION_TABLE
from warehouse._schema import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection, target_metadata=Base.metadata, render_as_batch=True,
    version_table=VERSION_TABLE,
)  # fmt: skip
with context.begin_transaction():
    context.run_migrations()
