"""A minimal, single-purpose numba sweep: the throughput ceiling the engine is measured against.

It does exactly one thing: an EMA fast/slow crossover (long only) with a fixed stop-loss and a single
take-profit, filled at the close, with a fee per side, and returns only the final return (%) and the trade
count. One combination per ``prange`` task; the EMAs are recomputed inside every task (nothing shared),
no trade list, no equity curve, no other KPI, no configuration branches. ``cache=True``, no fastmath.

The arithmetic follows the engine's close-fill semantics (docs/engine.md) operation for operation, so its
results agree with ``sweep(..., config=EngineConfig(fill="close", fee_bps=...))`` to rounding:

- EMAs seeded with the first close; crosses count from bar ``ema_slow`` on;
- an open position is checked on each later bar: the stop (fills at the open when the bar opens through
  it, else at the stop), then, only if no stop fired, the target (at the open when it opens beyond it,
  else at the target); a bar with an intrabar exit ignores its own signal;
- at the close: a cross below exits, a cross above enters with all the cash, fees included;
- a position still open at the end is marked at the last close and counted as a trade.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__ = ["ceiling_sweep_nb"]


@njit(parallel=True, cache=True)
def ceiling_sweep_nb(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    params: np.ndarray,
    fee: float,
    init_cash: float,
) -> np.ndarray:
    """``params`` rows: ``ema_fast, ema_slow, stop_loss_pct, take_profit_pct`` (0 = off).

    Returns an ``(n, 2)`` array: return (%) and number of trades for each row.
    """
    n = close.shape[0]
    out = np.empty((params.shape[0], 2))
    for i in prange(params.shape[0]):
        alpha_fast = 2.0 / (params[i, 0] + 1.0)
        alpha_slow = 2.0 / (params[i, 1] + 1.0)
        warmup = int(params[i, 1])
        sl = params[i, 2]
        tp = params[i, 3]
        fast = close[0]
        slow = close[0]
        previous = 0.0
        cash = init_cash
        size = 0.0
        stop_px = math.nan
        target_px = math.nan
        trades = 0
        for t in range(n):
            if t > 0:
                fast += alpha_fast * (close[t] - fast)
                slow += alpha_slow * (close[t] - slow)
            spread = fast - slow
            exited = False
            if size > 0.0:
                px = math.nan
                if sl > 0.0:
                    if open_[t] <= stop_px:
                        px = open_[t]
                    elif low[t] <= stop_px:
                        px = stop_px
                if px != px and tp > 0.0:
                    if open_[t] >= target_px:
                        px = open_[t]
                    elif high[t] >= target_px:
                        px = target_px
                if px == px:
                    cash += size * px - size * px * fee
                    size = 0.0
                    trades += 1
                    exited = True
            if t >= warmup and not exited:
                if spread > 0.0 and previous <= 0.0:
                    if size == 0.0 and cash > 0.0:
                        price = close[t]
                        size = cash / (price * (1.0 + fee))
                        cash -= size * price + size * price * fee
                        stop_px = price * (1.0 - sl / 100.0)
                        target_px = price * (1.0 + tp / 100.0)
                elif spread < 0.0 and previous >= 0.0 and size > 0.0:
                    price = close[t]
                    cash += size * price - size * price * fee
                    size = 0.0
                    trades += 1
            previous = spread
        equity = cash
        if size > 0.0:
            equity += size * close[n - 1]
            trades += 1
        out[i, 0] = 100.0 * (equity / init_cash - 1.0)
        out[i, 1] = trades
    return out
