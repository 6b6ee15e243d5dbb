"""Hard constraints on a candidate's KPIs: enough trades, a bounded drawdown, a minimum win rate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tradeloop.errors import OptimizerError

__all__ = ["Constraints"]


@dataclass(frozen=True)
class Constraints:
    """Limits every candidate must meet (``None`` = no limit).

    ``violations`` gives Optuna's constraint convention (``Trial.set_constraint``, which replaced the
    samplers' ``constraints_func`` in Optuna 5): one number per constraint, feasible when all are ``<= 0``;
    the size says how far off a candidate is, so samplers can prefer near misses.
    """

    min_trades: int = 30
    max_drawdown_pct: float | None = None
    min_win_rate_pct: float | None = None

    def __post_init__(self) -> None:
        if self.min_trades < 0:
            raise OptimizerError(f"min_trades must be >= 0, got {self.min_trades}; use MIN_TRADES (30)")
        if self.max_drawdown_pct is not None and not self.max_drawdown_pct > 0:
            raise OptimizerError(f"max_drawdown_pct must be > 0, got {self.max_drawdown_pct}")
        if self.min_win_rate_pct is not None and not 0 <= self.min_win_rate_pct <= 100:
            raise OptimizerError(f"min_win_rate_pct must be within [0, 100], got {self.min_win_rate_pct}")

    @property
    def names(self) -> list[str]:
        """The active constraints, in the column order of :meth:`violations`."""
        optional = {"max_drawdown_pct": self.max_drawdown_pct, "min_win_rate_pct": self.min_win_rate_pct}
        return ["min_trades", *(name for name, limit in optional.items() if limit is not None)]

    def violations(self, kpis: Mapping[str, Any] | pd.DataFrame) -> np.ndarray:
        """Columns (min trades, max drawdown, min win rate) of violations, vectorised; NaN KPIs violate."""
        trades = np.asarray(kpis["trades"], dtype=np.float64)
        columns = [self.min_trades - trades]
        if self.max_drawdown_pct is not None:
            columns.append(np.asarray(kpis["max_drawdown_pct"], dtype=np.float64) - self.max_drawdown_pct)
        if self.min_win_rate_pct is not None:
            columns.append(self.min_win_rate_pct - np.asarray(kpis["win_rate_pct"], dtype=np.float64))
        stacked = np.stack(np.broadcast_arrays(*columns), axis=-1)
        return np.where(np.isnan(stacked), np.inf, stacked)

    def passes(self, kpis: Mapping[str, Any] | pd.DataFrame) -> np.ndarray:
        return np.asarray(np.all(self.violations(kpis) <= 0, axis=-1))

    def as_dict(self) -> dict[str, Any]:
        return {
            "min_trades": self.min_trades,
            "max_drawdown_pct": self.max_drawdown_pct,
            "min_win_rate_pct": self.min_win_rate_pct,
        }
