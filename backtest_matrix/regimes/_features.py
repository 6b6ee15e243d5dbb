"""Causal per-bar features of the regime detector: momentum, volatility and volume strength.

Every feature at bar ``t`` uses bars ``<= t`` only (trailing windows, no centring, no back-filling). Windows
are given in days and converted to bars with :func:`bars_per_day`, so one configuration means the same
calendar span on every timeframe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from backtest_matrix.data._frame import infer_timeframe, require_bar_columns
from tradeloop.errors import DataError

__all__ = ["FeatureWindows", "bars_per_day", "compute_features", "window_bars"]

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class FeatureWindows:
    """The feature windows of one detection, in bars.

    Attributes
    ----------
    bars_per_day
        Bars per day at the index's most frequent spacing.
    momentum, volatility, volume
        Window lengths in bars.
    warmup
        Leading bars without every feature (their labels are missing): ``max(momentum, volatility,
        volume - 1)``.
    """

    bars_per_day: float
    momentum: int
    volatility: int
    volume: int

    @property
    def warmup(self) -> int:
        return max(self.momentum, self.volatility, self.volume - 1)


def bars_per_day(index: pd.DatetimeIndex) -> float:
    """Bars per day from the index's most frequent spacing (``86400 s / spacing``).

    On markets with closed hours or weekends this counts bars at the bar spacing: with daily stock bars a
    "7-day" window is 7 bars (7 trading days).
    """
    spacing = infer_timeframe(index)
    if spacing is None:
        raise DataError(
            f"regimes: bars: {len(index)} distinct timestamp(s), the bar spacing needs at least 2; "
            "pass a longer series"
        )
    return SECONDS_PER_DAY / spacing.total_seconds()


def window_bars(field: str, days: float, per_day: float, minimum: int) -> int:
    """``round(days * per_day)`` bars, raising when that is below ``minimum``."""
    count = round(days * per_day)
    if count < minimum:
        raise DataError(
            f"regimes: {field}={days} days is {count} bar(s) at {per_day:g} bars/day, fewer than the "
            f"{minimum} needed; raise {field} or use a finer timeframe"
        )
    return int(count)


def compute_features(
    bars: pd.DataFrame, momentum_days: float, volatility_days: float, volume_days: float
) -> tuple[pd.DataFrame, FeatureWindows]:
    """The trailing features of each bar and the windows used.

    Parameters
    ----------
    bars
        Bars (a DatetimeIndex, sorted, columns ``open high low close volume``; close > 0, volume >= 0).
    momentum_days, volatility_days, volume_days
        Window lengths in days.

    Returns
    -------
    tuple[pandas.DataFrame, FeatureWindows]
        Columns ``momentum`` (% per day: the simple return over the momentum window in %, divided by
        ``momentum_days``), ``volatility`` (% per day: the standard deviation of the bar log returns over the
        volatility window times ``sqrt(bars_per_day)``, times 100) and ``volume_strength`` (the bar's volume
        over the mean volume of the trailing volume window, the bar included; 1 when that mean is 0). NaN
        during the warm-up.
    """
    _check_bars(bars)
    per_day = bars_per_day(pd.DatetimeIndex(bars.index))
    windows = FeatureWindows(
        bars_per_day=per_day,
        momentum=window_bars("momentum_days", momentum_days, per_day, 1),
        volatility=window_bars("volatility_days", volatility_days, per_day, 2),
        volume=window_bars("volume_days", volume_days, per_day, 1),
    )
    if len(bars) <= windows.warmup:
        raise DataError(
            f"regimes: bars: {len(bars)} bars, but the windows need {windows.warmup} warm-up bars plus one "
            f"({windows.warmup + 1}) at {per_day:g} bars/day; pass a longer series or shorten the windows"
        )
    close = bars["close"].astype(np.float64)
    volume = bars["volume"].astype(np.float64)
    momentum = (close / close.shift(windows.momentum) - 1.0) * 100.0 / momentum_days
    log_returns = pd.Series(np.log(close.to_numpy()), index=close.index).diff()
    volatility = (
        log_returns.rolling(windows.volatility, min_periods=windows.volatility).std()
        * math.sqrt(per_day)
        * 100
    )
    mean_volume = volume.rolling(windows.volume, min_periods=windows.volume).mean()
    strength = (volume / mean_volume.where(mean_volume > 0)).where(mean_volume != 0, 1.0)
    features = pd.DataFrame(
        {"momentum": momentum, "volatility": volatility, "volume_strength": strength}, index=bars.index
    )
    features.iloc[: windows.warmup] = np.nan
    return features, windows


def _check_bars(bars: pd.DataFrame) -> None:
    if not isinstance(bars, pd.DataFrame):
        raise DataError(f"regimes: bars is a {type(bars).__name__}, not a DataFrame; pass the bars frame")
    require_bar_columns(bars, "regimes: bars")
    index = pd.DatetimeIndex(bars.index)
    if not index.is_monotonic_increasing or index.has_duplicates:
        raise DataError(
            "regimes: bars: the index is not strictly increasing; sort the bars and drop duplicated "
            "timestamps (load them with load_bars)"
        )
    close = bars["close"].to_numpy(dtype=np.float64)
    bad_close = ~(np.isfinite(close) & (close > 0))
    if bad_close.any():
        first = int(np.argmax(bad_close))
        raise DataError(
            f"regimes: bars: close at {index[first]} is {close[first]}; closes must be finite and > 0 "
            "(repair or drop the bar)"
        )
    volume = bars["volume"].to_numpy(dtype=np.float64)
    bad_volume = ~(np.isfinite(volume) & (volume >= 0))
    if bad_volume.any():
        first = int(np.argmax(bad_volume))
        raise DataError(
            f"regimes: bars: volume at {index[first]} is {volume[first]}; volumes must be finite and >= 0 "
            "(repair or drop the bar)"
        )
