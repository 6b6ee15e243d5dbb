"""Aggregating bars to a higher timeframe."""

from __future__ import annotations

import numpy as np
import pandas as pd

from backtest_matrix.data._frame import (
    BAR_COLUMNS,
    bars_frame,
    infer_timeframe,
    require_bar_columns,
    utc_index,
)
from backtest_matrix.data._timeframe import format_timeframe, parse_timeframe
from tradeloop.errors import DataError, DataSourceError

__all__ = ["check_resample_target", "resample_ohlcv"]

_WEEK_NS = 7 * 86_400 * 10**9
_MONDAY_NS = 4 * 86_400 * 10**9  # 1970-01-05, the first Monday after the epoch


def check_resample_target(source: pd.Timedelta, target: pd.Timedelta, what: str) -> None:
    """Raise unless ``target`` is a whole multiple (1 included) of the ``source`` timeframe."""
    if target < source:
        raise DataSourceError(
            f"{what}: cannot resample {format_timeframe(source)} bars to {format_timeframe(target)}; "
            f"bars are only aggregated to a higher timeframe, use {format_timeframe(source)} or higher"
        )
    if target.value % source.value:
        multiples = ", ".join(format_timeframe(source * k) for k in (2, 3, 4, 6, 12) if source * k != target)
        raise DataSourceError(
            f"{what}: cannot resample {format_timeframe(source)} bars to {format_timeframe(target)}: "
            f"{format_timeframe(target)} is not a whole multiple of {format_timeframe(source)}; "
            f"use a multiple such as {multiples}"
        )


def resample_ohlcv(
    bars: pd.DataFrame, timeframe: str | pd.Timedelta, *, source_timeframe: str | pd.Timedelta | None = None
) -> pd.DataFrame:
    """Aggregate bars to a higher timeframe.

    Each output bar is labelled by the left edge of its bin and covers ``[label, label + timeframe)``: a 1h
    bar labelled 10:00 holds the bars stamped 10:00 up to 10:59:59. Bins are aligned to the Unix epoch
    (1970-01-01 00:00 UTC), so daily bins start at midnight UTC and 4h bins at 00:00, 04:00, ... UTC; bins of
    whole weeks start on Mondays (1970-01-05).
    Per bin: open = first open, high = max high, low = min low, close = last close, volume = sum. Bins
    without bars (weekends, gaps) are dropped, never forward-filled. A NaN in a bin propagates to its bar.

    Parameters
    ----------
    bars
        Bars sorted by time without duplicated timestamps (as returned by ``load_bars``).
    timeframe
        The target timeframe (``"1h"`` or a Timedelta); a whole multiple of the source timeframe.
    source_timeframe
        The timeframe of ``bars``; default the most frequent spacing of their timestamps.

    Returns
    -------
    pandas.DataFrame
        Bars at ``timeframe``.

    Raises
    ------
    DataSourceError
        When ``timeframe`` is lower than, or not a whole multiple of, the source timeframe.
    DataError
        When ``bars`` are unsorted or have duplicated timestamps.
    """
    require_bar_columns(bars, "resample_ohlcv")
    target = parse_timeframe(timeframe) if isinstance(timeframe, str) else pd.Timedelta(timeframe)
    index = utc_index(bars.index)
    if not index.is_monotonic_increasing or index.has_duplicates:
        raise DataError(
            "resample_ohlcv: the bars' timestamps are unsorted or duplicated; sort them and drop duplicates "
            "first (load_bars returns them so)"
        )
    if isinstance(source_timeframe, str):
        source: pd.Timedelta | None = parse_timeframe(source_timeframe)
    else:
        source = infer_timeframe(index) if source_timeframe is None else pd.Timedelta(source_timeframe)
    if source is not None:
        check_resample_target(source, target, "resample_ohlcv")
    if len(index) == 0:
        return bars_frame(index, {name: bars[name] for name in BAR_COLUMNS})
    step = int(target.value)
    origin = _MONDAY_NS if step % _WEEK_NS == 0 else 0
    bins = (index.asi8 - origin) // step
    starts = np.flatnonzero(np.concatenate(([True], bins[1:] != bins[:-1])))
    ends = np.concatenate((starts[1:], [len(bins)])) - 1
    values = {name: bars[name].to_numpy(dtype=np.float64) for name in BAR_COLUMNS}
    aggregated = {
        "open": values["open"][starts],
        "high": np.maximum.reduceat(values["high"], starts),
        "low": np.minimum.reduceat(values["low"], starts),
        "close": values["close"][ends],
        "volume": np.add.reduceat(values["volume"], starts),
    }
    return bars_frame(pd.DatetimeIndex(bins[starts] * step + origin, tz="UTC"), aggregated)
