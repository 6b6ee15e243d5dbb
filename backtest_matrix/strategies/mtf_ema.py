"""``mtf_ema``: a fast EMA on a higher timeframe against a slow EMA on a still higher one, from base bars.

A higher-timeframe bar of ``m`` minutes covers ``[k·m, (k+1)·m)`` minutes since the epoch (UTC). Its close
becomes visible at the close of the last base bar inside it, and never earlier, so there is no lookahead.
The base bar length is the smallest timestamp step seen so far, which is itself causal.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from backtest_matrix.engine._signals import LONG_ENTRY, LONG_EXIT, SHORT_ENTRY, SHORT_EXIT, SIGNALS_SIGNATURE
from backtest_matrix.strategies._base import Below, Param, Strategy

_NANOS_PER_MINUTE = 60_000_000_000


@njit(SIGNALS_SIGNATURE, cache=True)
def mtf_ema_signals_nb(
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
    fast_bucket = int(params[0]) * _NANOS_PER_MINUTE
    slow_bucket = int(params[1]) * _NANOS_PER_MINUTE
    alpha_fast = 2.0 / (params[2] + 1.0)
    alpha_slow = 2.0 / (params[3] + 1.0)
    warmup_closes = int(params[3])
    fast = math.nan
    slow = math.nan
    slow_closes = 0
    step = 0
    previous = 0.0
    for t in range(close.shape[0]):
        if t > 0:
            gap = ts[t] - ts[t - 1]
            if gap > 0 and (step == 0 or gap < step):
                step = gap
        signal = 0
        if step > 0:
            end = ts[t] + step  # this base bar closes at `end`
            if end // fast_bucket != ts[t] // fast_bucket:
                fast = close[t] if fast != fast else fast + alpha_fast * (close[t] - fast)
            if end // slow_bucket != ts[t] // slow_bucket:
                slow = close[t] if slow != slow else slow + alpha_slow * (close[t] - slow)
                slow_closes += 1
        if fast == fast and slow == slow:
            spread = fast - slow
            if slow_closes > warmup_closes:
                if spread > 0.0 and previous <= 0.0:
                    signal = LONG_ENTRY | SHORT_EXIT
                elif spread < 0.0 and previous >= 0.0:
                    signal = LONG_EXIT | SHORT_ENTRY
            previous = spread
        flags[t] = signal
        stop_frac[t] = math.nan


class MtfEma(Strategy):
    name = "mtf_ema"
    description = "Fast EMA on a 15-60 min timeframe against a slow EMA on a 60-360 min one, from 5 min bars."
    params = (
        Param(
            "fast_tf_minutes", "choice", 15, 60, 30, choices=(15.0, 30.0, 45.0, 60.0), doc="Fast timeframe."
        ),
        Param(
            "slow_tf_minutes",
            "choice",
            60,
            360,
            240,
            choices=(60.0, 120.0, 240.0, 360.0),
            doc="Slow timeframe.",
        ),
        Param("ema_fast", "int", 2, 100, 9, doc="Span of the fast EMA, in fast-timeframe bars."),
        Param("ema_slow", "int", 2, 200, 21, doc="Span of the slow EMA, in slow-timeframe bars."),
    )
    constraints = (Below("fast_tf_minutes", "slow_tf_minutes"),)
    signals_nb = mtf_ema_signals_nb
