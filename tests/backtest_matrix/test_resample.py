"""Resampling: left-labelled, left-closed bins; gaps dropped; whole multiples only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest_matrix import parse_timeframe, resample_ohlcv
from tradeloop.errors import DataError, DataSourceError


def _bars(stamps: list[str], rows: list[tuple[float, float, float, float, float]]) -> pd.DataFrame:
    index = pd.DatetimeIndex(stamps, tz="UTC").as_unit("ns").rename("timestamp")
    return pd.DataFrame(rows, index=index, columns=["open", "high", "low", "close", "volume"], dtype=float)


def test_hand_computed_15m_to_1h() -> None:
    bars = _bars(
        ["2024-01-01 10:00", "2024-01-01 10:15", "2024-01-01 10:30", "2024-01-01 10:45", "2024-01-01 11:00",
         "2024-01-01 11:15", "2024-01-01 13:30"],
        [(10, 12, 9, 11, 100), (11, 15, 10, 14, 50), (14, 14, 8, 9, 25), (9, 10, 9, 10, 5),
         (10, 11, 7, 8, 10), (8, 9, 8, 9, 20), (20, 21, 19, 20, 1)],
    )  # fmt: skip
    expected = _bars(
        ["2024-01-01 10:00", "2024-01-01 11:00", "2024-01-01 13:00"],
        [(10, 15, 8, 10, 180), (10, 11, 7, 9, 30), (20, 21, 19, 20, 1)],
    )
    pd.testing.assert_frame_equal(resample_ohlcv(bars, "1h"), expected)


def test_bins_are_left_closed_and_left_labelled() -> None:
    bars = _bars(
        ["2024-01-01 09:59", "2024-01-01 10:00", "2024-01-01 10:59", "2024-01-01 11:00"],
        [(1, 1, 1, 1, 1), (2, 2, 2, 2, 2), (3, 3, 3, 3, 3), (4, 4, 4, 4, 4)],
    )
    result = resample_ohlcv(bars, "1h", source_timeframe="1m")
    assert [str(t.time()) for t in result.index] == ["09:00:00", "10:00:00", "11:00:00"]
    assert result["volume"].tolist() == [1, 5, 4]
    assert result.loc[pd.Timestamp("2024-01-01 10:00", tz="UTC"), "close"] == 3


def test_daily_bins_start_at_midnight_and_weekly_ones_on_monday() -> None:
    index = pd.date_range("2024-01-03 06:00", periods=20, freq="12h", tz="UTC")  # a Wednesday
    bars = pd.DataFrame(1.0, index=index, columns=["open", "high", "low", "close", "volume"])
    daily = resample_ohlcv(bars, "1d")
    assert daily.index[0] == pd.Timestamp("2024-01-03", tz="UTC")
    assert (daily["volume"] == 2).all()
    weekly = resample_ohlcv(bars, "1w")
    assert list(weekly.index) == [pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-01-08", tz="UTC")]
    assert weekly["volume"].tolist() == [10.0, 10.0]


def test_target_must_be_a_higher_whole_multiple() -> None:
    bars = _bars(["2024-01-01 10:00", "2024-01-01 10:05"], [(1, 1, 1, 1, 1)] * 2)
    with pytest.raises(DataSourceError, match="7m is not a whole multiple of 5m; use a multiple such as 10m"):
        resample_ohlcv(bars, "7m")
    with pytest.raises(DataSourceError, match="cannot resample 5m bars to 1m"):
        resample_ohlcv(bars, "1m")
    with pytest.raises(DataError, match="unsorted or duplicated"):
        resample_ohlcv(bars.iloc[::-1], "10m")
    assert resample_ohlcv(bars, "5m").equals(bars)


@st.composite
def minute_bars(draw: st.DrawFn) -> pd.DataFrame:
    count = draw(st.integers(1, 300))
    steps = draw(st.lists(st.integers(1, 7), min_size=count, max_size=count))
    start = draw(st.integers(0, 10_000))
    minutes = start + np.cumsum(steps)
    prices = st.floats(1.0, 1000.0, allow_nan=False, allow_infinity=False)
    opens = np.array(draw(st.lists(prices, min_size=count, max_size=count)))
    closes = np.array(draw(st.lists(prices, min_size=count, max_size=count)))
    spread = np.array(draw(st.lists(st.floats(0, 50), min_size=count, max_size=count)))
    volume = np.array(draw(st.lists(st.floats(0, 1e6), min_size=count, max_size=count)))
    index = pd.DatetimeIndex(pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(minutes, unit="min"))
    return pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, closes) + spread,
            "low": np.minimum(opens, closes) * 0.9,
            "close": closes,
            "volume": volume,
        },
        index=index.as_unit("ns").rename("timestamp"),
    )


@settings(max_examples=60, deadline=None)
@given(bars=minute_bars(), multiple=st.sampled_from([1, 2, 5, 15, 60, 240]))
def test_resampling_keeps_ohlc_consistent_and_volume(bars: pd.DataFrame, multiple: int) -> None:
    result = resample_ohlcv(bars, f"{multiple}m", source_timeframe="1m")
    assert (result["high"] >= np.maximum(result["open"], result["close"])).all()
    assert (result["low"] <= np.minimum(result["open"], result["close"])).all()
    assert result["volume"].sum() == pytest.approx(bars["volume"].sum())
    assert result["high"].max() == bars["high"].max()
    assert result["low"].min() == bars["low"].min()
    assert (result["open"].iloc[0], result["close"].iloc[-1]) == (
        bars["open"].iloc[0],
        bars["close"].iloc[-1],
    )
    step = parse_timeframe(f"{multiple}m")
    assert len(result) == len(np.unique(bars.index.asi8 // step.value))
    assert (result.index.asi8 % step.value == 0).all()
    assert result.index.is_monotonic_increasing
