"""The sweep's rows in lockstep: groups of ``LANES`` rows that share their signals, their positions held
together on SIMD lanes (``_lanes_nb``), their acting bars run one row at a time by ``row_advance``.

A row of a group owns one lane. While it holds a position the lane carries the position's in-position
state (stop, target, trailing extreme, equity statistics); while it is flat the lane idles. The group runs
its lanes bar after bar up to the first bar on which a lane acts (its stop, target or exit signal) or on
which the flat rows' entry signal acts: there the acting rows leave their lanes for the scalar
``row_advance``, which runs that one bar with the same order logic as ``simulate_nb``, and re-enter a lane
if they still hold a position. The quiet bars between do the same floating-point operations in the same
order as ``_hold_nb``'s loops, and the day starts among them are folded on leaving a lane exactly as
``row_advance`` folds them after a hold, so every row's KPIs are bit-identical to ``simulate_row_nb``'s
(``tests/backtest_matrix/test_lanes.py``).

The functions a row's acting bar goes through are compiled without numba's reference counting
(``_nrt=False``: they allocate nothing): each array passed to a call otherwise costs two atomic updates,
and a row passes a dozen at every acting bar.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from backtest_matrix.engine._jit import njit_unrefcounted
from backtest_matrix.engine._lanes_nb import (
    L_CASH,
    L_END,
    L_EXTREME,
    L_PREV,
    L_REASON,
    L_SIGN,
    L_STOP,
    LANES,
    N_LANE_FIELDS,
    hold_lanes,
    idle_lane,
)
from backtest_matrix.engine._orders_nb import Rules, run_rules
from backtest_matrix.engine._simulate_row_nb import (
    N_STATE,
    RowState,
    held_days,
    load_state,
    row_advance,
    row_finish,
    row_start,
    save_state,
)

__all__ = ["simulate_lanes_nb"]


@njit(cache=True)
def simulate_lanes_nb(
    bars: np.ndarray, cols: np.ndarray, new_day: np.ndarray, next_day: np.ndarray, flags: np.ndarray,
    stop_frac: np.ndarray, scans: np.ndarray, risk: np.ndarray, cfg: np.ndarray, kpis: np.ndarray,
) -> None:  # fmt: skip
    """:func:`~backtest_matrix.engine._simulate_row_nb.simulate_rows_nb` for rows sharing ``flags``,
    ``LANES`` rows at a time in lockstep; ``cols`` comes from :func:`~._lanes_nb.bar_columns` and ``scans``
    from ``signal_scans_nb`` (it must have columns). The prices must be finite (``bar_columns``' one-test
    stops rely on it)."""
    states = np.empty((LANES, N_STATE))
    lanes = np.empty((N_LANE_FIELDS, LANES))
    held_from = np.empty((2, LANES))  # each lane's hold: first bar, equity before it
    in_lane = np.empty(LANES, np.bool_)
    for first in range(0, risk.shape[0], LANES):
        rows = min(LANES, risk.shape[0] - first)
        group = risk[first : first + rows]
        _run_group(
            bars,
            cols,
            new_day,
            next_day,
            flags,
            stop_frac,
            scans,
            group,
            cfg,
            states,
            lanes,
            held_from,
            in_lane,
        )
        for lane in range(rows):
            row_finish(bars, cfg, run_rules(cfg, group[lane]), load_state(states, lane), kpis[first + lane])


@njit(cache=True, inline="always")
def _rejoin_bar(scans: np.ndarray, t: int, n: int) -> int:
    """The bar after the next entry signal acts at or after ``t`` (``n`` for none): where a row that is out
    of its lane goes back in, if it then holds a position."""
    entry = int(scans[0, t])
    return entry + 1 if entry < n else n


@njit_unrefcounted
def _run_group(
    bars: np.ndarray, cols: np.ndarray, new_day: np.ndarray, next_day: np.ndarray, flags: np.ndarray,
    stop_frac: np.ndarray, scans: np.ndarray, risk: np.ndarray, cfg: np.ndarray, states: np.ndarray,
    lanes: np.ndarray, held_from: np.ndarray, in_lane: np.ndarray,
) -> None:  # fmt: skip
    """Run a group's rows (``risk``'s, at most ``LANES``) over every bar; leave their states in ``states``.

    A row is either in its lane, holding a position, or out of it, run by ``row_advance`` up to the bar
    after the next entry signal (over its acting bar, the flat bars after it and the entry): the group's
    lanes stop there, and the rows out of their lanes that then hold a position go back in.
    """
    n = bars.shape[0]
    rows = risk.shape[0]
    for lane in range(LANES):
        in_lane[lane] = False
        idle_lane(lanes, lane)
    rejoin = _rejoin_bar(scans, 0, n)
    for lane in range(rows):
        # Through the states array, as simulate_rows_nb does: row_start's literal zeros would otherwise type
        # (and compile) a second row_advance.
        save_state(states, lane, row_start(flags, cfg))
        state = load_state(states, lane)
        rules = run_rules(cfg, risk[lane])
        save_state(
            states, lane, row_advance(rejoin, bars, new_day, next_day, flags, stop_frac, scans, rules, state)
        )
    t = 0
    while True:
        wait = n  # the bar where the rows out of their lanes are
        bound = n  # the first exit signal of a lane
        lanes_in_use = False
        for lane in range(rows):
            if in_lane[lane]:
                lanes_in_use = True
                bound = min(bound, int(lanes[L_END, lane]))
            else:
                wait = min(wait, int(states[lane, 0]))
        bar, acting = wait, 0
        if lanes_in_use:
            bar, acting = hold_lanes(lanes, cols, t, min(bound, wait), wait)
        if bar < wait:
            for lane in range(rows):
                if (acting >> lane) & 1:
                    rules = run_rules(cfg, risk[lane])
                    state = _leave_lane(
                        bars, next_day, lanes, lane, held_from, rules, load_state(states, lane), bar
                    )
                    rejoin = _rejoin_bar(scans, bar + 1, n)
                    state = row_advance(
                        rejoin, bars, new_day, next_day, flags, stop_frac, scans, rules, state
                    )
                    save_state(states, lane, state)
                    in_lane[lane] = False
                    idle_lane(lanes, lane)
            t = bar + 1
            continue
        t = wait
        if t >= n:
            break
        for lane in range(rows):
            if not in_lane[lane] and states[lane, 0] == t:
                state = load_state(states, lane)
                if state[6][1] != 0.0:
                    _enter_lane(lanes, lane, held_from, risk[lane, 7] / 100.0, scans, state)  # rules[7]
                    in_lane[lane] = True
                else:
                    rules = run_rules(cfg, risk[lane])
                    state = row_advance(
                        _rejoin_bar(scans, t, n),
                        bars,
                        new_day,
                        next_day,
                        flags,
                        stop_frac,
                        scans,
                        rules,
                        state,
                    )
                    save_state(states, lane, state)
    for lane in range(rows):
        if in_lane[lane]:
            rules = run_rules(cfg, risk[lane])
            save_state(
                states,
                lane,
                _leave_lane(bars, next_day, lanes, lane, held_from, rules, load_state(states, lane), n),
            )


@njit_unrefcounted
def _enter_lane(
    lanes: np.ndarray, lane: int, held_from: np.ndarray, trail: float, scans: np.ndarray, state: RowState
) -> None:
    """Put a row that holds a position at its state's bar into ``lane`` (``trail``: its rules' trailing
    fraction)."""
    t, _, _, _, returns, _, position = state
    side = position[1]
    cash, size, extreme, stop_level, stop_reason, next_target = (
        position[0], position[2], position[7], position[8], position[9], position[10]
    )  # fmt: skip
    best = extreme if trail > 0.0 else side * math.inf
    values = (cash, side * size, side * stop_level, side * next_target, 1.0 - side * trail, side * best,
              float(stop_reason))  # fmt: skip
    for field in range(7):
        lanes[L_CASH + field, lane] = values[field]
    for field in range(6):
        lanes[L_PREV + field, lane] = returns[field]
    lanes[L_SIGN, lane] = side
    lanes[L_END, lane] = scans[1 if side > 0.0 else 2, t]
    held_from[0, lane] = t
    held_from[1, lane] = returns[0]


@njit_unrefcounted
def _leave_lane(
    bars: np.ndarray, next_day: np.ndarray, lanes: np.ndarray, lane: int, held_from: np.ndarray,
    rules: Rules, state: RowState, t: int,
) -> RowState:  # fmt: skip
    """The state of ``lane``'s row after holding up to (not including) bar ``t``: ``row_advance``'s books
    after a hold, with the day starts among the held bars folded on the closes before them."""
    _, bars_in_market, day_start_equity, worst_day, _, acc, position = state
    (cash, side, size, initial_size, entry_price, entry_bar, entry_fees, extreme, _, _, next_target,
     tiers_done, exit_pnl, exit_value, exit_fills) = position  # fmt: skip
    start = int(held_from[0, lane])
    entry_equity = held_from[1, lane]
    if rules[7] > 0.0:
        extreme = side * lanes[L_EXTREME, lane]
    stop_level = side * lanes[L_STOP, lane]
    stop_reason = int(lanes[L_REASON, lane])
    returns = (lanes[L_PREV, lane], lanes[L_PREV + 1, lane], lanes[L_PREV + 2, lane], lanes[L_PREV + 3, lane],
               lanes[L_PREV + 4, lane], lanes[L_PREV + 5, lane])  # fmt: skip
    bars_in_market += t - start
    day_start_equity, worst_day = held_days(
        bars, next_day, start, t, entry_equity, cash, side * size, day_start_equity, worst_day
    )
    position = (cash, side, size, initial_size, entry_price, entry_bar, entry_fees, extreme, stop_level,
                stop_reason, next_target, tiers_done, exit_pnl, exit_value, exit_fills)  # fmt: skip
    return t, bars_in_market, day_start_equity, worst_day, returns, acc, position
