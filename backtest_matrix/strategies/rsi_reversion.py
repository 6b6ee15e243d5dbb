"""``rsi_reversion``: buy when Wilder's RSI is below the oversold band, sell when it is above overbought.

Short entries and covers mirror them with ``direction="long_short"``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from backtest_matrix.engine._indicators_nb import rsi_nb
from backtest_matrix.engine._signals import LONG_ENTRY, LONG_EXIT, SHORT_ENTRY, SHORT_EXIT, SIGNALS_SIGNATURE
from backtest_matrix.strategies._base import Below, Param, Strategy


@njit(SIGNALS_SIGNATURE, cache=True)
def rsi_reversion_signals_nb(
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
    values = rsi_nb(close, int(params[0]))
    oversold = params[1]
    overbought = params[2]
    for t in range(close.shape[0]):
        signal = 0
        if values[t] < oversold:
            signal = LONG_ENTRY | SHORT_EXIT
        elif values[t] > overbought:
            signal = LONG_EXIT | SHORT_ENTRY
        flags[t] = signal
        stop_frac[t] = math.nan


class RsiReversion(Strategy):
    name = "rsi_reversion"
    description = "Mean reversion on Wilder's RSI bands."
    params = (
        Param("rsi_period", "int", 2, 100, 14, doc="RSI look-back, in bars."),
        Param("oversold", "float", 5.0, 50.0, 30.0, doc="Enter long (cover short) below this RSI."),
        Param("overbought", "float", 50.0, 95.0, 70.0, doc="Exit long (enter short) above this RSI."),
    )
    constraints = (Below("oversold", "overbought"),)
    signals_nb = rsi_reversion_signals_nb
