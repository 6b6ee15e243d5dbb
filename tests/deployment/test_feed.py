"""The feed: a CSV file a data feed appends to, re-read by every paper run, each new row checked first.

A gap, a duplicate, a bar out of order or an impossible price is reported with the file, the row and the
fix, and the clock does not advance past it; once the file is fixed the next run goes on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from backtest_matrix import load_bars
from deployment import FileFeed, ReplayFeed
from tests.deployment.conftest import T0, DeployRepo, merge_optimizer_change

BAR = timedelta(minutes=15)


@pytest.fixture(scope="module")
def market() -> pd.DataFrame:
    bars = load_bars("reverting", timeframe="15m").bars
    return bars[(bars.index > pd.Timestamp(T0)) & (bars.index <= pd.Timestamp(T0 + timedelta(days=4)))]


def _write(path: Path, bars: pd.DataFrame) -> Path:
    bars.to_csv(path, index_label="timestamp", date_format="%Y-%m-%dT%H:%M:%S%z")
    return path


def _append(path: Path, bars: pd.DataFrame) -> None:
    with path.open("a", encoding="utf-8") as handle:
        bars.to_csv(handle, header=False, date_format="%Y-%m-%dT%H:%M:%S%z")


def _last_bar(out: dict[str, object]) -> str:
    [run] = out["runs"]  # type: ignore[misc]
    return str(run["sets"][0]["last_bar"])


def test_a_paper_run_follows_an_appended_file_and_stops_at_a_gap(
    deploy_repo: DeployRepo, market: pd.DataFrame, tmp_path: Path
) -> None:
    target = deploy_repo
    merge_optimizer_change(target)
    feed = _write(tmp_path / "demo.csv", market.iloc[:96])
    now = T0 + timedelta(days=10)
    out = target.cli("paper", "run", "--feed", str(feed), now=now, json_output=True)
    assert _last_bar(out) == market.index[95].isoformat()
    _append(feed, market.iloc[96:192])  # the feed appends a day, and is writing the next line
    whole = feed.read_bytes()
    _append(feed, market.iloc[192:193])
    feed.write_bytes(feed.read_bytes()[: len(whole) + 20])
    out = target.cli("paper", "run", "--feed", str(feed), now=now, json_output=True)
    assert _last_bar(out) == market.index[191].isoformat() and not out["problems"]
    feed.write_bytes(whole)

    _append(feed, market.iloc[195:200])  # three bars missing: row 193 of the file opens a gap
    gapped = target.cli("paper", "run", "--feed", str(feed), now=now)
    assert gapped.exit_code == 1, gapped.output
    assert "demo.csv: row 193, field timestamp" in gapped.output and "gap of 3 bar(s)" in gapped.output
    again = target.cli("--json", "paper", "run", "--feed", str(feed), now=now)
    assert again.exit_code == 1  # the clock stays at the last bar before the gap
    assert _last_bar(json.loads(again.stdout)) == market.index[191].isoformat()
    assert json.loads(again.stdout)["problems"][0].startswith("demo.csv: row 193")
    _write(feed, market.iloc[:200])  # the feed's operator fills the gap
    out = target.cli("paper", "run", "--feed", str(feed), now=now, json_output=True)
    assert _last_bar(out) == market.index[199].isoformat() and not out["problems"]


def _duplicate(bars: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([bars.iloc[:10], bars.iloc[9:10], bars.iloc[10:12]])


def _out_of_order(bars: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([bars.iloc[:10], bars.iloc[[7]], bars.iloc[10:12]])


def _bad_high(bars: pd.DataFrame) -> pd.DataFrame:
    broken = bars.iloc[:12].copy()
    broken.iloc[10, broken.columns.get_loc("high")] = broken.iloc[10]["low"] * 0.99
    return broken


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (_duplicate, "row 11, field timestamp: 2024-06-01T02:30:00+00:00 is a duplicate"),
        (_out_of_order, "row 11, field timestamp: 2024-06-01T02:00:00+00:00 is out of order"),
        (_bad_high, "row 11, field high:"),
    ],
)
def test_a_bad_row_is_named_and_the_clock_stays_before_it(
    market: pd.DataFrame,
    tmp_path: Path,
    damage: Callable[[pd.DataFrame], pd.DataFrame],
    expected: str,
) -> None:
    read = FileFeed(_write(tmp_path / "feed.csv", damage(market)), "15m").read(T0 + timedelta(days=9))
    assert expected in read.problem and read.problem.startswith("feed.csv: row 11")
    assert read.clock == market.index[9].to_pydatetime() and len(read.bars) == 10


def test_a_replay_feed_holds_the_bars_up_to_the_simulated_clock(market: pd.DataFrame) -> None:
    feed = ReplayFeed("reverting", market)
    assert feed.read(T0 + BAR * 3 + timedelta(minutes=1)).clock == T0 + BAR * 3
    assert len(feed.read(T0).bars) == 0 and feed.read(T0).clock is None


def test_a_missing_feed_file_is_one_clear_error(deploy_repo: DeployRepo, tmp_path: Path) -> None:
    target = deploy_repo
    merge_optimizer_change(target)
    result = target.cli("paper", "run", "--feed", str(tmp_path / "nowhere.csv"), now=T0 + timedelta(days=1))
    assert result.exit_code == 2
    assert "nowhere.csv" in result.output and "Traceback" not in result.output
