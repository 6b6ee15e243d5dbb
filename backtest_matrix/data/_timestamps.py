"""Parsing a file's timestamp column: epoch seconds or milliseconds, ISO 8601 strings, or datetimes."""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_numeric_dtype

from backtest_matrix.data._frame import utc_index
from tradeloop.errors import DataSourceError

__all__ = ["TimestampUnit", "parse_timestamps", "validate_tz"]

TimestampUnit = Literal["s", "ms", "iso", "auto"]
TIMESTAMP_UNITS: tuple[TimestampUnit, ...] = ("s", "ms", "iso", "auto")

# Auto-detection of epoch numbers: below 1e11 they are seconds (1e11 s is the year 5138), below 1e14
# milliseconds (1e11 ms is 1973); larger values would be micro- or nanoseconds, which are refused.
_SECONDS_BELOW = 1e11
_MILLISECONDS_BELOW = 1e14
# An explicit UTC offset after a time of day: "...10:00Z", "...10:00+01:00", "...10:00-0500".
_OFFSET = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[zZ]|[+-]\d{2}:?\d{2})$")


def validate_tz(tz: str, where: str) -> None:
    """Raise unless ``tz`` is a time zone pandas knows (``UTC``, ``Europe/Berlin``, ...)."""
    try:
        pd.Timestamp("2000-01-01").tz_localize(tz)
    except Exception as exc:  # pandas raises several types for unknown zones
        raise DataSourceError(
            f"{where}: tz {tz!r} is not a known time zone ({exc}); use an IANA name such as 'UTC' or "
            "'America/New_York'"
        ) from exc


def parse_timestamps(
    values: pd.Series, *, unit: TimestampUnit = "auto", tz: str = "UTC", where: str, column: str
) -> pd.DatetimeIndex:
    """Parse a timestamp column to a UTC nanosecond index, keeping the row order.

    Parameters
    ----------
    values
        The column as read from the file.
    unit
        ``"s"`` or ``"ms"``: epoch numbers; ``"iso"``: ISO 8601 strings; ``"auto"``: numbers as epoch
        seconds (below 1e11) or milliseconds (below 1e14), anything else as ISO 8601. A column that already
        holds datetimes (Parquet) is used as it is, whatever the unit.
    tz
        Time zone of naive timestamps (ISO strings without offset, naive datetimes); aware ones are converted
        to UTC. Epoch numbers are UTC by definition.
    where, column
        The file and column, named in error messages.

    Raises
    ------
    DataSourceError
        Naming the file, the 1-based row, the column and the value that could not be parsed.
    """
    if unit not in TIMESTAMP_UNITS:
        raise DataSourceError(f"{where}: unit {unit!r} is not one of {list(TIMESTAMP_UNITS)}")
    validate_tz(tz, where)
    values = values.reset_index(drop=True)
    empty = np.flatnonzero(values.isna().to_numpy())
    if len(empty):
        raise DataSourceError(
            f"{where}: row {empty[0] + 1}, column {column!r}: the timestamp is empty; "
            "fill it in or drop the row"
        )
    if is_datetime64_any_dtype(values.dtype):
        return _localised(pd.DatetimeIndex(values), tz, values, where, column)
    if unit in ("s", "ms") or (unit == "auto" and _looks_numeric(values)):
        return _from_epoch(values, unit, where, column)
    return _from_iso(values.astype(str).str.strip(), tz, where, column)


def _looks_numeric(values: pd.Series) -> bool:
    if is_bool_dtype(values.dtype):
        return False
    if is_numeric_dtype(values.dtype):
        return True
    return bool(pd.to_numeric(values, errors="coerce").notna().all())


def _from_epoch(values: pd.Series, unit: TimestampUnit, where: str, column: str) -> pd.DatetimeIndex:
    numbers = pd.to_numeric(values, errors="coerce")
    _raise_first_bad(numbers.isna().to_numpy(), values, where, column, "an epoch number")
    if unit == "auto":
        largest = float(np.abs(numbers.to_numpy(dtype=np.float64)).max())
        if largest >= _MILLISECONDS_BELOW:
            raise DataSourceError(
                f"{where}: column {column!r}: epoch numbers up to {largest:.0f} are too large for seconds or "
                "milliseconds (micro- or nanoseconds?); convert them to seconds or milliseconds"
            )
        unit = "s" if largest < _SECONDS_BELOW else "ms"
    epoch_unit: Literal["s", "ms"] = "s" if unit == "s" else "ms"
    try:
        parsed = pd.to_datetime(numbers, unit=epoch_unit, utc=True)
    except (OverflowError, ValueError) as exc:
        raise DataSourceError(
            f"{where}: column {column!r}: epoch numbers cannot be read as unit {unit!r} ({exc}); "
            "check the unit (s or ms)"
        ) from exc
    return utc_index(parsed)


def _from_iso(strings: pd.Series, tz: str, where: str, column: str) -> pd.DatetimeIndex:
    if tz == "UTC":
        parsed = pd.to_datetime(strings, format="ISO8601", utc=True, errors="coerce")
    else:
        aware = strings.str.contains(_OFFSET).to_numpy(dtype=bool)
        parsed = pd.Series(pd.NaT, index=strings.index, dtype="datetime64[ns, UTC]")
        if aware.any():
            parsed[aware] = pd.to_datetime(strings[aware], format="ISO8601", utc=True, errors="coerce")
        if (~aware).any():
            naive = pd.DatetimeIndex(pd.to_datetime(strings[~aware], format="ISO8601", errors="coerce"))
            parsed[~aware] = _localise_or_nat(naive, tz)
    hint = "an ISO 8601 timestamp" + (
        f" (or it does not exist or is ambiguous in {tz})" if tz != "UTC" else ""
    )
    _raise_first_bad(parsed.isna().to_numpy(), strings, where, column, hint)
    return utc_index(parsed)


def _localise_or_nat(index: pd.DatetimeIndex, tz: str) -> pd.DatetimeIndex:
    if index.tz is not None:
        return index.tz_convert("UTC")
    return index.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").tz_convert("UTC")


def _localised(
    index: pd.DatetimeIndex, tz: str, values: pd.Series, where: str, column: str
) -> pd.DatetimeIndex:
    converted = _localise_or_nat(index, tz)
    _raise_first_bad(np.asarray(converted.isna()), values, where, column, f"a valid local time in {tz}")
    return utc_index(converted)


def _raise_first_bad(bad: np.ndarray, values: pd.Series, where: str, column: str, expected: str) -> None:
    positions = np.flatnonzero(bad)
    if len(positions):
        row = int(positions[0])
        more = f" ({len(positions) - 1} more rows like it)" if len(positions) > 1 else ""
        raise DataSourceError(
            f"{where}: row {row + 1}, column {column!r}: cannot parse timestamp {values.iloc[row]!r} as "
            f"{expected}{more}; fix the value or pass the right unit= ('s', 'ms', 'iso') and tz="
        )
