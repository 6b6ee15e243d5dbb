"""What the dashboard shows, read once: the warehouse's tables, the git history of the live state, the
optimizer's studies, the nightly flags and the live pairs' prices.

:func:`read_warehouse_tables` reads every table the panels need in one pass (plain DataFrames with tz-aware
UTC timestamps); the composition root adds the history, the studies and the prices it can reach, and hands
the whole :class:`DashboardData` to :func:`reports.write_dashboard`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import Connection, Float, Select, String, Table, Text, func, select
from sqlalchemy.exc import SQLAlchemyError

from tradeloop.errors import WarehouseError
from warehouse import (
    BacktestResult,
    Base,
    Equity,
    ExperimentRun,
    OptimizationProposal,
    RegimeDetection,
    Rollout,
    RolloutCheck,
    Trade,
    UTCDateTime,
)

if TYPE_CHECKING:
    from backtest_matrix.matrix import Flag
    from gitops import Rejection, StateChange
    from warehouse import Warehouse

__all__ = ["TABLES", "DashboardData", "StudySummary", "read_warehouse_tables"]

#: The warehouse tables the panels read, by the name :attr:`DashboardData.tables` keys them.
TABLES: dict[str, type[Base]] = {
    "proposals": OptimizationProposal,
    "rollouts": Rollout,
    "checks": RolloutCheck,
    "equity": Equity,
    "trades": Trade,
    "backtests": BacktestResult,
    "regimes": RegimeDetection,
}
#: The columns the panels read, per table (the proposals' KPI documents are read apart, for the newest).
COLUMNS: dict[str, tuple[str, ...]] = {
    "proposals": ("id", "run_id", "strategy", "symbol", "timeframe", "parameter", "current_value",
                  "proposed_value", "outcome", "created_at", "decided_at", "proposal_hash"),
    "rollouts": ("strategy", "symbol", "config_hash", "stage", "canary_fraction", "status", "reason",
                 "pr_number", "started_at", "updated_at", "previous_config_hash", "stage_since"),
    "checks": ("analysis_id", "strategy", "symbol", "stage", "mode", "checked_at", "name", "outcome",
               "figure", "threshold", "comparator", "unit", "detail", "decision"),
    "equity": ("strategy", "symbol", "timeframe", "config_hash", "mode", "ts", "equity_usd"),
    "trades": ("strategy", "symbol", "side", "entry_time", "exit_time", "entry_price", "exit_price", "pnl",
               "pnl_pct", "exit_reason", "mode", "config_hash"),
    "backtests": ("run_id", "strategy", "symbol", "timeframe", "window", "kpis", "status", "created_at"),
    "regimes": ("symbol", "timeframe", "window_start", "window_end", "regime", "confidence"),
}  # fmt: skip
_DOCUMENTS = ("kpis", "kpis_before", "kpis_after", "params")
#: The experiment-run kind a validation is recorded as (``tradeloop.loop.VALIDATE_KIND``).
VALIDATE_RUN_KIND = "validate"
#: The newest proposal rows read in full, with their PR and KPI documents (the panels list the last 50).
DETAIL_ROWS = 2_000
_DETAILS = ("delta_pct", "config_hash", "pr_url", "pr_number", "commit_sha", "kpis_before", "kpis_after")


@dataclass(frozen=True)
class StudySummary:
    """One optimizer study as its panel draws it: plotly figures (plain dicts) already made by Optuna."""

    name: str
    trials: int
    first: datetime | None
    last: datetime | None
    figures: Mapping[str, Mapping[str, Any]]
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class DashboardData:
    """Everything the panels show. Empty tables and tuples mean "no data yet", never an error.

    Attributes
    ----------
    generated_at
        When the dashboard was built (the right end of "time in stage").
    tables
        :data:`TABLES` by name, each a DataFrame (possibly empty, with its columns).
    changes, rejections
        The live state's changes and the reverted or declined proposals, from git history and the forge.
    flags
        The latest nightly matrix run's flags, and that run's id.
    studies
        The optimizer's latest studies.
    prices
        Close prices per symbol (for buy-and-hold), where the bars could be loaded.
    max_delta
        The per-cycle cap of a parameter move (``OPTIMIZER_MAX_DELTA``, a fraction).
    source
        Where the data came from (the masked warehouse URL, the repository), shown in the header.
    notes
        Why a part of the data is missing (no git history, a study that could not be read, ...).
    """

    generated_at: datetime
    tables: Mapping[str, pd.DataFrame]
    changes: tuple[StateChange, ...] = ()
    rejections: tuple[Rejection, ...] = ()
    flags: tuple[Flag, ...] = ()
    flags_run: str | None = None
    studies: tuple[StudySummary, ...] = ()
    prices: Mapping[str, pd.Series] = field(default_factory=dict)
    max_delta: float = 0.2
    source: str = ""
    notes: tuple[str, ...] = ()

    def table(self, name: str) -> pd.DataFrame:
        """The table ``name`` of :data:`TABLES` (empty, with its columns, when it was not read)."""
        frame = self.tables.get(name)
        return frame if frame is not None else empty_table(name)


def empty_table(name: str) -> pd.DataFrame:
    """The table ``name`` with its columns and no row."""
    if name == "stages":
        return pd.DataFrame(columns=list(_STAGE_COLUMNS))
    if name == "validations":
        return pd.DataFrame(columns=["started_at", "params"])
    extra = list(_DETAILS) if name == "proposals" else []
    return pd.DataFrame(columns=[*(column.name for column in _columns(name)), *extra])


def _columns(name: str) -> list[Any]:
    table: Table = Base.metadata.tables[TABLES[name].__tablename__]
    return [table.c[column] for column in COLUMNS[name]]


def read_warehouse_tables(warehouse: Warehouse) -> dict[str, pd.DataFrame]:
    """Every table of :data:`TABLES` as DataFrames (timestamps tz-aware UTC; JSON documents as dicts).

    The rows come through the driver as they are (a year of hourly cycles is a million rows: the column
    types' per-value processing would take most of the build), and are converted a column at a time. The
    proposals' KPI documents are read for the newest :data:`KPI_ROWS` rows only, the ones the panels list.

    Raises
    ------
    WarehouseError
        The database could not be read (the message masks the password).
    """
    frames = {}
    try:
        with warehouse.engine.connect() as connection:
            for name in TABLES:
                if name != "checks":
                    frames[name] = _read(connection, _columns(name), select(*_columns(name)))
            frames["proposals"] = _with_details(connection, frames["proposals"])
            frames["checks"], frames["stages"] = _checks(connection)
            frames["validations"] = _validations(connection)
    except SQLAlchemyError as exc:
        line = str(exc).splitlines()[0]
        raise WarehouseError(
            f"warehouse {warehouse.url}: reading the dashboard's tables failed: {line}"
        ) from exc
    return frames


def _validations(connection: Connection) -> pd.DataFrame:
    """The validations' records (``tradeloop validate``): proposal hash, decision and holdout deltas."""
    table: Table = Base.metadata.tables[ExperimentRun.__tablename__]
    columns = [table.c.started_at, table.c.params]
    frame = _read(connection, columns, select(*columns).where(table.c.kind == VALIDATE_RUN_KIND))
    return frame.sort_values("started_at") if not frame.empty else frame


def _read(connection: Connection, columns: list[Any], query: Select[Any]) -> pd.DataFrame:
    """The rows of ``query`` straight from the driver's cursor, turned into columns in one pass."""
    statement = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(statement)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    values = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    return pd.DataFrame(
        {column.name: _series(column, list(data)) for column, data in zip(columns, values, strict=True)}
    )


def _series(column: Any, values: list[Any]) -> pd.Series:
    """One column: UTC timestamps, parsed JSON documents, numbers, or text (kept as Python strings)."""
    if isinstance(column.type, UTCDateTime):
        return pd.Series(pd.to_datetime(values, utc=True, format="ISO8601"))
    if column.name in _DOCUMENTS:
        return pd.Series([_document(value) for value in values], dtype=object)
    if isinstance(column.type, String | Text):
        return pd.Series(values, dtype=object)
    return pd.Series(values, dtype=float if isinstance(column.type, Float) else None)


def _document(value: Any) -> Any:
    """A JSON column's value: text on SQLite, already a dict on PostgreSQL."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def _with_details(connection: Connection, proposals: pd.DataFrame) -> pd.DataFrame:
    """``proposals`` with the PR, commit and KPI columns of the newest :data:`DETAIL_ROWS` rows."""
    table: Table = Base.metadata.tables[OptimizationProposal.__tablename__]
    columns = [table.c.id, *(table.c[name] for name in _DETAILS)]
    newest = select(*columns).order_by(table.c.created_at.desc(), table.c.id.desc()).limit(DETAIL_ROWS)
    details = _read(connection, columns, newest).set_index("id")
    ids = proposals["id"]
    return proposals.assign(**{name: ids.map(details[name]) for name in _DETAILS})


_STAGE_COLUMNS = ("strategy", "symbol", "stage", "first", "last", "analyses", "checks")


def _checks(connection: Connection) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The checks of each pair's latest analysis, and per pair and stage its first and last analysis.

    A year of hourly analyses is half a million checks; the panels show the latest ones and the stages.
    """
    table: Table = Base.metadata.tables[RolloutCheck.__tablename__]
    latest = (
        select(table.c.strategy, table.c.symbol, func.max(table.c.checked_at).label("latest"))
        .group_by(table.c.strategy, table.c.symbol)
        .subquery()
    )
    columns = _columns("checks")
    last = select(*columns).join(
        latest,
        (table.c.strategy == latest.c.strategy)
        & (table.c.symbol == latest.c.symbol)
        & (table.c.checked_at == latest.c.latest),
    )
    first, final = func.min(table.c.checked_at), func.max(table.c.checked_at)
    stages = select(
        table.c.strategy, table.c.symbol, table.c.stage, first.label("first"), final.label("last"),
        func.count(func.distinct(table.c.analysis_id)).label("analyses"), func.count().label("checks"),
    ).group_by(table.c.strategy, table.c.symbol, table.c.stage)  # fmt: skip
    kinds = [table.c.strategy, table.c.symbol, table.c.stage, table.c.checked_at.label("first"),
             table.c.checked_at.label("last"), table.c.interval_index.label("analyses"),
             table.c.interval_index.label("checks")]  # fmt: skip
    return _read(connection, columns, last), _read(connection, kinds, stages)
