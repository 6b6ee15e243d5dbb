"""Timeframe strings (``"5m"``, ``"1h"``, ``"1d"``) and their :class:`pandas.Timedelta`."""

from __future__ import annotations

import re

import pandas as pd

from tradeloop.errors import DataSourceError

__all__ = ["COMMON_TIMEFRAMES", "format_timeframe", "parse_timeframe"]

COMMON_TIMEFRAMES = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")

_UNIT_SECONDS = {"w": 7 * 86_400, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_UNIT_ALIASES = {"min": "m", "sec": "s", "hr": "h", "day": "d", "wk": "w"}
_PATTERN = re.compile(r"^\s*(\d+)\s*([a-zA-Z]+)\s*$")


def parse_timeframe(timeframe: str) -> pd.Timedelta:
    """The duration of one bar of ``timeframe``.

    Parameters
    ----------
    timeframe
        A positive whole number followed by a unit: ``s`` (seconds), ``m`` (minutes), ``h`` (hours),
        ``d`` (days) or ``w`` (weeks), e.g. ``"5m"``, ``"4h"``, ``"1d"``.

    Returns
    -------
    pandas.Timedelta

    Raises
    ------
    DataSourceError
        For anything else (``"5"``, ``"1M"``, ``"0h"``, ``"1.5h"``), naming the value and the valid forms.
    """
    match = _PATTERN.match(timeframe) if isinstance(timeframe, str) else None
    hint = f"use a whole number and one of the units s, m, h, d, w, e.g. {', '.join(COMMON_TIMEFRAMES)}"
    if match is None:
        raise DataSourceError(f"timeframe {timeframe!r} is not understood; {hint}")
    count, unit = int(match.group(1)), match.group(2)
    unit = _UNIT_ALIASES.get(unit, unit)
    if unit not in _UNIT_SECONDS:
        if unit == "M":
            extra = " ('M' would mean months, which are not supported; 'm' means minutes)"
        elif unit.lower() in _UNIT_SECONDS:
            extra = f" (did you mean {count}{unit.lower()}?)"
        else:
            extra = ""
        raise DataSourceError(f"timeframe {timeframe!r} has unknown unit {unit!r}{extra}; {hint}")
    if count == 0:
        raise DataSourceError(f"timeframe {timeframe!r} is zero; {hint}")
    return pd.Timedelta(seconds=count * _UNIT_SECONDS[unit])


def format_timeframe(duration: pd.Timedelta) -> str:
    """The canonical string of a bar duration, in the largest unit that divides it (3600 s → ``"1h"``).

    Raises
    ------
    DataSourceError
        When ``duration`` is not a positive whole number of seconds.
    """
    nanoseconds = int(duration.value)
    if nanoseconds <= 0 or nanoseconds % 1_000_000_000:
        raise DataSourceError(
            f"bar duration {duration} is not a positive whole number of seconds; "
            "tradeloop supports timeframes from 1s upwards"
        )
    seconds = nanoseconds // 1_000_000_000
    unit, unit_seconds = next((u, s) for u, s in _UNIT_SECONDS.items() if seconds % s == 0)
    return f"{seconds // unit_seconds}{unit}"
