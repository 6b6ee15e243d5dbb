"""The Bars contract and the raw, as-loaded form that the quality checks see.

Bars are a DataFrame with a tz-aware UTC ``DatetimeIndex`` (nanosecond unit) named ``timestamp`` and float64
columns exactly ``open high low close volume``, sorted and without duplicated timestamps. Raw bars have the
same columns and index type but keep the order and the duplicates of the source, together with each row's
1-based data row number in the source, so that findings can point at the row to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradeloop.errors import DataError

__all__ = [
    "BAR_COLUMNS",
    "RawBars",
    "bars_frame",
    "infer_timeframe",
    "normalise_bars",
    "require_bar_columns",
    "utc_index",
]

BAR_COLUMNS = ("open", "high", "low", "close", "volume")
INDEX_NAME = "timestamp"


def utc_index(index: pd.Index | pd.Series | npt.NDArray[np.int64]) -> pd.DatetimeIndex:
    """A tz-aware UTC, nanosecond ``DatetimeIndex`` named ``timestamp`` (naive input is taken as UTC).

    The ``freq`` is dropped, so that bars compare equal however they were made (generated, read, cached).
    """
    result = pd.DatetimeIndex(index)
    result = result.tz_localize("UTC") if result.tz is None else result.tz_convert("UTC")
    return pd.DatetimeIndex(result.as_unit("ns").array, name=INDEX_NAME)


def bars_frame(index: pd.DatetimeIndex, columns: Mapping[str, npt.ArrayLike]) -> pd.DataFrame:
    """A frame with exactly the bar columns as float64 over ``index`` (converted to UTC, ns)."""
    data = {name: np.asarray(columns[name], dtype=np.float64) for name in BAR_COLUMNS}
    return pd.DataFrame(data, index=utc_index(index))


@dataclass(frozen=True)
class RawBars:
    """Bars as loaded from a source, before sorting or de-duplication.

    Attributes
    ----------
    frame
        Bar columns over a UTC index, in source order, duplicates kept (normalised to float64 columns and a
        UTC nanosecond index on construction).
    rows
        The 1-based data row number of each row in the source (header not counted).
    """

    frame: pd.DataFrame
    rows: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        require_bar_columns(self.frame, "raw bars")
        if len(self.rows) != len(self.frame):
            raise DataError(
                f"raw bars: {len(self.rows)} row numbers for {len(self.frame)} rows; give one per row"
            )
        frame = bars_frame(pd.DatetimeIndex(self.frame.index), {n: self.frame[n] for n in BAR_COLUMNS})
        object.__setattr__(self, "frame", frame)
        object.__setattr__(self, "rows", np.asarray(self.rows, dtype=np.int64))

    @classmethod
    def numbered(cls, frame: pd.DataFrame) -> RawBars:
        """Raw bars whose rows are numbered 1..n in frame order."""
        return cls(frame, np.arange(1, len(frame) + 1, dtype=np.int64))

    def last_days(self, days: float) -> RawBars:
        """The rows less than ``days`` before the latest timestamp, in their order."""
        if len(self.frame) == 0:
            return self
        stamps = pd.DatetimeIndex(self.frame.index).asi8
        keep = stamps > stamps.max() - round(days * 86_400e9)
        return RawBars(self.frame[keep], self.rows[keep])


def normalise_bars(frame: pd.DataFrame) -> pd.DataFrame:
    """Bars from raw rows: sorted by time (stable) with the first of each duplicated timestamp kept."""
    ordered = frame.sort_index(kind="stable")
    ordered = ordered[~ordered.index.duplicated(keep="first")]
    return bars_frame(pd.DatetimeIndex(ordered.index), {name: ordered[name] for name in BAR_COLUMNS})


def infer_timeframe(index: pd.DatetimeIndex) -> pd.Timedelta | None:
    """The most frequent positive spacing of the distinct timestamps (the shortest on ties); None below 2."""
    stamps = np.unique(utc_index(index).asi8)
    if len(stamps) < 2:
        return None
    spacings, counts = np.unique(np.diff(stamps), return_counts=True)
    return pd.Timedelta(int(spacings[np.argmax(counts)]), unit="ns")


def require_bar_columns(frame: pd.DataFrame, what: str) -> None:
    """Raise when ``frame`` lacks a bar column or a DatetimeIndex."""
    missing = [name for name in BAR_COLUMNS if name not in frame.columns]
    if missing:
        raise DataError(
            f"{what}: columns {missing} are missing (present: {list(frame.columns)}); "
            f"bars need the columns {list(BAR_COLUMNS)}"
        )
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise DataError(
            f"{what}: the index is a {type(frame.index).__name__}, not a DatetimeIndex; "
            "set the timestamps as the index (e.g. frame.set_index('timestamp'))"
        )
