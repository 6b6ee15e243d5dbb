"""Quality checks: each defect in a small CSV is reported with its row, timestamp and column."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest_matrix import QualityConfig, check_bars, load_bars
from tradeloop.errors import DataError, DataQualityError

Spoil = Callable[[pd.DataFrame], pd.DataFrame]


def _set(column: str, value: float, position: int = 16) -> Spoil:
    def spoil(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame.loc[position, column] = value
        return frame

    return spoil


def _duplicate_row_16(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([frame.iloc[:16], frame.iloc[15:16], frame.iloc[16:]], ignore_index=True)


def _swap_rows_17_18(frame: pd.DataFrame) -> pd.DataFrame:
    order = list(range(len(frame)))
    order[16], order[17] = 17, 16
    return frame.iloc[order].reset_index(drop=True)


def _drop_row_17(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(index=16).reset_index(drop=True)


# (defect, spoil, check, column, row of the finding, day of its timestamp, text in the message)
DEFECTS = [
    ("nan", _set("high", np.nan), "nan", "high", 17, 17, "NaN"),
    ("inf", _set("volume", np.inf), "inf", "volume", 17, 17, "value is inf"),
    ("zero price", _set("low", 0.0), "non_positive_price", "low", 17, 17, "low 0 is not positive"),
    ("negative price", _set("low", -3.0), "non_positive_price", "low", 17, 17, "low -3 is not positive"),
    (
        "high below body",
        _set("high", 116.2),
        "high_below_body",
        "high",
        17,
        17,
        "high 116.2 is below max(open, close) = 116.5",
    ),
    (
        "low above body",
        _set("low", 116.3),
        "low_above_body",
        "low",
        17,
        17,
        "low 116.3 is above min(open, close) = 116",
    ),
    ("negative volume", _set("volume", -5.0), "negative_volume", "volume", 17, 17, "volume -5 is negative"),
    ("duplicate", _duplicate_row_16, "duplicate_timestamp", "timestamp", 17, 16, "duplicates row 16"),
    (
        "out of order",
        _swap_rows_17_18,
        "non_monotonic_timestamp",
        "timestamp",
        18,
        17,
        "earlier than the previous row's 2024-01-18 00:00:00+00:00 (row 17)",
    ),
    ("gap", _drop_row_17, "gap", "timestamp", 17, 18, "1 missing 1d bar before this bar"),
]


@pytest.mark.parametrize(
    ("spoil", "check", "column", "row", "day", "text"),
    [pytest.param(*defect[1:], id=defect[0]) for defect in DEFECTS],
)
def test_each_defect_is_an_error_naming_row_timestamp_and_column(
    daily_bars: Callable[..., pd.DataFrame],
    write_csv: Callable[..., Path],
    spoil: Spoil,
    check: str,
    column: str,
    row: int,
    day: int,
    text: str,
) -> None:
    path = write_csv(spoil(daily_bars()), "bad.csv")
    report = load_bars(str(path), check=False).report
    assert [f.check for f in report.errors] == [check]
    finding = report.errors[0]
    stamp = f"2024-01-{day:02d} 00:00:00+00:00"
    assert (finding.column, finding.row, finding.timestamp) == (column, row, pd.Timestamp(stamp).isoformat())
    assert finding.message.startswith(f"{path}: row {row} ({stamp}), column '{column}': ")
    assert text in finding.message
    assert finding.fix
    with pytest.raises(DataQualityError) as raised:
        load_bars(str(path))
    assert [f.message for f in raised.value.findings] == [f.message for f in report.errors]
    assert f"row {row}" in str(raised.value)


def test_a_clean_csv_passes(daily_bars: Callable[..., pd.DataFrame], write_csv: Callable[..., Path]) -> None:
    loaded = load_bars(str(write_csv(daily_bars())))
    assert loaded.report.findings == []
    assert loaded.report.ok
    assert loaded.report.summary() == "0 errors, 0 warnings in 120 rows"
    assert loaded.timeframe == "1d"


def test_short_history_names_first_last_timestamp_and_span(
    daily_bars: Callable[..., pd.DataFrame], write_csv: Callable[..., Path]
) -> None:
    path = write_csv(daily_bars(30), "short.csv")
    [finding] = load_bars(str(path), check=False).report.errors
    assert finding.check == "short_history"
    assert finding.row is None
    assert "spans 30.00 days" in finding.message
    assert "2024-01-01 00:00:00+00:00 to 2024-01-30 00:00:00+00:00" in finding.message
    assert "90 days required" in finding.message
    assert load_bars(str(path), quality=QualityConfig(min_history_days=30)).report.ok


def test_window_days_raises_the_required_history(
    daily_bars: Callable[..., pd.DataFrame], write_csv: Callable[..., Path]
) -> None:
    path = write_csv(daily_bars(120))
    report = load_bars(str(path), check=False, quality=QualityConfig(window_days=200)).report
    assert [f.check for f in report.errors] == ["short_history"]
    assert "200 days required" in report.errors[0].message


def test_no_bars_at_all_is_short_history(daily_bars: Callable[..., pd.DataFrame]) -> None:
    empty = daily_bars().set_index("timestamp").iloc[:0]
    [finding] = check_bars(empty, source="empty", timeframe="1d").errors
    assert finding.check == "short_history"
    assert "no bars at all" in finding.message


def test_many_bad_rows_list_the_first_five_and_count_the_rest(
    daily_bars: Callable[..., pd.DataFrame],
) -> None:
    bars = daily_bars(200).set_index("timestamp")
    bars.loc[bars.index[50:150], "close"] = np.nan
    report = check_bars(bars, source="holes", timeframe="1d")
    nan = [f for f in report.errors if f.check == "nan"]
    assert [f.row for f in nan] == [51, 52, 53, 54, 55]
    assert [f.count for f in nan] == [1, 1, 1, 1, 96]
    assert report.summary() == "100 errors (nan 100), 0 warnings in 200 rows"


def test_report_to_dict_is_json(daily_bars: Callable[..., pd.DataFrame]) -> None:
    bars = daily_bars().set_index("timestamp")
    bars.loc[bars.index[3], "open"] = np.nan
    bars.loc[bars.index[4], "volume"] = 0.0
    data = check_bars(bars, source="mixed", timeframe="1d").to_dict()
    decoded = json.loads(json.dumps(data, allow_nan=False))
    assert decoded["ok"] is False
    assert (decoded["errors"], decoded["warnings"]) == (1, 1)
    assert decoded["findings"][0]["value"] == "nan"
    assert decoded["findings"][1]["check"] == "zero_volume"
    assert decoded["findings"][1]["severity"] == "warning"
    assert decoded["config"]["calendar"] == "24/7"


def test_rows_name_the_source_rows_of_a_subset(daily_bars: Callable[..., pd.DataFrame]) -> None:
    bars = daily_bars().set_index("timestamp").iloc[10:]
    bars.loc[bars.index[0], "open"] = -1.0
    report = check_bars(bars, source="tail", timeframe="1d", rows=np.arange(11, 121))
    assert report.errors[0].row == 11


def test_a_duplicate_is_not_also_out_of_order(daily_bars: Callable[..., pd.DataFrame]) -> None:
    bars = daily_bars().set_index("timestamp")
    bars = pd.concat([bars.iloc[:5], bars.iloc[4:5], bars.iloc[5:]])
    assert [f.check for f in check_bars(bars, source="dup", timeframe="1d").findings] == [
        "duplicate_timestamp"
    ]


def test_weekday_calendar_skips_weekends_but_counts_missing_weekdays(
    daily_bars: Callable[..., pd.DataFrame],
) -> None:
    bars = daily_bars(200).set_index("timestamp")
    weekdays = bars[bars.index.day_of_week < 5]
    assert not check_bars(weekdays, source="w", timeframe="1d", config=QualityConfig("weekdays")).errors
    on_24_7 = check_bars(weekdays, source="w", timeframe="1d").errors
    assert {f.check for f in on_24_7} == {"gap"}
    assert on_24_7[0].value == 2
    holiday = weekdays.drop(index=pd.Timestamp("2024-01-03", tz="UTC"))  # a Wednesday
    [gap] = check_bars(holiday, source="w", timeframe="1d", config=QualityConfig("weekdays")).errors
    assert (gap.value, gap.timestamp) == (1, "2024-01-04T00:00:00+00:00")
    assert check_bars(holiday, source="w", timeframe="1d", config=QualityConfig("weekdays", 1)).ok


def test_weekday_calendar_for_intraday_bars() -> None:
    index = pd.date_range("2024-01-01", "2024-05-01", freq="1h", tz="UTC", inclusive="left")
    weekdays = index[index.day_of_week < 5]
    prices = np.full(len(weekdays), 100.0)
    bars = pd.DataFrame({c: prices for c in ("open", "high", "low", "close", "volume")}, index=weekdays)
    config = QualityConfig("weekdays")
    assert check_bars(bars, source="fx", timeframe="1h", config=config).ok
    friday_evening = bars.drop(index=pd.Timestamp("2024-01-05 23:00", tz="UTC"))
    [gap] = check_bars(friday_evening, source="fx", timeframe="1h", config=config).errors
    assert (gap.value, gap.timestamp) == (1, "2024-01-08T00:00:00+00:00")


def test_quality_config_refuses_bad_values() -> None:
    with pytest.raises(DataError, match="calendar"):
        QualityConfig(calendar="mon-fri")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="max_missing_bars"):
        QualityConfig(max_missing_bars=-1)
    with pytest.raises(DataError, match="window_days"):
        QualityConfig(window_days=0)
    assert QualityConfig(min_history_days=10, window_days=30).required_days == 30
