"""Warehouse schema version 1: the baseline.

Schema 1 was created by ``Base.metadata.create_all`` before the warehouse had migrations; a database that
records schema version 1 and no Alembic revision is stamped with this revision and upgraded from here.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to do: the schema 1 tables exist already."""
