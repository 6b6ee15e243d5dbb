"""The bar-by-bar simulation kernel shared by the single backtest and the sweep.

One call simulates one parameter combination over all bars, in one pass, with O(1) state: the position,
its stops and targets, and the KPI accumulators. With ``record`` it also writes the trade list and the
per-bar equity; the sweep passes ``record=False`` and empty buffers. docs/engine.md states the semantics.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from backtest_matrix.engine._layout import (
    CFG_DIRECTION,
    CFG_FEE,
    CFG_FILL,
    CFG_INIT_CASH,
    CFG_MIN_RESERVE,
    CFG_PERIODS_PER_YEAR,
    CFG_SLIPPAGE,
    FILL_CLOSE,
)
from backtest_matrix.engine._signals import LONG_ENTRY, LONG_EXIT, SHORT_ENTRY, SHORT_EXIT

__all__ = ["simulate_nb"]

R_SIGNAL, R_STOP, R_TP0, R_TRAIL, R_OPEN = 0, 1, 2, 5, 6
_NANOS_PER_DAY = 86_400_000_000_000
_EPS = 1e-12
# Trade-statistics accumulator slots (trades close rarely, so an array costs nothing on the hot path).
A_TRADES, A_WINS, A_GROSS_PROFIT, A_GROSS_LOSS, A_SUM_WIN, A_SUM_LOSS, A_SUM_RET = 0, 1, 2, 3, 4, 5, 6
A_STREAK, A_MAX_WINS, A_MAX_LOSSES = 7, 8, 9
N_ACC = 10


@njit(cache=True)
def _stop_price(
    entry: float, extreme: float, side: float, risk: np.ndarray, strat_frac: float
) -> tuple[float, int]:
    """The tightest active stop (fixed, strategy or trailing) and its reason; NaN when none is set."""
    stop = math.nan
    reason = R_STOP
    if risk[0] > 0.0:
        stop = entry * (1.0 - side * risk[0] / 100.0)
    if strat_frac == strat_frac and strat_frac > 0.0:
        candidate = entry * (1.0 - side * strat_frac)
        if stop != stop or side * (candidate - stop) > 0.0:
            stop = candidate
    if risk[7] > 0.0:
        candidate = extreme * (1.0 - side * risk[7] / 100.0)
        if stop != stop or side * (candidate - stop) > 0.0:
            stop = candidate
            reason = R_TRAIL
    return stop, reason


@njit(cache=True)
def _stop_fill(stop: float, side: float, open_: float, high: float, low: float) -> float:
    """Where a stop fills on this bar: the open when the bar opens through it, else the stop, else NaN."""
    if side * (open_ - stop) <= 0.0:
        return open_
    if (side > 0.0 and low <= stop) or (side < 0.0 and high >= stop):
        return stop
    return math.nan


@njit(cache=True)
def _target_fill(target: float, side: float, open_: float, high: float, low: float) -> float:
    """Where a take-profit fills on this bar: the open when it opens beyond it, else the target, else NaN."""
    if side * (open_ - target) >= 0.0:
        return open_
    if (side > 0.0 and high >= target) or (side < 0.0 and low <= target):
        return target
    return math.nan


@njit(cache=True)
def _close_trade(
    acc: np.ndarray, record: bool, trades: np.ndarray, entry_bar: int, exit_bar: int, side: float,
    entry_price: float, size: float, exit_value: float, pnl: float, fees: float, reason: int, fills: int,
) -> None:  # fmt: skip
    """Book a finished trade into the accumulators and, with ``record``, the trade list."""
    n = int(acc[A_TRADES])
    ret_pct = 100.0 * pnl / (size * entry_price)
    if record:
        row = trades[n]
        row[0] = entry_bar
        row[1] = exit_bar
        row[2] = side
        row[3] = entry_price
        row[4] = exit_value / size
        row[5] = size
        row[6] = pnl
        row[7] = ret_pct
        row[8] = fees
        row[9] = reason
        row[10] = fills
    acc[A_TRADES] += 1.0
    acc[A_SUM_RET] += ret_pct
    if pnl > 0.0:
        acc[A_WINS] += 1.0
        acc[A_GROSS_PROFIT] += pnl
        acc[A_SUM_WIN] += ret_pct
        acc[A_STREAK] = acc[A_STREAK] + 1.0 if acc[A_STREAK] > 0.0 else 1.0
        acc[A_MAX_WINS] = max(acc[A_MAX_WINS], acc[A_STREAK])
    else:
        acc[A_GROSS_LOSS] -= pnl
        acc[A_SUM_LOSS] += ret_pct
        acc[A_STREAK] = acc[A_STREAK] - 1.0 if acc[A_STREAK] < 0.0 else -1.0
        acc[A_MAX_LOSSES] = max(acc[A_MAX_LOSSES], -acc[A_STREAK])


@njit(cache=True)
def simulate_nb(
    ts: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    flags: np.ndarray,
    stop_frac: np.ndarray,
    risk: np.ndarray,
    cfg: np.ndarray,
    kpis: np.ndarray,
    record: bool,
    trades: np.ndarray,
    equity_out: np.ndarray,
) -> int:
    """Simulate one combination; write its KPIs into ``kpis`` and return the number of trades.

    ``risk`` holds the risk parameters in ``RISK_NAMES`` order and ``cfg`` the run configuration. With
    ``record``, ``trades`` (rows of ``TRADE_FIELDS``, at least ``len(close) // 2 + 1`` rows) and
    ``equity_out`` (the equity at each close) are filled.
    """
    n = close.shape[0]
    fill_close = cfg[CFG_FILL] == FILL_CLOSE
    fee = cfg[CFG_FEE]
    slip = cfg[CFG_SLIPPAGE]
    allow_short = cfg[CFG_DIRECTION] > 0.0
    init_cash = cfg[CFG_INIT_CASH]
    min_reserve = cfg[CFG_MIN_RESERVE]
    trade_fraction = risk[8]
    acc = np.zeros(N_ACC)

    cash = init_cash
    side = 0.0  # +1 long, -1 short, 0 flat
    size = 0.0  # units still held
    initial_size = 0.0
    entry_price = 0.0
    entry_bar = 0
    entry_fees = 0.0
    extreme = 0.0  # best price since entry, for the trailing stop
    strat_frac = math.nan
    tiers_done = 0
    exit_pnl = 0.0  # realised P&L of the exit fills so far, after their fees
    exit_value = 0.0  # sum of exit fill value, for the average exit price
    exit_fills = 0

    prev_equity = init_cash
    peak = init_cash
    max_dd = 0.0
    ret_mean = 0.0
    ret_m2 = 0.0
    down_sq = 0.0
    bars_in_market = 0
    day = ts[0] // _NANOS_PER_DAY if n > 0 else 0
    day_start_equity = init_cash
    worst_day = 0.0

    for t in range(n):
        # Orders in time order: the pending signal at the open (next_open), intrabar exits on high/low
        # (stops before targets), then the signal at the close (close mode). In close mode a bar with an
        # intrabar exit ignores its own signal, as vectorbt does (one order per bar).
        exited_intrabar = False
        for phase in range(3):
            if phase == 1:
                if side == 0.0:
                    continue
                fills_before = exit_fills
                stop, reason = _stop_price(entry_price, extreme, side, risk, strat_frac)
                px = _stop_fill(stop, side, open_[t], high[t], low[t]) if stop == stop else math.nan
                if px == px:
                    fill = px * (1.0 - side * slip)
                    exit_pnl += side * size * (fill - entry_price) - size * fill * fee
                    exit_value += size * fill
                    cash += side * size * fill - size * fill * fee
                    exit_fills += 1
                    size = 0.0
                else:
                    for k in range(tiers_done, 3):
                        pct = risk[1 + 2 * k]
                        if pct <= 0.0:
                            break
                        px = _target_fill(
                            entry_price * (1.0 + side * pct / 100.0), side, open_[t], high[t], low[t]
                        )
                        if px != px:
                            break
                        qty = min(size, initial_size * risk[2 + 2 * k])
                        if size - qty <= initial_size * _EPS:
                            qty = size
                        fill = px * (1.0 - side * slip)
                        exit_pnl += side * qty * (fill - entry_price) - qty * fill * fee
                        exit_value += qty * fill
                        cash += side * qty * fill - qty * fill * fee
                        exit_fills += 1
                        size -= qty
                        tiers_done = k + 1
                        reason = R_TP0 + k
                        if size == 0.0:
                            break
                exited_intrabar = exit_fills > fills_before
                if size == 0.0:
                    _close_trade(
                        acc, record, trades, entry_bar, t, side, entry_price, initial_size, exit_value,
                        exit_pnl - entry_fees, entry_fees + exit_value * fee, reason, exit_fills,
                    )  # fmt: skip
                    side = 0.0
                else:
                    extreme = max(extreme, high[t]) if side > 0.0 else min(extreme, low[t])
                continue

            if phase == 0:
                if fill_close or t == 0:
                    continue
                signal = flags[t - 1]
                price = open_[t]
                signal_bar = t - 1
            else:
                if not fill_close or exited_intrabar:
                    continue
                signal = flags[t]
                price = close[t]
                signal_bar = t

            if (side > 0.0 and signal & LONG_EXIT) or (side < 0.0 and signal & SHORT_EXIT):
                fill = price * (1.0 - side * slip)
                exit_pnl += side * size * (fill - entry_price) - size * fill * fee
                exit_value += size * fill
                cash += side * size * fill - size * fill * fee
                exit_fills += 1
                _close_trade(
                    acc, record, trades, entry_bar, t, side, entry_price, initial_size, exit_value,
                    exit_pnl - entry_fees, entry_fees + exit_value * fee, R_SIGNAL, exit_fills,
                )  # fmt: skip
                side = 0.0
                size = 0.0
            if side == 0.0:
                new_side = 0.0
                if signal & LONG_ENTRY:
                    new_side = 1.0
                elif allow_short and signal & SHORT_ENTRY:
                    new_side = -1.0
                if new_side != 0.0:
                    invest = min(trade_fraction * cash, cash - min_reserve * cash)
                    fill = price * (1.0 + new_side * slip)
                    qty = invest / (fill * (1.0 + fee)) if invest > 0.0 else 0.0
                    if qty > 0.0:
                        side = new_side
                        size = qty
                        initial_size = qty
                        entry_price = fill
                        entry_bar = t
                        entry_fees = qty * fill * fee
                        cash -= side * qty * fill + entry_fees
                        extreme = fill
                        strat_frac = stop_frac[signal_bar]
                        tiers_done = 0
                        exit_pnl = 0.0
                        exit_value = 0.0
                        exit_fills = 0

        # Mark to market at the close and accumulate this bar's KPIs.
        equity = cash + side * size * close[t]
        if side != 0.0:
            bars_in_market += 1
        if record:
            equity_out[t] = equity
        bar_day = ts[t] // _NANOS_PER_DAY
        if bar_day != day:
            worst_day = min(worst_day, prev_equity / day_start_equity - 1.0)
            day_start_equity = prev_equity
            day = bar_day
        ret = equity / prev_equity - 1.0 if prev_equity > 0.0 else 0.0
        delta = ret - ret_mean
        ret_mean += delta / (t + 1)
        ret_m2 += delta * (ret - ret_mean)
        if ret < 0.0:
            down_sq += ret * ret
        prev_equity = equity
        peak = max(peak, equity)
        if peak > 0.0:
            max_dd = max(max_dd, 1.0 - equity / peak)

    if side != 0.0:  # still open at the end: a trade marked at the last close, without exit costs
        value = exit_value + size * close[n - 1]
        pnl = exit_pnl + side * size * (close[n - 1] - entry_price) - entry_fees
        _close_trade(
            acc, record, trades, entry_bar, n - 1, side, entry_price, initial_size, value, pnl,
            entry_fees + exit_value * fee, R_OPEN, exit_fills,
        )  # fmt: skip
    if n > 0:
        worst_day = min(worst_day, prev_equity / day_start_equity - 1.0)
    _write_kpis(
        kpis, acc, n, ts, init_cash, prev_equity, max_dd, ret_mean, ret_m2, down_sq, bars_in_market,
        cfg[CFG_PERIODS_PER_YEAR], worst_day,
    )  # fmt: skip
    return int(acc[A_TRADES])


@njit(cache=True)
def _write_kpis(
    kpis: np.ndarray, acc: np.ndarray, n: int, ts: np.ndarray, init_cash: float, final_equity: float,
    max_dd: float, ret_mean: float, ret_m2: float, down_sq: float, bars_in_market: int,
    periods_per_year: float, worst_day: float,
) -> None:  # fmt: skip
    """Turn the accumulators into the KPI vector (``KPI_NAMES`` order). Undefined figures are NaN."""
    trades = acc[A_TRADES]
    wins = acc[A_WINS]
    losses = trades - wins
    growth = final_equity / init_cash
    kpis[0] = 100.0 * (growth - 1.0)
    years = (ts[n - 1] - ts[0]) / (365.25 * _NANOS_PER_DAY) if n > 1 else 0.0
    kpis[1] = 100.0 * (growth ** (1.0 / years) - 1.0) if years > 0.0 and growth > 0.0 else math.nan
    std = math.sqrt(ret_m2 / (n - 1)) if n > 1 else math.nan
    annual = math.sqrt(periods_per_year)
    kpis[2] = ret_mean / std * annual if std > 0.0 else math.nan
    downside = math.sqrt(down_sq / n) if n > 0 else math.nan
    kpis[3] = ret_mean / downside * annual if downside > 0.0 else math.nan
    kpis[5] = 100.0 * max_dd
    kpis[4] = kpis[1] / kpis[5] if kpis[5] > 0.0 else math.nan
    kpis[6] = 100.0 * wins / trades if trades > 0 else math.nan
    if acc[A_GROSS_LOSS] > 0.0:
        kpis[7] = acc[A_GROSS_PROFIT] / acc[A_GROSS_LOSS]
    else:
        kpis[7] = math.inf if acc[A_GROSS_PROFIT] > 0.0 else math.nan
    kpis[8] = trades
    kpis[9] = acc[A_SUM_WIN] / wins if wins > 0 else math.nan
    kpis[10] = acc[A_SUM_LOSS] / losses if losses > 0 else math.nan
    kpis[11] = acc[A_SUM_RET] / trades if trades > 0 else math.nan
    kpis[12] = 100.0 * bars_in_market / n if n > 0 else math.nan
    kpis[13] = acc[A_MAX_WINS]
    kpis[14] = acc[A_MAX_LOSSES]
    kpis[15] = 100.0 * worst_day
