"""One bar's orders and one bar's equity statistics: the pieces every simulation kernel shares.

``orders_at_bar`` runs the order steps of docs/engine.md ("Bar processing order", steps 1 to 3) for one
bar; ``bar_statistics`` folds a bar's equity into the KPI accumulators (step 4). The single backtest
(``simulate_nb``) and the sweep's row kernel (``simulate_row_nb``) both call them, so they cannot disagree on
what happens at a bar where an order acts; they differ only in how they pass the bars where nothing does.

State travels as tuples of scalars (the position, the trade accumulators) and the bar as scalars: every
helper here is inlined into its caller, and each array passed to an inlined function costs an atomic
reference count increment and decrement per call, which on a bar with an order cost more than the order.
Only the trade list, which the single backtest writes, is an array (``None`` in the sweep).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import overload

from backtest_matrix.engine._layout import (
    CFG_DIRECTION,
    CFG_FEE,
    CFG_FILL,
    CFG_MIN_RESERVE,
    CFG_SLIPPAGE,
    FILL_CLOSE,
)
from backtest_matrix.engine._signals import LONG_ENTRY, LONG_EXIT, SHORT_ENTRY, SHORT_EXIT

__all__ = [
    "NO_TRADES",
    "R_OPEN",
    "TradeStats",
    "bar_statistics",
    "close_trade",
    "day_statistics",
    "orders_at_bar",
    "return_statistics",
    "run_rules",
    "touched",
    "trail_stop",
]

R_SIGNAL, R_STOP, R_TP0, R_TRAIL, R_OPEN = 0, 1, 2, 5, 6
_EPS = 1e-12
# The trade accumulators (all floats): (trades, wins, gross_profit, gross_loss, sum_win, sum_loss, sum_ret,
# streak, max_wins, max_losses); the sums are of return_pct, streak > 0 counts wins in a row, < 0 losses.
TradeStats = tuple[float, float, float, float, float, float, float, float, float, float]
NO_TRADES = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

# A position is the tuple (cash, side, size, initial_size, entry_price, entry_bar, entry_fees, extreme,
# stop_level, stop_reason, next_target, tiers_done, exit_pnl, exit_value, exit_fills).
# side: +1 long, -1 short, 0 flat; size: units still held; extreme: the best price since entry, for the
# trailing stop; stop_level: the tightest stop (fixed, strategy or trailing), NaN for none; next_target:
# the next take-profit tier's price, NaN when none is left; exit_pnl: realised P&L of the exit fills so
# far, after their fees; exit_value: sum of exit fill value, for the average exit price.
Rules = tuple[
    bool,
    bool,
    float,
    float,
    float,
    float,
    tuple[float, float, float],
    float,
    float,
    tuple[float, float, float],
]
Position = tuple[
    float, float, float, float, float, int, float, float, float, int, float, int, float, float, int
]


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
def trail_stop(
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
def touched(
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


def _write_trade(trades: np.ndarray | None, n: int, fields: tuple[float, ...]) -> None:
    """Write ``fields`` into row ``n`` of ``trades``: nothing when ``trades`` is None or has no row ``n``.

    The plain-Python version; jitted callers get :func:`_write_trade_nb`, which drops the None branch at
    compile time.
    """
    if trades is not None and n < trades.shape[0]:
        trades[n, : len(fields)] = fields


@overload(_write_trade, inline="always")
def _write_trade_nb(trades, n, fields):  # type: ignore[no-untyped-def]
    if isinstance(trades, types.NoneType):
        return lambda trades, n, fields: None

    def write(trades, n, fields):  # type: ignore[no-untyped-def]
        if n < trades.shape[0]:
            row = trades[n]
            for i in range(len(fields)):
                row[i] = fields[i]

    return write


@njit(cache=True, inline="always")
def close_trade(
    acc: TradeStats, trades: np.ndarray | None, entry_bar: int, exit_bar: int, side: float,
    entry_price: float, size: float, exit_value: float, pnl: float, fees: float, reason: int, fills: int,
) -> TradeStats:  # fmt: skip
    """Book a finished trade into the accumulators and, unless ``trades`` is None, the trade list."""
    count, wins, gross_profit, gross_loss, sum_win, sum_loss, sum_ret, streak, max_wins, max_losses = acc
    ret_pct = 100.0 * pnl / (size * entry_price)
    fields = (
        float(entry_bar), float(exit_bar), side, entry_price, exit_value / size, size, pnl, ret_pct, fees,
        float(reason), float(fills),
    )  # fmt: skip
    _write_trade(trades, int(count), fields)
    count += 1.0
    sum_ret += ret_pct
    if pnl > 0.0:
        wins += 1.0
        gross_profit += pnl
        sum_win += ret_pct
        streak = streak + 1.0 if streak > 0.0 else 1.0
        max_wins = max(max_wins, streak)
    else:
        gross_loss -= pnl
        sum_loss += ret_pct
        streak = streak - 1.0 if streak < 0.0 else -1.0
        max_losses = max(max_losses, -streak)
    return count, wins, gross_profit, gross_loss, sum_win, sum_loss, sum_ret, streak, max_wins, max_losses


@njit(cache=True, inline="always")
def day_statistics(prev_equity: float, day_start_equity: float, worst_day: float) -> tuple[float, float]:
    """At a bar that starts a new day, fold the day that ended at the previous close (``prev_equity``)."""
    return prev_equity, min(worst_day, prev_equity / day_start_equity - 1.0)


@njit(cache=True, inline="always")
def return_statistics(
    equity: float, prev_equity: float, ret_sum: float, ret_sq: float, down_sq: float, peak: float,
    lowest_ratio: float,
) -> tuple[float, float, float, float, float]:  # fmt: skip
    """Fold one bar's close-to-close equity into the return and drawdown accumulators."""
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
    return ret_sum, ret_sq, down_sq, peak, lowest_ratio


@njit(cache=True, inline="always")
def bar_statistics(
    equity: float, prev_equity: float, new_day: bool, day_start_equity: float, worst_day: float,
    ret_sum: float, ret_sq: float, down_sq: float, peak: float, lowest_ratio: float,
) -> tuple[float, float, float, float, float, float, float]:  # fmt: skip
    """Fold one bar's close-to-close equity into the day, return and drawdown accumulators."""
    if new_day:
        day_start_equity, worst_day = day_statistics(prev_equity, day_start_equity, worst_day)
    ret_sum, ret_sq, down_sq, peak, lowest_ratio = return_statistics(
        equity, prev_equity, ret_sum, ret_sq, down_sq, peak, lowest_ratio
    )
    return day_start_equity, worst_day, ret_sum, ret_sq, down_sq, peak, lowest_ratio


@njit(cache=True, inline="always")
def run_rules(cfg: np.ndarray, risk: np.ndarray) -> Rules:
    """``(fill_close, allow_short, fee, slippage, min_reserve, stop_loss, targets, trail, trade_fraction,
    tier_fractions)``.

    The run configuration and one row's risk parameters, with the percentages as fractions, once per run:
    entries and exits then need no division.
    """
    return (
        cfg[CFG_FILL] == FILL_CLOSE, cfg[CFG_DIRECTION] > 0.0, cfg[CFG_FEE], cfg[CFG_SLIPPAGE],
        cfg[CFG_MIN_RESERVE], risk[0] / 100.0, (risk[1] / 100.0, risk[3] / 100.0, risk[5] / 100.0),
        risk[7] / 100.0, risk[8], (risk[2], risk[4], risk[6]),
    )  # fmt: skip


@njit(cache=True, inline="always")
def orders_at_bar(
    t: int, bar_open: float, bar_high: float, bar_low: float, bar_close: float, signal: int,
    signal_frac: float, rules: Rules, acc: TradeStats, trades: np.ndarray | None, position: Position,
) -> tuple[Position, TradeStats]:  # fmt: skip
    """Run bar ``t``'s orders on ``position``; return the position and the trade accumulators after them.

    In time order: the pending signal at the open (next_open), intrabar exits on high/low (stops before
    targets), then the signal at the close (close mode). In close mode a bar with an intrabar exit ignores
    its own signal, as vectorbt does (one order per bar). ``signal`` is the one that acts on this bar (bar
    ``t - 1``'s in next-open mode, none on bar 0; bar ``t``'s in close mode) and ``signal_frac`` its
    ``stop_frac``; ``rules`` comes from :func:`run_rules`. Closed trades are booked into ``acc`` and,
    unless it is None, ``trades``.
    """
    fill_close, allow_short, fee, slip, min_reserve, stop_loss, targets, trail, trade_fraction, fractions = (
        rules
    )
    (cash, side, size, initial_size, entry_price, entry_bar, entry_fees, extreme, stop_level, stop_reason,
     next_target, tiers_done, exit_pnl, exit_value, exit_fills) = position  # fmt: skip
    exited_intrabar = False
    reason = R_SIGNAL
    for phase in range(3):
        if phase == 1:
            if side == 0.0:
                continue
            fills_before = exit_fills
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
                qty = min(size, initial_size * fractions[tiers_done])
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
                acc = close_trade(
                    acc, trades, entry_bar, t, side, entry_price, initial_size, exit_value,
                    exit_pnl - entry_fees, entry_fees + exit_value * fee, reason, exit_fills,
                )  # fmt: skip
                side = 0.0
            else:
                extreme, stop_level, stop_reason = trail_stop(
                    side, bar_high, bar_low, trail, extreme, stop_level, stop_reason
                )
            continue

        if phase == 0:
            if fill_close or t == 0:
                continue
            price = bar_open
        else:
            if not fill_close or exited_intrabar:
                continue
            price = bar_close
        if signal == 0:
            continue

        if (side > 0.0 and (signal & LONG_EXIT) != 0) or (side < 0.0 and (signal & SHORT_EXIT) != 0):
            fill = price * (1.0 - side * slip)
            exit_pnl += side * size * (fill - entry_price) - size * fill * fee
            exit_value += size * fill
            cash += side * size * fill - size * fill * fee
            exit_fills += 1
            acc = close_trade(
                acc, trades, entry_bar, t, side, entry_price, initial_size, exit_value,
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
                    stop_level, stop_reason = _initial_stop(fill, side, stop_loss, trail, signal_frac)
                    tiers_done = 0
                    next_target = _tier_target(targets, 0, fill, side)
                    exit_pnl = 0.0
                    exit_value = 0.0
                    exit_fills = 0
    position = (cash, side, size, initial_size, entry_price, entry_bar, entry_fees, extreme, stop_level,
                stop_reason, next_target, tiers_done, exit_pnl, exit_value, exit_fills)  # fmt: skip
    return position, acc
