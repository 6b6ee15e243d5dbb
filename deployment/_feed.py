"""Feeds: where new bars come from while a rollout runs, and the checks every new bar passes first.

A feed answers "which bars have arrived by ``clock``?" with the longest run of bars that passes the checks,
and the first problem after it:

- :class:`FileFeed` reads a CSV or Parquet file that a data feed appends to. Every read re-reads the file
  (a CSV line still being written, without its newline, waits for the next read) and checks its rows in file
  order: non-finite or non-positive prices, ``high``/``low`` that do not hold
  ``open`` and ``close``, and each bar's time against the bar before it (the same time: a duplicate; an
  earlier time: out of order; more than one bar later: a gap). The first bad row stops the feed there: its
  clock stays at the last good bar (no bar after it is paper-traded) and the problem names the file, the row,
  the field, the value and the fix. Once the row is fixed, the next read goes on.
- :class:`ReplayFeed` replays bars held in memory (the embedded demo market's held-back bars) on a simulated
  clock: the bars up to ``clock`` have arrived.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

__all__ = ["Feed", "FeedRead", "FileFeed", "ReplayFeed", "open_feed"]


@dataclass(frozen=True)
class FeedRead:
    """The bars a feed holds up to a clock: ``bars`` (checked, increasing times, at most the clock),
    ``clock`` (the last bar's time, ``None`` without bars) and ``problem`` (the first bad row, or ``""``)."""

    source: str
    bars: pd.DataFrame
    problem: str = ""

    @property
    def clock(self) -> datetime | None:
        return None if len(self.bars) == 0 else pd.Timestamp(self.bars.index[-1]).to_pydatetime()

    def since(self, start: datetime) -> pd.DataFrame:
        """The bars after ``start``."""
        return self.bars[self.bars.index > pd.Timestamp(start)]

    def to_dict(self) -> dict[str, Any]:
        clock = self.clock
        return {"source": self.source, "bars": len(self.bars),
                "clock": None if clock is None else clock.isoformat(), "problem": self.problem}  # fmt: skip


class Feed(Protocol):
    """A source of new bars (module docstring)."""

    @property
    def source(self) -> str:
        """What the feed reads (a file's path, or the source replayed)."""
        ...

    def read(self, clock: datetime) -> FeedRead:
        """The checked bars that have arrived by ``clock``."""
        ...


@dataclass(frozen=True)
class ReplayFeed:
    """Bars held in memory, replayed on a simulated clock: those at or before the clock have arrived."""

    source: str
    bars: pd.DataFrame

    def read(self, clock: datetime) -> FeedRead:
        return FeedRead(self.source, self.bars[self.bars.index <= pd.Timestamp(clock)])


@dataclass(frozen=True)
class FileFeed:
    """A CSV or Parquet file of ``timeframe`` bars that a data feed appends to (module docstring)."""

    path: Path
    timeframe: str

    @property
    def source(self) -> str:
        return str(self.path)

    def read(self, clock: datetime) -> FeedRead:
        from backtest_matrix import parse_timeframe, read_bars_file

        with _complete_lines(self.path) as path:
            raw = read_bars_file(path, where=self.path.name)
        step = int(parse_timeframe(self.timeframe).value)
        good, problem = _first_problem(self.path.name, raw.frame, raw.rows, step)
        bars = raw.frame.iloc[:good]
        return FeedRead(self.source, bars[bars.index <= pd.Timestamp(clock)], problem)


@contextmanager
def _complete_lines(path: Path) -> Iterator[Path]:
    """``path``, or for a CSV whose last line the feed is still writing (no newline yet), a copy without that
    line: the bar arrives once its line is whole."""
    data = path.read_bytes() if path.suffix.lower() == ".csv" and path.is_file() else b""
    if not data or data.endswith(b"\n"):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="tradeloop-feed-") as scratch:
        whole = Path(scratch) / path.name
        whole.write_bytes(data[: data.rfind(b"\n") + 1])
        yield whole


def _first_problem(name: str, frame: pd.DataFrame, rows: np.ndarray, step: int) -> tuple[int, str]:
    """How many leading rows pass the checks, and what is wrong with the next one (``""``: nothing)."""
    values = {column: frame[column].to_numpy(np.float64) for column in ("open", "high", "low", "close")}
    stamps = pd.DatetimeIndex(frame.index).asi8
    prices = np.vstack(list(values.values()))
    with np.errstate(invalid="ignore"):
        suspect = ~np.all(np.isfinite(prices) & (prices > 0), axis=0)
        suspect |= values["high"] < np.maximum(values["open"], values["close"])
        suspect |= values["low"] > np.minimum(values["open"], values["close"])
    suspect[1:] |= np.diff(stamps) != step
    for index in np.flatnonzero(suspect):  # the first suspect row is the first bad one
        where = f"{name}: row {int(rows[index])}"
        bad = _bad_prices(where, {column: float(values[column][index]) for column in values})
        if not bad and index > 0:
            bad = _bad_time(where, int(stamps[index - 1]), int(stamps[index]), step)
        if bad:
            return int(index), bad + "; the feed's clock stays at the bar before until the row is fixed"
    return len(frame), ""


def _bad_prices(where: str, bar: dict[str, float]) -> str:
    for column, value in bar.items():
        if not math.isfinite(value) or value <= 0:
            return f"{where}, field {column}: got {value!r}; write a finite price > 0"
    if bar["high"] < max(bar["open"], bar["close"]):
        return f"{where}, field high: {bar['high']:g} is below open/close; high must hold open and close"
    if bar["low"] > min(bar["open"], bar["close"]):
        return f"{where}, field low: {bar['low']:g} is above open/close; low must hold open and close"
    return ""


def _bad_time(where: str, before: int, at: int, step: int) -> str:
    shown = pd.Timestamp(at, tz="UTC").isoformat()
    previous = pd.Timestamp(before, tz="UTC").isoformat()
    if at == before:
        return f"{where}, field timestamp: {shown} is a duplicate of the row before; remove one of them"
    if at < before:
        return (
            f"{where}, field timestamp: {shown} is out of order (before {previous} on the row before); "
            "append bars in time order"
        )
    if at - before > step:
        missing = (at - before) // step - 1
        return (
            f"{where}, field timestamp: {shown} leaves a gap of {missing} bar(s) after {previous}; append "
            "the missing bars first"
        )
    return ""


def open_feed(spec: str, timeframe: str, *, cache_dir: Path | None = None) -> Feed:
    """The feed of ``spec``: a ``.csv`` / ``.parquet`` / ``.pq`` path is a :class:`FileFeed`; any other source
    of :func:`backtest_matrix.load_bars` (``reverting``, ``sp500`` ...) is replayed on the clock."""
    path = Path(spec)
    if path.suffix.lower() in (".csv", ".parquet", ".pq"):
        return FileFeed(path, timeframe)
    from backtest_matrix import load_bars

    loaded = load_bars(spec, timeframe=timeframe, cache_dir=cache_dir, check=True)
    return ReplayFeed(spec, loaded.bars)
