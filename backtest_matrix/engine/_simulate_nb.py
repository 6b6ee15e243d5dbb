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
    CFG_YEARS,
    FILL_CLOSE,
)
from backtest_matrix.engine._signals import LONG_ENTRY, LONG_EXIT, SHORT_ENTRY, SHORT_EXIT

__all__ = ["simulate_nb"]

R_SIGNAL, R_STOP, R_TP0, R_TRAIL, R_OPEN = 0, 1, 2, 5, 6
_EPS = 1e-12
# Trade-statistics accumulator slots (trades close rarely, so an array costs nothing on the hot path).
A_TRADES, A_WINS, A_GROSS_PROFIT, A_GROSS_LOSS, A_SUM_WIN, A_SUM_LOSS, A_SUM_RET = 0, 1, 2, 3, 4, 5, 6
A_STREAK, A_MAX_WINS, A_MAX_LOSSES = 7, 8, 9
N_ACC = 10


@njit(cache=True, inline="always")
def _initial_stop(
    entry: float, side: float, stop_loss: float, trail: float, strat_frac: float
) -> tuple[float, int]:
    """The tightest of the fixed, the strategy and the trailing stop at entry, and its reason."""
    stop = math.nan
    reason = R_STOP
    if stop_loss > 0.0:
        stop = entry * (1.0 - side * stop_loss)
    if strat_frac == strat_frac and strat_frac > 0.0:
        candidate = entry * (1.0 - side * strat_frac)
        if stop != stop or side * (candidate - stop) > 0.0:
            stop = candidate
    if trail > 0.0:
        candidate = entry * (1.0 - side * trail)
        if stop != stop or side * (candidate - stop) > 0.0:
            stop = candidate
            reason = R_TRAIL
    return stop, reason


@njit(cache=True, inline="always")
def _trail(
    side: float, bar_high: float, bar_low: float, trail: float, extreme: float, stop_level: float, reason: int
) -> tuple[float, float, int]:
    """Move the best price and, when tighter, the trailing stop, after a bar was checked."""
    best = bar_high if side > 0.0 else bar_low
    if trail > 0.0 and side * (best - extreme) > 0.0:
        extreme = best
        candidate = extreme * (1.0 - side * trail)
        if stop_level != stop_level or side * (candidate - stop_level) > 0.0:
            return extreme, candidate, R_TRAIL
    return extreme, stop_level, reason


@njit(cache=True, inline="always")
def _touched(
    side: float, bar_open: float, bar_high: float, bar_low: float, stop: float, target: float
) -> bool:
    """Whether the bar reaches the stop or the next target (NaN levels never do)."""
    if side > 0.0:
        return bar_open <= stop or bar_low <= stop or bar_open >= target or bar_high >= target
    return bar_open >= stop or bar_high >= stop or bar_open <= target or bar_low <= target


@njit(cache=True, inline="always")
def _tier_target(targets: tuple[float, float, float], tier: int, entry: float, side: float) -> float:
    """The price of take-profit ``tier`` (distances as fractions), or NaN when it and later tiers are off."""
    distance = targets[tier] if tier < 3 else 0.0
    return entry * (1.0 + side * distance) if distance > 0.0 else math.nan


@njit(cache=True, inline="always")
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


@njit(cache=True, inline="always")
def _bar_statistics(
    equity: float, prev_equity: float, new_day: bool, day_start_equity: float, worst_day: float,
    ret_sum: float, ret_sq: float, down_sq: float, peak: float, lowest_ratio: float,
) -> tuple[float, float, float, float, float, float, float]:  # fmt: skip
    """Fold one bar's close-to-close equity into the day, return and drawdown accumulators."""
    if new_day:
        worst_day = min(worst_day, prev_equity / day_start_equity - 1.0)
        day_start_equity = prev_equity
    # Branch-free on purpose: the sign of a return is a coin flip for the branch predictor.
    if prev_equity > 0.0:
        ret = equity / prev_equity - 1.0
        ret_sum += ret
        ret_sq += ret * ret
        loss = min(ret, 0.0)
        down_sq += loss * loss
    peak = max(peak, equity)
    if equity < lowest_ratio * peak:  # a new deepest drawdown: rare, so the division is too
        lowest_ratio = equity / peak
    return day_start_equity, worst_day, ret_sum, ret_sq, down_sq, peak, lowest_ratio


@njit(cache=True)
def simulate_nb(
    new_day: np.ndarray,
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

    ``new_day[t]`` is True when bar ``t`` starts a new UTC day (see :func:`day_starts`). ``risk`` holds
    the risk parameters in ``RISK_NAMES`` order and ``cfg`` the run configuration. With
    ``record``, ``trades`` (rows of ``TRADE_FIELDS``, at least ``len(close)`` rows, as a trade can open
    and close within one bar) and ``equity_out`` (the equity at each close) are filled.
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
    # Percentages as fractions, once per run: entries and exits then need no division.
    stop_loss = risk[0] / 100.0
    targets = (risk[1] / 100.0, risk[3] / 100.0, risk[5] / 100.0)
    trail = risk[7] / 100.0
    stop_level = math.nan  # the tightest stop (fixed, strategy or trailing); NaN: none
    stop_reason = R_STOP
    next_target = math.nan  # the next take-profit tier's price; NaN: none left
    tiers_done = 0
    exit_pnl = 0.0  # realised P&L of the exit fills so far, after their fees
    exit_value = 0.0  # sum of exit fill value, for the average exit price
    exit_fills = 0

    # Equity statistics. Flat bars leave equity unchanged (a zero return), so they cost nothing here.
    prev_equity = init_cash
    peak = -math.inf  # the running peak of equity at the closes (set below when bar 0 ends flat)
    lowest_ratio = 1.0  # the lowest equity / running peak so far
    ret_sum = 0.0
    ret_sq = 0.0
    down_sq = 0.0
    bars_in_market = 0
    day_start_equity = init_cash
    worst_day = math.inf
    fills_before = 0
    reason = R_SIGNAL

    entry_mask = LONG_ENTRY | SHORT_ENTRY if allow_short else LONG_ENTRY
    # Flat bars skip the statistics below; their equity is the cash, which the bar that went flat already
    # counted, except for the flat bars at the start: their equity, the initial cash, is the first peak.
    if n > 0 and (not fill_close or (flags[0] & entry_mask) == 0):
        peak = init_cash
    t = 0
    while t < n:
        if side == 0.0:
            # Fast path: skip flat bars on which no entry acts; equity and all statistics stand still.
            while t < n:
                acting = flags[t] if fill_close else (flags[t - 1] if t > 0 else 0)
                if (acting & entry_mask) != 0:
                    break
                if record:
                    equity_out[t] = cash
                if new_day[t]:
                    worst_day = min(worst_day, prev_equity / day_start_equity - 1.0)
                    day_start_equity = prev_equity
                t += 1
            if t == n:
                break
        else:
            # Fast path: bars in a position that no signal, stop or target touches; a tight loop of its own
            # (as the flat one) so that the compiler keeps its state in registers.
            exit_mask = LONG_EXIT if side > 0.0 else SHORT_EXIT
            while t < n:
                acting = flags[t] if fill_close else (flags[t - 1] if t > 0 else 0)
                if (acting & exit_mask) != 0 or _touched(
                    side, open_[t], high[t], low[t], stop_level, next_target
                ):
                    break
                extreme, stop_level, stop_reason = _trail(
                    side, high[t], low[t], trail, extreme, stop_level, stop_reason
                )
                equity = cash + side * size * close[t]
                bars_in_market += 1
                if record:
                    equity_out[t] = equity
                day_start_equity, worst_day, ret_sum, ret_sq, down_sq, peak, lowest_ratio = _bar_statistics(
                    equity, prev_equity, new_day[t], day_start_equity, worst_day, ret_sum, ret_sq, down_sq,
                    peak, lowest_ratio,
                )  # fmt: skip
                prev_equity = equity
                t += 1
            if t == n:
                break
        # Orders in time order: the pending signal at the open (next_open), intrabar exits on high/low
        # (stops before targets), then the signal at the close (close mode). In close mode a bar with an
        # intrabar exit ignores its own signal, as vectorbt does (one order per bar).
        exited_intrabar = False
        for phase in range(3):
            if phase == 1:
                if side == 0.0:
                    continue
                fills_before = exit_fills
                bar_open = open_[t]
                bar_high = high[t]
                bar_low = low[t]
                px = math.nan
                if stop_level == stop_level:
                    if side * (bar_open - stop_level) <= 0.0:
                        px = bar_open
                    elif (bar_low <= stop_level) if side > 0.0 else (bar_high >= stop_level):
                        px = stop_level
                if px == px:
                    fill = px * (1.0 - side * slip)
                    exit_pnl += side * size * (fill - entry_price) - size * fill * fee
                    exit_value += size * fill
                    cash += side * size * fill - size * fill * fee
                    exit_fills += 1
                    size = 0.0
                    reason = stop_reason
                while next_target == next_target and size > 0.0:
                    if side * (bar_open - next_target) >= 0.0:
                        px = bar_open
                    elif (bar_high >= next_target) if side > 0.0 else (bar_low <= next_target):
                        px = next_target
                    else:
                        break
                    qty = min(size, initial_size * risk[2 + 2 * tiers_done])
                    if size - qty <= initial_size * _EPS:
                        qty = size
                    fill = px * (1.0 - side * slip)
                    exit_pnl += side * qty * (fill - entry_price) - qty * fill * fee
                    exit_value += qty * fill
                    cash += side * qty * fill - qty * fill * fee
                    exit_fills += 1
                    size -= qty
                    reason = R_TP0 + tiers_done
                    tiers_done += 1
                    next_target = _tier_target(targets, tiers_done, entry_price, side)
                exited_intrabar = exit_fills > fills_before
                if size == 0.0:
                    _close_trade(
                        acc, record, trades, entry_bar, t, side, entry_price, initial_size, exit_value,
                        exit_pnl - entry_fees, entry_fees + exit_value * fee, reason, exit_fills,
                    )  # fmt: skip
                    side = 0.0
                else:
                    extreme, stop_level, stop_reason = _trail(
                        side, bar_high, bar_low, trail, extreme, stop_level, stop_reason
                    )
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
            if signal == 0:
                continue

            if (side > 0.0 and (signal & LONG_EXIT) != 0) or (side < 0.0 and (signal & SHORT_EXIT) != 0):
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
                if (signal & LONG_ENTRY) != 0:
                    new_side = 1.0
                elif allow_short and (signal & SHORT_ENTRY) != 0:
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
                        stop_level, stop_reason = _initial_stop(
                            fill, side, stop_loss, trail, stop_frac[signal_bar]
                        )
                        tiers_done = 0
                        next_target = _tier_target(targets, 0, fill, side)
                        exit_pnl = 0.0
                        exit_value = 0.0
                        exit_fills = 0

        # Mark to market at the close and accumulate this bar's KPIs.
        equity = cash
        if side != 0.0:
            equity += side * size * close[t]
            bars_in_market += 1
        if record:
            equity_out[t] = equity
        day_start_equity, worst_day, ret_sum, ret_sq, down_sq, peak, lowest_ratio = _bar_statistics(
            equity, prev_equity, new_day[t], day_start_equity, worst_day, ret_sum, ret_sq, down_sq, peak,
            lowest_ratio,
        )  # fmt: skip
        prev_equity = equity
        t += 1

    if side != 0.0:  # still open at the end: a trade marked at the last close, without exit costs
        value = exit_value + size * close[n - 1]
        pnl = exit_pnl + side * size * (close[n - 1] - entry_price) - entry_fees
        _close_trade(
            acc, record, trades, entry_bar, n - 1, side, entry_price, initial_size, value, pnl,
            entry_fees + exit_value * fee, R_OPEN, exit_fills,
        )  # fmt: skip
    if n > 0:
        worst_day = min(worst_day, prev_equity / day_start_equity - 1.0)
    max_dd = 1.0 - lowest_ratio
    _write_kpis(
        kpis, acc, n, cfg[CFG_YEARS], init_cash, prev_equity, max_dd, ret_sum, ret_sq, down_sq,
        bars_in_market, cfg[CFG_PERIODS_PER_YEAR], worst_day,
    )  # fmt: skip
    return int(acc[A_TRADES])


@njit(cache=True)
def _write_kpis(
    kpis: np.ndarray, acc: np.ndarray, n: int, years: float, init_cash: float, final_equity: float,
    max_dd: float, ret_sum: float, ret_sq: float, down_sq: float, bars_in_market: int,
    periods_per_year: float, worst_day: float,
) -> None:  # fmt: skip
    """Turn the accumulators into the KPI vector (``KPI_NAMES`` order). Undefined figures are NaN."""
    trades = acc[A_TRADES]
    wins = acc[A_WINS]
    losses = trades - wins
    growth = final_equity / init_cash
    kpis[0] = 100.0 * (growth - 1.0)
    kpis[1] = 100.0 * (growth ** (1.0 / years) - 1.0) if years > 0.0 and growth > 0.0 else math.nan
    mean = ret_sum / n if n > 0 else math.nan
    # Sum of squares around the mean, from raw sums; per-bar returns are small, so nothing cancels badly.
    centred = max(ret_sq - ret_sum * mean, 0.0) if n > 0 else math.nan
    std = math.sqrt(centred / (n - 1)) if n > 1 else math.nan
    annual = math.sqrt(periods_per_year)
    kpis[2] = mean / std * annual if std > 0.0 else math.nan
    downside = math.sqrt(down_sq / n) if n > 0 else math.nan
    kpis[3] = mean / downside * annual if downside > 0.0 else math.nan
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
