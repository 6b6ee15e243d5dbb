"""What the dashboard shows, read once: the warehouse's tables, the git history of the live state, the
optimizer's studies, the nightly flags and the live pairs' prices.

:func:`read_warehouse_tables` reads every table the panels need in one pass (plain DataFrames with tz-aware
UTC timestamps); the composition root adds the history, the studies and the prices it can reach, and hands
the whole :class:`DashboardData` to :func:`reports.write_dashboard`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import Table, select
from sqlalchemy.exc import SQLAlchemyError

from tradeloop.errors import WarehouseError
from warehouse import (
    BacktestResult,
    Base,
    Equity,
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
#: Columns left out of the read (large documents no panel shows).
_SKIPPED = {"backtests": ("params", "error")}


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
    return pd.DataFrame(columns=[column.name for column in _columns(name)])


def _columns(name: str) -> list[Any]:
    table: Table = Base.metadata.tables[TABLES[name].__tablename__]
    return [column for column in table.columns if column.name not in _SKIPPED.get(name, ())]


def read_warehouse_tables(warehouse: Warehouse) -> dict[str, pd.DataFrame]:
    """Every table of :data:`TABLES`, whole, as DataFrames (timestamps tz-aware UTC).

    Raises
    ------
    WarehouseError
        The database could not be read (the message masks the password).
    """
    frames = {}
    try:
        with warehouse.engine.connect() as connection:
            for name in TABLES:
                columns = _columns(name)
                result = connection.execute(select(*columns))
                frame = pd.DataFrame(result.all(), columns=[column.name for column in columns])
                for column in columns:
                    if isinstance(column.type, UTCDateTime):
                        frame[column.name] = pd.to_datetime(frame[column.name], utc=True)
                frames[name] = frame
    except SQLAlchemyError as exc:
        line = str(exc).splitlines()[0]
        raise WarehouseError(
            f"warehouse {warehouse.url}: reading the dashboard's tables failed: {line}"
        ) from exc
    return frames
