"""The sweep's row kernel: ``simulate_nb`` without the trade list and the equity curve, faster on quiet bars.

Most bars of a run act on nothing: flat bars without an acting entry signal, and bars in a position that
no exit signal, stop or target reaches. The rows of a sweep task share their signals, so the task scans
the signals once (:func:`signal_scans_nb`) for the next bar on which an entry, a long exit or a short exit
acts, and every row then

- jumps over a flat stretch in one step: its equity is the cash, which changes no statistic but the
  worst day (folded once for the stretch's day starts, from the bar count of new days), and
- runs a stretch in a position up to the next acting exit signal in a tight loop specialised for the
  side, which checks only the stop and the target and folds each bar's equity into the statistics.

Every bar on which something acts goes through the same ``orders_at_bar`` and ``bar_statistics`` as
``simulate_nb``, and the quiet bars do the same floating-point operations in the same order, so the KPIs
are bit-identical to ``simulate_nb``'s (``tests/backtest_matrix/test_row_kernel.py``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from backtest_matrix.engine._layout import (
    CFG_DIRECTION,
    CFG_FILL,
    CFG_INIT_CASH,
    CFG_PERIODS_PER_YEAR,
    CFG_YEARS,
    FILL_CLOSE,
)
from backtest_matrix.engine._orders_nb import (
    NO_TRADES,
    R_OPEN,
    R_STOP,
    R_TRAIL,
    bar_statistics,
    close_trade,
    orders_at_bar,
    run_rules,
)
from backtest_matrix.engine._signals import LONG_ENTRY, LONG_EXIT, SHORT_ENTRY, SHORT_EXIT
from backtest_matrix.engine._simulate_nb import write_kpis

__all__ = ["day_counts_nb", "signal_scans_nb", "simulate_row_nb"]

# (prev_equity, day_start_equity, worst_day, ret_sum, ret_sq, down_sq, peak, lowest_ratio): simulate_nb's
# equity statistics.
Stats = tuple[float, float, float, float, float, float, float, float]


@njit(cache=True)
def day_counts_nb(new_day: np.ndarray) -> np.ndarray:
    """``counts[t]``: the number of bars before ``t`` that start a new day (``len(new_day) + 1`` entries)."""
    n = new_day.shape[0]
    counts = np.empty(n + 1, np.int32)
    count = 0
    for t in range(n):
        counts[t] = count
        count += 1 if new_day[t] else 0
    counts[n] = count
    return counts


@njit(cache=True)
def signal_scans_nb(flags: np.ndarray, cfg: np.ndarray, scans: np.ndarray) -> None:
    """Fill ``scans`` (3 × ``len(flags) + 1``) with the next bar ``>= t`` on which an entry, a long exit and a
    short exit signal acts (``len(flags)`` for none).

    A signal acts at its own bar in close mode and at the next bar's open in next-open mode; short entries
    count only with ``direction="long_short"``.
    """
    n = flags.shape[0]
    fill_close = cfg[CFG_FILL] == FILL_CLOSE
    allow_short = cfg[CFG_DIRECTION] > 0.0
    entry_mask = LONG_ENTRY | SHORT_ENTRY if allow_short else LONG_ENTRY
    next_entry, next_long_exit, next_short_exit = n, n, n
    scans[0, n] = n
    scans[1, n] = n
    scans[2, n] = n
    for t in range(n - 1, -1, -1):
        acting = flags[t] if fill_close else (flags[t - 1] if t > 0 else 0)
        if (acting & entry_mask) != 0:
            next_entry = t
        if (acting & LONG_EXIT) != 0:
            next_long_exit = t
        if (acting & SHORT_EXIT) != 0:
            next_short_exit = t
        scans[0, t] = next_entry
        scans[1, t] = next_long_exit
        scans[2, t] = next_short_exit


@njit(cache=True)
def _hold_long(
    t: int, end: int, new_day: np.ndarray, open_: np.ndarray, high: np.ndarray, low: np.ndarray,
    close: np.ndarray, cash: float, units: float, stop: float, target: float, trail: float,
    trail_factor: float, extreme: float, stop_reason: int, stats: Stats,
) -> tuple[int, float, float, int, Stats]:  # fmt: skip
    """Bars ``t, t+1, ...`` of a long position until ``end`` or the first bar that reaches the stop or the
    target; ``simulate_nb``'s in-position loop for ``side == 1`` (``units = side × size``)."""
    prev_equity, day_start_equity, worst_day, ret_sum, ret_sq, down_sq, peak, lowest_ratio = stats
    while t < end:
        u = np.uint64(t)  # an unsigned index: no wraparound check for negative indices
        bar_open = open_[u]
        bar_high = high[u]
        if bar_open <= stop or low[u] <= stop or bar_open >= target or bar_high >= target:
            break
        if trail > 0.0 and bar_high > extreme:
            extreme = bar_high
            candidate = extreme * trail_factor
            if stop != stop or candidate > stop:
                stop = candidate
                stop_reason = R_TRAIL
        equity = cash + units * close[u]
        day_start_equity, worst_day, ret_sum, ret_sq, down_sq, peak, lowest_ratio = bar_statistics(
            equity, prev_equity, new_day[u], day_start_equity, worst_day, ret_sum, ret_sq, down_sq, peak,
            lowest_ratio,
        )  # fmt: skip
        prev_equity = equity
        t += 1
    return t, extreme, stop, stop_reason, (
        prev_equity, day_start_equity, worst_day, ret_sum, ret_sq, down_sq, peak, lowest_ratio
    )  # fmt: skip


@njit(cache=True)
def _hold_short(
    t: int, end: int, new_day: np.ndarray, open_: np.ndarray, high: np.ndarray, low: np.ndarray,
    close: np.ndarray, cash: float, units: float, stop: float, target: float, trail: float,
    trail_factor: float, extreme: float, stop_reason: int, stats: Stats,
) -> tuple[int, float, float, int, Stats]:  # fmt: skip
    """:func:`_hold_long` for a short position (``side == -1``)."""
    prev_equity, day_start_equity, worst_day, ret_sum, ret_sq, down_sq, peak, lowest_ratio = stats
    while t < end:
        u = np.uint64(t)  # an unsigned index: no wraparound check for negative indices
        bar_open = open_[u]
        bar_low = low[u]
        if bar_open >= stop or high[u] >= stop or bar_open <= target or bar_low <= target:
            break
        if trail > 0.0 and bar_low < extreme:
            extreme = bar_low
            candidate = extreme * trail_factor
            if stop != stop or candidate < stop:
                stop = candidate
                stop_reason = R_TRAIL
        equity = cash + units * close[u]
        day_start_equity, worst_day, ret_sum, ret_sq, down_sq, peak, lowest_ratio = bar_statistics(
            equity, prev_equity, new_day[u], day_start_equity, worst_day, ret_sum, ret_sq, down_sq, peak,
            lowest_ratio,
        )  # fmt: skip
        prev_equity = equity
        t += 1
    return t, extreme, stop, stop_reason, (
        prev_equity, day_start_equity, worst_day, ret_sum, ret_sq, down_sq, peak, lowest_ratio
    )  # fmt: skip


@njit(cache=True)
def simulate_row_nb(
    new_day: np.ndarray,
    day_counts: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    flags: np.ndarray,
    stop_frac: np.ndarray,
    scans: np.ndarray,
    risk: np.ndarray,
    cfg: np.ndarray,
    kpis: np.ndarray,
) -> int:
    """``simulate_nb(..., record=False)``: write one combination's KPIs into ``kpis``; return its trades.

    ``day_counts`` comes from :func:`day_counts_nb` and ``scans`` from :func:`signal_scans_nb` (for
    ``flags`` and this run's fill and direction).
    """
    n = close.shape[0]
    rules = run_rules(cfg, risk)
    fill_close, allow_short, fee, trail = rules[0], rules[1], rules[2], rules[7]
    init_cash = cfg[CFG_INIT_CASH]
    acc = NO_TRADES
    position = (init_cash, 0.0, 0.0, 0.0, 0.0, 0, 0.0, 0.0, math.nan, R_STOP, math.nan, 0, 0.0, 0.0, 0)

    # Stats as in simulate_nb: the peak starts at the initial cash unless bar 0 enters at its close.
    entry_mask = LONG_ENTRY | SHORT_ENTRY if allow_short else LONG_ENTRY
    peak = init_cash if n > 0 and (not fill_close or (flags[0] & entry_mask) == 0) else -math.inf
    stats = (init_cash, init_cash, math.inf, 0.0, 0.0, 0.0, peak, 1.0)
    bars_in_market = 0
    t = 0
    while t < n:
        (cash, side, size, initial_size, entry_price, entry_bar, entry_fees, extreme, stop_level, stop_reason,
         next_target, tiers_done, exit_pnl, exit_value, exit_fills) = position  # fmt: skip
        if side == 0.0:
            # Flat until the next acting entry: only the worst day moves, at the stretch's day starts. The
            # first folds the day that ends here; later ones fold a day without change (0), once is enough.
            start = t
            t = scans[0, t]
            days = day_counts[t] - day_counts[start]
            if days > 0:
                prev_equity, day_start_equity, worst_day = stats[0], stats[1], stats[2]
                worst_day = min(worst_day, prev_equity / day_start_equity - 1.0)
                day_start_equity = prev_equity
                if days > 1:
                    worst_day = min(worst_day, prev_equity / day_start_equity - 1.0)
                stats = (prev_equity, day_start_equity, worst_day, stats[3], stats[4], stats[5], stats[6],
                         stats[7])  # fmt: skip
            if t == n:
                break
        else:
            start = t
            units = side * size
            trail_factor = 1.0 - side * trail
            if side > 0.0:
                t, extreme, stop_level, stop_reason, stats = _hold_long(
                    t, scans[1, t], new_day, open_, high, low, close, cash, units, stop_level, next_target,
                    trail, trail_factor, extreme, stop_reason, stats,
                )  # fmt: skip
            else:
                t, extreme, stop_level, stop_reason, stats = _hold_short(
                    t, scans[2, t], new_day, open_, high, low, close, cash, units, stop_level, next_target,
                    trail, trail_factor, extreme, stop_reason, stats,
                )  # fmt: skip
            bars_in_market += t - start
            position = (cash, side, size, initial_size, entry_price, entry_bar, entry_fees, extreme,
                        stop_level, stop_reason, next_target, tiers_done, exit_pnl, exit_value,
                        exit_fills)  # fmt: skip
            if t == n:
                break
        signal_bar = t if fill_close else t - 1
        signal = flags[signal_bar] if signal_bar >= 0 else 0
        signal_frac = stop_frac[signal_bar] if signal_bar >= 0 else math.nan
        position, acc = orders_at_bar(
            t, open_[t], high[t], low[t], close[t], signal, signal_frac, rules, acc, None, position
        )
        cash, side, size = position[0], position[1], position[2]
        # Mark to market at the close and accumulate this bar's KPIs.
        equity = cash
        if side != 0.0:
            equity += side * size * close[t]
            bars_in_market += 1
        prev_equity, day_start_equity, worst_day, ret_sum, ret_sq, down_sq, peak, lowest_ratio = stats
        day_start_equity, worst_day, ret_sum, ret_sq, down_sq, peak, lowest_ratio = bar_statistics(
            equity, prev_equity, new_day[t], day_start_equity, worst_day, ret_sum, ret_sq, down_sq, peak,
            lowest_ratio,
        )  # fmt: skip
        stats = (equity, day_start_equity, worst_day, ret_sum, ret_sq, down_sq, peak, lowest_ratio)
        t += 1

    (cash, side, size, initial_size, entry_price, entry_bar, entry_fees, extreme, stop_level, stop_reason,
     next_target, tiers_done, exit_pnl, exit_value, exit_fills) = position  # fmt: skip
    prev_equity, day_start_equity, worst_day, ret_sum, ret_sq, down_sq, peak, lowest_ratio = stats
    if side != 0.0:  # still open at the end: a trade marked at the last close, without exit costs
        value = exit_value + size * close[n - 1]
        pnl = exit_pnl + side * size * (close[n - 1] - entry_price) - entry_fees
        acc = close_trade(
            acc, None, entry_bar, n - 1, side, entry_price, initial_size, value, pnl,
            entry_fees + exit_value * fee, R_OPEN, exit_fills,
        )  # fmt: skip
    if n > 0:
        worst_day = min(worst_day, prev_equity / day_start_equity - 1.0)
    write_kpis(
        kpis, acc, n, cfg[CFG_YEARS], init_cash, prev_equity, 1.0 - lowest_ratio, ret_sum, ret_sq, down_sq,
        bars_in_market, cfg[CFG_PERIODS_PER_YEAR], worst_day,
    )  # fmt: skip
    return int(acc[0])
