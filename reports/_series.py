"""Tearsheet figures of an equity series (QuantStats' panels): returns, Sharpe, drawdown, monthly returns."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = [
    "annualised_sharpe",
    "drawdown_pct",
    "monthly_returns_pct",
    "periods_per_year",
    "rolling_sharpe",
    "total_return_pct",
]

_YEAR = pd.Timedelta(days=365.25)
_MONTH = pd.Timedelta(days=30)


def total_return_pct(equity: pd.Series) -> float | None:
    """The return from the first to the last point, in %; None with fewer than two points."""
    values = equity.dropna().to_numpy(dtype=float)
    if len(values) < 2 or values[0] <= 0:
        return None
    return float((values[-1] / values[0] - 1.0) * 100.0)


def periods_per_year(index: pd.DatetimeIndex) -> float:
    """How many points a year the series has (its median spacing); 252 when it cannot tell."""
    if len(index) < 2:
        return 252.0
    step = pd.Series(index).diff().median()
    if pd.isna(step) or step <= pd.Timedelta(0):
        return 252.0
    return float(_YEAR / step)


def annualised_sharpe(equity: pd.Series) -> float | None:
    """The annualised Sharpe ratio of the period returns (risk-free rate 0); None when it is undefined."""
    returns = equity.dropna().pct_change().dropna()
    if len(returns) < 2:
        return None
    spread = float(returns.std())
    if not math.isfinite(spread) or spread == 0:
        return None
    return float(returns.mean()) / spread * math.sqrt(periods_per_year(pd.DatetimeIndex(equity.index)))


def drawdown_pct(equity: pd.Series) -> pd.Series:
    """The fall from the running peak, in % (0 at a new high, negative below it)."""
    peak = equity.cummax()
    return (equity / peak - 1.0) * 100.0


def monthly_returns_pct(equity: pd.Series) -> pd.DataFrame:
    """Returns per calendar month in %: rows are years, columns the months 1–12 (NaN where none)."""
    month_end = equity.dropna().resample("ME").last().dropna()
    if len(month_end) < 1:
        return pd.DataFrame(columns=range(1, 13))
    first = equity.dropna().iloc[0]
    previous = month_end.shift(1)
    previous.iloc[0] = first
    returns = (month_end / previous - 1.0) * 100.0
    index = pd.DatetimeIndex(returns.index)
    frame = pd.DataFrame({"year": index.year, "month": index.month, "value": returns.to_numpy()})
    table = frame.pivot_table(index="year", columns="month", values="value", aggfunc="last")
    return table.reindex(columns=range(1, 13))


def rolling_sharpe(equity: pd.Series, window: pd.Timedelta = _MONTH) -> pd.Series:
    """The annualised Sharpe ratio over a trailing time ``window`` (NaN until the window has 3 returns)."""
    returns = equity.dropna().pct_change().dropna()
    if returns.empty:
        return returns
    scale = math.sqrt(periods_per_year(pd.DatetimeIndex(returns.index)))
    rolled = returns.rolling(window, min_periods=3)
    sharpe = rolled.mean() / rolled.std().replace(0.0, np.nan) * scale
    return sharpe.replace([np.inf, -np.inf], np.nan)
