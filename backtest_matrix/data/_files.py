"""CSV and Parquet files of bars: column mapping, timestamp parsing, numeric values."""

from __future__ import annotations

import csv
import difflib
import errno
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from backtest_matrix.data._frame import BAR_COLUMNS, RawBars, bars_frame
from backtest_matrix.data._timestamps import TimestampUnit, parse_timestamps
from tradeloop.errors import DataSourceError

__all__ = ["CSV_SUFFIXES", "FIELD_ALIASES", "FILE_SUFFIXES", "TIMESTAMP_CANDIDATES", "read_bars_file"]

CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
FILE_SUFFIXES = CSV_SUFFIXES + PARQUET_SUFFIXES

# Column names recognised without a mapping, compared case-insensitively with spaces and dashes as "_".
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "open": ("open", "o", "open_price"),
    "high": ("high", "h", "high_price"),
    "low": ("low", "l", "low_price"),
    "close": ("close", "c", "close_price", "last"),
    "volume": ("volume", "v", "vol", "base_volume"),
}
TIMESTAMP_CANDIDATES = ("timestamp", "time", "date", "datetime", "index")


def read_bars_file(
    path: Path,
    *,
    where: str,
    columns: Mapping[str, str] | None = None,
    timestamp_column: str | None = None,
    unit: TimestampUnit = "auto",
    tz: str = "UTC",
) -> RawBars:
    """Read a CSV or Parquet file into raw bars, rows in file order.

    Parameters
    ----------
    path
        A ``.csv``, ``.parquet`` or ``.pq`` file.
    where
        How to name the file in messages (the source spec as the user wrote it).
    columns
        Field → file column, for any of ``open high low close volume`` (and ``timestamp``); the other fields
        are matched case-insensitively by name or alias (``o h l c v vol`` ...).
    timestamp_column
        The timestamp column; default the first of ``timestamp time date datetime index`` present. A Parquet
        index (e.g. a ``DatetimeIndex``) counts as a column.
    unit, tz
        How to read the timestamps; see :func:`parse_timestamps`.

    Raises
    ------
    DataSourceError
        For a missing or unreadable file, unmapped columns (with "Did you mean ...?"), unparseable
        timestamps or non-numeric values (naming the row, the column and the value).
    """
    columns = dict(columns or {})
    timestamp_column = _timestamp_key(columns, timestamp_column, where)
    unknown = sorted(set(columns) - set(BAR_COLUMNS))
    if unknown:
        raise DataSourceError(
            f"{where}: column mapping has unknown fields {unknown}; map only {[*BAR_COLUMNS, 'timestamp']}"
        )
    frame = _read_table(path, where)
    present = [str(name) for name in frame.columns]
    frame.columns = pd.Index(present)
    stamp_column = _resolve_timestamp_column(present, timestamp_column, where)
    mapping = _resolve_fields(present, columns, exclude=stamp_column, where=where)
    index = parse_timestamps(frame[stamp_column], unit=unit, tz=tz, where=where, column=stamp_column)
    values = {field: _numeric(frame[column], where, column) for field, column in mapping.items()}
    return RawBars.numbered(bars_frame(index, values))


def _read_table(path: Path, where: str) -> pd.DataFrame:
    if not path.exists():
        raise DataSourceError(
            f"{where}: no such file (resolved to {path.resolve()}); check the path or the working directory"
        )
    if not path.is_file():
        raise DataSourceError(f"{where}: is not a file; pass the path of a .csv or .parquet file")
    is_csv = path.suffix.lower() in CSV_SUFFIXES
    kind = "CSV" if is_csv else "Parquet"
    try:
        if is_csv:
            _check_header(_csv_header(path), where)
            frame = pd.read_csv(path)
        else:
            frame = pd.read_parquet(path)
    except MemoryError:
        raise _out_of_memory(path, where, kind) from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        reason = " ".join(str(exc).split())  # pandas ends some messages in a newline
        if getattr(exc, "errno", None) == errno.ENOMEM or "out of memory" in reason.lower():
            raise _out_of_memory(path, where, kind) from None
        raise DataSourceError(f"{where}: cannot be read as {kind} ({reason}); check the file") from None
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    if frame.empty:
        raise DataSourceError(
            f"{where}: the {kind} file has no rows of bars (columns {[str(c) for c in frame.columns]}); "
            "export the data again, with at least one bar"
        )
    return frame


def _out_of_memory(path: Path, where: str, kind: str) -> DataSourceError:
    size = path.stat().st_size
    return DataSourceError(
        f"{where}: ran out of memory reading the {kind} file ({size:,} bytes), not a fault of the file; "
        "raise the memory limit (ulimit -v, the runner's memory) or load fewer days (--days)"
    )


def _csv_header(path: Path) -> list[str]:
    """The names in the first line of a CSV file, as written (pandas renames duplicates to ``name.1``)."""
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        first = next(csv.reader(handle), [])
    return [name.strip() for name in first]


def _check_header(names: list[str], where: str) -> None:
    seen: dict[str, str] = {}
    for name in names:
        key = _normalised(name)
        if key and key in seen:
            shown = repr(name) if seen[key] == name else f"{seen[key]!r} and {name!r}"
            raise DataSourceError(
                f"{where}: the header names column {shown} twice (header: {names}); "
                "rename or drop one of them, so that no value is taken from the wrong column"
            )
        seen[key] = name


def _timestamp_key(columns: dict[str, str], timestamp_column: str | None, where: str) -> str | None:
    """Move a ``timestamp`` entry of the mapping into ``timestamp_column``."""
    mapped = columns.pop("timestamp", None)
    if mapped is not None and timestamp_column is not None and mapped != timestamp_column:
        raise DataSourceError(
            f"{where}: the timestamp column is given twice, as {mapped!r} (columns) and {timestamp_column!r} "
            "(timestamp_column); give it once"
        )
    return timestamp_column or mapped


def _normalised(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def _find(present: Iterable[str], names: Iterable[str], exclude: set[str]) -> str | None:
    by_name: dict[str, str] = {}
    for column in present:
        if column not in exclude:
            by_name.setdefault(_normalised(column), column)
    return next((by_name[name] for name in names if name in by_name), None)


def _did_you_mean(wanted: str, candidates: list[str]) -> str:
    lowered = {_normalised(c): c for c in candidates}
    close = difflib.get_close_matches(_normalised(wanted), list(lowered), n=3, cutoff=0.6)
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(lowered[c]) for c in close) + "?"


def _resolve_timestamp_column(present: list[str], wanted: str | None, where: str) -> str:
    if wanted is not None:
        if wanted in present:
            return wanted
        found = _find(present, [_normalised(wanted)], set())
        if found is not None:
            return found
        raise DataSourceError(
            f"{where}: timestamp column {wanted!r} is not in the file; columns present: {present}."
            f"{_did_you_mean(wanted, present)}"
        )
    found = _find(present, TIMESTAMP_CANDIDATES, set())
    if found is None:
        raise DataSourceError(
            f"{where}: no timestamp column (looked for {', '.join(TIMESTAMP_CANDIDATES)}); columns present: "
            f"{present}.{_did_you_mean('timestamp', present)} Name it with timestamp_column= "
            "(CLI: --timestamp-column)"
        )
    return found


def _resolve_fields(
    present: list[str], columns: Mapping[str, str], *, exclude: str, where: str
) -> dict[str, str]:
    mapping: dict[str, str] = {}
    problems: list[str] = []
    for field, column in columns.items():
        if column in present:
            mapping[field] = column
        else:
            problems.append(
                f"column {column!r} mapped to {field!r} is not in the file.{_did_you_mean(column, present)}"
            )
    for field in BAR_COLUMNS:
        if field in columns:
            continue
        found = _find(present, FIELD_ALIASES[field], {exclude, *mapping.values()})
        if found is not None:
            mapping[field] = found
            continue
        unused = [c for c in present if c != exclude and c not in mapping.values()]
        taken = _find(present, FIELD_ALIASES[field], {exclude})
        if taken is not None:
            owner = next(other for other, column in mapping.items() if column == taken)
            problems.append(
                f"no column for {field!r}: its column {taken!r} is mapped to {owner!r} "
                f"(--map {owner}={taken}); map {field!r} as well (--map {field}=<column>) or map {owner!r} "
                "to another column."
            )
            continue
        problems.append(
            f"no column for {field!r} (looked for {', '.join(FIELD_ALIASES[field])}, any case)."
            f"{_did_you_mean(field, unused)} Map it with columns={{{field!r}: '<column>'}} "
            f"(CLI: --map {field}=<column>)"
        )
    if problems:
        raise DataSourceError(f"{where}: " + " ".join(problems) + f" Columns present: {present}.")
    return mapping


def _numeric(values: pd.Series, where: str, column: str) -> np.ndarray:
    if is_numeric_dtype(values.dtype) and not is_bool_dtype(values.dtype):
        return values.to_numpy(dtype=np.float64)
    numbers = pd.to_numeric(values, errors="coerce")
    text = values.astype(str).str.strip()
    bad = np.flatnonzero((numbers.isna() & values.notna() & (text != "")).to_numpy(dtype=bool))
    if len(bad):
        row = int(bad[0])
        raise DataSourceError(
            f"{where}: row {row + 1}, column {column!r}: {values.iloc[row]!r} is not a number; "
            "fix the value (leave it empty for a missing value) or map another column"
        )
    return numbers.to_numpy(dtype=np.float64)
