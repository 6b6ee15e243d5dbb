"""The sweep's row kernel: ``simulate_nb`` without the trade list and the equity curve, faster on quiet bars.

Most bars of a run act on nothing: flat bars without an acting entry signal, and bars in a position that
no exit signal, stop or target reaches. A row jumps over a flat stretch in one step (its equity is the
cash, which changes no statistic but the worst day, folded for the stretch's day starts) and holds a
position up to the next acting exit signal in a tight loop (``_hold_nb``). Every bar on which something
acts goes through the same ``orders_at_bar`` and ``bar_statistics`` as ``simulate_nb``, and the quiet
bars do the same floating-point operations in the same order, so the KPIs are bit-identical to
``simulate_nb``'s (``tests/backtest_matrix/test_row_kernel.py``).

A row can stop at any bar and go on later from its state (:func:`row_advance`), so that
:func:`simulate_rows_nb` runs the rows of a task block of bars by block of bars: a block's bars, signals
and scans stay in the core's cache while every row passes them, instead of coming from memory once per
row (at 210,240 bars they do not fit in the cache; the rows ran ~35 % slower).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from backtest_matrix.engine._hold_nb import (
    CLOSE,
    HIGH,
    LOW,
    OPEN,
    Returns,
    hold_long,
    hold_short,
    next_acting,
)
from backtest_matrix.engine._jit import njit_unrefcounted
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
    Position,
    Rules,
    TradeStats,
    bar_statistics,
    close_trade,
    day_statistics,
    orders_at_bar,
    run_rules,
)
from backtest_matrix.engine._signals import LONG_ENTRY, LONG_EXIT, SHORT_ENTRY, SHORT_EXIT
from backtest_matrix.engine._simulate_nb import write_kpis

__all__ = [
    "N_STATE",
    "RowState",
    "held_days",
    "load_state",
    "row_advance",
    "row_finish",
    "row_start",
    "save_state",
    "simulate_row_nb",
    "simulate_rows_nb",
]

# (t, bars_in_market, day_start_equity, worst_day, returns, trade accumulators, position): a row that has
# run the bars before t.
RowState = tuple[int, int, float, float, Returns, TradeStats, Position]
N_STATE = 35  # floats, as :func:`save_state` stores a RowState


@njit_unrefcounted
def row_start(flags: np.ndarray, cfg: np.ndarray) -> RowState:
    """The state of a row before bar 0: flat, the initial cash, no statistics yet.

    The peak of equity starts at the initial cash, unless bar 0 enters at its close (as in simulate_nb).
    """
    n = flags.shape[0]
    fill_close = cfg[CFG_FILL] == FILL_CLOSE
    entry_mask = LONG_ENTRY | SHORT_ENTRY if cfg[CFG_DIRECTION] > 0.0 else LONG_ENTRY
    init_cash = cfg[CFG_INIT_CASH]
    peak = init_cash if n > 0 and (not fill_close or (flags[0] & entry_mask) == 0) else -math.inf
    position = (init_cash, 0.0, 0.0, 0.0, 0.0, 0, 0.0, 0.0, math.nan, R_STOP, math.nan, 0, 0.0, 0.0, 0)
    return 0, 0, init_cash, math.inf, (init_cash, 0.0, 0.0, 0.0, peak, 1.0), NO_TRADES, position


@njit_unrefcounted
def row_advance(
    stop_t: int, bars: np.ndarray, new_day: np.ndarray, next_day: np.ndarray, flags: np.ndarray,
    stop_frac: np.ndarray, scans: np.ndarray, rules: Rules, state: RowState,
) -> RowState:  # fmt: skip
    """Run a row from its state's bar up to (not including) bar ``stop_t``; return its state there.

    ``bars`` holds the packed ``open, high, low, close`` (``_hold_nb``), ``next_day`` and ``scans`` come
    from ``next_day_nb`` and ``signal_scans_nb`` (for ``flags`` and this run; or ``scans`` has no columns,
    and the row searches ``flags`` for its next acting bar), ``rules`` from ``run_rules``.
    """
    t, bars_in_market, day_start_equity, worst_day, returns, acc, position = state
    fill_close, trail = rules[0], rules[7]
    entry_mask = LONG_ENTRY | SHORT_ENTRY if rules[1] else LONG_ENTRY
    while t < stop_t:
        (cash, side, size, initial_size, entry_price, entry_bar, entry_fees, extreme, stop_level, stop_reason,
         next_target, tiers_done, exit_pnl, exit_value, exit_fills) = position  # fmt: skip
        start = t
        if side == 0.0:
            # Flat until the next acting entry: the equity stays the cash, so only the day starts count. The
            # first folds the day that ends there; later ones fold days without change, all the same.
            t = next_acting(scans, 0, flags, t, stop_t, entry_mask, fill_close)
            day = next_day[start]
            if day < t:
                day_start_equity, worst_day = day_statistics(returns[0], day_start_equity, worst_day)
                if next_day[day + 1] < t:
                    day_start_equity, worst_day = day_statistics(returns[0], day_start_equity, worst_day)
        else:
            units = side * size
            trail_factor = 1.0 - side * trail
            entry_equity = returns[0]
            if side > 0.0:
                best = extreme if trail > 0.0 else math.inf
                t, best, stop_level, stop_reason, returns = hold_long(
                    t, next_acting(scans, 1, flags, t, stop_t, LONG_EXIT, fill_close), bars, cash, units,
                    stop_level, next_target, trail_factor,
                    best, stop_reason, returns,
                )  # fmt: skip
            else:
                best = extreme if trail > 0.0 else -math.inf
                t, best, stop_level, stop_reason, returns = hold_short(
                    t, next_acting(scans, 2, flags, t, stop_t, SHORT_EXIT, fill_close), bars, cash, units,
                    stop_level, next_target, trail_factor,
                    best, stop_reason, returns,
                )  # fmt: skip
            if trail > 0.0:
                extreme = best
            bars_in_market += t - start
            day_start_equity, worst_day = held_days(
                bars, next_day, start, t, entry_equity, cash, units, day_start_equity, worst_day
            )
            position = (cash, side, size, initial_size, entry_price, entry_bar, entry_fees, extreme,
                        stop_level, stop_reason, next_target, tiers_done, exit_pnl, exit_value,
                        exit_fills)  # fmt: skip
        if t == stop_t:
            break
        signal_bar = t if fill_close else t - 1
        signal = flags[signal_bar] if signal_bar >= 0 else 0
        signal_frac = stop_frac[signal_bar] if signal_bar >= 0 else math.nan
        position, acc = orders_at_bar(
            t, bars[t, OPEN], bars[t, HIGH], bars[t, LOW], bars[t, CLOSE], signal, signal_frac, rules, acc,
            None, position,
        )  # fmt: skip
        cash, side, size = position[0], position[1], position[2]
        # Mark to market at the close and accumulate this bar's KPIs.
        equity = cash
        if side != 0.0:
            equity += side * size * bars[t, CLOSE]
            bars_in_market += 1
        prev_equity, ret_sum, ret_sq, down_sq, peak, lowest_ratio = returns
        day_start_equity, worst_day, ret_sum, ret_sq, down_sq, peak, lowest_ratio = bar_statistics(
            equity, prev_equity, new_day[t], day_start_equity, worst_day, ret_sum, ret_sq, down_sq, peak,
            lowest_ratio,
        )  # fmt: skip
        returns = (equity, ret_sum, ret_sq, down_sq, peak, lowest_ratio)
        t += 1
    return t, bars_in_market, day_start_equity, worst_day, returns, acc, position


@njit(cache=True, inline="always")
def held_days(
    bars: np.ndarray, next_day: np.ndarray, start: int, t: int, entry_equity: float, cash: float,
    units: float, day_start_equity: float, worst_day: float,
) -> tuple[float, float]:  # fmt: skip
    """Fold the day starts among bars ``start .. t - 1`` of a hold, each on the equity at the close before it
    (``entry_equity`` for a day starting at ``start``)."""
    day = next_day[start]
    while day < t:
        prev_equity = entry_equity if day == start else cash + units * bars[day - 1, CLOSE]
        day_start_equity, worst_day = day_statistics(prev_equity, day_start_equity, worst_day)
        day = next_day[day + 1]
    return day_start_equity, worst_day


@njit_unrefcounted
def row_finish(bars: np.ndarray, cfg: np.ndarray, rules: Rules, state: RowState, kpis: np.ndarray) -> int:
    """Close the books of a row that has run all bars: write its KPIs into ``kpis``, return its trades."""
    n = bars.shape[0]
    _, bars_in_market, day_start_equity, worst_day, returns, acc, position = state
    side, size, initial_size, entry_price, entry_bar, entry_fees = position[1:7]
    exit_pnl, exit_value, exit_fills = position[12:]
    prev_equity, ret_sum, ret_sq, down_sq, _, lowest_ratio = returns
    if side != 0.0:  # still open at the end: a trade marked at the last close, without exit costs
        last_close = bars[n - 1, CLOSE]
        value = exit_value + size * last_close
        pnl = exit_pnl + side * size * (last_close - entry_price) - entry_fees
        acc = close_trade(
            acc, None, entry_bar, n - 1, side, entry_price, initial_size, value, pnl,
            entry_fees + exit_value * rules[2], R_OPEN, exit_fills,
        )  # fmt: skip
    if n > 0:
        worst_day = min(worst_day, prev_equity / day_start_equity - 1.0)
    write_kpis(
        kpis, acc, n, cfg[CFG_YEARS], cfg[CFG_INIT_CASH], prev_equity, 1.0 - lowest_ratio, ret_sum, ret_sq,
        down_sq, bars_in_market, cfg[CFG_PERIODS_PER_YEAR], worst_day,
    )  # fmt: skip
    return int(acc[0])


@njit(cache=True)
def simulate_row_nb(
    bars: np.ndarray, new_day: np.ndarray, next_day: np.ndarray, flags: np.ndarray, stop_frac: np.ndarray,
    scans: np.ndarray, risk: np.ndarray, cfg: np.ndarray, kpis: np.ndarray,
) -> int:  # fmt: skip
    """``simulate_nb(..., record=False)`` in one pass: write a row's KPIs into ``kpis``, return its trades."""
    rules = run_rules(cfg, risk)
    state = row_advance(
        bars.shape[0], bars, new_day, next_day, flags, stop_frac, scans, rules, row_start(flags, cfg)
    )
    return row_finish(bars, cfg, rules, state, kpis)


@njit(cache=True)
def simulate_rows_nb(
    bars: np.ndarray, new_day: np.ndarray, next_day: np.ndarray, flags: np.ndarray, stop_frac: np.ndarray,
    scans: np.ndarray, risk: np.ndarray, cfg: np.ndarray, kpis: np.ndarray, block: int,
) -> None:  # fmt: skip
    """:func:`simulate_row_nb` for every row of ``risk`` (rows sharing ``flags``) into the rows of ``kpis``,
    ``block`` bars at a time: every row runs a block before any row runs the next."""
    n = bars.shape[0]
    rows = risk.shape[0]
    states = np.empty((rows, N_STATE))
    start = row_start(flags, cfg)
    for j in range(rows):
        save_state(states, j, start)
    for block_start in range(0, n, block):
        block_stop = min(n, block_start + block)
        for j in range(rows):
            rules = run_rules(cfg, risk[j])
            state = row_advance(
                block_stop, bars, new_day, next_day, flags, stop_frac, scans, rules, load_state(states, j)
            )
            save_state(states, j, state)
    for j in range(rows):
        row_finish(bars, cfg, run_rules(cfg, risk[j]), load_state(states, j), kpis[j])


@njit_unrefcounted
def save_state(states: np.ndarray, j: int, state: RowState) -> None:
    """Store ``state`` as row ``j`` of ``states`` (floats: the integers in it are far below 2**53)."""
    t, bars_in_market, day_start_equity, worst_day, returns, acc, position = state
    row = states[j]
    row[0] = t
    row[1] = bars_in_market
    row[2] = day_start_equity
    row[3] = worst_day
    for i in range(6):
        row[4 + i] = returns[i]
    for i in range(10):
        row[10 + i] = acc[i]
    (cash, side, size, initial_size, entry_price, entry_bar, entry_fees, extreme, stop_level, stop_reason,
     next_target, tiers_done, exit_pnl, exit_value, exit_fills) = position  # fmt: skip
    floats = (
        cash, side, size, initial_size, entry_price, float(entry_bar), entry_fees, extreme, stop_level,
        float(stop_reason), next_target, float(tiers_done), exit_pnl, exit_value, float(exit_fills),
    )  # fmt: skip
    for i in range(15):
        row[20 + i] = floats[i]


@njit_unrefcounted
def load_state(states: np.ndarray, j: int) -> RowState:
    """The state :func:`save_state` stored as row ``j`` of ``states``."""
    r = states[j]
    returns = (r[4], r[5], r[6], r[7], r[8], r[9])
    acc = (r[10], r[11], r[12], r[13], r[14], r[15], r[16], r[17], r[18], r[19])
    position = (
        r[20], r[21], r[22], r[23], r[24], int(r[25]), r[26], r[27], r[28], int(r[29]), r[30], int(r[31]),
        r[32], r[33], int(r[34]),
    )  # fmt: skip
    return int(r[0]), int(r[1]), r[2], r[3], returns, acc, position
