"""The hand-tuned ceiling of the CPU sweep: one strategy, 4 combinations per task in lockstep.

The same single strategy as ``_ceiling_nb.py`` (EMA cross, long only, a fixed stop-loss and one
take-profit, filled at the close, a fee per side), tuned as far as a kernel for this one strategy can be:
each ``prange`` task runs 4 combinations side by side through one pass over the bars, so the bar's open,
high, low and close are loaded once for 4 lanes and the 4 lanes' EMA recurrences (latency-bound chains
of a multiply and an add) overlap in the core; the lanes' state lives in scalars (tuples), not arrays.
It computes only the figures Stage A ranks by: the return, the trade count and the Sharpe ratio, whose
per-bar return sums it folds in the engine's order, so that all three agree with ``sweep`` exactly.

Arithmetic, operation for operation as the engine (docs/engine.md, ``ema_cross``): EMAs
``decay * ema + alpha * close`` seeded with the first close, crosses from bar ``ema_slow`` on; an open
position checks its stop (at the open when the bar opens through it, else at the stop), then its target,
and a bar with an intrabar exit ignores its own signal; at the close a cross below exits and a cross above
enters with all the cash; a position open at the end is marked at the last close and counted as a trade.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__ = ["LANES", "ceiling4_sweep_nb"]

LANES = 4

# (fast, slow, previous spread, cash, size, stop price, target price, trades, prev equity, ret_sum, ret_sq)
Lane = tuple[float, float, float, float, float, float, float, float, float, float, float]
# (alpha_fast, alpha_slow, warmup, stop_loss, take_profit), the percentages as fractions
Params = tuple[float, float, float, float, float]


@njit(cache=True, inline="always")
def _lane_start(close0: float, init_cash: float) -> Lane:
    return close0, close0, 0.0, init_cash, 0.0, math.nan, math.nan, 0.0, init_cash, 0.0, 0.0


@njit(cache=True, inline="always")
def _lane_bar(
    t: int, o: float, h: float, lo: float, c: float, p: Params, fee: float, lane: Lane
) -> Lane:  # fmt: skip
    """One bar of one lane; ``p`` = (alpha_fast, alpha_slow, warmup, stop_loss, take_profit) as fractions."""
    fast, slow, previous, cash, size, stop_px, target_px, trades, prev_equity, ret_sum, ret_sq = lane
    if t > 0:
        fast = (1.0 - p[0]) * fast + p[0] * c
        slow = (1.0 - p[1]) * slow + p[1] * c
    spread = fast - slow
    acted = False
    if size > 0.0:
        px = math.nan
        if p[3] > 0.0:
            if o <= stop_px:
                px = o
            elif lo <= stop_px:
                px = stop_px
        if px != px and p[4] > 0.0:
            if o >= target_px:
                px = o
            elif h >= target_px:
                px = target_px
        if px == px:
            cash += size * px - size * px * fee
            size = 0.0
            trades += 1.0
            acted = True
    if t >= p[2] and not acted:
        if spread > 0.0 and previous <= 0.0:
            if size == 0.0 and cash > 0.0:
                size = cash / (c * (1.0 + fee))
                cash -= size * c + size * c * fee
                stop_px = c * (1.0 - p[3])
                target_px = c * (1.0 + p[4])
                acted = True
        elif spread < 0.0 and previous >= 0.0 and size > 0.0:
            cash += size * c - size * c * fee
            size = 0.0
            trades += 1.0
            acted = True
    if size > 0.0 or acted:  # a flat bar without a fill returns exactly 0: nothing to fold
        equity = cash + size * c if size > 0.0 else cash
        ret = equity / prev_equity - 1.0
        ret_sum += ret
        ret_sq += ret * ret
        prev_equity = equity
    return fast, slow, spread, cash, size, stop_px, target_px, trades, prev_equity, ret_sum, ret_sq


@njit(cache=True, inline="always")
def _lane_kpis(lane: Lane, n: int, init_cash: float, annual: float, out: np.ndarray) -> None:
    _, _, _, _, size, _, _, trades, prev_equity, ret_sum, ret_sq = lane
    out[0] = 100.0 * (prev_equity / init_cash - 1.0)
    out[1] = trades + 1.0 if size > 0.0 else trades
    mean = ret_sum / n
    std = math.sqrt(max(ret_sq - ret_sum * mean, 0.0) / (n - 1))
    out[2] = mean / std * annual if std > 0.0 else math.nan


@njit(cache=True, inline="always")
def _params(lanes: np.ndarray, i: int) -> Params:
    return lanes[i, 0], lanes[i, 1], lanes[i, 2], lanes[i, 3], lanes[i, 4]


@njit(cache=True)
def _task(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, lanes: np.ndarray, i: int,
    fee: float, init_cash: float, annual: float, out: np.ndarray,
) -> None:  # fmt: skip
    """Rows ``i .. i + 3`` (those that exist) in lockstep, one pass over the bars."""
    n = close.shape[0]
    rows = out.shape[0]
    p0, p1, p2, p3 = _params(lanes, i), _params(lanes, i + 1), _params(lanes, i + 2), _params(lanes, i + 3)
    s0 = _lane_start(close[0], init_cash)
    s1 = _lane_start(close[0], init_cash)
    s2 = _lane_start(close[0], init_cash)
    s3 = _lane_start(close[0], init_cash)
    for t in range(n):
        o, h, lo, c = open_[t], high[t], low[t], close[t]
        s0 = _lane_bar(t, o, h, lo, c, p0, fee, s0)
        s1 = _lane_bar(t, o, h, lo, c, p1, fee, s1)
        s2 = _lane_bar(t, o, h, lo, c, p2, fee, s2)
        s3 = _lane_bar(t, o, h, lo, c, p3, fee, s3)
    _lane_kpis(s0, n, init_cash, annual, out[i])
    if i + 1 < rows:
        _lane_kpis(s1, n, init_cash, annual, out[i + 1])
    if i + 2 < rows:
        _lane_kpis(s2, n, init_cash, annual, out[i + 2])
    if i + 3 < rows:
        _lane_kpis(s3, n, init_cash, annual, out[i + 3])


@njit(parallel=True, cache=True)
def ceiling4_sweep_nb(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    params: np.ndarray,
    fee: float,
    init_cash: float,
    periods_per_year: float,
) -> np.ndarray:
    """``params`` rows: ``ema_fast, ema_slow, stop_loss_pct, take_profit_pct`` (0 = off).

    Returns an ``(n, 3)`` array: return (%), number of trades and Sharpe ratio for each row.
    """
    rows = params.shape[0]
    out = np.empty((rows, 3))
    lanes = np.empty((rows + LANES, 5))  # (alpha_fast, alpha_slow, warmup, stop, target); padded
    for i in range(rows + LANES):
        r = min(i, rows - 1)
        lanes[i, 0] = 2.0 / (params[r, 0] + 1.0)
        lanes[i, 1] = 2.0 / (params[r, 1] + 1.0)
        lanes[i, 2] = params[r, 1]
        lanes[i, 3] = params[r, 2] / 100.0
        lanes[i, 4] = params[r, 3] / 100.0
    annual = math.sqrt(periods_per_year)
    for task in prange((rows + LANES - 1) // LANES):
        _task(open_, high, low, close, lanes, task * LANES, fee, init_cash, annual, out)
    return out
