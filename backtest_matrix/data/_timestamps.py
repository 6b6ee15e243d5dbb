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
# What a nanosecond timestamp holds (1677-09-21 to 2262-04-11), in each epoch unit.
_EPOCH_LIMIT = {"s": 9.2e9, "ms": 9.2e12}
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
    if len(values) == 0:
        raise DataSourceError(
            f"{where}: column {column!r} holds no rows (a header only?); the file needs at least one bar"
        )
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
    magnitude = np.abs(numbers.to_numpy(dtype=np.float64))
    if unit == "auto":
        unit = _epoch_unit(magnitude, values, where, column)
    epoch_unit: Literal["s", "ms"] = "s" if unit == "s" else "ms"
    limit = _EPOCH_LIMIT[epoch_unit]
    outside = np.flatnonzero(~(magnitude < limit))
    if len(outside):
        row = int(outside[0])
        value = _shown(values.iloc[row])
        raise DataSourceError(
            f"{where}: row {row + 1}, column {column!r}: epoch {value} is outside the dates "
            f"tradeloop can hold (1677 to 2262) as unit {epoch_unit!r}; fix the value or pass the right unit "
            "(CLI: --unit s or --unit ms)"
        )
    return utc_index(pd.to_datetime(numbers, unit=epoch_unit, utc=True))


def _epoch_unit(magnitude: np.ndarray, values: pd.Series, where: str, column: str) -> Literal["s", "ms"]:
    """Seconds or milliseconds, judged per row; a column that mixes them is refused at its odd row."""
    classes = np.where(magnitude < _SECONDS_BELOW, 0, np.where(magnitude < _MILLISECONDS_BELOW, 1, 2))
    too_large = np.flatnonzero(classes == 2)
    if len(too_large):
        row = int(too_large[0])
        value = _shown(values.iloc[row])
        raise DataSourceError(
            f"{where}: row {row + 1}, column {column!r}: epoch {value} is too large for seconds "
            "or milliseconds (micro- or nanoseconds?); convert the column to seconds or milliseconds"
        )
    seconds = int(np.count_nonzero(classes == 0))
    unit: Literal["s", "ms"] = "s" if seconds * 2 >= len(classes) else "ms"
    odd = np.flatnonzero(classes != (0 if unit == "s" else 1))
    if len(odd):
        row = int(odd[0])
        other = "milliseconds" if unit == "s" else "seconds"
        majority = "seconds" if unit == "s" else "milliseconds"
        value = _shown(values.iloc[row])
        raise DataSourceError(
            f"{where}: row {row + 1}, column {column!r}: epoch {value} looks like {other} while "
            f"the column's other values look like {majority} ({len(odd)} row(s) like it); fix the value, or "
            "pass the unit (CLI: --unit s or --unit ms)"
        )
    return unit


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
        value = _shown(values.iloc[row])
        raise DataSourceError(
            f"{where}: row {row + 1}, column {column!r}: cannot parse timestamp {value} as "
            f"{expected}{more}; fix the value or pass the right unit= ('s', 'ms', 'iso') and tz="
        )


def _shown(value: object) -> str:
    """A cell's value as the file holds it (a NumPy scalar shown as a plain number)."""
    return repr(value.item() if isinstance(value, np.generic) else value)
