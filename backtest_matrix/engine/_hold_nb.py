"""The quiet bars of the sweep's row kernel: scans for the next acting signal and day start, and the loops
that hold a position through the bars that no signal, stop or target reaches.

The rows of a sweep task share their signals, so a task scans them once (:func:`signal_scans_nb`) for the
next bar on which an entry, a long exit or a short exit acts, and the sweep scans the day starts once
(:func:`next_day_nb`). A row then jumps over flat bars, and holds a position up to the next acting exit in
:func:`hold_long` or :func:`hold_short`: the in-position loop of ``simulate_nb`` specialised for the side,
with the same floating-point operations in the same order, but without the day starts, which the caller
folds afterwards (they are rare, and need only the closes before them).

The bars come packed, one row of ``open, high, low, close`` per bar (:data:`OPEN` ...), so that a bar is
one cache line fetch and a call passes one array (each array passed costs two atomic reference count
updates per call).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from backtest_matrix.engine._jit import njit_unrefcounted
from backtest_matrix.engine._layout import CFG_DIRECTION, CFG_FILL, FILL_CLOSE
from backtest_matrix.engine._orders_nb import R_TRAIL, return_statistics
from backtest_matrix.engine._signals import LONG_ENTRY, LONG_EXIT, SHORT_ENTRY, SHORT_EXIT

__all__ = [
    "CLOSE",
    "HIGH",
    "LOW",
    "OPEN",
    "Returns",
    "hold_long",
    "hold_short",
    "next_acting",
    "next_day_nb",
    "signal_scans_nb",
]

OPEN, HIGH, LOW, CLOSE = 0, 1, 2, 3
# (prev_equity, ret_sum, ret_sq, down_sq, peak, lowest_ratio): simulate_nb's return and drawdown statistics.
Returns = tuple[float, float, float, float, float, float]


@njit(cache=True)
def next_day_nb(new_day: np.ndarray) -> np.ndarray:
    """``next_day[t]``: the first bar ``>= t`` that starts a new day, or ``n`` (``n + 1`` entries)."""
    n = new_day.shape[0]
    next_day = np.empty(n + 1, np.int32)
    following = n
    next_day[n] = n
    for t in range(n - 1, -1, -1):
        if new_day[t]:
            following = t
        next_day[t] = following
    return next_day


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


@njit(cache=True, inline="always")
def next_acting(
    scans: np.ndarray, kind: int, flags: np.ndarray, t: int, stop_t: int, mask: int, fill_close: bool
) -> int:
    """``min(scans[kind, t], stop_t)``: the next bar ``>= t`` on which a signal in ``mask`` acts, at most
    ``stop_t``; searched in ``flags`` when ``scans`` has no columns (a row that shares its signals with no
    other row: a scan pass over all bars would cost it more than the search)."""
    if scans.shape[1] > 0:
        return min(int(scans[kind, t]), stop_t)
    if not fill_close:  # a signal acts at the next bar's open
        if t == 0:
            t = 1
        while t < stop_t and (flags[t - 1] & mask) == 0:
            t += 1
        return min(t, stop_t)
    while t < stop_t and (flags[t] & mask) == 0:
        t += 1
    return t


@njit_unrefcounted
def hold_long(
    t: int, end: int, bars: np.ndarray, cash: float, units: float, stop: float, target: float,
    trail_factor: float, extreme: float, stop_reason: int, returns: Returns,
) -> tuple[int, float, float, int, Returns]:  # fmt: skip
    """Bars ``t, t+1, ...`` of a long position until ``end`` or the first bar that reaches the stop or the
    target, which is returned; ``units = side × size``, ``extreme`` is +inf without a trailing stop."""
    prev_equity, ret_sum, ret_sq, down_sq, peak, lowest_ratio = returns
    while t < end:
        u = np.uint64(t)  # an unsigned index: no wraparound check for negative indices
        bar_open = bars[u, OPEN]
        bar_high = bars[u, HIGH]
        if (bar_open <= stop) | (bars[u, LOW] <= stop) | (bar_open >= target) | (bar_high >= target):
            break
        if bar_high > extreme:
            extreme = bar_high
            candidate = extreme * trail_factor
            if stop != stop or candidate > stop:
                stop = candidate
                stop_reason = R_TRAIL
        equity = cash + units * bars[u, CLOSE]
        ret_sum, ret_sq, down_sq, peak, lowest_ratio = return_statistics(
            equity, prev_equity, ret_sum, ret_sq, down_sq, peak, lowest_ratio
        )
        prev_equity = equity
        t += 1
    return t, extreme, stop, stop_reason, (prev_equity, ret_sum, ret_sq, down_sq, peak, lowest_ratio)


@njit_unrefcounted
def hold_short(
    t: int, end: int, bars: np.ndarray, cash: float, units: float, stop: float, target: float,
    trail_factor: float, extreme: float, stop_reason: int, returns: Returns,
) -> tuple[int, float, float, int, Returns]:  # fmt: skip
    """:func:`hold_long` for a short position (``extreme`` is -inf without a trailing stop)."""
    prev_equity, ret_sum, ret_sq, down_sq, peak, lowest_ratio = returns
    while t < end:
        u = np.uint64(t)  # an unsigned index: no wraparound check for negative indices
        bar_open = bars[u, OPEN]
        bar_low = bars[u, LOW]
        if (bar_open >= stop) | (bars[u, HIGH] >= stop) | (bar_open <= target) | (bar_low <= target):
            break
        if bar_low < extreme:
            extreme = bar_low
            candidate = extreme * trail_factor
            if stop != stop or candidate < stop:
                stop = candidate
                stop_reason = R_TRAIL
        equity = cash + units * bars[u, CLOSE]
        ret_sum, ret_sq, down_sq, peak, lowest_ratio = return_statistics(
            equity, prev_equity, ret_sum, ret_sq, down_sq, peak, lowest_ratio
        )
        prev_equity = equity
        t += 1
    return t, extreme, stop, stop_reason, (prev_equity, ret_sum, ret_sq, down_sq, peak, lowest_ratio)
