"""The warehouse tables as schema version 2 created them (tradeloop before issue 17), copied verbatim from
warehouse/_schema.py at 08695a8: the migration tests build a database of the previous head with exactly this
DDL."""
# ruff: noqa
# mypy: ignore-errors

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from warehouse._types import JSON_DOCUMENT, UTCDateTime

__all__ = [
    "PROPOSAL_OUTCOMES",
    "REGIMES",
    "RESULT_STATUSES",
    "ROLLOUT_STAGES",
    "RUN_STATUSES",
    "SCHEMA_VERSION",
    "TRADE_SIDES",
    "BacktestResult",
    "Base",
    "ExperimentRun",
    "OptimizationProposal",
    "PredictionPerformance",
    "RegimeDetection",
    "Rollout",
    "SchemaVersion",
    "Trade",
]

#: Bump when a table or column changes, with an Alembic revision in ``warehouse/migrations/versions`` that
#: takes a database of the previous version there; a database with a newer version is refused by older code.
SCHEMA_VERSION = 2

RUN_STATUSES = ("running", "ok", "error", "timeout", "interrupted")
RESULT_STATUSES = ("ok", "error", "timeout")
#: What became of a proposal, in order: written by ``tradeloop propose``, opened as a pull request, merged
#: onto the base branch, declined (closed without merging) or reverted (rolled back after a merge).
PROPOSAL_OUTCOMES = ("proposed", "opened", "merged", "declined", "reverted")
TRADE_SIDES = ("long", "short")
REGIMES = ("bull", "bear", "sideways", "high_vol")
ROLLOUT_STAGES = ("COLD", "WARM", "LIMITED", "FULL")

_NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = 64  # length of ids, names and hashes
SHORT = 32


def _one_of(column: str, allowed: tuple[str, ...]) -> CheckConstraint:
    listed = ", ".join(f"'{value}'" for value in allowed)
    return CheckConstraint(f"{column} IN ({listed})", name=f"{column}_allowed")


def _between(column: str, low: float, high: float) -> CheckConstraint:
    return CheckConstraint(f"{column} >= {low} AND {column} <= {high}", name=f"{column}_range")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=_NAMING)


class SchemaVersion(Base):
    """The single row recording which schema version the database holds."""

    __tablename__ = "schema_version"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ExperimentRun(Base):
    """One invocation of a stage (matrix, optimize, validate, data-check, ...) and its provenance."""

    __tablename__ = "experiment_runs"
    __table_args__ = (_one_of("status", RUN_STATUSES),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(ID), unique=True)
    kind: Mapped[str] = mapped_column(String(SHORT), index=True)
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    git_sha: Mapped[str] = mapped_column(String(ID))
    config_hash: Mapped[str | None] = mapped_column(String(ID))
    data_hash: Mapped[str | None] = mapped_column(String(ID))
    seed: Mapped[int | None] = mapped_column(BigInteger)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON_DOCUMENT)
    notes: Mapped[str | None] = mapped_column(Text)


class BacktestResult(Base):
    """One cell of the backtest matrix: a strategy/symbol/timeframe/window/params combination and its KPIs."""

    __tablename__ = "backtest_results"
    __table_args__ = (
        _one_of("status", RESULT_STATUSES),
        Index(None, "strategy", "symbol", "timeframe"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(ID), ForeignKey("experiment_runs.run_id"), index=True)
    cell_hash: Mapped[str] = mapped_column(String(ID), unique=True)
    strategy: Mapped[str] = mapped_column(String(ID))
    symbol: Mapped[str] = mapped_column(String(ID))
    timeframe: Mapped[str] = mapped_column(String(SHORT))
    window: Mapped[str] = mapped_column(String(ID))
    params: Mapped[dict[str, Any]] = mapped_column(JSON_DOCUMENT)
    seed: Mapped[int | None] = mapped_column(BigInteger)
    kpis: Mapped[dict[str, Any]] = mapped_column(JSON_DOCUMENT)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    git_sha: Mapped[str | None] = mapped_column(String(ID))
    config_hash: Mapped[str | None] = mapped_column(String(ID))
    data_hash: Mapped[str | None] = mapped_column(String(ID))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OptimizationProposal(Base):
    """One parameter change the optimizer proposed (or a person applied), and what became of it.

    ``proposal_hash`` is the proposal's contract-2 hash (the rows of one proposal share it),
    ``pr_number`` its pull request and ``commit_sha`` the base commit that applied or reverted it.
    """

    __tablename__ = "optimization_history"
    __table_args__ = (
        _one_of("outcome", PROPOSAL_OUTCOMES),
        Index(None, "strategy", "symbol", "timeframe"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(ID), index=True)
    strategy: Mapped[str] = mapped_column(String(ID))
    symbol: Mapped[str] = mapped_column(String(ID))
    timeframe: Mapped[str] = mapped_column(String(SHORT))
    parameter: Mapped[str] = mapped_column(String(ID))
    current_value: Mapped[float] = mapped_column(Float)
    proposed_value: Mapped[float] = mapped_column(Float)
    delta_pct: Mapped[float] = mapped_column(Float)
    bound: Mapped[str] = mapped_column(Text)
    rationale: Mapped[str] = mapped_column(Text)
    kpis_before: Mapped[dict[str, Any]] = mapped_column(JSON_DOCUMENT)
    kpis_after: Mapped[dict[str, Any]] = mapped_column(JSON_DOCUMENT)
    config_hash: Mapped[str] = mapped_column(String(ID), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    pr_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    proposal_hash: Mapped[str | None] = mapped_column(String(ID), index=True)
    pr_number: Mapped[int | None] = mapped_column(Integer)
    commit_sha: Mapped[str | None] = mapped_column(String(ID))


class PredictionPerformance(Base):
    """A model's prediction for one bar and horizon, with the realised value once it is known."""

    __tablename__ = "prediction_performance"
    __table_args__ = (
        CheckConstraint("horizon_bars > 0", name="horizon_bars_positive"),
        Index(None, "model", "symbol", "timeframe"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(ID), index=True)
    model: Mapped[str] = mapped_column(String(ID))
    symbol: Mapped[str] = mapped_column(String(ID))
    timeframe: Mapped[str] = mapped_column(String(SHORT))
    ts: Mapped[datetime] = mapped_column(UTCDateTime())
    horizon_bars: Mapped[int] = mapped_column(Integer)
    predicted: Mapped[float] = mapped_column(Float)
    realized: Mapped[float | None] = mapped_column(Float)
    hit: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Trade(Base):
    """One closed trade of a backtest or a paper/live run."""

    __tablename__ = "trades"
    __table_args__ = (
        _one_of("side", TRADE_SIDES),
        Index(None, "strategy", "symbol", "timeframe"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(ID), index=True)
    strategy: Mapped[str] = mapped_column(String(ID))
    symbol: Mapped[str] = mapped_column(String(ID))
    timeframe: Mapped[str] = mapped_column(String(SHORT))
    side: Mapped[str] = mapped_column(String(8))
    entry_time: Mapped[datetime] = mapped_column(UTCDateTime())
    exit_time: Mapped[datetime] = mapped_column(UTCDateTime())
    entry_price: Mapped[float] = mapped_column(Float)
    exit_price: Mapped[float] = mapped_column(Float)
    size: Mapped[float] = mapped_column(Float)
    pnl: Mapped[float] = mapped_column(Float)
    pnl_pct: Mapped[float] = mapped_column(Float)
    fees: Mapped[float] = mapped_column(Float)
    exit_reason: Mapped[str | None] = mapped_column(String(SHORT))


class RegimeDetection(Base):
    """The market regime detected for one symbol/timeframe over one window."""

    __tablename__ = "regime_detections"
    __table_args__ = (
        _one_of("regime", REGIMES),
        _between("confidence", 0, 1),
        Index(None, "symbol", "timeframe"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(ID), index=True)
    symbol: Mapped[str] = mapped_column(String(ID))
    timeframe: Mapped[str] = mapped_column(String(SHORT))
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    window_end: Mapped[datetime] = mapped_column(UTCDateTime())
    regime: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[float] = mapped_column(Float)
    momentum_pct_per_day: Mapped[float] = mapped_column(Float)
    volatility: Mapped[float] = mapped_column(Float)
    volume_strength: Mapped[float | None] = mapped_column(Float)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Rollout(Base):
    """The canary rollout of one configuration for one strategy/symbol (one row per pair)."""

    __tablename__ = "rollouts"
    __table_args__ = (
        _one_of("stage", ROLLOUT_STAGES),
        _between("canary_fraction", 0, 1),
        UniqueConstraint("strategy", "symbol"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    strategy: Mapped[str] = mapped_column(String(ID))
    symbol: Mapped[str] = mapped_column(String(ID))
    config_hash: Mapped[str] = mapped_column(String(ID))
    stage: Mapped[str] = mapped_column(String(16))
    canary_fraction: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(SHORT))
    reason: Mapped[str | None] = mapped_column(Text)
    pr_number: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
