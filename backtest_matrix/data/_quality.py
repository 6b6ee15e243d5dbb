"""Quality checks on bars as loaded: values, OHLC consistency, timestamps, gaps and length of history.

Every check is a vectorised mask over all rows; only the first :data:`MAX_LISTED_ROWS` rows of each check
and column become individual findings, the last of them counting the rest.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from backtest_matrix.data._frame import require_bar_columns, utc_index
from backtest_matrix.data._report import Finding, QualityConfig, QualityReport, Severity
from backtest_matrix.data._timeframe import format_timeframe, parse_timeframe

__all__ = ["MAX_LISTED_ROWS", "check_bars"]

MAX_LISTED_ROWS = 5
PRICE_COLUMNS = ("open", "high", "low", "close")
_DAY_NS = 86_400 * 10**9

Describe = Callable[[int, int], tuple[str, float | int | str | None]]


@dataclass
class _Checker:
    source: str
    stamps: npt.NDArray[np.int64]
    rows: npt.NDArray[np.int64]
    findings: list[Finding] = field(default_factory=list)

    def timestamp(self, position: int) -> pd.Timestamp:
        return pd.Timestamp(int(self.stamps[position]), unit="ns", tz="UTC")

    def emit(
        self,
        check: str,
        column: str,
        positions: npt.NDArray[np.intp],
        describe: Describe,
        fix: str,
        severity: Severity = "error",
    ) -> None:
        """Findings for the first rows at ``positions``; ``describe(k, position)`` gives text and value."""
        listed = positions[:MAX_LISTED_ROWS]
        for k, position in enumerate(listed.tolist()):
            text, value = describe(k, position)
            stamp = self.timestamp(position)
            row = int(self.rows[position])
            last = k == len(listed) - 1
            self.findings.append(
                Finding(
                    check=check,
                    severity=severity,
                    source=self.source,
                    column=column,
                    row=row,
                    timestamp=stamp.isoformat(),
                    value=value,
                    message=f"{self.source}: row {row} ({stamp}), column {column!r}: {text}",
                    fix=fix,
                    count=len(positions) - len(listed) + 1 if last else 1,
                )
            )


def check_bars(
    raw: pd.DataFrame,
    *,
    source: str,
    timeframe: str | pd.Timedelta,
    config: QualityConfig | None = None,
    rows: npt.ArrayLike | None = None,
) -> QualityReport:
    """Check bars as loaded, before any sorting or de-duplication.

    Parameters
    ----------
    raw
        Bars in source order: a ``DatetimeIndex`` (naive means UTC) and columns ``open high low close
        volume``; duplicated and out-of-order timestamps are reported, not fixed.
    source
        The source's name for messages, e.g. ``"sp500"`` or ``"data/btc.csv"``.
    timeframe
        The bar timeframe the rows should follow (``"5m"`` or a Timedelta): gaps are measured in it.
    config
        Thresholds; default :class:`QualityConfig` ``()`` (24/7, no missing bar, 90 days of history).
    rows
        The 1-based data row number of each row in the source, when ``raw`` is a subset of it; default 1..n.

    Returns
    -------
    QualityReport
        Errors: ``nan``, ``inf``, ``non_positive_price``, ``high_below_body``, ``low_above_body``,
        ``negative_volume``, ``duplicate_timestamp``, ``non_monotonic_timestamp``, ``off_grid_timestamp`` (a
        bar whose distance to the previous one is not a whole number of bars), ``gap`` (more missing
        bars than ``config.max_missing_bars`` between two bars of ``config.calendar``) and ``short_history``
        (last - first + one bar spans less than ``config.required_days``). Warnings: ``zero_volume``.
    """
    require_bar_columns(raw, source)
    config = config or QualityConfig()
    step = parse_timeframe(timeframe) if isinstance(timeframe, str) else pd.Timedelta(timeframe)
    stamps = utc_index(raw.index).asi8
    numbers = np.arange(1, len(raw) + 1) if rows is None else np.asarray(rows)
    checker = _Checker(source, stamps, numbers.astype(np.int64))
    values = {name: raw[name].to_numpy(dtype=np.float64) for name in (*PRICE_COLUMNS, "volume")}
    _check_finite(checker, values)
    _check_prices(checker, values)
    _check_volume(checker, values["volume"])
    _check_order(checker)
    _check_grid(checker, step)
    _check_gaps(checker, step, config)
    _check_history(checker, step, config)
    ordered = sorted(checker.findings, key=lambda f: f.severity != "error")
    return QualityReport(source, format_timeframe(step), len(raw), config, ordered)


def _number(value: float) -> str:
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _with_value(array: npt.NDArray[np.float64], template: str) -> Describe:
    """Describe a row by ``template`` with its value in place of ``{}``."""

    def describe(_k: int, position: int) -> tuple[str, float]:
        value = float(array[position])
        return template.format(_number(value)), value

    return describe


def _check_finite(checker: _Checker, values: dict[str, npt.NDArray[np.float64]]) -> None:
    for column, array in values.items():
        checker.emit(
            "nan",
            column,
            np.flatnonzero(np.isnan(array)),
            _with_value(array, "value is NaN (missing)"),
            "fill the missing value at the source or drop the row; tradeloop never forward-fills bars",
        )
        checker.emit(
            "inf",
            column,
            np.flatnonzero(np.isinf(array)),
            _with_value(array, "value is {}"),
            "replace the infinite value at the source (often a division by zero upstream) or drop the row",
        )


def _check_prices(checker: _Checker, values: dict[str, npt.NDArray[np.float64]]) -> None:
    for column in PRICE_COLUMNS:
        checker.emit(
            "non_positive_price",
            column,
            np.flatnonzero(values[column] <= 0),
            _with_value(values[column], column + " {} is not positive"),
            "prices must be > 0: fix or drop the row (0 often marks a missing quote, < 0 a bad feed)",
        )
    opens, highs, lows, closes = (values[c] for c in PRICE_COLUMNS)
    top, bottom = np.maximum(opens, closes), np.minimum(opens, closes)
    checker.emit(
        "high_below_body",
        "high",
        np.flatnonzero(highs < top),
        lambda _k, p: (
            f"high {_number(highs[p])} is below max(open, close) = {_number(top[p])}",
            float(highs[p]),
        ),
        "high must be >= open and close: fix the row, or check the column mapping (high and low swapped?)",
    )
    checker.emit(
        "low_above_body",
        "low",
        np.flatnonzero(lows > bottom),
        lambda _k, p: (
            f"low {_number(lows[p])} is above min(open, close) = {_number(bottom[p])}",
            float(lows[p]),
        ),
        "low must be <= open and close: fix the row, or check the column mapping (high and low swapped?)",
    )


def _check_volume(checker: _Checker, volume: npt.NDArray[np.float64]) -> None:
    checker.emit(
        "negative_volume",
        "volume",
        np.flatnonzero(volume < 0),
        _with_value(volume, "volume {} is negative"),
        "volume must be >= 0: fix or drop the row, or check that the volume column is mapped",
    )
    checker.emit(
        "zero_volume",
        "volume",
        np.flatnonzero(volume == 0),
        _with_value(volume, "volume is {} (no trades)"),
        "nothing to do for a quiet session; if many bars have 0, check that the volume column is mapped",
        severity="warning",
    )


def _check_order(checker: _Checker) -> None:
    stamps, rows = checker.stamps, checker.rows
    _, first, inverse = np.unique(stamps, return_index=True, return_inverse=True)
    duplicates = np.flatnonzero(first[inverse] != np.arange(len(stamps)))
    checker.emit(
        "duplicate_timestamp",
        "timestamp",
        duplicates,
        lambda _k, p: (f"timestamp duplicates row {rows[first[inverse[p]]]}", str(checker.timestamp(p))),
        "remove the duplicated rows at the source; the loader keeps the first of each timestamp",
    )
    earlier = np.flatnonzero(stamps[1:] < stamps[:-1]) + 1
    checker.emit(
        "non_monotonic_timestamp",
        "timestamp",
        earlier,
        lambda _k, p: (
            f"timestamp is earlier than the previous row's {checker.timestamp(p - 1)} (row {rows[p - 1]})",
            str(checker.timestamp(p)),
        ),
        "sort the file by time (ascending) at the source; the loader sorts, but out-of-order rows often mean "
        "mixed or mislabelled data",
    )


def _check_grid(checker: _Checker, step: pd.Timedelta) -> None:
    """Bars whose distance to the previous distinct bar is not a whole number of timeframes.

    Such a series has no timeframe: alternating UTC offsets, or a mislabelled zone, give spacings like 29 h
    and 19 h, and whatever the loader inferred from them would be wrong.
    """
    stamps = checker.stamps
    if len(stamps) < 2 or step.value <= 0:
        return
    order = np.argsort(stamps, kind="stable")
    ordered = stamps[order]
    distinct = np.concatenate(([True], ordered[1:] != ordered[:-1]))
    positions, times = order[distinct], ordered[distinct]
    spacing = np.diff(times)
    off = np.flatnonzero(spacing % int(step.value) != 0)
    label = format_timeframe(step)

    def describe(k: int, _position: int) -> tuple[str, str]:
        previous = int(positions[off[k]])
        gap = pd.Timedelta(int(spacing[off[k]]), unit="ns")
        return (
            f"{gap} after the previous bar ({checker.timestamp(previous)}, row {checker.rows[previous]}) "
            f"is not a whole number of {label} bars",
            str(gap),
        )

    checker.emit(
        "off_grid_timestamp",
        "timestamp",
        positions[off + 1],
        describe,
        f"every bar must sit on the {label} grid: check the timestamps' UTC offsets (mixed offsets such as "
        "+00:00 and -05:00 in one file?) or pass the zone of naive times (CLI: --tz), or the timeframe",
    )


def _check_gaps(checker: _Checker, step: pd.Timedelta, config: QualityConfig) -> None:
    stamps = checker.stamps
    if len(stamps) < 2:
        return
    order = np.argsort(stamps, kind="stable")
    ordered = stamps[order]
    distinct = np.concatenate(([True], ordered[1:] != ordered[:-1]))
    positions, times = order[distinct], ordered[distinct]
    coordinates = times if config.calendar == "24/7" else _weekday_time(times)
    step_ns = int(step.value)
    missing = np.maximum((np.diff(coordinates) + step_ns - 1) // step_ns - 1, 0)
    gaps = np.flatnonzero(missing > config.max_missing_bars)
    label, limit = format_timeframe(step), config.max_missing_bars

    def describe(k: int, _position: int) -> tuple[str, int]:
        count, previous = int(missing[gaps[k]]), int(positions[gaps[k]])
        return (
            f"{count} missing {label} bar{'s' if count > 1 else ''} before this bar (previous bar "
            f"{checker.timestamp(previous)}, row {checker.rows[previous]}); at most {limit} allowed on the "
            f"{config.calendar} calendar",
            count,
        )

    checker.emit(
        "gap",
        "timestamp",
        positions[gaps + 1],
        describe,
        "fill the missing bars at the source; for a market that closes, use calendar='weekdays' or raise "
        "max_missing_bars (CLI: --calendar weekdays, --max-missing-bars N)",
    )


def _weekday_time(stamps: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Nanoseconds of weekday time since the first day: weekends take no time, so they are never gaps."""
    days = stamps // _DAY_NS
    dates = days.astype("datetime64[D]")
    weekday_count = np.busday_count(dates.min(), dates).astype(np.int64)
    time_of_day = np.where(np.is_busday(dates), stamps - days * _DAY_NS, 0)
    return weekday_count * _DAY_NS + time_of_day


def _check_history(checker: _Checker, step: pd.Timedelta, config: QualityConfig) -> None:
    required = config.required_days
    stamps = checker.stamps
    limits = f"min_history_days={config.min_history_days:g}, window_days={config.window_days}"
    fix = (
        f"load at least {required:g} days (more days, an earlier start or a longer file), or lower "
        "min_history_days / window_days (CLI: --min-history-days, --window-days)"
    )
    if len(stamps) == 0:
        message = (
            f"{checker.source}: column 'timestamp': no bars at all; {required:g} days required ({limits})"
        )
        checker.findings.append(
            Finding("short_history", "error", checker.source, "timestamp", None, None, 0.0, message, fix)
        )
        return
    first, last = checker.timestamp(int(np.argmin(stamps))), checker.timestamp(int(np.argmax(stamps)))
    span_days = (last - first + step) / pd.Timedelta(days=1)
    if span_days >= required:
        return
    message = (
        f"{checker.source}: column 'timestamp': history spans {span_days:.2f} days ({first} to {last}, "
        f"last bar included), less than the {required:g} days required ({limits})"
    )
    checker.findings.append(
        Finding(
            "short_history",
            "error",
            checker.source,
            "timestamp",
            None,
            first.isoformat(),
            span_days,
            message,
            fix,
        )
    )
