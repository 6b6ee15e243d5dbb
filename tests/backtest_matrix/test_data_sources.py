"""Sources: the arch indices, the synthetic market, CSV/Parquet files, and the spec strings that name them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest_matrix import (
    BAR_COLUMNS,
    COMMON_TIMEFRAMES,
    QualityConfig,
    default_quality_config,
    list_sources,
    load_bars,
    parse_timeframe,
    resolve_source,
)
from tradeloop.errors import DataSourceError


def assert_bars_contract(bars: pd.DataFrame) -> None:
    assert list(bars.columns) == list(BAR_COLUMNS)
    assert all(dtype == np.float64 for dtype in bars.dtypes)
    assert isinstance(bars.index, pd.DatetimeIndex)
    assert str(bars.index.dtype) == "datetime64[ns, UTC]"
    assert bars.index.name == "timestamp"
    assert bars.index.is_monotonic_increasing
    assert not bars.index.has_duplicates


def test_list_sources_describes_the_built_in_sources() -> None:
    sources = {info.name: vars(info) for info in list_sources()}
    assert list(sources) == ["sp500", "nasdaq", "synthetic", "reverting"]
    assert sources["sp500"]["calendar"] == "weekdays"
    assert sources["sp500"]["timeframe"] == "1d"
    assert sources["synthetic"]["calendar"] == "24/7"
    assert all(row["description"] for row in sources.values())


@pytest.mark.parametrize("name", ["sp500", "nasdaq"])
def test_arch_indices_load_as_bars_and_pass_every_check(name: str) -> None:
    loaded = load_bars(name)
    assert_bars_contract(loaded.bars)
    assert len(loaded.bars) == 5031
    assert loaded.bars.index[0] == pd.Timestamp("1999-01-04", tz="UTC")
    assert loaded.bars.index[-1] == pd.Timestamp("2018-12-31", tz="UTC")
    assert loaded.report.errors == []
    assert (loaded.timeframe, loaded.native_timeframe, loaded.source) == ("1d", "1d", name)
    assert default_quality_config(name) == QualityConfig(calendar="weekdays", max_missing_bars=4)


def test_the_closure_after_9_11_is_the_longest_gap_of_sp500() -> None:
    report = load_bars("sp500", check=False, quality=QualityConfig("weekdays", max_missing_bars=3)).report
    [gap] = report.errors
    assert (gap.check, gap.value, gap.timestamp) == ("gap", 4, "2001-09-17T00:00:00+00:00")
    assert "previous bar 2001-09-10 00:00:00+00:00" in gap.message


def test_arch_days_keeps_the_last_days_and_timeframe_resamples() -> None:
    last_year = load_bars("sp500", days=365).bars
    assert last_year.index[0] > pd.Timestamp("2017-12-31", tz="UTC")
    assert last_year.index[-1] == pd.Timestamp("2018-12-31", tz="UTC")
    weekly = load_bars("sp500", timeframe="1w")
    assert weekly.timeframe == "1w"
    assert (weekly.bars.index.day_of_week == 0).all()
    assert weekly.bars["volume"].sum() == pytest.approx(load_bars("sp500").bars["volume"].sum())
    with pytest.raises(DataSourceError, match="cannot resample 1d bars to 1h"):
        load_bars("nasdaq", timeframe="1h")


def test_synthetic_5m_730_days_seed_7_is_210240_reproducible_bars() -> None:
    first = load_bars("synthetic", timeframe="5m", days=730, seed=7)
    again = load_bars("synthetic", timeframe="5m", days=730, seed=7)
    other_seed = load_bars("synthetic", timeframe="5m", days=730, seed=8)
    assert len(first.bars) == 210_240
    assert_bars_contract(first.bars)
    assert first.report.ok
    assert first.data_hash == again.data_hash
    np.testing.assert_array_equal(first.bars.to_numpy(), again.bars.to_numpy())
    np.testing.assert_array_equal(first.bars.index.asi8, again.bars.index.asi8)
    assert other_seed.data_hash != first.data_hash
    assert first.bars.index[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert first.bars.index[-1] == pd.Timestamp("2025-12-30 23:55", tz="UTC")


@pytest.mark.parametrize("timeframe", COMMON_TIMEFRAMES)
def test_synthetic_ohlc_is_consistent_on_every_timeframe(timeframe: str) -> None:
    bars = load_bars("synthetic", timeframe=timeframe, bars=3000, check=False).bars
    assert len(bars) == 3000
    assert (bars.index.to_series().diff().dropna() == parse_timeframe(timeframe)).all()
    opens, highs, lows, closes = (bars[c].to_numpy() for c in ("open", "high", "low", "close"))
    assert (highs >= np.maximum(opens, closes)).all()
    assert (lows <= np.minimum(opens, closes)).all()
    assert (lows > 0).all()
    assert (bars["volume"].to_numpy() > 0).all()
    np.testing.assert_array_equal(opens[1:], closes[:-1])


def test_synthetic_start_and_length_options() -> None:
    series = load_bars("synthetic", timeframe="1h", bars=2400, start="2021-06-01T12:00:00+02:00", check=False)
    assert series.bars.index[0] == pd.Timestamp("2021-06-01 10:00", tz="UTC")
    assert len(load_bars("synthetic").bars) == 365 * 24
    with pytest.raises(DataSourceError, match="days or bars, not both"):
        load_bars("synthetic", days=10, bars=10)
    with pytest.raises(DataSourceError, match="start 'soon' is not a timestamp"):
        load_bars("synthetic", start="soon")


def test_source_specs_resolve_and_unknown_names_suggest() -> None:
    assert resolve_source("SP500").kind == "arch"
    assert resolve_source("synthetic").kind == "synthetic"
    assert resolve_source("data/BTC.PQ").kind == "file"
    with pytest.raises(DataSourceError, match=r"Did you mean 'sp500'\?.*Sources: sp500, nasdaq, synthetic"):
        load_bars("sp5000")
    with pytest.raises(DataSourceError, match=r"Files must end in \.csv, \.parquet, \.pq \(got '\.txt'\)"):
        load_bars("bars.txt")


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"bars": 10}, r"bars applies to generated series \(synthetic, reverting\) only"),
        ({"start": "2020-01-01"}, r"start applies to generated series \(synthetic, reverting\) only"),
        ({"columns": {"open": "O"}}, "columns applies to files"),
        ({"unit": "ms"}, "unit applies to files"),
        ({"tz": "Europe/Berlin"}, "tz applies to files"),
        ({"days": -1.0}, "days must be a number > 0"),
        ({"timeframe": "5 minutes"}, "timeframe '5 minutes' has unknown unit"),
    ],
)
def test_options_that_do_not_fit_the_source_are_refused(options: dict[str, object], match: str) -> None:
    with pytest.raises(DataSourceError, match=match):
        load_bars("sp500", **options)  # type: ignore[arg-type]


# --- files ---------------------------------------------------------------------------------------------


def _with_timestamps(frame: pd.DataFrame, stamps: list[object] | pd.Series) -> pd.DataFrame:
    return frame.assign(timestamp=stamps)


@pytest.mark.parametrize("form", ["s", "ms", "iso-z", "iso-offset", "iso-naive", "iso-mixed"])
def test_timestamps_in_s_ms_and_iso_parse_to_the_same_utc_index(
    daily_bars: Callable[..., pd.DataFrame], write_csv: Callable[..., Path], form: str
) -> None:
    frame = daily_bars()
    expected = pd.DatetimeIndex(frame["timestamp"])
    seconds = expected.as_unit("s").asi8
    stamps = {
        "s": seconds,
        "ms": seconds * 1000,
        "iso-z": expected.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "iso-offset": expected.tz_convert("Asia/Kolkata").strftime("%Y-%m-%dT%H:%M:%S%z"),
        "iso-naive": expected.strftime("%Y-%m-%d %H:%M:%S"),
        "iso-mixed": [
            s.tz_convert("America/New_York").isoformat() if i % 2 else s.strftime("%Y-%m-%d")
            for i, s in enumerate(expected)
        ],
    }[form]
    path = write_csv(_with_timestamps(frame, list(stamps)))
    index = load_bars(str(path)).bars.index
    pd.testing.assert_index_equal(index, expected.as_unit("ns").rename("timestamp"))
    explicit = {"s": "s", "ms": "ms"}.get(form, "iso")
    pd.testing.assert_index_equal(load_bars(str(path), unit=explicit).bars.index, index)  # type: ignore[arg-type]


def test_tz_localises_naive_timestamps_and_leaves_aware_ones(
    daily_bars: Callable[..., pd.DataFrame], write_csv: Callable[..., Path]
) -> None:
    frame = daily_bars()
    local = pd.DatetimeIndex(frame["timestamp"]).tz_convert("America/New_York")
    naive = write_csv(_with_timestamps(frame, list(local.strftime("%Y-%m-%d %H:%M:%S"))), "naive.csv")
    aware = write_csv(_with_timestamps(frame, [s.isoformat() for s in local]), "aware.csv")
    expected = load_bars(str(write_csv(frame, "utc.csv"))).bars.index
    pd.testing.assert_index_equal(load_bars(str(naive), tz="America/New_York").bars.index, expected)
    pd.testing.assert_index_equal(load_bars(str(aware), tz="America/New_York").bars.index, expected)
    with pytest.raises(DataSourceError, match="'Mars/Olympus' is not a known time zone"):
        load_bars(str(naive), tz="Mars/Olympus")


def test_unparseable_timestamp_names_file_row_and_value(
    daily_bars: Callable[..., pd.DataFrame], write_csv: Callable[..., Path]
) -> None:
    frame = daily_bars().astype({"timestamp": str})
    frame.loc[6, "timestamp"] = "2024-13-45"
    path = write_csv(frame)
    with pytest.raises(
        DataSourceError, match=rf"{path}: row 7, column 'timestamp': cannot parse timestamp '2024-13-45'"
    ):
        load_bars(str(path))


def test_non_numeric_value_names_row_column_and_value(
    daily_bars: Callable[..., pd.DataFrame], write_csv: Callable[..., Path]
) -> None:
    frame = daily_bars().astype({"close": object})
    frame.loc[2, "close"] = "n/a?"
    with pytest.raises(DataSourceError, match=r"row 3, column 'close': 'n/a\?' is not a number"):
        load_bars(str(write_csv(frame)))


def test_column_mapping_aliases_and_did_you_mean(
    daily_bars: Callable[..., pd.DataFrame], write_csv: Callable[..., Path]
) -> None:
    frame = daily_bars()
    reference = load_bars(str(write_csv(frame, "plain.csv"))).data_hash
    aliased = frame.rename(columns={"timestamp": "Date", "open": "O", "high": "H", "low": "L", "close": "C"})
    assert (
        load_bars(str(write_csv(aliased.rename(columns={"volume": "Vol"}), "alias.csv"))).data_hash
        == reference
    )
    odd = frame.rename(columns={"timestamp": "when", "open": "Opn", "volume": "Volme"})
    path = write_csv(odd, "odd.csv")
    with pytest.raises(DataSourceError) as raised:
        load_bars(str(path))
    assert "no timestamp column" in str(raised.value)
    with pytest.raises(DataSourceError) as raised:
        load_bars(str(path), timestamp_column="when")
    message = str(raised.value)
    assert message.startswith(f"{path}: no column for 'open'")
    assert "Did you mean 'Opn'?" in message
    assert "no column for 'volume'" in message
    assert "Did you mean 'Volme'?" in message
    assert "Columns present: ['when', 'Opn', 'high', 'low', 'close', 'Volme']" in message
    mapped = load_bars(str(path), columns={"timestamp": "when", "open": "Opn", "volume": "Volme"})
    assert mapped.data_hash == reference
    with pytest.raises(
        DataSourceError, match=r"column 'Open' mapped to 'open' is not in the file\. Did you mean 'Opn'"
    ):
        load_bars(str(path), timestamp_column="when", columns={"open": "Open", "volume": "Volme"})
    with pytest.raises(DataSourceError, match="unknown fields"):
        load_bars(str(path), columns={"adj_close": "close"})


def test_missing_and_unreadable_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match="no such file"):
        load_bars(str(tmp_path / "absent.csv"))
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    with pytest.raises(DataSourceError, match="cannot be read as Parquet"):
        load_bars(str(broken))


def test_parquet_with_a_datetime_index_round_trips(
    daily_bars: Callable[..., pd.DataFrame], tmp_path: Path
) -> None:
    bars = load_bars("synthetic", timeframe="1h", days=100).bars
    path = tmp_path / "bars.parquet"
    bars.to_parquet(path)
    loaded = load_bars(str(path))
    pd.testing.assert_frame_equal(loaded.bars, bars)
    assert loaded.timeframe == "1h"
    assert load_bars(str(path), timeframe="4h").bars["volume"].sum() == pytest.approx(bars["volume"].sum())
    with pytest.raises(DataSourceError, match="cannot resample 1h bars to 30m"):
        load_bars(str(path), timeframe="30m")


def test_file_days_keeps_the_last_days_with_file_row_numbers(
    daily_bars: Callable[..., pd.DataFrame], write_csv: Callable[..., Path]
) -> None:
    frame = daily_bars(200)
    frame.loc[190, "volume"] = -1.0
    report = load_bars(str(write_csv(frame)), days=100, check=False).report
    assert report.rows == 100
    assert [(f.check, f.row) for f in report.errors] == [("negative_volume", 191)]


def test_the_reverting_market_loads_as_checked_bars_and_is_seeded() -> None:
    loaded = load_bars("reverting", bars=9000, seed=3)
    assert_bars_contract(loaded.bars)
    assert loaded.timeframe == "15m" and len(loaded.bars) == 9000 and not loaded.report.errors
    again = load_bars("reverting", bars=9000, seed=3)
    assert again.data_hash == loaded.data_hash != load_bars("reverting", bars=9000, seed=4).data_hash
    hourly = load_bars("reverting", timeframe="1h", days=100)
    assert hourly.timeframe == "1h" and len(hourly.bars) == 100 * 24


def test_a_random_walk_without_costs_gives_a_tight_trailing_stop_no_edge() -> None:
    """With deviation 0 the bars once had no wicks: a 0.02 % trailing stop then left at the open of every
    down bar and rode every up bar, a Sharpe of about 30 on a random walk that the calibration's search
    found and passed. Intrabar ranges now follow the fair value's own volatility."""
    import math

    from backtest_matrix.data import generate_reverting
    from backtest_matrix.engine import EngineConfig, backtest

    market = generate_reverting(bars=200_000, deviation_pct=0.0, seed=12)
    assert (market["high"] > market[["open", "close"]].max(axis=1)).mean() > 0.99
    params = {"rsi_period": 9, "oversold": 30.0, "overbought": 65.0, "stop_loss_pct": 0.84,
              "exit_trailing_stop_pct": 0.02, "trade_fraction": 0.1}  # fmt: skip
    free = EngineConfig(fee_bps=0.0, slippage_bps=0.0)
    returns = backtest(market, "rsi_reversion", params, config=free).returns.to_numpy()
    sharpe = returns.mean() / returns.std(ddof=1) * math.sqrt(35_040)
    assert sharpe < 1.0, sharpe  # no edge to find (stops filled inside a wick even cost a little)
