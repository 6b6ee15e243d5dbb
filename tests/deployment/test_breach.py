"""The breach rules on hand-made equity: hard limits act on the first breach; no data is a failed check;
counted failures roll back only at the threshold, in a row; an unconfirmed or thin Sharpe drop never fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from deployment import BreachJudgement, Series, judge
from gitops import load_constants

CONSTANTS = load_constants(Path(__file__).resolve().parents[2] / "config" / "constants.py")
START = datetime(2024, 6, 3, 0, 7, tzinfo=UTC)
BAR = timedelta(minutes=15)


def _series(equity: list[float] | np.ndarray, *, skip: range = range(0)) -> Series:
    times = [START + BAR * (i + 1) for i in range(len(equity)) if i not in skip]
    values = [float(v) for i, v in enumerate(equity) if i not in skip]
    index = pd.DatetimeIndex(times).as_unit("ns")
    return Series(np.asarray(index.asi8, dtype=np.int64), np.asarray(values, dtype=np.float64))


def _judge(candidate: Series, baseline: Series | None, bars: int) -> BreachJudgement:
    clock = START + BAR * bars + timedelta(seconds=30)
    found = judge(candidate, baseline, CONSTANTS, since=START, clock=clock, interval=BAR, bar_minutes=15.0)
    assert found is not None
    return found


def test_nothing_is_judged_before_the_first_interval_ends() -> None:
    assert judge(_series([1000.0]), None, CONSTANTS, since=START, clock=START + BAR / 2, interval=BAR,
                 bar_minutes=15.0) is None  # fmt: skip


def test_a_daily_loss_above_the_limit_rolls_back_at_once_and_one_below_does_not() -> None:
    calm = [1000.0] * 10
    below = _judge(_series([*calm, 995.5]), _series([*calm, 1000.0]), 11)
    assert below.decision != "rollback_now"
    above = _judge(_series([*calm, 994.9]), _series([*calm, 1000.0]), 11)
    assert above.decision == "rollback_now" and above.hard == ("daily_loss_usd",)


def test_a_drawdown_above_the_limit_rolls_back_at_once() -> None:
    # 100 USD of capital: a 9 % fall is a 9 USD day too, so use a slow slide over several days.
    slide = list(100.0 * np.cumprod(np.full(400, 1 - 0.00024)))  # 9.2 % over 100 hours, ~2.3 % a day
    judged = _judge(_series(slide), None, 400)
    assert judged.decision == "rollback_now" and judged.hard == ("max_drawdown_pct",)


def test_no_data_fails_the_check_and_three_intervals_without_it_roll_back() -> None:
    equity = [1000.0] * 20
    gap2 = _judge(_series(equity, skip=range(18, 20)), None, 20)
    assert (gap2.decision, gap2.failed_in_row) == ("warn", 2)
    gap3 = _judge(_series(equity, skip=range(17, 20)), None, 20)
    assert (gap3.decision, gap3.failed_in_row) == ("rollback", 3)
    assert {c.name: c.outcome for c in gap3.checks}["data"] == "fail"


def test_a_thin_or_unconfirmed_sharpe_drop_never_fails() -> None:
    rng = np.random.default_rng(3)
    paper = 1000.0 * np.cumprod(1 + rng.normal(0.0001, 0.0002, 200))
    thin = _judge(_series(paper[:20] * 0.999), _series(paper[:20]), 20)
    [drop] = [c for c in thin.checks if c.name == "sharpe_drop_pct"]
    assert drop.outcome == "inconclusive" and "MONITOR_MIN_RETURNS" in drop.detail
    # The same parameters live: execution noise only. Their Sharpe may read far lower, the harm test holds.
    live = paper * np.cumprod(1 + rng.normal(0.0, 0.00006, 200))
    equal = _judge(_series(live), _series(paper), 200)
    assert equal.decision in ("ok", "warn") and equal.failed_in_row == 0
    # A real shortfall is shown, fails three intervals in a row and rolls back.
    worse = paper * np.cumprod(1 + rng.normal(-0.0002, 0.00006, 200))
    bad = _judge(_series(worse), _series(paper), 200)
    assert (bad.decision, bad.failed_in_row) == ("rollback", 3)
