"""``ema_cross``: long when the fast EMA crosses above the slow EMA, out (or short) when it crosses below."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from backtest_matrix.engine._signals import LONG_ENTRY, LONG_EXIT, SHORT_ENTRY, SHORT_EXIT, SIGNALS_SIGNATURE
from backtest_matrix.strategies._base import Below, Param, Strategy


@njit(SIGNALS_SIGNATURE, cache=True)
def ema_cross_signals_nb(
    ts: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    params: np.ndarray,
    flags: np.ndarray,
    stop_frac: np.ndarray,
) -> None:
    """EMAs seeded with the first close (pandas ``ewm(span, adjust=False)``); crosses from bar ``slow`` on."""
    alpha_fast = 2.0 / (params[0] + 1.0)
    alpha_slow = 2.0 / (params[1] + 1.0)
    decay_fast = 1.0 - alpha_fast
    decay_slow = 1.0 - alpha_slow
    warmup = int(params[1])
    fast = close[0]
    slow = close[0]
    previous = 0.0
    for t in range(close.shape[0]):
        if t > 0:
            fast = decay_fast * fast + alpha_fast * close[t]
            slow = decay_slow * slow + alpha_slow * close[t]
        spread = fast - slow
        signal = 0
        if t >= warmup:
            if spread > 0.0 and previous <= 0.0:
                signal = LONG_ENTRY | SHORT_EXIT
            elif spread < 0.0 and previous >= 0.0:
                signal = LONG_EXIT | SHORT_ENTRY
        flags[t] = signal
        stop_frac[t] = math.nan
        previous = spread


class EmaCross(Strategy):
    name = "ema_cross"
    description = "Fast/slow EMA crossover on the close."
    params = (
        Param("ema_fast", "int", 2, 200, 12, doc="Span of the fast EMA, in bars."),
        Param("ema_slow", "int", 3, 500, 26, doc="Span of the slow EMA, in bars; must exceed ema_fast."),
    )
    constraints = (Below("ema_fast", "ema_slow"),)
    signals_nb = ema_cross_signals_nb
