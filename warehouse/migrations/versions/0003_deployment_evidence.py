"""Warehouse schema version 3: the deployment stage's evidence.

- ``trades`` learns the bot's ``trade_id`` (unique, so ingesting a file twice adds nothing), the
  ``config_hash`` of the parameter set that traded and its ``mode`` (backtest, paper or live), indexed by
  strategy, symbol, config hash and mode;
- ``equity`` (new): the equity of one parameter set at one bar, unique per strategy, symbol, config hash,
  mode and time;
- ``rollout_checks`` (new): every check of every canary analysis, with its figure, threshold and outcome;
- ``rollouts`` learns ``previous_config_hash`` and ``stage_since`` (when the base branch entered the stage).

Existing rows keep their values; the new columns are NULL in them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-14
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from warehouse._types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

MODES = ("backtest", "paper", "live")
STAGES = ("COLD", "WARM", "LIMITED", "FULL")
OUTCOMES = ("pass", "fail", "inconclusive", "error")
DECISIONS = ("promote", "hold", "fail")


def upgrade() -> None:
    with op.batch_alter_table("trades") as batch:
        batch.add_column(sa.Column("trade_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("config_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("mode", sa.String(16), nullable=True))
        batch.create_unique_constraint(op.f("uq_trades_trade_id"), ["trade_id"])
        batch.create_check_constraint(op.f("ck_trades_mode_allowed"), sa.text(_in("mode", MODES)))
        batch.create_index(
            op.f("ix_trades_strategy_symbol_config_hash_mode"), ["strategy", "symbol", "config_hash", "mode"]
        )
    with op.batch_alter_table("rollouts") as batch:
        batch.add_column(sa.Column("previous_config_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("stage_since", UTCDateTime(), nullable=True))
    op.create_table(
        "equity",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("strategy", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("timeframe", sa.String(32), nullable=False),
        sa.Column("config_hash", sa.String(64), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("equity_usd", sa.Float(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equity")),
        sa.CheckConstraint(_in("mode", MODES), name=op.f("ck_equity_mode_allowed")),
        sa.UniqueConstraint(
            "strategy",
            "symbol",
            "config_hash",
            "mode",
            "ts",
            name=op.f("uq_equity_strategy_symbol_config_hash_mode_ts"),
        ),
    )
    op.create_index(op.f("ix_equity_run_id"), "equity", ["run_id"])
    op.create_table(
        "rollout_checks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("analysis_id", sa.String(64), nullable=False),
        sa.Column("strategy", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("config_hash", sa.String(64), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("checked_at", UTCDateTime(), nullable=False),
        sa.Column("interval_index", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("figure", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("comparator", sa.String(4), nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("analysis_outcome", sa.String(16), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("failed_checks", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollout_checks")),
        sa.CheckConstraint(_in("stage", STAGES), name=op.f("ck_rollout_checks_stage_allowed")),
        sa.CheckConstraint(_in("mode", MODES), name=op.f("ck_rollout_checks_mode_allowed")),
        sa.CheckConstraint(_in("outcome", OUTCOMES), name=op.f("ck_rollout_checks_outcome_allowed")),
        sa.CheckConstraint(
            _in("analysis_outcome", OUTCOMES), name=op.f("ck_rollout_checks_analysis_outcome_allowed")
        ),
        sa.CheckConstraint(_in("decision", DECISIONS), name=op.f("ck_rollout_checks_decision_allowed")),
        sa.CheckConstraint("interval_index >= 0", name=op.f("ck_rollout_checks_interval_index_positive")),
        sa.UniqueConstraint("analysis_id", "name", name=op.f("uq_rollout_checks_analysis_id_name")),
    )
    op.create_index(op.f("ix_rollout_checks_analysis_id"), "rollout_checks", ["analysis_id"])
    op.create_index(
        op.f("ix_rollout_checks_strategy_symbol_config_hash_stage"),
        "rollout_checks",
        ["strategy", "symbol", "config_hash", "stage"],
    )


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{value}'" for value in values) + ")"
