"""Warehouse schema version 2: optimization_history records the guardrail memory's events.

- ``outcome`` takes ``proposed``, ``opened``, ``merged``, ``declined`` and ``reverted``: the old ``closed``
  becomes ``declined`` and ``rolled_back`` becomes ``reverted``;
- new nullable columns ``proposal_hash`` (indexed), ``pr_number`` and ``commit_sha``.

The CHECK constraint is dropped before the values change and created after, since neither the old nor the
new one allows both spellings.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLE = "optimization_history"
CHECK = "ck_optimization_history_outcome_allowed"
OLD_OUTCOMES = ("proposed", "merged", "closed", "reverted", "rolled_back")
NEW_OUTCOMES = ("proposed", "opened", "merged", "declined", "reverted")
RENAMED = {"closed": "declined", "rolled_back": "reverted"}


def _one_of(values: tuple[str, ...]) -> str:
    return "outcome IN (" + ", ".join(f"'{value}'" for value in values) + ")"


def upgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_constraint(op.f(CHECK), type_="check")
        batch.add_column(sa.Column("proposal_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("pr_number", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("commit_sha", sa.String(64), nullable=True))
        batch.create_index(op.f("ix_optimization_history_proposal_hash"), ["proposal_hash"])
    history = sa.table(TABLE, sa.column("outcome", sa.String))
    for old, new in RENAMED.items():
        op.execute(history.update().where(history.c.outcome == old).values(outcome=new))
    with op.batch_alter_table(TABLE) as batch:
        batch.create_check_constraint(op.f(CHECK), sa.text(_one_of(NEW_OUTCOMES)))
